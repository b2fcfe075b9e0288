"""Gadolinium contrast agent: T1 and T2 shortening by relaxivity.

    1/T1' = 1/T1 + r1 C,    1/T2' = 1/T2 + r2 C,    1/T2*' = 1/T2* + r2 C

with relaxivities r (L mmol^-1 s^-1 = mM^-1 s^-1) and tissue concentration C (mM); the
fast-exchange linear model (Caravan P et al., Chem Rev 1999;99:2293-2352). Using r2 for
T2* ignores the extra susceptibility (compartmentalisation) effect, so it is a lower
bound on T2* shortening.

Relaxivities in human plasma at 37 C from Rohrer M, Bauer H, Mintorovitch J, Requardt M,
Weinmann HJ. Comparison of magnetic properties of MRI contrast media solutions at
different magnetic field strengths. Invest Radiol 2005;40:715-724:

===========  ===========  ===========  ===========  ===========
agent        r1 1.5 T     r2 1.5 T     r1 3 T       r2 3 T
===========  ===========  ===========  ===========  ===========
gadobutrol   5.2          6.1          5.0          7.1
gadoterate   3.6          4.3          3.5          4.9
gadopentetate 4.1         4.6          3.7          5.2
===========  ===========  ===========  ===========  ===========

Default tissue concentrations (mM) a few minutes after a standard 0.1 mmol/kg dose are
approximate: whole blood ~0.4 mM (plasma ~0.6 mM at Hct 0.4; cf. Weinmann HJ et al.,
AJR 1984;142:619-624 pharmacokinetics of Gd-DTPA); enhancing tumour, whose leaky
blood-brain barrier lets the agent into the extravascular-extracellular space, ~0.25 mM
(C_t ~ v_e C_p with leakage space v_e ~0.4 in the model of Tofts PS, Kermode AG,
MRM 1991;17:357-367);
dura (no blood-brain barrier) and extracranial soft tissue enhance mildly; normal brain
only through its blood volume (CBV ~4 % GM, ~2 % WM: Leenders KL et al., Brain
1990;113:27-47) -> ~0.016 / 0.008 mM; CSF, necrosis, oedema, vitreous, bone: 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from radsynth.core.errors import RadsynthInputError
from radsynth.core.labels import TISSUES
from radsynth.core.checks import f32, non_negative
from radsynth.physics.mri.tissue import TissueParams, TissueTable, check_labels, label_tissue_index


@dataclass(frozen=True)
class ContrastAgent:
    """A gadolinium agent by its relaxivities r1, r2 (mM^-1 s^-1) at one field strength."""

    r1_per_mM_s: float
    r2_per_mM_s: float
    name: str = ""

    def __post_init__(self) -> None:
        non_negative("r1_per_mM_s", self.r1_per_mM_s, "mM^-1 s^-1")
        non_negative("r2_per_mM_s", self.r2_per_mM_s, "mM^-1 s^-1")

    def shorten(self, t1_ms: Any, t2_ms: Any, t2star_ms: Any, concentration_mM: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Post-contrast (T1, T2, T2*) in ms for concentration(s) in mM (arrays broadcast), float32."""
        c = f32(concentration_mM)
        # relaxivity in mM^-1 s^-1 -> mM^-1 ms^-1
        r1 = np.float32(self.r1_per_mM_s / 1000.0) * c
        r2 = np.float32(self.r2_per_mM_s / 1000.0) * c
        one = np.float32(1.0)
        t1 = one / (one / f32(t1_ms) + r1)
        t2 = one / (one / f32(t2_ms) + r2)
        t2s = one / (one / f32(t2star_ms) + r2)
        return t1.astype(np.float32), t2.astype(np.float32), t2s.astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {"r1_per_mM_s": float(self.r1_per_mM_s), "r2_per_mM_s": float(self.r2_per_mM_s), "name": self.name}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ContrastAgent:
        return cls(float(d["r1_per_mM_s"]), float(d["r2_per_mM_s"]), str(d.get("name", "")))


