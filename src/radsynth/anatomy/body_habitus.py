"""Body habitus of a chest CT: body size (left-right, anterior-posterior) and subcutaneous fat.

``RandomBodyHabitus.sample(rng)`` draws a :class:`BodyHabitus` (frozen, JSON-serialisable);
``BodyHabitus.apply(hu, labels, affine)`` changes a labelled CT deterministically.

Model:

* **body outline** (:func:`body_mask`): the largest 3D connected component of
  HU > -500 (removes the table, blankets and stray noise), holes filled slice by slice
  (the lungs and airways are inside the body).
* **fat layer change** ``fat_change_mm`` (> 0 grows, < 0 shrinks), in each axial slice
  (2D Euclidean distance transforms with the in-plane spacing; the craniocaudal ends of
  the field of view are cuts, not surfaces):

  - *grow*: the body outline is dilated by ``fat_change_mm``; the new shell and the old
    skin become fat; a new skin rim (:data:`SKIN_MM` thick) takes the HU of the nearest
    old-skin voxel (real skin texture). The fat's HU texture is resampled from the real
    subcutaneous fat of the same CT (voxels not labelled, inside the body within 30 mm of
    the outline, HU in :data:`FAT_HU_RANGE`): i.i.d. draws from that empirical
    distribution (seeded by ``texture_seed``), smoothed by a Gaussian of 0.7 voxel and
    restandardised to the real fat's mean and standard deviation;
  - *shrink*: unlabelled fat-HU voxels (and the skin rim) within ``|fat_change_mm|`` + skin
    of the outline that are connected to the outside through such voxels become air: only
    subcutaneous fat is eroded (muscle, bone and organs stop it); a new skin rim then takes
    the nearest old-skin HU. Where the fat is thinner than the change, less is removed.

  Only unlabelled voxels change (fat and skin carry no label in the structure map), so
  the label map is unchanged by the fat step.
* **body scale** ``scale_lr`` / ``scale_ap``: a linear scale of the whole subject about
  the body centre (centroid of the body outline) in the left-right (x) and
  anterior-posterior (y) axes; composed with the subject's affine + elastic deformation
  into one resampling (:meth:`BodyHabitus.compose`).

Fat HU range -190..-30 HU: Kvist et al., "Total and visceral adipose-tissue volumes derived
from measurements with computed tomography in adult men and women", Am J Clin Nutr
48:1351-1361 (1988). Population spread of chest size: adult chest breadth and depth vary
with a standard deviation of roughly 6-8 % of the mean (ANSUR II anthropometric survey,
Gordon et al. 2014): defaults 5 % (left-right) and 7 % (anterior-posterior), bounded to
[0.88, 1.15] so that structure volumes stay within the plausibility tolerances.

Limits: fat is added evenly around the outline (real fat distribution is regional: breast,
abdomen, back); visceral and intermuscular fat are not changed; arms cut by the field of
view are dilated like the trunk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from radsynth.anatomy.deformation import HeadDeformation
from radsynth.core.checks import check_dataclass_keys
from radsynth.core.errors import RadsynthInputError

#: HU threshold of the body outline.
BODY_HU_THRESHOLD = -500.0
#: Adipose tissue HU window (Kvist et al. 1988).
FAT_HU_RANGE = (-190.0, -30.0)
#: Thickness (mm) of the skin rim kept at the outline when the fat layer changes.
SKIN_MM = 2.0
#: Depth (mm) under the outline from which the real subcutaneous-fat texture is sampled.
FAT_SAMPLE_DEPTH_MM = 30.0


def _spacing(affine: np.ndarray) -> np.ndarray:
    return np.sqrt((np.asarray(affine, dtype=np.float64)[:3, :3] ** 2).sum(axis=0))


def body_mask(hu: np.ndarray, threshold_hu: float = BODY_HU_THRESHOLD) -> np.ndarray:
    """Body outline: largest 3D connected component of ``hu > threshold``, holes filled per axial slice."""
    hu = np.asarray(hu)
    if hu.ndim != 3:
        raise RadsynthInputError("hu", f"array of shape {hu.shape}", "a 3D HU volume")
    comp, n = ndimage.label(hu > threshold_hu)
    if n == 0:
        return np.zeros(hu.shape, dtype=bool)
    sizes = np.bincount(comp.ravel())
    sizes[0] = 0
    body = comp == int(np.argmax(sizes))
    for k in range(body.shape[2]):
        body[:, :, k] = ndimage.binary_fill_holes(body[:, :, k])
    return body


def _edt(mask: np.ndarray, sampling, return_indices: bool = False):
    return ndimage.distance_transform_edt(mask, sampling=sampling, return_indices=return_indices)


def fat_texture_sampler(hu: np.ndarray, labels: np.ndarray, body: np.ndarray, spacing_xy) -> np.ndarray:
    """Sorted HU values of the real subcutaneous fat (unlabelled, in the body within
    FAT_SAMPLE_DEPTH_MM of the outline, HU in FAT_HU_RANGE)."""
    vals = []
    lo, hi = FAT_HU_RANGE
    for k in range(hu.shape[2]):
        b = body[:, :, k]
        if not b.any():
            continue
        d_in = _edt(b, spacing_xy)
        sel = b & (labels[:, :, k] == 0) & (d_in <= FAT_SAMPLE_DEPTH_MM) & (hu[:, :, k] > lo) & (hu[:, :, k] < hi)
        vals.append(hu[:, :, k][sel])
    out = np.sort(np.concatenate(vals)) if vals else np.zeros(0, dtype=np.float32)
    if out.size < 100:
        # no fat to learn from: a Gaussian around the middle of the fat window
        out = np.sort(np.random.default_rng(0).normal(-100.0, 20.0, 10000)).astype(np.float32)
    return out.astype(np.float32)


def fat_texture(values: np.ndarray, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Smooth fat HU texture of ``shape``: i.i.d. draws from ``values``, Gaussian-smoothed
    (sigma 0.7 voxel in-plane), restandardised to their mean and std."""
    rng = np.random.default_rng(int(seed))
    draws = values[rng.integers(0, values.size, size=shape)].astype(np.float32)
    sm = ndimage.gaussian_filter(draws, sigma=(0.7, 0.7, 0.0))
    s = float(sm.std())
    m, sd = float(values.mean()), float(values.std())
    out = (sm - float(sm.mean())) * (sd / s if s > 0 else 0.0) + m
    return np.clip(out, *FAT_HU_RANGE).astype(np.float32)


