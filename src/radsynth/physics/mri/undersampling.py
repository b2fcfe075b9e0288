"""Cartesian undersampling along the phase-encode axis with zero-filled reconstruction.

A fully sampled central band of ``centre_fraction`` of the lines (auto-calibration
region) plus randomly chosen outer lines, so that about n/R lines are acquired in
total for an acceleration R; unacquired lines are zero and the image is the inverse
FFT (zero-filled reconstruction). This is the variable-density random Cartesian mask of
the fastMRI benchmark (Zbontar J et al., fastMRI: an open dataset and benchmarks for
accelerated MRI, arXiv:1811.08839, 2018, "RandomMaskFunc"); incoherent aliasing from
random undersampling: Lustig M, Donoho D, Pauly JM, Sparse MRI, MRM 2007;58:1182-1195.
R = 1 samples every line and is the identity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from radsynth.core.errors import RadsynthInputError
from radsynth.core.checks import in_range, range_pair
from radsynth.physics.mri._kspace import apply_kspace_weights, check_axis, line_index


@dataclass(frozen=True)
class CartesianUndersampling:
    """Acceleration ``acceleration`` (>= 1), central fraction, mask ``seed``, phase-encode ``axis``."""

    acceleration: float
    centre_fraction: float
    seed: int
    axis: int = 1

    def __post_init__(self) -> None:
        in_range("undersampling_acceleration", self.acceleration, 1.0, 64.0)
        in_range("undersampling_centre_fraction", self.centre_fraction, 0.0, 1.0)
        if int(self.seed) != self.seed or not 0 <= self.seed < 2**64:
            raise RadsynthInputError("undersampling_seed", self.seed, "an integer in [0, 2**64)")

    def mask(self, n: int) -> np.ndarray:
        """Boolean sampling mask of n lines in FFT order."""
        k = line_index(n)
        order = np.argsort(np.abs(k), kind="stable")  # lines by distance from the centre
        n_centre = min(n, int(round(self.centre_fraction * n)))
        centre = np.zeros(n, dtype=bool)
        centre[order[:n_centre]] = True
        n_outer = n - n_centre
        prob = 1.0 if n_outer == 0 else float(np.clip((n / self.acceleration - n_centre) / n_outer, 0.0, 1.0))
        # draws in acquisition order (k = -n/2 ... n/2 - 1) so the mask is a pure function of (n, seed)
        u_acq = np.random.default_rng(int(self.seed)).random(n)
        u = np.empty(n)
        u[np.argsort(k, kind="stable")] = u_acq
        return centre | (u < prob)

    def kspace_weights(self, shape: Sequence[int]) -> dict[int, np.ndarray]:
        ax = check_axis(self.axis, len(shape))
        m = self.mask(shape[ax])
        return {} if m.all() else {ax: m.astype(np.complex64)}

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Zero-filled reconstruction (complex64)."""
        return apply_kspace_weights(image, self.kspace_weights(np.shape(image)))

    def to_dict(self) -> dict[str, Any]:
        return {"acceleration": float(self.acceleration), "centre_fraction": float(self.centre_fraction),
                "seed": int(self.seed), "axis": int(self.axis)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CartesianUndersampling:
        return cls(float(d["acceleration"]), float(d["centre_fraction"]), int(d["seed"]), int(d["axis"]))


@dataclass(frozen=True)
class RandomUndersampling:
    """Acceleration drawn uniformly from ``acceleration_range``; a fresh mask seed per draw."""

    acceleration_range: tuple[float, float] = (2.0, 4.0)
    centre_fraction: float = 0.08
    axis: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "acceleration_range", range_pair("undersampling_acceleration_range", self.acceleration_range, 1.0, 64.0))
        in_range("undersampling_centre_fraction", self.centre_fraction, 0.0, 1.0)

    def sample(self, rng: np.random.Generator) -> CartesianUndersampling:
        lo, hi = self.acceleration_range
        r = float(lo + rng.random() * (hi - lo))
        return CartesianUndersampling(r, self.centre_fraction, int(rng.integers(0, 2**63)), self.axis)