# [Rohrer 2005] plasma, 37 C: (r1, r2) per field strength.
_RELAXIVITIES = {
    "gadobutrol": {1.5: (5.2, 6.1), 3.0: (5.0, 7.1)},
    "gadoterate": {1.5: (3.6, 4.3), 3.0: (3.5, 4.9)},
    "gadopentetate": {1.5: (4.1, 4.6), 3.0: (3.7, 5.2)},
}
AGENTS = tuple(_RELAXIVITIES)

#: Approximate tissue Gd concentration (mM) a few minutes after 0.1 mmol/kg (see module doc).
DEFAULT_CONCENTRATION_MM: Mapping[str, float] = MappingProxyType({
    "air": 0.0, "csf": 0.0, "gm": 0.016, "wm": 0.008, "deep_gm": 0.016, "blood": 0.4,
    "fat": 0.02, "muscle": 0.06, "skin": 0.06, "bone": 0.0, "marrow": 0.06, "vitreous": 0.0,
    "dura": 0.1, "tumour_necrosis": 0.0, "tumour_enhancing": 0.25, "oedema": 0.0, "infarct": 0.0,
})


def contrast_agent(name: str = "gadobutrol", field_strength_t: float = 3.0) -> ContrastAgent:
    """Literature relaxivities of a named agent at 1.5 T or 3 T [Rohrer 2005]."""
    if name not in _RELAXIVITIES:
        raise RadsynthInputError("contrast_agent", name, f"one of {list(AGENTS)}")
    b0 = float(field_strength_t)
    for f, (r1, r2) in _RELAXIVITIES[name].items():
        if abs(b0 - f) < 1e-6:
            return ContrastAgent(r1, r2, name)
    raise RadsynthInputError("field_strength_t", field_strength_t, "1.5 or 3.0 (tesla)")


def _concentration_vector(concentrations: Mapping[str, float]) -> np.ndarray:
    unknown = sorted(set(concentrations) - set(TISSUES))
    if unknown:
        raise RadsynthInputError("concentrations", unknown, f"tissue names among {list(TISSUES)}")
    return np.array([non_negative(f"concentrations[{t}]", concentrations.get(t, 0.0), "mM") for t in TISSUES], dtype=np.float32)


def apply_contrast_to_table(
    table: TissueTable, agent: ContrastAgent, concentrations: Mapping[str, float] = DEFAULT_CONCENTRATION_MM
) -> TissueTable:
    """Post-contrast tissue table (tissues missing from ``concentrations`` get 0 mM)."""
    c = _concentration_vector(concentrations)
    new = {}
    for i, t in enumerate(TISSUES):
        p = table[t]
        if c[i] == 0:
            new[t] = p
            continue
        t1, t2, t2s = agent.shorten(p.t1_ms, p.t2_ms, p.t2star_ms, c[i])
        new[t] = TissueParams(float(t1), float(t2), float(t2s), p.pd)
    return TissueTable(new, table.field_strength_t)


def apply_contrast(
    maps: Mapping[str, np.ndarray],
    labels: np.ndarray,
    agent: ContrastAgent,
    concentrations: Mapping[str, float] = DEFAULT_CONCENTRATION_MM,
) -> dict[str, np.ndarray]:
    """Post-contrast parameter maps (keys pd, t1_ms, t2_ms, t2star_ms) given the label map."""
    check_labels(labels)
    c_tissue = _concentration_vector(concentrations)
    idx = label_tissue_index()
    c_lut = np.where(idx >= 0, c_tissue[np.maximum(idx, 0)], 0).astype(np.float32)
    c = np.take(c_lut, labels)
    t1, t2, t2s = agent.shorten(maps["t1_ms"], maps["t2_ms"], maps["t2star_ms"], c)
    return {"pd": f32(maps["pd"]), "t1_ms": t1, "t2_ms": t2, "t2star_ms": t2s}
