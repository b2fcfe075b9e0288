"""Controlled degradations of grey images in [0, 1], for encoder sanity checks (a judge must move with them).

Images are ``(N, H, W)`` float arrays in [0, 1]; each function returns the same shape, clipped to [0, 1].
"""

from __future__ import annotations

import numpy as np


def add_noise(x: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """Additive white Gaussian noise of standard deviation ``sigma`` (in units of the [0, 1] range), seeded."""
    rng = np.random.default_rng(seed)
    return np.clip(x + sigma * rng.standard_normal(x.shape, dtype=np.float32), 0.0, 1.0)


def gaussian_blur(x: np.ndarray, sigma_px: float) -> np.ndarray:
    """In-plane Gaussian blur of standard deviation ``sigma_px`` pixels (each image on its own, reflect borders)."""
    from scipy.ndimage import gaussian_filter

    return np.clip(gaussian_filter(x, sigma=(0.0, sigma_px, sigma_px), mode="reflect", truncate=4.0), 0.0, 1.0)
