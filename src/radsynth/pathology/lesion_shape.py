"""Shared geometry helpers for lesion models: voxel geometry, label masks, smooth noise.

Lesion shapes are driven by *smooth low-frequency random fields* drawn from a
recorded integer seed, so a lesion is a pure function of its parameters (the
deterministic twin of every ``Random*`` pathology class). The fields are defined
in millimetres relative to the lesion centre, so the same parameters give the
same shape on any crop of the same map.

Hand-written rather than taken from MONAI/TorchIO: their random elastic / noise
transforms draw from global or torch RNGs and are not addressable by a recorded
integer seed in mm space; here we need a seeded numpy/scipy twin (deterministic
and thread-count independent).
"""

from __future__ import annotations

from collections.abc import Iterable

import nibabel as nib
import numpy as np
from scipy import ndimage

from radsynth.core.checks import range_pair
from radsynth.core.errors import RadsynthInputError

__all__ = [
    "check_ras",
    "voxel_spacing_mm",
    "voxel_volume_ml",
    "voxel_to_world",
    "world_to_voxel",
    "label_mask",
    "box_around",
    "offsets_mm",
    "sphere_noise",
    "smooth_noise_field",
    "check_range",
]


def check_ras(affine: np.ndarray) -> np.ndarray:
    """Validate a 4x4 voxel->world affine in RAS+ canonical axis order; return it as float64."""
    aff = np.asarray(affine, dtype=np.float64)
    if aff.shape != (4, 4) or not np.all(np.isfinite(aff)):
        raise RadsynthInputError("affine", getattr(affine, "shape", affine), "a finite 4x4 voxel->world matrix")
    codes = nib.orientations.aff2axcodes(aff)
    if tuple(codes) != ("R", "A", "S"):
        raise RadsynthInputError(
            "affine",
            "".join(str(c) for c in codes),
            "RAS+ canonical orientation",
            "Load the map with nib.as_closest_canonical (radsynth.anatomy.labelmaps.load_labelmap does).",
        )
    return aff


def voxel_spacing_mm(affine: np.ndarray) -> np.ndarray:
    """Voxel edge lengths (mm) along the three array axes."""
    return np.sqrt((np.asarray(affine, dtype=np.float64)[:3, :3] ** 2).sum(axis=0))


def voxel_volume_ml(affine: np.ndarray) -> float:
    """Volume of one voxel in mL (1 mL = 1000 mm^3)."""
    return float(abs(np.linalg.det(np.asarray(affine, dtype=np.float64)[:3, :3]))) / 1000.0


def voxel_to_world(affine: np.ndarray, ijk: np.ndarray) -> np.ndarray:
    """Voxel indices (..., 3) -> world mm (..., 3)."""
    ijk = np.asarray(ijk, dtype=np.float64)
    aff = np.asarray(affine, dtype=np.float64)
    return ijk @ aff[:3, :3].T + aff[:3, 3]


def world_to_voxel(affine: np.ndarray, xyz: np.ndarray) -> np.ndarray:
    """World mm (..., 3) -> fractional voxel indices (..., 3)."""
    aff = np.linalg.inv(np.asarray(affine, dtype=np.float64))
    return np.asarray(xyz, dtype=np.float64) @ aff[:3, :3].T + aff[:3, 3]


def label_mask(labels: np.ndarray, label_set: Iterable[int]) -> np.ndarray:
    """Boolean mask of voxels whose label is in ``label_set``.

    Uses a look-up table (one gather) instead of :func:`numpy.isin` (a sort):
    ~10x faster on a 1 mm head.
    """
    ids = np.fromiter((int(v) for v in label_set), dtype=np.int64)
    if labels.size == 0:
        return np.zeros(labels.shape, dtype=bool)
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0 or hi > 65535:
        return np.isin(labels, ids)
    lut = np.zeros(max(hi, int(ids.max(initial=0))) + 1, dtype=bool)
    lut[ids[ids >= 0]] = True
    return lut[labels]


