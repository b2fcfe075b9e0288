"""Euclidean distance (mm) to a set of voxels, with the affine's voxel sizes (for label-map relabelling steps)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def distance_mm(mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Distance (mm) from every voxel centre to the nearest voxel centre of ``mask`` (0 inside it; inf everywhere
    when the mask is empty): ``scipy.ndimage.distance_transform_edt`` with the column norms of ``affine`` as
    sampling, so a voxel touching the mask face-on is one voxel size away."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return np.full(mask.shape, np.inf)
    vox = np.sqrt((np.asarray(affine, dtype=np.float64)[:3, : mask.ndim] ** 2).sum(axis=0))
    return ndimage.distance_transform_edt(~mask, sampling=vox)
