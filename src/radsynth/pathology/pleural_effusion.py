"""Gravity-dependent pleural effusion with a meniscus, for upright or supine patients.

Free pleural fluid collects in the most dependent part of the pleural space: at the
lung base and in the costophrenic recesses when the patient is upright (on a PA
radiograph, blunting of the costophrenic angle and a concave upper margin rising
laterally, the *meniscus sign*), and as a posterior layer when supine (a diffuse
veil on a supine AP film, a posterior crescent on CT). The meniscus arises because
the elastic recoil of the lung lets fluid climb higher along the chest wall than
centrally (Fleischner glossary: Hansell et al., Radiology 246:697, 2008; about
200 mL blunts the lateral costophrenic angle on an upright PA film: Blackmore et al.,
Acad Radiol 3:103, 1996).

Model, per side:

* the fluid may occupy the hemithorax region ``H`` = the lung mask of that side,
  optionally grown by ``dilation_mm`` into the pleural space (never into the other
  hemithorax nor into voxels of ``exclude``; :meth:`PleuralEffusion.apply` excludes
  bone materials);
* gravity points along RAS ``-z`` (upright: toward the feet) or ``-y`` (supine:
  toward the back); ``h(p)`` is the height of a voxel centre against gravity (mm);
* the free surface is ``h = level + meniscus_mm * exp(-d_lat / meniscus_decay_mm)``
  where ``d_lat`` is the distance (mm, along x) from the lateral chest wall (the
  lateral-most voxel of ``H`` in the voxel's row; lateral = away from the other
  hemithorax when its mask is given, else by the RAS+ convention: +x for the right
  side, -x for the left); fluid fills ``h - meniscus(p) < level``;
* ``level`` is chosen so the fluid volume equals ``volume_ml``: the fluid volume is a
  monotone step function of the level, and the root of ``V(level) = volume_ml`` is
  found exactly (no bisection tolerance) by ordering the voxels of ``H`` by
  ``h - meniscus`` (ties: closer to the lateral wall first, stable) and taking the
  first ``round(volume_ml / voxel_ml)``; the volume is then exact to one voxel;
* fluid is ``water`` material at ``hu`` (0..+20 HU default: simple transudate;
  exudates and haemothorax are denser, > 20-30 HU), converted with
  :func:`radsynth.physics.xray.materials.density_for_hu` at ``energy_kev``.

The fluid replaces the dependent lung (the displaced lung's passive atelectasis is
not modelled).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from radsynth.core.checks import check_dataclass_keys, in_range
from radsynth.core.errors import RadsynthInputError
from radsynth.core.material_volume import MaterialVolume
from radsynth.pathology.lesion_shape import check_range, check_ras, voxel_spacing_mm
from radsynth.pathology.lung_nodule import bbox_slices, centroid_mm, centroid_vox, check_region_mask, hu_density

__all__ = ["PleuralEffusion", "RandomPleuralEffusion", "PLEURAL_EFFUSION_LABEL", "POSITIONS", "EFFUSION_SIDES"]

PLEURAL_EFFUSION_LABEL = 1040
POSITIONS = ("upright", "supine")
EFFUSION_SIDES = ("left", "right", "both")
#: Fluid may fill at most this fraction of the hemithorax region.
MAX_FILL_FRACTION = 0.9
#: RandomPleuralEffusion caps the drawn volume at this fraction of the hemithorax region.
SAMPLE_FILL_CAP = 0.6
_BONE = ("cortical_bone", "cancellous_bone")

_LIMITS = {
    "volume_ml": (1.0, 4000.0),
    "hu": (-20.0, 60.0),
    "meniscus_mm": (0.0, 80.0),
    "meniscus_decay_mm": (1.0, 200.0),
    "dilation_mm": (0.0, 10.0),
}


def _sides(side: str) -> tuple[str, ...]:
    return ("left", "right") if side == "both" else (side,)


def check_hemithorax(hemithorax: Any, sides: tuple[str, ...], shape=None) -> dict[str, np.ndarray]:
    """The masks of ``sides`` from a dict side -> mask (non-empty, one shape)."""
    if not isinstance(hemithorax, dict):
        raise RadsynthInputError("hemithorax", type(hemithorax).__name__, "a dict 'left'/'right' -> 3-D mask")
    out = {}
    for s in sides:
        if s not in hemithorax:
            raise RadsynthInputError("hemithorax", sorted(hemithorax), f"masks for side(s) {list(sides)}")
        out[s] = check_region_mask(f"hemithorax[{s!r}]", hemithorax[s], shape)
        shape = out[s].shape
    return out


def _lateral_sign(s: str, hemi_all: dict[str, np.ndarray]) -> int:
    """+1 when the lateral chest wall of side ``s`` lies toward higher x index, else -1.

    From the geometry when the other hemithorax is given (away from it), else by the
    RAS+ convention (+x = the patient's right: the left wall lies at -x).
    """
    other = "left" if s == "right" else "right"
    if other in hemi_all:
        dx = centroid_vox(hemi_all[s])[0] - centroid_vox(hemi_all[other])[0]
        if dx != 0:
            return 1 if dx > 0 else -1
    return -1 if s == "left" else 1


@dataclass(frozen=True)
class PleuralEffusion:
    """Concrete effusion parameters (deterministic twin of :class:`RandomPleuralEffusion`).

    ``side`` "left"/"right"/"both"; ``volume_ml`` fluid volume per side;
    ``position`` "upright" (gravity -z) or "supine" (gravity -y); ``hu`` fluid CT
    number; ``meniscus_mm`` rise of the fluid surface at the lateral chest wall;
    ``meniscus_decay_mm`` its e-folding distance from the wall; ``dilation_mm``
    growth of the lung mask into the pleural space.
    """

    side: str
    volume_ml: float
    position: str = "upright"
    hu: float = 10.0
    meniscus_mm: float = 15.0
    meniscus_decay_mm: float = 20.0
    dilation_mm: float = 0.0

    def __post_init__(self) -> None:
        if self.side not in EFFUSION_SIDES:
            raise RadsynthInputError("side", self.side, f"one of {list(EFFUSION_SIDES)}")
        if self.position not in POSITIONS:
            raise RadsynthInputError("position", self.position, f"one of {list(POSITIONS)}")
        for name, (lo, hi) in _LIMITS.items():
            object.__setattr__(self, name, in_range(name, getattr(self, name), lo, hi))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PleuralEffusion:
        check_dataclass_keys("pleural_effusion", d, cls, required=("side", "volume_ml"))
        return cls(**d)

    # ----------------------------------------------------------------- masks
    def masks(self, hemithorax: dict[str, np.ndarray], affine: np.ndarray,
              exclude: np.ndarray | None = None) -> dict[str, Any]:
        """Full-shape boolean fluid masks per side and ``effusion`` (all); ``level_mm`` per side.

        ``level_mm[side]`` is the height (mm, against gravity) of the medial fluid
        surface above the lowest point of that side's region.
        """
        aff = check_ras(affine)
        sides = _sides(self.side)
        hemi = check_hemithorax(hemithorax, sides)
        shape = next(iter(hemi.values())).shape
        others = {s: check_region_mask(f"hemithorax[{s!r}]", m, shape) for s, m in hemithorax.items()
                  if s in ("left", "right") and s not in hemi}
        hemi_all = {**hemi, **others}
        ex = None if exclude is None else np.asarray(exclude, dtype=bool)
        spacing = voxel_spacing_mm(aff)
        out: dict[str, Any] = {"effusion": np.zeros(shape, dtype=bool), "level_mm": {}}
        for s in sides:
            region, crop = self._region(s, hemi_all, ex, spacing)
            fluid, level = self._fill(s, region, crop, aff, spacing, _lateral_sign(s, hemi_all))
            full = np.zeros(shape, dtype=bool)
            full[crop] = fluid
            out[s] = full
            out["effusion"] |= full
            out["level_mm"][s] = level
        return out

    def _region(self, s, hemi_all, ex, spacing):
        h = hemi_all[s]
        pad = np.ceil(self.dilation_mm / spacing).astype(int) + 1
        crop = bbox_slices(h, pad)
        region = h[crop].copy()
        if self.dilation_mm > 0:
            # dilation by the ellipsoid of voxel offsets within dilation_mm (mm, anisotropic voxels)
            r = [np.arange(-p, p + 1) * sp for p, sp in zip(pad - 1, spacing, strict=True)]
            gx, gy, gz = np.meshgrid(*r, indexing="ij", sparse=True)
            ball = gx * gx + gy * gy + gz * gz <= self.dilation_mm**2
            grown = ndimage.binary_dilation(region, structure=ball)
            for o, m in hemi_all.items():
                if o != s:
                    grown &= ~m[crop]
            if ex is not None:
                grown &= ~ex[crop]
            region |= grown
        return region, crop

    def _fill(self, s, region, crop, aff, spacing, lateral):
        n_region = int(region.sum())
        vox_ml = float(abs(np.linalg.det(aff[:3, :3]))) / 1000.0
        n = int(round(self.volume_ml / vox_ml))
        if n > MAX_FILL_FRACTION * n_region:
            raise RadsynthInputError(
                "volume_ml", self.volume_ml,
                f"at most {MAX_FILL_FRACTION:.0%} of the {s} hemithorax "
                f"({MAX_FILL_FRACTION * n_region * vox_ml:.0f} mL)")
        pts = np.nonzero(region)
        axis = 2 if self.position == "upright" else 1
        height = (pts[axis] + crop[axis].start) * spacing[axis]
        # lateral wall per (y, z) row: lowest x index when lateral is -x, else highest
        rows = pts[1] * region.shape[2] + pts[2]
        big = np.iinfo(np.int64).max
        if lateral < 0:
            wall = np.full(region.shape[1] * region.shape[2], big, dtype=np.int64)
            np.minimum.at(wall, rows, pts[0])
        else:
            wall = np.full(region.shape[1] * region.shape[2], -1, dtype=np.int64)
            np.maximum.at(wall, rows, pts[0])
        d_lat = np.abs(pts[0] - wall[rows]) * spacing[0]
        t = height - self.meniscus_mm * np.exp(-d_lat / self.meniscus_decay_mm)
        order = np.lexsort((d_lat, t))[:n]
        fluid = np.zeros(region.shape, dtype=bool)
        fluid[tuple(p[order] for p in pts)] = True
        level = float(t[order[-1]] - height.min()) if n else 0.0
        return fluid, level

    # ----------------------------------------------------------------- apply
    def apply(
        self,
        volume: MaterialVolume,
        hemithorax: dict[str, np.ndarray],
        energy_kev: float = 60.0,
        label: int = PLEURAL_EFFUSION_LABEL,
        label_name: str = "pleural_effusion",
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Paint the fluid into ``volume`` (in place); return (uint8 mask, finding dict).

        ``hemithorax``: side -> lung mask of that side (the other side's mask, when
        given, bounds the pleural-space dilation). Bone voxels are never filled.
        """
        check_hemithorax(hemithorax, _sides(self.side), volume.shape)
        bone = np.zeros(volume.shape, dtype=bool)
        for b in _BONE:
            bone |= volume.mask_of(b)
        m = self.masks(hemithorax, volume.affine, exclude=bone)
        eff = m["effusion"]
        volume.set_region(eff, "water", hu_density("water", self.hu, energy_kev), label, label_name)
        vv = volume.voxel_ml
        by_side = {s: int(m[s].sum()) * vv for s in _sides(self.side)}
        finding = {
            "type": "pleural_effusion",
            "subtype": "free",
            "mask": label_name,
            "label": int(label),
            "volume_ml": int(eff.sum()) * vv,
            "volume_ml_by_side": by_side,
            "location": {"side": self.side, "position": self.position},
            "position": self.position,
            "centre_mm": centroid_mm(eff, volume.affine),
            "level_mm": {s: float(v) for s, v in m["level_mm"].items()},
            "hu": self.hu,
            "energy_kev": float(energy_kev),
            "params": self.to_dict(),
        }
        return eff.astype(np.uint8), finding


@dataclass(frozen=True)
class RandomPleuralEffusion:
    """Ranges of :class:`PleuralEffusion` parameters; ``sample`` draws one for given hemithorax masks.

    The drawn volume is capped at ``SAMPLE_FILL_CAP`` of the smallest involved hemithorax
    (the capped value is the one recorded).
    """

    sides: tuple[str, ...] = EFFUSION_SIDES
    positions: tuple[str, ...] = POSITIONS
    volume_ml: tuple[float, float] = (100.0, 1500.0)
    hu: tuple[float, float] = (0.0, 20.0)
    meniscus_mm: tuple[float, float] = (10.0, 30.0)
    meniscus_decay_mm: tuple[float, float] = (10.0, 30.0)
    dilation_mm: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        for name, allowed in (("sides", EFFUSION_SIDES), ("positions", POSITIONS)):
            v = getattr(self, name)
            v = (v,) if isinstance(v, str) else tuple(v)
            if not v or any(x not in allowed for x in v):
                raise RadsynthInputError(name, getattr(self, name), f"a non-empty list among {list(allowed)}")
            object.__setattr__(self, name, v)
        for name in ("volume_ml", "hu", "meniscus_mm", "meniscus_decay_mm", "dilation_mm"):
            object.__setattr__(self, name, check_range(name, getattr(self, name), *_LIMITS[name]))

    def sample(self, hemithorax: dict[str, np.ndarray], affine: np.ndarray, rng: np.random.Generator,
               side: str | None = None, position: str | None = None) -> PleuralEffusion:
        aff = check_ras(affine)
        s = str(self.sides[int(rng.integers(len(self.sides)))])
        p = str(self.positions[int(rng.integers(len(self.positions)))])
        s = s if side is None else side
        p = p if position is None else position
        if s not in EFFUSION_SIDES:
            raise RadsynthInputError("side", s, f"one of {list(EFFUSION_SIDES)}")
        hemi = check_hemithorax(hemithorax, _sides(s))
        u = lambda rg: float(rng.uniform(*rg))  # noqa: E731
        vox_ml = float(abs(np.linalg.det(aff[:3, :3]))) / 1000.0
        cap = SAMPLE_FILL_CAP * min(int(m.sum()) for m in hemi.values()) * vox_ml
        vol = u(self.volume_ml)
        if cap < _LIMITS["volume_ml"][0]:
            raise RadsynthInputError("hemithorax", f"{cap / SAMPLE_FILL_CAP:.1f} mL", "a hemithorax of >= 2 mL")
        return PleuralEffusion(side=s, volume_ml=min(vol, cap), position=p, hu=u(self.hu),
                               meniscus_mm=u(self.meniscus_mm), meniscus_decay_mm=u(self.meniscus_decay_mm),
                               dilation_mm=u(self.dilation_mm))
