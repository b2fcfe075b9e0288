"""MPRAGE (magnetisation-prepared rapid gradient echo) steady-state signal.

An inversion pulse is followed, after a delay, by a train of ``n_readouts`` spoiled
gradient-echo excitations (flip a, echo spacing tau); the train is followed by a
recovery delay before the next inversion (period TR). ``ti_ms`` is the time from the
inversion to the excitation that samples the centre of k-space (Siemens convention),
at position ``centre_fraction * n_readouts`` in the train (0.5: linear ordering).

Longitudinal magnetisation (M0 = 1), with E = exp(-tau/T1), q = cos(a) E:

* free recovery over t:      Mz -> 1 - (1 - Mz) exp(-t/T1)
* k-th pulse of the train:   Mz_k = M_inf + (Mz_0 - M_inf) q^k,  M_inf = (1 - E)/(1 - q)
* inversion:                 Mz -> -Mz

The magnetisation Mss just before each inversion is periodic; every step is affine in
Mss, so Mss solves a scalar linear equation in closed form (the same construction as
the MP2RAGE signal of Marques JP et al., NeuroImage 2010;49:1271-1281, appendix, and the
MPRAGE analysis of Deichmann R et al., NeuroImage 2000;12:112-127). The image signal is

    S = PD * sin(a) * |Mz(centre)| * exp(-TE/T2*)

Perfect inversion and spoiling are assumed; T1 weighting dominated by the inversion.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from radsynth.core.errors import RadsynthInputError
from radsynth.core.checks import f32, in_range, non_negative, positive


@dataclass(frozen=True)
class MPRAGE:
    """MPRAGE: inversion period ``tr_ms``, ``ti_ms`` (to k-space centre), ``te_ms`` (ms), readout
    ``flip_deg`` (deg), ``echo_spacing_ms`` (ms), ``n_readouts`` per train, ``centre_fraction``."""

    tr_ms: float
    ti_ms: float
    te_ms: float
    flip_deg: float
    echo_spacing_ms: float
    n_readouts: int
    centre_fraction: float = 0.5
    kind: ClassVar[str] = "mprage"

    def __post_init__(self) -> None:
        positive("tr_ms", self.tr_ms, "ms")
        positive("ti_ms", self.ti_ms, "ms")
        non_negative("te_ms", self.te_ms, "ms")
        in_range("flip_deg", self.flip_deg, 0.0, 90.0, "deg", lo_open=True)
        positive("echo_spacing_ms", self.echo_spacing_ms, "ms")
        if int(self.n_readouts) != self.n_readouts or self.n_readouts < 1:
            raise RadsynthInputError("n_readouts", self.n_readouts, "an integer >= 1")
        in_range("centre_fraction", self.centre_fraction, 0.0, 1.0)
        if self.te_ms >= self.echo_spacing_ms:
            raise RadsynthInputError("te_ms", self.te_ms, f"an echo time below echo_spacing_ms ({self.echo_spacing_ms} ms)")
        if self._before_train_ms() < 0:
            raise RadsynthInputError(
                "ti_ms", self.ti_ms, f">= {self._centre_index() * self.echo_spacing_ms} ms (readouts before the k-space centre)"
            )
        if self._after_train_ms() < 0:
            raise RadsynthInputError("tr_ms", self.tr_ms, f">= {self.tr_ms - self._after_train_ms()} ms (inversion, TI and readout train must fit)")

    def _centre_index(self) -> int:
        return int(round(self.centre_fraction * (self.n_readouts - 1)))

    def _before_train_ms(self) -> float:
        return self.ti_ms - self._centre_index() * self.echo_spacing_ms

    def _after_train_ms(self) -> float:
        return self.tr_ms - self._before_train_ms() - self.n_readouts * self.echo_spacing_ms

    def longitudinal_at_centre(self, t1_ms: Any) -> np.ndarray:
        """Mz (M0 = 1) just before the centre-of-k-space excitation, periodic steady state, float32."""
        t1 = f32(t1_ms)
        one = np.float32(1.0)
        a = np.deg2rad(self.flip_deg)
        cos_a = np.float32(np.cos(a))
        e = np.exp(-np.float32(self.echo_spacing_ms) / t1)
        q = cos_a * e
        m_inf = (one - e) / (one - q)
        e_a = np.exp(-np.float32(self._before_train_ms()) / t1)
        e_d = np.exp(-np.float32(self._after_train_ms()) / t1)
        qn = q ** np.float32(self.n_readouts)
        # after inversion and delay: M_A = (1 - E_A) - E_A * Mss
        # after the train:           M_n = M_inf (1 - q^n) + q^n M_A = c0 + c1 Mss
        c0 = m_inf * (one - qn) + qn * (one - e_a)
        c1 = -qn * e_a
        # before next inversion:     Mss = 1 - E_D + E_D M_n
        mss = (one - e_d + e_d * c0) / (one - e_d * c1)
        m_a = (one - e_a) - e_a * mss
        kc = np.float32(self._centre_index())
        return np.asarray(m_inf + (m_a - m_inf) * q**kc, dtype=np.float32)

    def signal(self, pd: Any, t1_ms: Any, t2_ms: Any, t2star_ms: Any) -> np.ndarray:
        """Noise-free magnitude (fraction of fully relaxed water signal), float32; T2 unused."""
        pd, t2s = f32(pd), f32(t2star_ms)
        mz = self.longitudinal_at_centre(t1_ms)
        s = pd * np.float32(np.sin(np.deg2rad(self.flip_deg))) * np.abs(mz) * np.exp(-np.float32(self.te_ms) / t2s)
        return np.asarray(s, dtype=np.float32)

    def acquisition_params(self) -> dict[str, Any]:
        return {
            "sequence_type": "MPRAGE", "tr_ms": float(self.tr_ms), "te_ms": float(self.te_ms), "ti_ms": float(self.ti_ms),
            "flip_deg": float(self.flip_deg), "echo_spacing_ms": float(self.echo_spacing_ms), "n_readouts": int(self.n_readouts),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "tr_ms": float(self.tr_ms), "ti_ms": float(self.ti_ms), "te_ms": float(self.te_ms),
            "flip_deg": float(self.flip_deg), "echo_spacing_ms": float(self.echo_spacing_ms),
            "n_readouts": int(self.n_readouts), "centre_fraction": float(self.centre_fraction),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MPRAGE:
        return cls(
            float(d["tr_ms"]), float(d["ti_ms"]), float(d["te_ms"]), float(d["flip_deg"]),
            float(d["echo_spacing_ms"]), int(d["n_readouts"]), float(d.get("centre_fraction", 0.5)),
        )