@dataclass(frozen=True)
class BodyHabitus:
    """Concrete body habitus (deterministic twin of :class:`RandomBodyHabitus`).

    scale_lr / scale_ap: body scale left-right / anterior-posterior (1 = unchanged);
    fat_change_mm: subcutaneous fat thickness change (mm; > 0 grows, < 0 shrinks);
    texture_seed: seed of the new fat's HU texture.
    """

    scale_lr: float = 1.0
    scale_ap: float = 1.0
    fat_change_mm: float = 0.0
    texture_seed: int = 0

    def __post_init__(self) -> None:
        for name in ("scale_lr", "scale_ap"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0.5 <= float(v) <= 2.0):
                raise RadsynthInputError(name, v, "a body scale factor in [0.5, 2]")
            object.__setattr__(self, name, float(v))
        f = self.fat_change_mm
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not (math.isfinite(f) and -40.0 <= f <= 60.0):
            raise RadsynthInputError("fat_change_mm", f, "a number in [-40, 60] mm")
        object.__setattr__(self, "fat_change_mm", float(f))
        if not (0 <= int(self.texture_seed) < 2**63):
            raise RadsynthInputError("texture_seed", self.texture_seed, "an integer in [0, 2**63)")
        object.__setattr__(self, "texture_seed", int(self.texture_seed))

    def to_dict(self) -> dict[str, Any]:
        return {"scale_lr": self.scale_lr, "scale_ap": self.scale_ap, "fat_change_mm": self.fat_change_mm,
                "texture_seed": self.texture_seed}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BodyHabitus:
        check_dataclass_keys("body_habitus", d, cls)
        return cls(**d)

    # -- fat layer
    def apply_fat(self, hu: np.ndarray, labels: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(hu float32 copy, labels) with the subcutaneous fat layer changed by ``fat_change_mm``."""
        out_hu, out_lab, _ = self.apply_fat_with_body(hu, labels, affine)
        return out_hu, out_lab

    def apply_fat_with_body(self, hu: np.ndarray, labels: np.ndarray,
                            affine: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`apply_fat` plus the new body outline (bool mask; saves recomputing it)."""
        hu = np.array(hu, dtype=np.float32)
        labels = np.asarray(labels)
        if hu.shape != labels.shape or hu.ndim != 3:
            raise RadsynthInputError("hu/labels", f"{hu.shape} vs {labels.shape}", "one 3D shape")
        t = self.fat_change_mm
        body = body_mask(hu)
        if t == 0.0:
            return hu, labels, body
        sp = _spacing(affine)[:2]
        body_out = body.copy()
        fat_vals = fat_texture_sampler(hu, labels, body, sp)
        tex = fat_texture(fat_vals, hu.shape, self.texture_seed)
        for k in range(hu.shape[2]):
            b = body[:, :, k]
            if not b.any() or b.all():
                continue
            h = hu[:, :, k]
            h0 = h.copy()
            free = labels[:, :, k] == 0
            old_rim = b & (_edt(b, sp) <= SKIN_MM)
            if t > 0:
                shell = ~b & (_edt(~b, sp) <= t)
                new_b = b | shell
                h[shell] = tex[:, :, k][shell]
            else:
                d_in = _edt(b, sp)
                lo, hi = FAT_HU_RANGE
                removable = b & free & (d_in <= -t + SKIN_MM) & (((h0 > lo) & (h0 < hi)) | (d_in <= SKIN_MM))
                comp, _ = ndimage.label(~b | removable)
                keep = np.unique(comp[~b])
                outside = np.isin(comp, keep[keep > 0])
                removed = b & outside
                new_b = b & ~removed
                h[removed] = -1000.0
            body_out[:, :, k] = new_b
            new_rim = new_b & (_edt(new_b, sp) <= SKIN_MM) & (free | ~b)
            # old skin that is now inside the body becomes fat
            to_fat = old_rim & new_b & ~new_rim & free
            h[to_fat] = tex[:, :, k][to_fat]
            if old_rim.any() and new_rim.any():
                _, idx = _edt(~old_rim, sp, return_indices=True)
                h[new_rim] = h0[idx[0][new_rim], idx[1][new_rim]]
        return hu, labels, body_out

    # -- scale
    def compose(self, deformation: HeadDeformation, hu: np.ndarray, affine: np.ndarray,
                body: np.ndarray | None = None) -> HeadDeformation:
        """One :class:`HeadDeformation` = habitus scale about the body centre, then ``deformation``.

        ``body``: the body outline of ``hu`` if already known (else computed)."""
        if self.scale_lr == 1.0 and self.scale_ap == 1.0:
            return deformation
        hu = np.asarray(hu)
        body = body_mask(hu) if body is None else np.asarray(body, dtype=bool)
        idx = np.argwhere(body).mean(axis=0) if body.any() else (np.asarray(hu.shape) - 1) / 2.0
        lin = np.asarray(affine, dtype=np.float64)[:3, :3]
        centre = lin @ (np.asarray(idx, dtype=np.float64) - (np.asarray(hu.shape) - 1) / 2.0)  # world offset
        s_h = np.diag([self.scale_lr, self.scale_ap, 1.0])
        m_d = deformation.matrix()
        t = np.asarray(deformation.translation_mm) + m_d @ (np.eye(3) - s_h) @ centre
        scale = tuple(float(a * b) for a, b in zip(deformation.scale, (self.scale_lr, self.scale_ap, 1.0)))
        return HeadDeformation(rotation_deg=deformation.rotation_deg, scale=scale,
                               translation_mm=tuple(float(v) for v in t), elastic_grid=deformation.elastic_grid,
                               elastic_std_mm=deformation.elastic_std_mm, elastic_seed=deformation.elastic_seed)

    def apply(self, hu: np.ndarray, labels: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fat change then body scale: (hu float32, labels int16) on the same grid."""
        from radsynth.core.warp import warp_image, warp_labels

        hu2, lab2, body = self.apply_fat_with_body(hu, labels, affine)
        warp = self.compose(HeadDeformation(), hu2, affine, body)
        if warp.is_identity:
            return hu2, np.array(lab2, dtype=np.int16)
        coords = warp.coordinates(hu2.shape, affine)
        return warp_image(hu2, coords, order=1, fill=-1000.0), warp_labels(np.asarray(lab2, dtype=np.int16), coords, fill=0)


@dataclass(frozen=True)
class RandomBodyHabitus:
    """Ranges of body habitus; ``sample(rng)`` -> :class:`BodyHabitus`.

    scale_lr_std / scale_ap_std: std of the log scale (left-right / anterior-posterior);
    scale_range: hard bounds of each scale; fat_change_mm: (low, high) uniform range (mm).
    """

    scale_lr_std: float = 0.05
    scale_ap_std: float = 0.07
    scale_range: tuple[float, float] = (0.88, 1.15)
    fat_change_mm: tuple[float, float] = (-5.0, 10.0)

    def __post_init__(self) -> None:
        for name in ("scale_lr_std", "scale_ap_std"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0.0 <= float(v) <= 0.3):
                raise RadsynthInputError(name, v, "a number in [0, 0.3]")
        for name, lo, hi in (("scale_range", 0.5, 2.0), ("fat_change_mm", -40.0, 60.0)):
            v = getattr(self, name)
            try:
                a, b = (float(x) for x in v)
            except (TypeError, ValueError):
                raise RadsynthInputError(name, v, f"a (low, high) pair in [{lo}, {hi}]") from None
            if not (lo <= a <= b <= hi):
                raise RadsynthInputError(name, v, f"a (low, high) pair with {lo} <= low <= high <= {hi}")
            object.__setattr__(self, name, (a, b))

    def sample(self, rng: np.random.Generator) -> BodyHabitus:
        lo, hi = self.scale_range
        g = rng.normal(0.0, 1.0, size=2)
        s_lr = float(np.clip(math.exp(self.scale_lr_std * g[0]), lo, hi))
        s_ap = float(np.clip(math.exp(self.scale_ap_std * g[1]), lo, hi))
        fat = float(rng.uniform(*self.fat_change_mm))
        seed = int(rng.integers(0, 2**31 - 1))
        return BodyHabitus(scale_lr=s_lr, scale_ap=s_ap, fat_change_mm=fat, texture_seed=seed)

    def to_dict(self) -> dict[str, Any]:
        return {"scale_lr_std": float(self.scale_lr_std), "scale_ap_std": float(self.scale_ap_std),
                "scale_range": list(self.scale_range), "fat_change_mm": list(self.fat_change_mm)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RandomBodyHabitus:
        check_dataclass_keys("body_habitus", d, cls)
        return cls(**d)
