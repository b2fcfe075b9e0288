"""Inspiration level of a chest CT: lung volume by craniocaudal scaling, lung mass conserved.

``RandomInspiration.sample(rng)`` draws an :class:`Inspiration` (frozen, serialisable);
``Inspiration.apply(hu, labels, affine, lung_ids)`` changes a labelled CT deterministically.

Model (``lung_volume_factor`` f = lung volume relative to the scanned breath hold):

* the diaphragm moves: between the lung apex (top of the highest lung voxel) and the lung
  base (bottom of the lowest lung voxel) the subject is scaled craniocaudally by f about
  the apex; everything below the lung base (diaphragm, liver, stomach...) is translated by
  the base's displacement ``(f - 1) * H`` (H: apex-base height); above the apex nothing
  moves. The lung volume then scales by ~f (exact factor measured on the result).
  Resampling is along z only: linear between the two nearest source slices for HU,
  nearest slice for labels; source positions beyond the field of view take the edge slice.
* lung tissue mass is conserved: with c = sum(1 + HU/1000) over lung voxels before /
  the same sum after, lung voxels get ``HU' = -1000 + c (HU + 1000)`` (density is linear in
  HU + 1000 for lung, air and water, so the lungs' total attenuation "mass" is unchanged
  and their mean HU rises on expiration and falls on deeper inspiration).

Scale of the effect: a breath-hold chest CT is taken near total lung capacity (TLC,
~6 L in adults); functional residual capacity is ~50 % of TLC (e.g. Quanjer et al.,
Eur Respir J 6 Suppl 16:5-40, 1993). The default range 0.85-1.05 covers sub-maximal
breath holds (not end-expiration).

Limits: real breathing also widens the chest (rib "bucket-handle" motion, ~1/3 of the
volume change in quiet breathing) and moves the diaphragm domes unevenly; here the whole
cross-section between apex and base stretches (vertebrae, heart and ribs too), and the
abdomen's bottom slices are extended from the field of view's edge on expiration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from radsynth.core.checks import check_dataclass_keys
from radsynth.core.errors import RadsynthInputError


def craniocaudal_source_positions(nz: int, apex: float, base: float, factor: float) -> np.ndarray:
    """Source slice position (float, z index) of each output slice (see module docstring)."""
    z = np.arange(nz, dtype=np.float64)
    h = apex - base
    out = z.copy()
    scaled = (z < apex) & (z >= apex - factor * h)
    out[scaled] = apex - (apex - z[scaled]) / factor
    below = z < apex - factor * h
    out[below] = z[below] + (factor - 1.0) * h
    return np.clip(out, 0.0, nz - 1.0)


@dataclass(frozen=True)
class Inspiration:
    """Concrete inspiration level (deterministic twin of :class:`RandomInspiration`).

    lung_volume_factor: lung volume relative to the source anatomy (1 = unchanged).
    """

    lung_volume_factor: float = 1.0

    def __post_init__(self) -> None:
        f = self.lung_volume_factor
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not (math.isfinite(f) and 0.5 <= f <= 1.5):
            raise RadsynthInputError("lung_volume_factor", f, "a number in [0.5, 1.5]")
        object.__setattr__(self, "lung_volume_factor", float(f))

    def to_dict(self) -> dict[str, Any]:
        return {"lung_volume_factor": self.lung_volume_factor}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Inspiration:
        check_dataclass_keys("inspiration", d, cls)
        return cls(**d)

    def apply(self, hu: np.ndarray, labels: np.ndarray, affine: np.ndarray,
              lung_ids) -> tuple[np.ndarray, np.ndarray]:
        """(hu float32, labels int16) at the new inspiration level (same grid).

        ``affine`` must be RAS+ with z (axis 2) pointing superior; ``lung_ids``: label ids of lung.
        """
        hu = np.asarray(hu, dtype=np.float32)
        labels = np.asarray(labels, dtype=np.int16)
        if hu.shape != labels.shape or hu.ndim != 3:
            raise RadsynthInputError("hu/labels", f"{hu.shape} vs {labels.shape}", "one 3D shape")
        f = self.lung_volume_factor
        if f == 1.0:
            return hu.copy(), labels.copy()
        a = np.asarray(affine, dtype=np.float64)
        if not (a[2, 2] > 0 and abs(a[2, 0]) < 1e-6 and abs(a[2, 1]) < 1e-6):
            raise RadsynthInputError("affine", a[:3, :3].tolist(), "an RAS+ affine whose third voxel axis points superior")
        lung_ids = np.asarray(sorted(int(i) for i in lung_ids), dtype=np.int16)
        lung = np.isin(labels, lung_ids)
        zs = np.nonzero(lung.any(axis=(0, 1)))[0]
        if zs.size == 0:
            raise RadsynthInputError("labels", "no lung voxels", f"a label map holding lung ids {lung_ids.tolist()}")
        apex, base = float(zs[-1]) + 0.5, float(zs[0]) - 0.5
        src = craniocaudal_source_positions(hu.shape[2], apex, base, f)
        i0 = np.floor(src).astype(np.int64)
        i1 = np.minimum(i0 + 1, hu.shape[2] - 1)
        w = (src - i0).astype(np.float32)
        hu_out = hu[:, :, i0] * (1.0 - w) + hu[:, :, i1] * w
        lab_out = labels[:, :, np.rint(src).astype(np.int64)]
        lung_out = np.isin(lab_out, lung_ids)
        before = float(np.sum(1.0 + hu[lung].astype(np.float64) / 1000.0))
        after = float(np.sum(1.0 + hu_out[lung_out].astype(np.float64) / 1000.0))
        if after > 0:
            c = np.float32(before / after)
            hu_out[lung_out] = -1000.0 + c * (hu_out[lung_out] + np.float32(1000.0))
        return hu_out.astype(np.float32), lab_out


@dataclass(frozen=True)
class RandomInspiration:
    """Range of inspiration levels; ``sample(rng)`` -> :class:`Inspiration` (uniform factor)."""

    lung_volume_factor: tuple[float, float] = (0.85, 1.05)

    def __post_init__(self) -> None:
        v = self.lung_volume_factor
        try:
            a, b = (float(x) for x in v)
        except (TypeError, ValueError):
            raise RadsynthInputError("lung_volume_factor", v, "a (low, high) pair in [0.5, 1.5]") from None
        if not (0.5 <= a <= b <= 1.5):
            raise RadsynthInputError("lung_volume_factor", v, "a (low, high) pair with 0.5 <= low <= high <= 1.5")
        object.__setattr__(self, "lung_volume_factor", (a, b))

    def sample(self, rng: np.random.Generator) -> Inspiration:
        return Inspiration(lung_volume_factor=float(rng.uniform(*self.lung_volume_factor)))

    def to_dict(self) -> dict[str, Any]:
        return {"lung_volume_factor": list(self.lung_volume_factor)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RandomInspiration:
        check_dataclass_keys("inspiration", d, cls)
        return cls(**d)
