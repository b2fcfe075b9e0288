"""Within-tissue heterogeneity: a smooth multiplicative proton-density field.

Real tissue is not piecewise constant: PD (and with it every signal equation used
here, which are all proportional to PD) varies smoothly within a tissue class
because of microstructure, myelination gradients and vascularisation. Label-driven
simulators otherwise give "cartoon" images. The field is the sum of two Gaussian-
smoothed white-noise fields (fine and coarse scales, equal variance), normalised to
the requested relative standard deviation, and is shared by all sequences of one
subject (it is anatomy, not acquisition).

Hand-written (a few lines of scipy) rather than TorchIO/MONAI: neither has a
seed-addressable deterministic twin for a smooth multiplicative texture in mm.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np
from scipy import ndimage

from radsynth.core.errors import RadsynthInputError


def _spacing(affine: np.ndarray, ndim: int) -> np.ndarray:
    return np.sqrt((np.asarray(affine, dtype=np.float64)[:3, :ndim] ** 2).sum(axis=0))


@dataclass(frozen=True)
class TissueTexture:
    """Deterministic twin: ``field(shape, affine)`` -> float32 multiplier around 1.

    Attributes:
        rel_std: relative standard deviation of the PD modulation (e.g. 0.03 = 3 %).
        fine_mm, coarse_mm: Gaussian smoothing sigmas of the two scales (mm).
        seed: integer seed of the white noise.
    """

    rel_std: float
    fine_mm: float
    coarse_mm: float
    seed: int

    def __post_init__(self) -> None:
        if not 0.0 <= self.rel_std <= 0.3:
            raise RadsynthInputError("texture.rel_std", self.rel_std, "a value in [0, 0.3]")
        for name in ("fine_mm", "coarse_mm"):
            if not 0.1 <= getattr(self, name) <= 50.0:
                raise RadsynthInputError(f"texture.{name}", getattr(self, name), "a smoothing sigma in [0.1, 50] mm")

    def field(self, shape: tuple[int, ...], affine: np.ndarray) -> np.ndarray:
        if self.rel_std == 0.0:
            return np.ones(shape, dtype=np.float32)
        spacing = _spacing(affine, len(shape))
        rng = np.random.default_rng(self.seed)
        total = np.zeros(shape, dtype=np.float32)
        for sigma_mm in (self.fine_mm, self.coarse_mm):
            noise = rng.standard_normal(shape, dtype=np.float32)
            smooth = ndimage.gaussian_filter(noise, sigma=sigma_mm / spacing, mode="reflect")
            sd = float(smooth.std())
            if sd > 0:
                total += smooth / np.float32(sd)
        total *= np.float32(self.rel_std / np.sqrt(2.0))
        return np.clip(1.0 + total, 0.5, 1.5).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TissueTexture":
        return cls(**dict(d))


@dataclass(frozen=True)
class RandomTissueTexture:
    """Samples a :class:`TissueTexture` (relative std fixed, scales drawn from ranges)."""

    rel_std: float = 0.03
    fine_mm: tuple[float, float] = (1.0, 2.0)
    coarse_mm: tuple[float, float] = (4.0, 8.0)

    def sample(self, rng: np.random.Generator) -> TissueTexture:
        return TissueTexture(
            rel_std=float(self.rel_std),
            fine_mm=float(rng.uniform(*self.fine_mm)),
            coarse_mm=float(rng.uniform(*self.coarse_mm)),
            seed=int(rng.integers(0, 2**63 - 1)),
        )
