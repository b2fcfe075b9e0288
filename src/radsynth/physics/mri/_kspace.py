"""Shared k-space helper: multiply an image's spectrum by separable per-axis weights.

FFTs use scipy.fft (pocketfft) single-threaded: each 1D transform is computed the same
way whatever the thread count, so results are bit-reproducible. Weights are 1D arrays in
unshifted FFT order (index k <-> frequency fftfreq(n)[k] * n lines).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import scipy.fft

from radsynth.core.errors import RadsynthInputError


def line_index(n: int) -> np.ndarray:
    """Signed k-space line index (..., -1, 0, 1, ...) of each FFT bin, float64."""
    return np.fft.fftfreq(n) * n


def check_axis(axis: int, ndim: int) -> int:
    if int(axis) != axis or not -ndim <= axis < ndim:
        raise RadsynthInputError("axis", axis, f"an axis index in [0, {ndim - 1}]")
    return int(axis) % ndim


def apply_kspace_weights(image: np.ndarray, weights: Mapping[int, np.ndarray]) -> np.ndarray:
    """ifft(fft(image) * prod_axis w_axis) over the weighted axes only; complex64 out."""
    x = np.asarray(image).astype(np.complex64, copy=False)
    axes = sorted(weights)
    if not axes:
        return x.copy() if x is image else x
    k = scipy.fft.fftn(x, axes=axes, workers=1)
    for ax in axes:
        w = np.asarray(weights[ax], dtype=np.complex64)
        if w.shape != (k.shape[ax],):
            raise ValueError(f"k-space weights for axis {ax} have shape {w.shape}, expected ({k.shape[ax]},)")
        shape = [1] * k.ndim
        shape[ax] = -1
        k *= w.reshape(shape)
    return scipy.fft.ifftn(k, axes=axes, workers=1, overwrite_x=True).astype(np.complex64, copy=False)
