"""Partial-volume resampling to a coarser acquisition voxel size (exact area averaging).

Each output voxel is the volume-weighted mean of the input voxels it overlaps: along
every axis a sparse (n_out x n_in) matrix holds the overlap fractions of output voxel j,
covering input-index interval [j f, (j + 1) f) for a size ratio f = out/in (voxel edges
at integer positions). The separable product is exact box (area) averaging for any
factor, integer or not, and reduces to a block mean for integer factors (what
skimage.transform.downscale_local_mean does, without its zero padding at the border).
Output voxel j is centred at input index (j + 1/2) f - 1/2; the field of view is kept
up to the incomplete last voxel, which is dropped.

Labels are resampled onto the *same* grid and affine by area-weighted majority vote
(default) or by the label nearest to the output voxel centre, so masks align voxel
for voxel with the resampled image.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from scipy import ndimage, sparse

from radsynth.core.errors import RadsynthInputError


def voxel_sizes_mm(affine: np.ndarray, ndim: int) -> np.ndarray:
    """Voxel sizes (mm) of the first ``ndim`` array axes: column norms of the affine."""
    a = np.asarray(affine, dtype=np.float64)
    if a.shape != (4, 4):
        raise RadsynthInputError("affine", f"array of shape {a.shape}", "a 4x4 voxel-to-world matrix")
    return np.sqrt((a[:3, :ndim] ** 2).sum(axis=0))


def _factors(affine: np.ndarray, ndim: int, voxel_size_mm: float | Sequence[float]) -> np.ndarray:
    target = np.atleast_1d(np.asarray(voxel_size_mm, dtype=np.float64))
    if target.size == 1:
        target = np.repeat(target, ndim)
    elif target.size == 3 and ndim == 2:
        target = target[:2]
    if target.size != ndim or not np.all(np.isfinite(target)) or np.any(target <= 0):
        raise RadsynthInputError("voxel_size_mm", voxel_size_mm, f"a size > 0 mm or {ndim} sizes (one per axis)")
    return target / voxel_sizes_mm(affine, ndim)


def _grid_factor(f: float) -> float:
    """Snap a size ratio to 1 or an integer when within float noise of it."""
    r = round(f)
    return float(r) if r >= 1 and abs(f - r) < 1e-6 else float(f)


@lru_cache(maxsize=64)
def _axis_matrix(n_in: int, factor: float) -> sparse.csr_matrix:
    """Sparse (n_out, n_in) overlap-fraction matrix for one axis (rows sum to 1)."""
    n_out = max(1, int(np.floor(n_in / factor + 1e-9)))
    rows, cols, vals = [], [], []
    for j in range(n_out):
        a, b = j * factor, min((j + 1) * factor, float(n_in))
        i0, i1 = int(np.floor(a)), int(np.ceil(b))
        i = np.arange(i0, min(i1, n_in))
        w = np.minimum(i + 1, b) - np.maximum(i, a)
        keep = w > 1e-12
        rows.append(np.full(int(keep.sum()), j))
        cols.append(i[keep])
        vals.append(w[keep] / w[keep].sum())
    m = sparse.csr_matrix(
        (np.concatenate(vals).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))), shape=(n_out, n_in)
    )
    return m


def _apply_axis(x: np.ndarray, axis: int, m: sparse.csr_matrix) -> np.ndarray:
    moved = np.moveaxis(x, axis, 0)
    flat = np.ascontiguousarray(moved).reshape(moved.shape[0], -1)
    out = np.asarray(m @ flat).reshape((m.shape[0],) + moved.shape[1:])
    return np.moveaxis(out, 0, axis)


def _resampled_affine(affine: np.ndarray, factors: np.ndarray) -> np.ndarray:
    a = np.asarray(affine, dtype=np.float64)
    new = a.copy()
    n = factors.size
    new[:3, :n] = a[:3, :n] * factors
    new[:3, 3] = a[:3, 3] + a[:3, :n] @ ((factors - 1.0) / 2.0)
    return new


def resample_to_voxel_size(
    image: np.ndarray, affine: np.ndarray, voxel_size_mm: float | Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Area-average ``image`` (2D/3D, real or complex) to ``voxel_size_mm``; returns (image, affine).

    Axes already at the target size are untouched (a 1 mm volume at 1 mm is returned as is).
    """
    image = np.asarray(image)
    factors = np.array([_grid_factor(f) for f in _factors(affine, image.ndim, voxel_size_mm)])
    out = image if np.iscomplexobj(image) else image.astype(np.float32, copy=False)
    for ax, f in enumerate(factors):
        if f != 1.0:
            out = _apply_axis(out, ax, _axis_matrix(image.shape[ax], f))
    if not np.iscomplexobj(out):
        out = out.astype(np.float32, copy=False)
    return out, _resampled_affine(affine, factors)


