"""Resampling of label maps and images through a dense coordinate field.

Kept on scipy.ndimage.map_coordinates: it is deterministic and single-threaded,
so outputs do not depend on worker or thread count (a requirement of the
cohort runner), and nearest-neighbour sampling keeps label values exact.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def identity_grid(shape: tuple[int, ...]) -> np.ndarray:
    """Voxel coordinates of every voxel, shape (ndim, *shape), float32."""
    return np.stack(np.meshgrid(*[np.arange(s, dtype=np.float32) for s in shape], indexing="ij"))


def warp_labels(labels: np.ndarray, coords: np.ndarray, fill: int = 0) -> np.ndarray:
    """Sample ``labels`` at voxel ``coords`` (ndim, *out_shape) with nearest neighbour.

    Label values are preserved exactly; points outside the volume get ``fill``.
    """
    out = ndimage.map_coordinates(labels, coords, order=0, mode="constant", cval=fill, prefilter=False)
    return out.astype(labels.dtype, copy=False)


def warp_image(image: np.ndarray, coords: np.ndarray, order: int = 1, fill: float = 0.0) -> np.ndarray:
    """Sample an intensity image at voxel ``coords`` with (tri)linear interpolation by default."""
    out = ndimage.map_coordinates(
        image.astype(np.float32, copy=False), coords, order=order, mode="constant", cval=fill, prefilter=order > 1
    )
    return out.astype(np.float32, copy=False)
