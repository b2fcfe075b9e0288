"""Radially averaged power spectra of two image sets and the mean absolute log10 difference between them.

Generators often get the fine scale wrong (over-smooth VAEs, high-frequency
checkerboard or noise artefacts of GANs and diffusion models; Durall et al.,
CVPR 2020, arXiv:2003.01826; Dzanic et al., NeurIPS 2020, arXiv:1911.06465). The
radially averaged power spectrum shows this per spatial frequency.

Per image ``x`` (grey, ``(H, W)`` in [0, 1]):

1. remove the mean: ``x - mean(x)``;
2. multiply by the separable 2D Hann window ``w = hann(H) (x) hann(W)``
   (periodic, ``scipy.signal.windows.hann(n, sym=False)``), which suppresses the
   leakage from the non-periodic image borders;
3. ``P(k) = |FFT2(w (x - mean))|^2 / sum(w^2)``; with this normalisation white noise
   of variance ``s^2`` has ``E[P(k)] = s^2`` at every frequency (units: grey^2);
4. radial average over rings: frequency ``f = sqrt(fx^2 + fy^2)`` in cycles/pixel
   (``numpy.fft.fftfreq``), ring ``i = round(f L)`` with ``L = min(H, W)``, rings
   ``i = 1 .. L // 2`` kept (DC and the corners beyond Nyquist dropped); ring ``i``
   is reported at normalised frequency ``i / L`` cycles/pixel (0.5 = Nyquist).

Per set the ring powers are averaged over images (linear power), then
``log10(max(power, floor))``. The distance is the mean over rings of
``|log10 P_real - log10 P_synthetic|`` (decades; 0.1 = about 26 % power error on
average); the per-ring arrays are returned for plots. Images of one set share a
shape; the two sets need the same ``L`` (resize otherwise).

Three layers: :class:`PowerSpectrumDistance` (settings, callable on images),
:func:`spectrum_distance` (pure function of two image arrays),
:func:`radial_power_spectrum` / :func:`radial_rings` (the maths).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.signal.windows import hann

from radsynth.core.errors import RadsynthInputError
from radsynth.metrics.features import check_images

REFERENCE = "radially averaged power spectrum (Durall et al., CVPR 2020, arXiv:2003.01826)"
_CHUNK_PIXELS = 1 << 22


@lru_cache(maxsize=16)
def radial_rings(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Ring index ``(H, W)`` of every FFT coefficient (0 = dropped) and ring frequencies ``(L // 2,)`` in cycles/pixel."""
    if min(height, width) < 2:
        raise RadsynthInputError("image shape", (height, width), "both sides >= 2 pixels")
    L = min(height, width)
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.fftfreq(width)[None, :]
    ring = np.rint(np.sqrt(fx * fx + fy * fy) * L).astype(np.int64)
    ring[ring > L // 2] = 0
    ring.setflags(write=False)
    freqs = np.arange(1, L // 2 + 1) / L
    freqs.setflags(write=False)
    return ring, freqs


@lru_cache(maxsize=16)
def _window(height: int, width: int) -> np.ndarray:
    w = np.outer(hann(height, sym=False), hann(width, sym=False))
    w.setflags(write=False)
    return w


@lru_cache(maxsize=16)
def _ring_matrix(height: int, width: int) -> tuple[sp.csr_matrix, np.ndarray]:
    ring, freqs = radial_rings(height, width)
    flat = ring.ravel()
    keep = np.flatnonzero(flat > 0)
    mat = sp.csr_matrix((np.ones(keep.size), (keep, flat[keep] - 1)), shape=(flat.size, freqs.size))
    counts = np.bincount(flat[keep] - 1, minlength=freqs.size).astype(np.float64)
    return mat, counts


def radial_power_spectrum(images01: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-image radially averaged power spectrum: frequencies ``(B,)`` (cycles/pixel) and power ``(N, B)`` (grey^2)."""
    x = check_images(images01)
    n, h, w = x.shape
    ring, freqs = radial_rings(h, w)
    win = _window(h, w)
    mat, counts = _ring_matrix(h, w)
    norm = float((win * win).sum())
    out = np.empty((n, freqs.size))
    step = max(1, _CHUNK_PIXELS // (h * w))
    for i in range(0, n, step):
        c = x[i : i + step]
        c = (c - c.mean(axis=(1, 2), keepdims=True)) * win
        p = np.abs(np.fft.fft2(c, axes=(1, 2))) ** 2 / norm
        out[i : i + step] = np.asarray(p.reshape(p.shape[0], -1) @ mat) / counts
    return np.array(freqs), out


@dataclass(frozen=True)
class SpectrumResult:
    """Mean radial power spectra of both sets, their log10 difference per ring and its mean (``distance``)."""

    distance: float
    freqs: np.ndarray = field(repr=False)
    power_real: np.ndarray = field(repr=False)
    power_synthetic: np.ndarray = field(repr=False)
    log10_real: np.ndarray = field(repr=False)
    log10_synthetic: np.ndarray = field(repr=False)
    abs_log10_diff: np.ndarray = field(repr=False)
    n_real: int = 0
    n_synthetic: int = 0
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, *, include_spectra: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "metric": "power_spectrum",
            "distance_log10": self.distance,
            "n_real": self.n_real,
            "n_synthetic": self.n_synthetic,
            "settings": dict(self.settings),
            "reference": REFERENCE,
        }
        if include_spectra:
            d["freqs_cycles_per_pixel"] = self.freqs.tolist()
            d["log10_power_real"] = self.log10_real.tolist()
            d["log10_power_synthetic"] = self.log10_synthetic.tolist()
            d["abs_log10_diff"] = self.abs_log10_diff.tolist()
        return d


def _check_floor(floor: Any) -> float:
    if not (isinstance(floor, int | float | np.floating) and np.isfinite(floor) and floor > 0):
        raise RadsynthInputError("floor", floor, "a number > 0 (lowest power kept before log10, grey^2)")
    return float(floor)


def spectrum_distance(
    real_images01: np.ndarray, synthetic_images01: np.ndarray, *, floor: float = 1e-12
) -> SpectrumResult:
    """Mean |log10| difference of the set-averaged radial power spectra of two image sets ``(N, H, W)`` in [0, 1]."""
    floor = _check_floor(floor)
    a = check_images(real_images01, "real_images")
    b = check_images(synthetic_images01, "synthetic_images")
    if min(a.shape[1:]) != min(b.shape[1:]):
        raise RadsynthInputError("synthetic_images", f"shape {b.shape[1:]}",
                                 f"images with the shorter side of real_images ({min(a.shape[1:])} pixels)",
                                 "Resize both sets to the same size first.")
    freqs, pa = radial_power_spectrum(a)
    _, pb = radial_power_spectrum(b)
    ma, mb = pa.mean(axis=0), pb.mean(axis=0)
    la, lb = np.log10(np.maximum(ma, floor)), np.log10(np.maximum(mb, floor))
    diff = np.abs(la - lb)
    return SpectrumResult(float(diff.mean()), freqs, ma, mb, la, lb, diff, a.shape[0], b.shape[0], {"floor": floor})


class PowerSpectrumDistance:
    """Radial power-spectrum distance of two grey image sets; see :func:`spectrum_distance`."""

    def __init__(self, *, floor: float = 1e-12) -> None:
        self.floor = _check_floor(floor)

    def __call__(self, real_images01: np.ndarray, synthetic_images01: np.ndarray) -> SpectrumResult:
        return spectrum_distance(real_images01, synthetic_images01, floor=self.floor)
