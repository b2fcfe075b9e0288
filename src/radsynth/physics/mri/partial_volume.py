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
    return slab_matrix(n_in, factor, factor)


@lru_cache(maxsize=64)
def slab_matrix(n_in: int, step: float, width: float) -> sparse.csr_matrix:
    """Sparse (n_out, n_in) overlap-fraction matrix: output voxel j averages input interval
    [j step, j step + width) (input voxel units; rows sum to 1). ``width == step``: contiguous boxes
    (area averaging); ``width < step``: thick slices with a gap of ``step - width`` between them, as a
    2D multi-slice protocol acquires (slice thickness ``width``, spacing ``step``). Only complete
    slabs are kept."""
    if not (width > 0 and step > 0):
        raise RadsynthInputError("slab", (step, width), "step > 0 and width > 0 (input voxels)")
    n_out = max(1, int(np.floor((n_in - width) / step + 1e-9)) + 1) if n_in >= width else 1
    rows, cols, vals = [], [], []
    for j in range(n_out):
        a, b = j * step, min(j * step + width, float(n_in))
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


def _resampled_affine(affine: np.ndarray, factors: np.ndarray, widths: np.ndarray | None = None) -> np.ndarray:
    """Affine of the output grid: voxel j of an axis is centred at input index j step + (width - 1) / 2."""
    a = np.asarray(affine, dtype=np.float64)
    new = a.copy()
    n = factors.size
    widths = factors if widths is None else widths
    new[:3, :n] = a[:3, :n] * factors
    new[:3, 3] = a[:3, 3] + a[:3, :n] @ ((widths - 1.0) / 2.0)
    return new


def _gap_matrices(affine: np.ndarray, shape: Sequence[int], voxel_size_mm: float | Sequence[float],
                  gap_mm: Sequence[float] | None) -> tuple[list[sparse.csr_matrix | None], np.ndarray, np.ndarray]:
    """Per-axis overlap matrices (None: untouched), steps and widths (input voxels) of a resampling to
    ``voxel_size_mm`` with ``gap_mm`` (per axis, default 0) between output voxels."""
    ndim = len(shape)
    widths = np.array([_grid_factor(f) for f in _factors(affine, ndim, voxel_size_mm)])
    gaps = np.zeros(ndim) if gap_mm is None else np.asarray(gap_mm, dtype=np.float64)
    if gaps.shape != (ndim,) or not np.all(np.isfinite(gaps)) or np.any(gaps < 0):
        raise RadsynthInputError("gap_mm", gap_mm, f"{ndim} gaps >= 0 mm (one per axis)")
    steps = np.array([_grid_factor(w + g / v) if g > 0 else w
                      for w, g, v in zip(widths, gaps, voxel_sizes_mm(affine, ndim))])
    mats = [None if (w == 1.0 and st == 1.0) else (_axis_matrix(n, float(w)) if st == w else slab_matrix(n, float(st), float(w)))
            for n, w, st in zip(shape, widths, steps)]
    return mats, steps, widths


def resample_to_voxel_size(
    image: np.ndarray, affine: np.ndarray, voxel_size_mm: float | Sequence[float], gap_mm: Sequence[float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Area-average ``image`` (2D/3D, real or complex) to ``voxel_size_mm``; returns (image, affine).

    ``gap_mm`` (one per axis, default none): a gap between output voxels along an axis, e.g. the slice gap of
    a 2D multi-slice protocol: each output voxel averages its own thickness only, and the affine's spacing
    along that axis is thickness + gap (:func:`slab_matrix`).
    Axes already at the target size are untouched (a 1 mm volume at 1 mm is returned as is).
    """
    image = np.asarray(image)
    mats, steps, widths = _gap_matrices(affine, image.shape, voxel_size_mm, gap_mm)
    out = image if np.iscomplexobj(image) else image.astype(np.float32, copy=False)
    for ax, m in enumerate(mats):
        if m is not None:
            out = _apply_axis(out, ax, m)
    if not np.iscomplexobj(out):
        out = out.astype(np.float32, copy=False)
    return out, _resampled_affine(affine, steps, widths)


def resample_labels_to_voxel_size(
    labels: np.ndarray, affine: np.ndarray, voxel_size_mm: float | Sequence[float], method: str = "majority",
    gap_mm: Sequence[float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Labels on the grid of :func:`resample_to_voxel_size` (same shape and affine).

    ``method="majority"``: the label covering the largest volume of each output voxel
    (ties -> smallest label); ``"nearest"``: the input label at the output voxel centre.
    """
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise RadsynthInputError("labels", f"array of dtype {labels.dtype}", "an integer label map")
    mats, steps, widths = _gap_matrices(affine, labels.shape, voxel_size_mm, gap_mm)
    new_affine = _resampled_affine(affine, steps, widths)
    if all(m is None for m in mats):
        return labels.copy(), new_affine
    if method == "nearest":
        idx = []
        for n, m, st, w in zip(labels.shape, mats, steps, widths):
            n_out = n if m is None else m.shape[0]
            c = np.rint(np.arange(n_out) * st + (w - 1.0) / 2.0).astype(np.intp)
            idx.append(np.clip(c, 0, n - 1))
        return labels[np.ix_(*idx)], new_affine
    if method != "majority":
        raise RadsynthInputError("method", method, "'majority' or 'nearest'")
    return majority_labels(labels, mats), new_affine


def majority_labels(labels: np.ndarray, mats: Sequence[sparse.csr_matrix | None]) -> np.ndarray:
    """Area-weighted majority vote of ``labels`` through per-axis overlap matrices (None: axis untouched),
    the same matrices that resample the image, so the labels land on the image's grid voxel for voxel.
    Ties go to the smallest label."""
    out_shape = tuple(m.shape[0] if m is not None else n for m, n in zip(mats, labels.shape))
    best_frac = np.full(out_shape, -1.0, dtype=np.float32)
    best_label = np.zeros(out_shape, dtype=labels.dtype)
    # Each label only touches the output voxels over its bounding box: find the boxes in
    # one pass (scipy.ndimage.find_objects) and resample each label's indicator there.
    lo = int(labels.min())
    shifted = labels.astype(np.int32) - lo + 1 if lo < 1 else labels
    boxes = ndimage.find_objects(shifted)
    support = [None if m is None else _row_support(m) for m in mats]
    for k, box in enumerate(boxes):
        if box is None:
            continue
        lab = k + 1 + (lo - 1 if lo < 1 else 0)
        in_sl, out_sl, sub = [], [], []
        for ax, (sl, m, sup) in enumerate(zip(box, mats, support)):
            if m is None:
                in_sl.append(sl)
                out_sl.append(sl)
                sub.append(None)
                continue
            first, last = sup  # first and last input column of each output row
            j0 = int(np.searchsorted(last, sl.start, side="left"))  # first row reaching the box
            j1 = int(np.searchsorted(first, sl.stop, side="left"))  # rows starting before the box ends
            if j1 <= j0:  # label only in dropped voxels (incomplete last voxel, or a slice gap)
                break
            i0, i1 = int(first[j0]), min(labels.shape[ax], int(last[j1 - 1]) + 1)
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
    return best_label


def _row_support(m: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """(first, last) input column of every row of an overlap matrix (both non-decreasing)."""
    first = np.array([m.indices[m.indptr[r]:m.indptr[r + 1]].min() for r in range(m.shape[0])], dtype=np.int64)
    last = np.array([m.indices[m.indptr[r]:m.indptr[r + 1]].max() for r in range(m.shape[0])], dtype=np.int64)
    return first, last
