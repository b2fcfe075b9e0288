"""Meninges: the dura mater lining the inner table, carved out of the label map's extra-cerebral CSF.

The SynthSeg whole-head maps (:mod:`radsynth.anatomy.labelmaps`) have no meningeal class: their
extra-cerebral CSF (label 24) runs from the cortex straight to the skull (515), the diploe (516) and
the dural sinuses (514). In a head, the dura mater (about 0.5-1 mm of dense collagen, fused to the
inner table's periosteum) and the arachnoid with its superficial veins lie between them: short T2,
low proton density, dark on every weighting, so clinical T2-weighted images show a dark band (inner
table + dura) between the bright scalp fat and the bright subarachnoid CSF, not CSF up to the bone.

:class:`Meninges` (deterministic) relabels the CSF voxels within ``thickness_mm`` of the skull, the
diploe or a dural sinus (Euclidean distance, mm, with the affine's voxel sizes) as :data:`DURA_LABEL`
(tissue ``dura`` of :mod:`radsynth.physics.mri.tissue`). Nothing else moves; ventricles and the
CSF around the brain stem far from bone keep their label. :class:`RandomMeninges` draws the
thickness from a range (per subject; recorded).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from radsynth.anatomy.distance import distance_mm
from radsynth.core.checks import range_pair
from radsynth.core.errors import RadsynthInputError
from radsynth.core.labels import DURA_LABEL

#: extra-cerebral CSF (FreeSurfer / SynthSeg 24)
CSF_LABEL = 24
#: what the dura lines: skull bone, diploe, dural venous sinuses
OUTER_LABELS = (515, 516, 514)


@dataclass(frozen=True)
class Meninges:
    """Relabel extra-cerebral CSF within ``thickness_mm`` (mm, 0-5) of the skull as dura."""

    thickness_mm: float = 1.0

    def __post_init__(self) -> None:
        t = self.thickness_mm
        if isinstance(t, bool) or not isinstance(t, (int, float, np.floating)) or not 0.0 <= float(t) <= 5.0:
            raise RadsynthInputError("meninges.thickness_mm", t, "a thickness in 0-5 mm")
        object.__setattr__(self, "thickness_mm", float(t))

    def apply(self, labels: np.ndarray, affine: np.ndarray) -> np.ndarray:
        """A relabelled copy of a 3D label map (same dtype); the input is not changed."""
        labels = np.asarray(labels)
        if labels.ndim != 3:
            raise RadsynthInputError("labels", f"array of shape {labels.shape}", "a 3D label map")
        out = labels.copy()
        csf = labels == CSF_LABEL
        outer = np.isin(labels, OUTER_LABELS)
        if self.thickness_mm == 0 or not csf.any() or not outer.any():
            return out
        dist = distance_mm(outer, affine)  # mm to the nearest skull / diploe / sinus voxel, centre to centre
        out[csf & (dist <= self.thickness_mm + 1e-6)] = DURA_LABEL
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"thickness_mm": self.thickness_mm}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Meninges:
        if not isinstance(d, Mapping) or set(d) != {"thickness_mm"}:
            raise RadsynthInputError("meninges", d, "a mapping with the one key thickness_mm")
        return cls(float(d["thickness_mm"]))


@dataclass(frozen=True)
class RandomMeninges:
    """Draws :class:`Meninges` with ``thickness_mm`` uniform in a range (mm)."""

    thickness_mm: tuple[float, float] = (1.0, 1.5)

    def __post_init__(self) -> None:
        lo, hi = range_pair("meninges.thickness_mm", self.thickness_mm, 0.0, 5.0)
        object.__setattr__(self, "thickness_mm", (lo, hi))

    def sample(self, rng: np.random.Generator) -> Meninges:
        lo, hi = self.thickness_mm
        return Meninges(float(lo + (hi - lo) * rng.random()))
