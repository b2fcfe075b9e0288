"""Named clinical sequences with typical parameters at 1.5 T and 3 T.

Parameter choices (ms, degrees) are typical clinical brain protocol values (Bernstein MA
et al., Handbook of MRI Pulse Sequences, Elsevier 2004, ch. 14-16; adapted to the
longer T1 / shorter T2 at 3 T as in Lu H et al., Routine clinical brain MRI sequences
for use at 3.0 Tesla, JMRI 2005;22:13-22):

=========  ==============================  ===============================  ===============================
name       model                           1.5 T                            3 T
=========  ==============================  ===============================  ===============================
T1w        2D spin echo                    TR 500, TE 15                    TR 600, TE 10
T2w        turbo spin echo, eff. TE        TR 4000, TE 100, ESP 10, ETL 16  TR 5000, TE 90, ESP 10, ETL 16
PD         turbo spin echo, eff. TE        TR 3000, TE 15, ESP 7.5, ETL 16  TR 3500, TE 12, ESP 10, ETL 16
FLAIR      inversion recovery              TR 9000, TI 2500, TE 120         TR 9000, TI 2500, TE 120
T1-IR      inversion recovery (T1-FLAIR)   TR 2000, TI 850, TE 12           TR 2500, TI 1050, TE 10
T1c        T1w after gadolinium            as T1w                           as T1w
GRE-T1     3D spoiled gradient echo        TR 20, TE 5, flip 25             TR 20, TE 4, flip 20
MPRAGE     inversion-prepared 3D GRE       TR 2400, TI 1000, flip 8,        TR 2300, TI 900, flip 9,
                                           TE 3.6, ES 8.0, 160 readouts     TE 2.98, ES 7.1, 176 readouts
=========  ==============================  ===============================  ===============================

FLAIR TI nulls CSF (T1 4.3 s): TI_null = T1 ln(2 / (1 + exp(-TR/T1))) = 2.48 s at TR 9 s.
T1-IR TI is placed near the CSF null for its TR (0.89 s at TR 2 s, 1.07 s at TR 2.5 s).
MPRAGE parameters follow the ADNI protocol (Jack CR et al., JMRI 2008;27:685-691).
T2w and PD are turbo spin echoes (:mod:`radsynth.physics.mri.turbo_spin_echo`): spin-echo contrast for water
tissue, bright fat from the echo train (Henkelman et al., JMRI 1992); until 2026-12-07 (session 9) they were
plain spin echoes with the single-echo fat T2, and the scalp was mid-grey on T2w.

T1w is a spin echo: with the tissue table of :mod:`radsynth.physics.mri.tissue` its
GM/WM intensity ratio is 0.77 (1.5 T) and 0.74 (3 T), within 4 % of the 0.745 measured
on the MNI152 2009a T1 template (tests/physics/mri/test_mri_mni_ratio.py); MPRAGE gives
stronger T1 contrast (0.55-0.6) and is offered as a separate sequence.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Union

from radsynth.core.errors import RadsynthInputError
from radsynth.physics.mri.inversion_recovery import InversionRecovery
from radsynth.physics.mri.mprage import MPRAGE
from radsynth.physics.mri.spin_echo import SpinEcho
from radsynth.physics.mri.spoiled_gradient_echo import SpoiledGradientEcho
from radsynth.physics.mri.turbo_spin_echo import TurboSpinEcho
from radsynth.physics.mri.tissue import _field_key

SignalModel = Union[SpinEcho, TurboSpinEcho, InversionRecovery, SpoiledGradientEcho, MPRAGE]

SEQUENCES = ("T1w", "T2w", "PD", "FLAIR", "T1-IR", "T1c", "GRE-T1", "MPRAGE")

_PRESETS: dict[str, dict[float, SignalModel]] = {
    "T1w": {1.5: SpinEcho(500.0, 15.0), 3.0: SpinEcho(600.0, 10.0)},
    "T2w": {1.5: TurboSpinEcho(4000.0, 100.0), 3.0: TurboSpinEcho(5000.0, 90.0)},
    "PD": {1.5: TurboSpinEcho(3000.0, 15.0, 7.5), 3.0: TurboSpinEcho(3500.0, 12.0)},
    "FLAIR": {1.5: InversionRecovery(9000.0, 120.0, 2500.0), 3.0: InversionRecovery(9000.0, 120.0, 2500.0)},
    "T1-IR": {1.5: InversionRecovery(2000.0, 12.0, 850.0), 3.0: InversionRecovery(2500.0, 10.0, 1050.0)},
    "GRE-T1": {1.5: SpoiledGradientEcho(20.0, 5.0, 25.0), 3.0: SpoiledGradientEcho(20.0, 4.0, 20.0)},
    "MPRAGE": {
        1.5: MPRAGE(2400.0, 1000.0, 3.6, 8.0, 8.0, 160),
        3.0: MPRAGE(2300.0, 900.0, 2.98, 9.0, 7.1, 176),
    },
}
_PRESETS["T1c"] = _PRESETS["T1w"]

_MODELS = {cls.kind: cls for cls in (SpinEcho, TurboSpinEcho, InversionRecovery, SpoiledGradientEcho, MPRAGE)}


def canonical_sequence_name(name: str) -> str:
    """Canonical spelling of a sequence name (case-insensitive match), else RadsynthInputError."""
    if isinstance(name, str):
        for s in SEQUENCES:
            if s.lower() == name.strip().lower():
                return s
    raise RadsynthInputError("sequence", name, ", ".join(SEQUENCES))


def get_sequence(name: str, field_strength_t: float) -> tuple[SignalModel, bool]:
    """(signal-equation object, needs_contrast) of a named sequence at 1.5 T or 3 T."""
    seq = canonical_sequence_name(name)
    b0 = _field_key(field_strength_t)
    return _PRESETS[seq][b0], seq == "T1c"


def signal_model_from_dict(d: Mapping[str, Any]) -> SignalModel:
    """Rebuild a signal-equation object from its ``to_dict()`` (dispatch on ``kind``)."""
    kind = d.get("kind") if isinstance(d, Mapping) else None
    if kind not in _MODELS:
        raise RadsynthInputError("signal_model.kind", kind, ", ".join(_MODELS))
    return _MODELS[kind].from_dict(d)
