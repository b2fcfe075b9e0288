"""Thermal noise of magnitude MR images: complex Gaussian noise, then magnitude (Rician).

Receiver noise is white, zero-mean Gaussian with the same standard deviation sigma in
the real and imaginary channels; the magnitude of (signal + noise) follows a Rice
distribution, and a Rayleigh distribution where there is no signal (Gudbjartsson H,
Patz S, The Rician distribution of noisy MRI data, MRM 1995;34:910-914; Henkelman RM,
Measurement of signal intensities in the presence of noise in MR images, Med Phys
1985;12:232-233).

SNR convention: SNR = (mean noise-free magnitude in a reference tissue, WM by default)
/ sigma. It is measured back with :func:`measure_snr`: sigma from the background either
by the Rayleigh mean, sigma = mean_bg / sqrt(pi/2), or the Rayleigh standard deviation,
sigma = std_bg / sqrt(2 - pi/2); the signal amplitude from the second moment,
A = sqrt(<M^2> - 2 sigma^2), which removes the Rician bias at low SNR
(Gudbjartsson & Patz 1995, eq. 7).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from radsynth.core.errors import RadsynthInputError
from radsynth.core.checks import non_negative, range_pair

SNR_LIMITS = (0.5, 1.0e5)


@dataclass(frozen=True)
class RicianNoise:
    """Complex Gaussian noise of std ``sigma`` per channel (image units), drawn from ``seed``."""

    sigma: float
    seed: int

    def __post_init__(self) -> None:
        non_negative("noise_sigma", self.sigma)
        if int(self.seed) != self.seed or not 0 <= self.seed < 2**64:
            raise RadsynthInputError("noise_seed", self.seed, "an integer in [0, 2**64)")

    def apply(self, image: np.ndarray, noise_filter: Mapping[int, np.ndarray] | None = None) -> np.ndarray:
        """Magnitude of (image + complex noise), float32; ``image`` may be real or complex.

        ``noise_filter`` ({axis: k-space weights in FFT order}, e.g. a reconstruction filter's): the
        white noise is filtered by it (correlated noise, as after a scanner's k-space apodisation) and
        rescaled by the analytic factor 1 / sqrt(prod_axis mean |w_axis|^2), so its std stays ``sigma``
        in expectation (Parseval) and the SNR keeps its meaning.
        """
        image = np.asarray(image)
        rng = np.random.default_rng(int(self.seed))
        sigma = np.float32(self.sigma)
        re = rng.standard_normal(image.shape, dtype=np.float32)
        im = rng.standard_normal(image.shape, dtype=np.float32)
        if noise_filter:
            from radsynth.physics.mri._kspace import apply_kspace_weights

            gain = float(np.prod([np.mean(np.abs(np.asarray(w)) ** 2) for w in noise_filter.values()]))
            z = apply_kspace_weights(re + 1j * im, noise_filter)
            z *= np.float32(1.0 / np.sqrt(gain)) if gain > 0 else np.float32(0.0)
            re = np.ascontiguousarray(z.real, dtype=np.float32)
            im = np.ascontiguousarray(z.imag, dtype=np.float32)
        re *= sigma
        im *= sigma
        if np.iscomplexobj(image):
            re += image.real.astype(np.float32, copy=False)
            im += image.imag.astype(np.float32, copy=False)
        else:
            re += image.astype(np.float32, copy=False)
        return np.hypot(re, im, out=re)

    def to_dict(self) -> dict[str, Any]:
        return {"sigma": float(self.sigma), "seed": int(self.seed)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RicianNoise:
        return cls(float(d["sigma"]), int(d["seed"]))


def rician_sigma_for_snr(image: np.ndarray, reference_mask: np.ndarray, snr: float) -> float:
    """sigma such that mean(|image|[reference_mask]) / sigma == snr."""
    if not (math.isfinite(snr) and snr > 0):
        raise RadsynthInputError("snr", snr, "a finite number > 0")
    mask = np.asarray(reference_mask, dtype=bool)
    if mask.shape != np.shape(image):
        raise RadsynthInputError("reference_mask", f"shape {mask.shape}", f"the image shape {np.shape(image)}")
    if not mask.any():
        raise RadsynthInputError("reference_mask", "empty mask", "a mask with at least one voxel")
    ref = float(np.abs(np.asarray(image)[mask]).mean(dtype=np.float64))
    if not ref > 0:
        raise RadsynthInputError("reference_mask", "zero mean signal", "a region with non-zero signal")
    return ref / float(snr)


@dataclass(frozen=True)
class RandomRicianNoise:
    """SNR drawn log-uniformly from ``snr_range``; sigma set relative to the reference region."""

    snr_range: tuple[float, float] = (20.0, 40.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "snr_range", range_pair("snr_range", self.snr_range, *SNR_LIMITS))

    def sample_snr(self, rng: np.random.Generator) -> float:
        lo, hi = self.snr_range
        u = rng.random()
        return float(lo) if lo == hi else float(math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))))

    def sample(self, image: np.ndarray, reference_mask: np.ndarray, rng: np.random.Generator) -> RicianNoise:
        snr = self.sample_snr(rng)
        seed = int(rng.integers(0, 2**63))
        return RicianNoise(rician_sigma_for_snr(image, reference_mask, snr), seed)


def estimate_sigma_background(background: np.ndarray, method: str = "mean") -> float:
    """Noise sigma from Rayleigh-distributed background magnitudes ('mean' or 'std' estimator)."""
    bg = np.asarray(background, dtype=np.float64).ravel()
    if bg.size < 2:
        raise RadsynthInputError("background_mask", f"{bg.size} voxels", "at least 2 background voxels")
    if method == "mean":
        return float(bg.mean() / math.sqrt(math.pi / 2.0))
    if method == "std":
        return float(bg.std(ddof=1) / math.sqrt(2.0 - math.pi / 2.0))
    raise RadsynthInputError("method", method, "'mean' or 'std'")


def measure_snr(noisy: np.ndarray, signal_mask: np.ndarray, background_mask: np.ndarray, method: str = "mean") -> float:
    """SNR of a magnitude image: Rician-bias-corrected signal amplitude / background sigma."""
    noisy = np.asarray(noisy)
    sig = np.asarray(noisy[np.asarray(signal_mask, dtype=bool)], dtype=np.float64)
    if sig.size == 0:
        raise RadsynthInputError("signal_mask", "empty mask", "a mask with at least one voxel")
    sigma = estimate_sigma_background(noisy[np.asarray(background_mask, dtype=bool)], method)
    amp = math.sqrt(max(float(np.mean(sig**2)) - 2.0 * sigma**2, 0.0))
    return amp / sigma if sigma > 0 else math.inf
