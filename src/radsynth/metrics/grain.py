"""Excess grain: how many synthetic images carry more fine-scale noise than real images do.

A diffusion sampler that stops short of clean data (too few steps, poorly fitted
noise prediction at low noise levels, clipped x0 predictions fed back as noise) leaves
a salt-and-pepper or film-grain texture that a radiologist reads at once as "not an
X-ray", while global statistics (grey-value histogram, even a feature FID) move little.
This metric counts such images directly.

Three layers, as the other metrics:

* maths -- :func:`high_frequency_energy`: per image, the mean absolute difference between the
  image and its Gaussian blur (sigma in pixels), i.e. the mean magnitude of the band above
  ~1/(2 pi sigma) cycles/pixel, for images scaled to [0, 1] (the units of the result);
* pure function -- :func:`excess_grain_rate`: the fraction of synthetic images whose energy
  exceeds the ``quantile`` of the real images' energies (by construction about
  ``1 - quantile`` for a real set drawn from the same distribution), with a Wilson
  interval;
* class -- :class:`ExcessGrain`: fixes the real reference once, scores any number of sets.

Images must be compared at the same size: the energy depends on the pixel grid.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from radsynth.core.errors import RadsynthInputError
from radsynth.metrics.class_fidelity import wilson_interval
from radsynth.metrics.features import check_images


def high_frequency_energy(images01: Any, sigma_px: float = 1.0) -> np.ndarray:
    """Mean |image - GaussianBlur(image, sigma_px)| per image; images ``(n, H, W)`` in [0, 1].

    Returns float64 ``(n,)`` in grey units of [0, 1] (0 for a constant image).
    """
    from scipy.ndimage import gaussian_filter

    x = check_images(images01)
    if not (np.isfinite(sigma_px) and sigma_px > 0):
        raise RadsynthInputError("sigma_px", sigma_px, "a positive blur width in pixels")
    x = x.astype(np.float64, copy=False)
    blurred = gaussian_filter(x, sigma=(0, sigma_px, sigma_px), mode="reflect")
    return np.abs(x - blurred).mean(axis=(1, 2))


@dataclass(frozen=True)
class GrainResult:
    """``rate``: fraction of synthetic images above ``threshold`` (the real ``quantile``); ``ci``: 95 % Wilson."""

    rate: float
    ci: tuple[float, float]
    n_excess: int
    n: int
    threshold: float
    quantile: float
    sigma_px: float
    median_synthetic: float
    median_real: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def excess_grain_rate(real01: Any, synthetic01: Any, quantile: float = 0.99, sigma_px: float = 1.0) -> GrainResult:
    """Fraction of ``synthetic01`` images grainier than the ``quantile`` of ``real01`` (both ``(n, H, W)`` in [0, 1])."""
    if not 0.5 <= quantile < 1.0:
        raise RadsynthInputError("quantile", quantile, "a number in [0.5, 1)")
    real, syn = check_images(real01, "real"), check_images(synthetic01, "synthetic")
    if real.shape[1:] != syn.shape[1:]:
        raise RadsynthInputError("synthetic", f"size {syn.shape[1:]}", f"the real images' size {real.shape[1:]}",
                                 "Resample both sets to one size first: grain depends on the pixel grid.")
    if len(real) < 20:
        raise RadsynthInputError("real", f"{len(real)} images", "at least 20 real images for the reference quantile")
    return ExcessGrain(real, quantile=quantile, sigma_px=sigma_px)(syn)


class ExcessGrain:
    """Real reference fixed once; ``__call__(synthetic01)`` gives a :class:`GrainResult`."""

    def __init__(self, real01: Any, quantile: float = 0.99, sigma_px: float = 1.0) -> None:
        self.quantile, self.sigma_px = float(quantile), float(sigma_px)
        real = check_images(real01, "real")
        self.shape = real.shape[1:]
        self.real_energy = high_frequency_energy(real, sigma_px)
        self.threshold = float(np.quantile(self.real_energy, quantile))

    def config(self) -> dict[str, Any]:
        return {"quantile": self.quantile, "sigma_px": self.sigma_px}

    def __call__(self, synthetic01: Any) -> GrainResult:
        syn = check_images(synthetic01, "synthetic")
        if syn.shape[1:] != self.shape:
            raise RadsynthInputError("synthetic", f"size {syn.shape[1:]}", f"the real images' size {self.shape}")
        e = high_frequency_energy(syn, self.sigma_px)
        k = int((e > self.threshold).sum())
        return GrainResult(rate=k / len(e), ci=wilson_interval(k, len(e)), n_excess=k, n=len(e), threshold=self.threshold,
                           quantile=self.quantile, sigma_px=self.sigma_px, median_synthetic=float(np.median(e)),
                           median_real=float(np.median(self.real_energy)))
