"""The conditioning both mask-guided families take (:mod:`.model`, the DDPM, and :mod:`.pix2pix`, the
conditional GAN): ``[lesion, brain * has_brain, has_brain]`` per pixel, so one mask file drives either."""

from __future__ import annotations

import numpy as np

from radsynth.core.errors import RadsynthInputError

COND_CHANNELS = 3


def mask_batch(lesion: np.ndarray, brain: np.ndarray | None, size: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Lesion masks (N, size, size) or one (size, size) and brain masks of that shape (or None) as bool batches;
    RadsynthInputError naming ``mask`` when the size is not the model's."""
    les = np.asarray(lesion, bool)
    if les.ndim == 2:
        les = les[None]
    if les.ndim != 3 or les.shape[1:] != (size, size):
        raise RadsynthInputError("mask", list(les.shape[1:]), f"a {size} x {size} mask")
    return les, None if brain is None else np.asarray(brain, bool).reshape(les.shape)


def condition(lesion: np.ndarray, brain: np.ndarray | None) -> np.ndarray:
    """(N, 3, H, W) float32 conditioning of lesion masks (N, H, W) and brain masks (N, H, W) or None."""
    les = np.asarray(lesion, bool).astype(np.float32)
    n = les.shape[0]
    if brain is None:
        b, has = np.zeros_like(les), np.zeros_like(les)
    else:
        b = np.asarray(brain, bool).astype(np.float32)
        has = np.ones_like(les)
    return np.stack([les, b, has], 1).reshape(n, COND_CHANNELS, *les.shape[1:])
