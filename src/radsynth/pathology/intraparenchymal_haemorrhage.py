"""Acute intraparenchymal (intracerebral) haemorrhage on head CT, with perihaematomal oedema.

Appearance: an acute haematoma is a hyperdense, round to lobulated mass of
50-90 HU (attenuation rises with haematocrit and clot retraction: New & Aronow,
Radiology 121:635, 1976; Parizel et al., Eur Radiol 11:1770, 2001), surrounded within
hours by a hypodense rim of perihaematomal oedema that grows over the first days
(Gebel et al., Stroke 33:2631, 2002); modelled at ~10-25 HU, below normal
parenchyma (~25-40 HU). Volumes of spontaneous ICH span
a few mL to > 60 mL (the ABC/2 estimate of Kothari et al., Stroke 27:1304, 1996; > 60
mL carries a poor prognosis).

Model:

* a rotated ellipsoid with semi-axes ``s * (1, axis_ratios[0], axis_ratios[1])``
  and Euler rotation ``rotation_deg`` (x-y-z, degrees), lobulated by a smooth random
  function of direction ``n(u)`` (:func:`radsynth.pathology.lesion_shape.sphere_noise`,
  seed ``shape_seed``, clipped to +-2.5): a point ``p`` is inside when the
  ellipsoid-normalised ``q`` satisfies ``|q| < 1 + lobulation * n(q / |q|)``;
* the scale ``s`` is fixed analytically so that the continuous shape has
  ``volume_ml``: ``V = a b c (4 pi / 3) mean_u[(1 + lobulation n(u))^3]``, the mean taken
  over 4096 Fibonacci-sphere directions; voxels are included by their centre;
* the mask is clipped to the brain-parenchyma mask, so the recorded volume can be
  below ``volume_ml`` where the shape meets a ventricle or the cortex
  (:class:`RandomIntraparenchymalHaemorrhage` places the centre at least the
  equivalent-sphere radius inside the parenchyma);
* optional oedema: parenchyma within ``oedema_mm`` of the haematoma (a separate
  mask and label);
* the haematoma is ``blood`` material at ``hu``, the oedema ``brain`` at
  ``oedema_hu``, converted with :func:`radsynth.physics.xray.materials.density_for_hu`
  at ``energy_kev`` (default 60 keV ~ effective energy of 120 kVp).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from radsynth.core.checks import check_dataclass_keys, in_range
from radsynth.core.errors import RadsynthInputError
from radsynth.core.material_volume import MaterialVolume
from radsynth.core.rng import child_rng
from radsynth.pathology.lesion_shape import (
    box_around,
    check_range,
    check_ras,
    offsets_mm,
    sphere_noise,
    voxel_spacing_mm,
    world_to_voxel,
)
from radsynth.pathology.lung_nodule import check_region_mask, hu_density, lobe_at, sample_point_inside, side_of

__all__ = [
    "IntraparenchymalHaemorrhage",
    "RandomIntraparenchymalHaemorrhage",
    "HAEMORRHAGE_LABEL",
    "PERIHAEMATOMAL_OEDEMA_LABEL",
]

HAEMORRHAGE_LABEL = 1050
PERIHAEMATOMAL_OEDEMA_LABEL = 1051
NOISE_CLIP = 2.5
_N_DIRECTIONS = 4096

_LIMITS = {
    "volume_ml": (0.5, 150.0),
    "lobulation": (0.0, 0.35),
    "hu": (30.0, 100.0),
    "oedema_mm": (0.0, 20.0),
    "oedema_hu": (0.0, 35.0),
}


def _fibonacci_sphere(n: int) -> np.ndarray:
    k = np.arange(n) + 0.5
    z = 1.0 - 2.0 * k / n
    phi = math.pi * (3.0 - math.sqrt(5.0)) * k
    r = np.sqrt(1.0 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def _rotation(deg: tuple[float, float, float]) -> np.ndarray:
    ax, ay, az = (math.radians(v) for v in deg)
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _triple(field: str, value: Any) -> tuple[float, ...]:
    try:
        t = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise RadsynthInputError(field, value, "three numbers") from None
    if len(t) != 3 or not all(math.isfinite(v) for v in t):
        raise RadsynthInputError(field, value, "three finite numbers")
    return t


@dataclass(frozen=True)
class IntraparenchymalHaemorrhage:
    """Concrete haemorrhage parameters (deterministic twin of :class:`RandomIntraparenchymalHaemorrhage`).

    ``centre_mm`` world RAS+ centre; ``volume_ml`` volume of the (unclipped) shape;
    ``axis_ratios`` second and third semi-axis / first (each in [0.4, 1]);
    ``rotation_deg`` Euler angles; ``lobulation`` relative std of the radius;
    ``shape_seed`` lobulation seed; ``hu`` haematoma CT number; ``oedema_mm``
    oedema rim thickness (0 = none); ``oedema_hu`` oedema CT number.
    """

    centre_mm: tuple[float, float, float]
    volume_ml: float
    axis_ratios: tuple[float, float] = (0.8, 0.7)
    rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    lobulation: float = 0.15
    shape_seed: int = 0
    hu: float = 70.0
    oedema_mm: float = 0.0
    oedema_hu: float = 18.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "centre_mm", _triple("centre_mm", np.asarray(self.centre_mm).ravel()))
        object.__setattr__(self, "rotation_deg", _triple("rotation_deg", self.rotation_deg))
        try:
            ratios = tuple(float(v) for v in self.axis_ratios)
        except (TypeError, ValueError):
            ratios = ()
        if len(ratios) != 2 or not all(0.4 <= v <= 1.0 for v in ratios):
            raise RadsynthInputError("axis_ratios", self.axis_ratios, "two numbers in [0.4, 1]")
        object.__setattr__(self, "axis_ratios", ratios)
        for name, (lo, hi) in _LIMITS.items():
            object.__setattr__(self, name, in_range(name, getattr(self, name), lo, hi))
        object.__setattr__(self, "shape_seed", int(self.shape_seed))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("centre_mm", "axis_ratios", "rotation_deg"):
            d[k] = [float(v) for v in getattr(self, k)]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IntraparenchymalHaemorrhage:
        check_dataclass_keys("intraparenchymal_haemorrhage", d, cls, required=("centre_mm", "volume_ml"))
        return cls(**{**d, **{k: tuple(d[k]) for k in ("centre_mm", "axis_ratios", "rotation_deg") if k in d}})

    # ----------------------------------------------------------------- shape
    def semi_axes_mm(self) -> np.ndarray:
        """Semi-axes (mm) of the ellipsoid before lobulation, scaled to ``volume_ml``."""
        u = _fibonacci_sphere(_N_DIRECTIONS).astype(np.float32)
        n = np.clip(sphere_noise(child_rng(self.shape_seed, "haemorrhage.shape"), u[:, 0], u[:, 1], u[:, 2]),
                    -NOISE_CLIP, NOISE_CLIP).astype(np.float64)
        mean_cube = float(np.mean((1.0 + self.lobulation * n) ** 3))
        r1, r2 = self.axis_ratios
        s = (self.volume_ml * 1000.0 / (4.0 / 3.0 * math.pi * r1 * r2 * mean_cube)) ** (1.0 / 3.0)
        return s * np.array([1.0, r1, r2])

    def masks(self, parenchyma_mask: np.ndarray, affine: np.ndarray) -> dict[str, np.ndarray]:
        """Full-shape boolean ``haemorrhage`` and ``oedema`` masks (both inside the parenchyma)."""
        aff = check_ras(affine)
        par = check_region_mask("parenchyma_mask", parenchyma_mask)
        spacing = voxel_spacing_mm(aff)
        cv = world_to_voxel(aff, np.array(self.centre_mm))
        ci = np.round(cv).astype(int)
        if np.any(ci < 0) or np.any(ci >= np.asarray(par.shape)) or not par[tuple(ci)]:
            raise RadsynthInputError("centre_mm", list(self.centre_mm), "a point inside the parenchyma mask",
                                     "Sample the haemorrhage on this parenchyma mask.")
        axes = self.semi_axes_mm()
        reach = float(axes.max()) * (1.0 + self.lobulation * NOISE_CLIP) + self.oedema_mm + 2.0 * float(spacing.max())
        box = box_around(cv, reach, spacing, par.shape)
        ox, oy, oz = (o.astype(np.float64) for o in offsets_mm(box, cv, spacing))
        rot = _rotation(self.rotation_deg)
        # ellipsoid-normalised coordinates q = R^T p / axes
        q = [(rot[0, a] * ox + rot[1, a] * oy + rot[2, a] * oz) / axes[a] for a in range(3)]
        rq = np.sqrt(q[0] ** 2 + q[1] ** 2 + q[2] ** 2)
        n = np.clip(sphere_noise(child_rng(self.shape_seed, "haemorrhage.shape"),
                                 *(v.astype(np.float32) for v in q)), -NOISE_CLIP, NOISE_CLIP)
        sub = par[box]
        haem = (rq < 1.0 + self.lobulation * n.astype(np.float64)) & sub
        oed = np.zeros_like(haem)
        if self.oedema_mm > 0 and haem.any():
            d = ndimage.distance_transform_edt(~haem, sampling=spacing)
            oed = (d <= self.oedema_mm) & ~haem & sub
        out = {}
        for name, m in (("haemorrhage", haem), ("oedema", oed)):
            full = np.zeros(par.shape, dtype=bool)
            full[box] = m
            out[name] = full
        return out

    # ----------------------------------------------------------------- apply
    def apply(
        self,
        volume: MaterialVolume,
        parenchyma_mask: np.ndarray,
        regions: dict[str, np.ndarray] | None = None,
        energy_kev: float = 60.0,
        label: int = HAEMORRHAGE_LABEL,
        label_name: str = "intraparenchymal_haemorrhage",
        oedema_label: int = PERIHAEMATOMAL_OEDEMA_LABEL,
        oedema_label_name: str = "perihaematomal_oedema",
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Paint haematoma (+ oedema) into ``volume`` (in place); return (uint8 haematoma mask, finding).

        ``regions`` (name -> mask, e.g. lobes or deep nuclei), when given, names the
        region holding most of the haematoma. The oedema mask is :meth:`masks` ``["oedema"]``
        (also labelled ``oedema_label`` in ``volume.labels``).
        """
        par = check_region_mask("parenchyma_mask", parenchyma_mask, volume.shape)
        m = self.masks(par, volume.affine)
        haem, oed = m["haemorrhage"], m["oedema"]
        if oed.any():
            volume.set_region(oed, "brain", hu_density("brain", self.oedema_hu, energy_kev),
                              oedema_label, oedema_label_name)
        volume.set_region(haem, "blood", hu_density("blood", self.hu, energy_kev), label, label_name)
        vv = volume.voxel_ml
        region = lobe_at(regions, haem)
        finding = {
            "type": "haemorrhage",
            "subtype": "intraparenchymal",
            "mask": label_name,
            "label": int(label),
            "volume_ml": int(haem.sum()) * vv,
            "target_volume_ml": self.volume_ml,
            "location": {"region": region, "side": side_of(volume.affine, self.centre_mm, par)},
            "centre_mm": [float(v) for v in self.centre_mm],
            "semi_axes_mm": [float(v) for v in self.semi_axes_mm()],
            "hu": self.hu,
            "oedema": None if not oed.any() else {
                "mask": oedema_label_name, "label": int(oedema_label), "volume_ml": int(oed.sum()) * vv,
                "thickness_mm": self.oedema_mm, "hu": self.oedema_hu,
            },
            "energy_kev": float(energy_kev),
            "params": self.to_dict(),
        }
        return haem.astype(np.uint8), finding


