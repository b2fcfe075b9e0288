"""Spoiled gradient echo (FLASH / SPGR / T1-FFE) steady-state signal: the Ernst equation.

    S = PD * sin(a) * (1 - E1) / (1 - cos(a) E1) * exp(-TE/T2*),   E1 = exp(-TR/T1)

assuming ideal spoiling of transverse coherences. Ernst RR, Anderson WA, Rev Sci
Instrum 1966;37:93-102; Bernstein MA et al., Handbook of MRI Pulse Sequences, Elsevier
2004, sec. 14.1; Haacke EM et al., MRI: Physical Principles and Sequence Design,
Wiley 1999, ch. 18. The signal of a tissue is maximal at the Ernst angle
a_E = arccos(E1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from radsynth.core.errors import RadsynthInputError
from radsynth.core.checks import f32, in_range, non_negative, positive


@dataclass(frozen=True)
class SpoiledGradientEcho:
    """Spoiled GRE with ``tr_ms``, ``te_ms`` (ms) and flip angle ``flip_deg`` (degrees)."""

    tr_ms: float
    te_ms: float
    flip_deg: float
    kind: ClassVar[str] = "spoiled_gradient_echo"

    def __post_init__(self) -> None:
        positive("tr_ms", self.tr_ms, "ms")
        non_negative("te_ms", self.te_ms, "ms")
        in_range("flip_deg", self.flip_deg, 0.0, 180.0, "deg", lo_open=True)
        if self.te_ms >= self.tr_ms:
            raise RadsynthInputError("te_ms", self.te_ms, f"an echo time below tr_ms ({self.tr_ms} ms)")

    def signal(self, pd: Any, t1_ms: Any, t2_ms: Any, t2star_ms: Any) -> np.ndarray:
        """Noise-free magnitude (fraction of fully relaxed water signal), float32; T2 unused (T2* decay)."""
        pd, t1, t2s = f32(pd), f32(t1_ms), f32(t2star_ms)
        a = np.deg2rad(self.flip_deg)
        sin_a, cos_a = np.float32(np.sin(a)), np.float32(np.cos(a))
        e1 = np.exp(-np.float32(self.tr_ms) / t1)
        s = pd * sin_a * (np.float32(1.0) - e1) / (np.float32(1.0) - cos_a * e1) * np.exp(-np.float32(self.te_ms) / t2s)
        return np.asarray(s, dtype=np.float32)

    def ernst_angle_deg(self, t1_ms: float) -> float:
        """Flip angle (deg) maximising the signal of a tissue with this T1."""
        return float(np.rad2deg(np.arccos(np.exp(-self.tr_ms / t1_ms))))

    def acquisition_params(self) -> dict[str, Any]:
        return {"sequence_type": "GRE", "tr_ms": float(self.tr_ms), "te_ms": float(self.te_ms), "ti_ms": None, "flip_deg": float(self.flip_deg)}

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "tr_ms": float(self.tr_ms), "te_ms": float(self.te_ms), "flip_deg": float(self.flip_deg)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SpoiledGradientEcho:
        return cls(float(d["tr_ms"]), float(d["te_ms"]), float(d["flip_deg"]))
