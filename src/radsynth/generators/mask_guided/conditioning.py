"""The conditioning both mask-guided families take (:mod:`.model`, the DDPM, and :mod:`.pix2pix`, the
conditional GAN): ``[lesion, brain * has_brain, has_brain]`` per pixel, so one mask file drives either."""

from __future__ import annotations

import numpy as np

COND_CHANNELS = 3


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
