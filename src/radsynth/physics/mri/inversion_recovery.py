"""Inversion-recovery (spin-echo readout) signal equation: FLAIR, T1-FLAIR / T1-IR, STIR.

    S = PD * |1 - 2 exp(-TI/T1) + exp(-TR/T1)| * exp(-TE/T2)

(magnitude reconstruction; perfect 180 deg inversion, TE << TI). With TR >> T1 the
signal of a tissue is nulled at TI = T1 ln 2; for finite TR the null is at
TI = T1 ln(2 / (1 + exp(-TR/T1))). See Bydder GM, Young IR, MR imaging: clinical use of
the inversion recovery sequence, J Comput Assist Tomogr 1985;9:659-675; Bernstein MA et
al., Handbook of MRI Pulse Sequences, Elsevier 2004, sec. 14.2; Haacke EM et al.,
MRI: Physical Principles and Sequence Design, Wiley 1999.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from radsynth.core.errors import RadsynthInputError
from radsynth.core.checks import f32, non_negative, positive


@dataclass(frozen=True)
class InversionRecovery:
    """Inversion recovery with ``tr_ms``, ``te_ms`` and inversion time ``ti_ms`` (ms)."""

    tr_ms: float
    te_ms: float
    ti_ms: float
    kind: ClassVar[str] = "inversion_recovery"

    def __post_init__(self) -> None:
        positive("tr_ms", self.tr_ms, "ms")
        non_negative("te_ms", self.te_ms, "ms")
        positive("ti_ms", self.ti_ms, "ms")
        if self.ti_ms >= self.tr_ms:
            raise RadsynthInputError("ti_ms", self.ti_ms, f"an inversion time below tr_ms ({self.tr_ms} ms)")
        if self.te_ms >= self.tr_ms:
            raise RadsynthInputError("te_ms", self.te_ms, f"an echo time below tr_ms ({self.tr_ms} ms)")

    def signal(self, pd: Any, t1_ms: Any, t2_ms: Any, t2star_ms: Any = None) -> np.ndarray:
        """Noise-free magnitude (fraction of fully relaxed water signal), float32; T2* unused."""
        pd, t1, t2 = f32(pd), f32(t1_ms), f32(t2_ms)
        mz = np.float32(1.0) - np.float32(2.0) * np.exp(-np.float32(self.ti_ms) / t1) + np.exp(-np.float32(self.tr_ms) / t1)
        s = pd * np.abs(mz) * np.exp(-np.float32(self.te_ms) / t2)
        return np.asarray(s, dtype=np.float32)

    def null_t1_ms(self) -> float:
        """T1 (ms) whose signal this sequence nulls (solves 1 - 2e^{-TI/T1} + e^{-TR/T1} = 0 by bisection)."""
        f = lambda t1: 1.0 - 2.0 * math.exp(-self.ti_ms / t1) + math.exp(-self.tr_ms / t1)  # noqa: E731
        lo, hi = self.ti_ms / 10.0, self.ti_ms * 100.0
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if f(mid) > 0:
                lo = mid
            else:
                hi = mid
        return 0.5 * (lo + hi)

    def acquisition_params(self) -> dict[str, Any]:
        return {"sequence_type": "IR", "tr_ms": float(self.tr_ms), "te_ms": float(self.te_ms), "ti_ms": float(self.ti_ms), "flip_deg": 90.0}

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "tr_ms": float(self.tr_ms), "te_ms": float(self.te_ms), "ti_ms": float(self.ti_ms)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> InversionRecovery:
        return cls(float(d["tr_ms"]), float(d["te_ms"]), float(d["ti_ms"]))
