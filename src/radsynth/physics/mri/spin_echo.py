"""Spin-echo signal equation (T1-, T2- and PD-weighted (turbo) spin echo).

    S = PD * (1 - exp(-TR/T1)) * exp(-TE/T2)

The standard steady-state spin-echo magnitude for TE << TR (the exact 90-180 form,
1 - 2 exp(-(TR - TE/2)/T1) + exp(-TR/T1), differs by O(TE/T1) terms); see Haacke EM et
al., Magnetic Resonance Imaging: Physical Principles and Sequence Design, Wiley 1999,
ch. 8, and Bernstein MA, King KF, Zhou XJ, Handbook of MRI Pulse Sequences, Elsevier
2004, sec. 14.3. For turbo spin echo, TE is the effective TE (centre of k-space).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from radsynth.core.errors import RadsynthInputError
from radsynth.core.checks import f32, non_negative, positive


@dataclass(frozen=True)
class SpinEcho:
    """Spin echo with repetition time ``tr_ms`` and echo time ``te_ms`` (ms)."""

    tr_ms: float
    te_ms: float
    kind: ClassVar[str] = "spin_echo"

    def __post_init__(self) -> None:
        positive("tr_ms", self.tr_ms, "ms")
        non_negative("te_ms", self.te_ms, "ms")
        if self.te_ms >= self.tr_ms:
            raise RadsynthInputError("te_ms", self.te_ms, f"an echo time below tr_ms ({self.tr_ms} ms)")

    def signal(self, pd: Any, t1_ms: Any, t2_ms: Any, t2star_ms: Any = None) -> np.ndarray:
        """Noise-free magnitude (fraction of fully relaxed water signal), float32; T2* unused."""
        pd, t1, t2 = f32(pd), f32(t1_ms), f32(t2_ms)
        s = pd * (np.float32(1.0) - np.exp(-np.float32(self.tr_ms) / t1)) * np.exp(-np.float32(self.te_ms) / t2)
        return np.asarray(s, dtype=np.float32)

    def acquisition_params(self) -> dict[str, Any]:
        return {"sequence_type": "SE", "tr_ms": float(self.tr_ms), "te_ms": float(self.te_ms), "ti_ms": None, "flip_deg": 90.0}

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "tr_ms": float(self.tr_ms), "te_ms": float(self.te_ms)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SpinEcho:
        return cls(float(d["tr_ms"]), float(d["te_ms"]))