@dataclass(frozen=True)
class RandomIntraparenchymalHaemorrhage:
    """Ranges (low, high) of :class:`IntraparenchymalHaemorrhage` parameters; ``sample`` draws one.

    ``oedema_probability``: chance of a perihaematomal oedema rim (else ``oedema_mm = 0``).
    """

    volume_ml: tuple[float, float] = (2.0, 60.0)
    axis_ratio: tuple[float, float] = (0.6, 1.0)
    lobulation: tuple[float, float] = (0.05, 0.25)
    hu: tuple[float, float] = (50.0, 90.0)
    oedema_probability: float = 0.7
    oedema_mm: tuple[float, float] = (2.0, 8.0)
    oedema_hu: tuple[float, float] = (10.0, 25.0)

    def __post_init__(self) -> None:
        for name in ("volume_ml", "lobulation", "hu", "oedema_mm", "oedema_hu"):
            object.__setattr__(self, name, check_range(name, getattr(self, name), *_LIMITS[name]))
        object.__setattr__(self, "axis_ratio", check_range("axis_ratio", self.axis_ratio, 0.4, 1.0))
        object.__setattr__(self, "oedema_probability",
                           in_range("oedema_probability", self.oedema_probability, 0.0, 1.0))

    def sample(self, parenchyma_mask: np.ndarray, affine: np.ndarray,
               rng: np.random.Generator) -> IntraparenchymalHaemorrhage:
        """Draw a haemorrhage centred >= its equivalent-sphere radius (else 3/4, 1/2 of it) inside the parenchyma."""
        aff = check_ras(affine)
        par = check_region_mask("parenchyma_mask", parenchyma_mask)
        u = lambda rg: float(rng.uniform(*rg))  # noqa: E731
        vol = u(self.volume_ml)
        params = dict(
            volume_ml=vol,
            axis_ratios=(u(self.axis_ratio), u(self.axis_ratio)),
            rotation_deg=tuple(float(v) for v in rng.uniform(-180.0, 180.0, 3)),
            lobulation=u(self.lobulation),
            shape_seed=int(rng.integers(0, 2**31 - 1)),
            hu=u(self.hu),
            oedema_hu=u(self.oedema_hu),
        )
        oedema = u(self.oedema_mm)
        params["oedema_mm"] = oedema if rng.uniform() < self.oedema_probability else 0.0
        r_eq = (3.0 * vol * 1000.0 / (4.0 * math.pi)) ** (1.0 / 3.0)
        # Brain parenchyma is folded (sulci, ventricles): a large haematoma rarely fits wholly inside it
        # from its centre. Try a centre >= r_eq deep, then 3/4 and 1/2 of it (the mask is clipped to the
        # parenchyma, and the finding records the clipped volume next to target_volume_ml).
        for margin in (1.0, 0.75, 0.5):
            try:
                centre = sample_point_inside(par, aff, margin * r_eq, rng, "parenchyma_mask", "volume_ml", vol)
                break
            except RadsynthInputError:
                if margin == 0.5:
                    raise
        return IntraparenchymalHaemorrhage(centre_mm=tuple(centre), **params)