def box_around(
    centre_vox: np.ndarray, half_mm: float, spacing: np.ndarray, shape: tuple[int, ...]
) -> tuple[slice, ...]:
    """Array slices of the box of half-width ``half_mm`` around ``centre_vox``, clipped to ``shape``."""
    half = np.ceil(half_mm / np.asarray(spacing, dtype=np.float64)).astype(int)
    c = np.round(np.asarray(centre_vox, dtype=np.float64)).astype(int)
    lo = np.clip(c - half, 0, np.asarray(shape))
    hi = np.clip(c + half + 1, 0, np.asarray(shape))
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))


def offsets_mm(box: tuple[slice, ...], centre_vox: np.ndarray, spacing: np.ndarray) -> list[np.ndarray]:
    """Per-axis broadcastable offsets (mm, float32) of the voxels of ``box`` from ``centre_vox``."""
    out = []
    for ax, (sl, c, sp) in enumerate(zip(box, centre_vox, spacing, strict=True)):
        shp = [1, 1, 1]
        shp[ax] = sl.stop - sl.start
        out.append(((np.arange(sl.start, sl.stop, dtype=np.float64) - c) * sp).astype(np.float32).reshape(shp))
    return out


def _smooth_grid(rng: np.random.Generator, n: int, upsample: int = 4) -> np.ndarray:
    """Standard-normal lattice, Gaussian-smoothed, spline-upsampled, standardised (zero mean, unit std)."""
    g = rng.standard_normal((n, n, n))
    g = ndimage.gaussian_filter(g, sigma=0.7, mode="nearest")
    g = ndimage.zoom(g, upsample, order=3, mode="nearest", grid_mode=False)
    g = (g - g.mean()) / max(float(g.std()), 1e-12)
    return g.astype(np.float32)


def sphere_noise(
    rng: np.random.Generator, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray, lattice: int = 6
) -> np.ndarray:
    """Smooth zero-mean, ~unit-std random function of *direction* (dx, dy, dz) from a centre.

    A smoothed random lattice on [-1, 1]^3 evaluated on the unit sphere: a
    low-frequency modulation (a few lobes) of a radius, like a truncated
    spherical-harmonic expansion with random coefficients. Zero vectors map to
    the lattice centre. Returns float32 with the broadcast shape of the inputs.
    """
    g = _smooth_grid(rng, lattice)
    n = g.shape[0]
    r = np.sqrt(dx * dx + dy * dy + dz * dz)
    r = np.where(r > 0, r, np.float32(1.0))
    scale = np.float32((n - 1) / 2.0 * 0.8)  # unit sphere spans 80% of the lattice
    centre = np.float32((n - 1) / 2.0)
    coords = np.stack(np.broadcast_arrays(dx / r * scale + centre, dy / r * scale + centre, dz / r * scale + centre))
    return ndimage.map_coordinates(g, coords, order=1, mode="nearest").astype(np.float32)


def smooth_noise_field(
    rng: np.random.Generator, ox: np.ndarray, oy: np.ndarray, oz: np.ndarray, correlation_mm: float, extent_mm: float
) -> np.ndarray:
    """Smooth zero-mean, ~unit-std random field at offsets (mm) from a centre.

    The lattice has one random value per ``correlation_mm`` over a cube of
    half-width ``extent_mm`` (a function of the parameters only, not of the
    crop), spline-upsampled and trilinearly evaluated. Returns float32.
    """
    n = int(np.ceil(2 * extent_mm / correlation_mm)) + 3
    g = _smooth_grid(rng, n, upsample=2)
    step = correlation_mm * (n - 1) / (g.shape[0] - 1)  # mm per upsampled lattice cell
    centre = np.float32((g.shape[0] - 1) / 2.0)
    inv = np.float32(1.0 / step)
    coords = np.stack(np.broadcast_arrays(ox * inv + centre, oy * inv + centre, oz * inv + centre))
    return ndimage.map_coordinates(g, coords, order=1, mode="nearest").astype(np.float32)


def check_range(field: str, value, lo: float, hi: float) -> tuple[float, float]:
    """Validate a (low, high) range within [lo, hi]; a scalar means a fixed value."""
    return range_pair(field, value, lo, hi)
