"""Gibbs ringing (truncation artefact): k-space truncated to a central fraction per axis.

A finite acquisition matrix multiplies the object's spectrum by a rectangular window;
the image is convolved with a (periodic) sinc, which rings at sharp edges with an
overshoot of ~9 % of the step (the Wilbraham-Gibbs constant, 0.0895; Gibbs JW, Nature
1899;59:606; in MRI: Wood ML, Henkelman RM, Truncation artifacts in magnetic resonance
imaging, MRM 1985;2:517-526; Bernstein MA et al., Handbook of MRI Pulse Sequences 2004,
sec. 13.1).

Why not monai.transforms.GibbsNoise: it applies a *spherical* k-space mask whose radius
is set from the largest axis, and returns only the real part of the inverse FFT; the
acquisition pipeline here needs Cartesian (per-axis) truncation on a complex image that
then receives complex noise, and a serialisable deterministic twin.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from radsynth.core.errors import RadsynthInputError
from radsynth.core.checks import in_range, range_pair
from radsynth.physics.mri._kspace import apply_kspace_weights, line_index


def kept_lines(n: int, fraction: float) -> int:
    """Number of central k-space lines kept: odd and symmetric about k = 0 (all n when fraction == 1)."""
    if fraction >= 1.0:
        return n
    n_keep = max(1, int(round(fraction * n)))
    return 2 * ((n_keep - 1) // 2) + 1


@dataclass(frozen=True)
class GibbsRinging:
    """Keep the central ``fractions[a]`` of k-space along axis a (1.0: untouched; one value: all axes)."""

    fractions: tuple[float, ...]

    def __post_init__(self) -> None:
        if isinstance(self.fractions, (int, float)):
            object.__setattr__(self, "fractions", (float(self.fractions),))
        object.__setattr__(self, "fractions", tuple(in_range("gibbs_fraction", f, 0.0, 1.0, lo_open=True) for f in self.fractions))
        if not self.fractions:
            raise RadsynthInputError("gibbs_fraction", self.fractions, "one fraction in (0, 1] or one per axis")

    def _per_axis(self, ndim: int) -> tuple[float, ...]:
        if len(self.fractions) == 1:
            return self.fractions * ndim
        if len(self.fractions) != ndim:
            raise RadsynthInputError("gibbs_fraction", self.fractions, f"one fraction or {ndim} (one per axis)")
        return self.fractions

    def kspace_weights(self, shape: Sequence[int]) -> dict[int, np.ndarray]:
        """{axis: 0/1 window in FFT order} for the truncated axes."""
        out = {}
        for ax, (n, f) in enumerate(zip(shape, self._per_axis(len(shape)))):
            keep = kept_lines(n, f)
            if keep < n:
                out[ax] = (np.abs(line_index(n)) <= (keep - 1) // 2).astype(np.complex64)
        return out

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Truncated-k-space image (complex64)."""
        return apply_kspace_weights(image, self.kspace_weights(np.shape(image)))

    def to_dict(self) -> dict[str, Any]:
        return {"fractions": [float(f) for f in self.fractions]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GibbsRinging:
        return cls(tuple(float(f) for f in d["fractions"]))


@dataclass(frozen=True)
class RandomGibbsRinging:
    """Per-axis kept fraction drawn uniformly from ``fraction_range``."""

    fraction_range: tuple[float, float] = (0.5, 0.9)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fraction_range", range_pair("gibbs_fraction_range", self.fraction_range, 1e-3, 1.0))

    def sample(self, ndim: int, rng: np.random.Generator) -> GibbsRinging:
        lo, hi = self.fraction_range
        return GibbsRinging(tuple(float(x) for x in rng.uniform(lo, hi, size=ndim)))