def resample_labels_to_voxel_size(
    labels: np.ndarray, affine: np.ndarray, voxel_size_mm: float | Sequence[float], method: str = "majority"
) -> tuple[np.ndarray, np.ndarray]:
    """Labels on the grid of :func:`resample_to_voxel_size` (same shape and affine).

    ``method="majority"``: the label covering the largest volume of each output voxel
    (ties -> smallest label); ``"nearest"``: the input label at the output voxel centre.
    """
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise RadsynthInputError("labels", f"array of dtype {labels.dtype}", "an integer label map")
    factors = np.array([_grid_factor(f) for f in _factors(affine, labels.ndim, voxel_size_mm)])
    new_affine = _resampled_affine(affine, factors)
    if np.all(factors == 1.0):
        return labels.copy(), new_affine
    if method == "nearest":
        idx = []
        for n, f in zip(labels.shape, factors):
            n_out = _axis_matrix(n, float(f)).shape[0]
            c = np.rint((np.arange(n_out) + 0.5) * f - 0.5).astype(np.intp)
            idx.append(np.clip(c, 0, n - 1))
        return labels[np.ix_(*idx)], new_affine
    if method != "majority":
        raise RadsynthInputError("method", method, "'majority' or 'nearest'")
    mats = [_axis_matrix(n, float(f)) if f != 1.0 else None for n, f in zip(labels.shape, factors)]
    out_shape = tuple(m.shape[0] if m is not None else n for m, n in zip(mats, labels.shape))
    best_frac = np.full(out_shape, -1.0, dtype=np.float32)
    best_label = np.zeros(out_shape, dtype=labels.dtype)
    # Each label only touches the output voxels over its bounding box: find the boxes in
    # one pass (scipy.ndimage.find_objects) and resample each label's indicator there.
    lo = int(labels.min())
    shifted = labels.astype(np.int32) - lo + 1 if lo < 1 else labels
    boxes = ndimage.find_objects(shifted)
    for k, box in enumerate(boxes):
        if box is None:
            continue
        lab = k + 1 + (lo - 1 if lo < 1 else 0)
        in_sl, out_sl, sub = [], [], []
        for ax, (sl, m, f) in enumerate(zip(box, mats, factors)):
            if m is None:
                in_sl.append(sl)
                out_sl.append(sl)
                sub.append(None)
                continue
            j0 = int(np.floor(sl.start / f + 1e-9))
            j1 = min(m.shape[0], int(np.floor((sl.stop - 1) / f + 1e-9)) + 1)
            if j1 <= j0:  # label only in the dropped incomplete last voxel
                break
            i0, i1 = int(np.floor(j0 * f + 1e-9)), min(labels.shape[ax], int(np.ceil(j1 * f - 1e-9)))
            in_sl.append(slice(i0, i1))
            out_sl.append(slice(j0, j1))
            sub.append(m[j0:j1, i0:i1])
        else:
            frac = (labels[tuple(in_sl)] == lab).astype(np.float32)
            for ax, m in enumerate(sub):
                if m is not None:
                    frac = _apply_axis(frac, ax, m)
            region = tuple(out_sl)
            better = frac > best_frac[region]
            best_frac[region] = np.where(better, frac, best_frac[region])
            best_label[region] = np.where(better, np.asarray(lab, dtype=labels.dtype), best_label[region])
    return best_label, new_affine
