"""Glioma-like intra-axial tumour: necrotic core, enhancing rim, vasogenic oedema, mass effect.

Appearance model (high-grade glioma / glioblastoma, as annotated in BraTS:
Menze et al., IEEE TMI 2015; Bakas et al., Sci Data 2017):

* a tumour core of irregular outline ``r < R(theta)``, with
  ``R(theta) = radius_mm * (1 + irregularity * n(theta))`` and ``n`` a smooth,
  low-frequency random function of direction drawn from ``shape_seed``;
* an enhancing rim (label 1002) of at least ``rim_thickness_mm`` around a
  necrotic / non-enhancing core (label 1001) of radius
  ``necrosis_fraction * R(theta)`` (its own smooth modulation; BraTS "NCR/NET");
  ``necrosis_fraction = 0`` gives a solid enhancing tumour;
* peritumoural vasogenic oedema (label 1003, bright on T2/FLAIR) reaching
  ``oedema_extent_mm`` (locally modulated by a smooth 3-D noise field) beyond the
  core, restricted to cerebral white matter connected to the tumour (plus
  parenchyma within 2 mm of the core): it spreads along white-matter tracts and
  spares the cortex, which gives the typical finger-like projections into the
  gyral white matter (Osborn, "Diagnostic Imaging: Brain");
* mass effect (see :mod:`radsynth.pathology.mass_effect`) applied *before*
  painting, so the tumour sits in a cavity pushed into the surrounding brain,
  and sulcal CSF inside the core is effaced (:meth:`Glioma.deform`).

Lesion labels are painted only onto :data:`radsynth.core.labels.PARENCHYMA`
voxels of the deformed map: never into ventricles, CSF, skull or scalp.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from radsynth.core.errors import RadsynthInputError
from radsynth.core.labels import (
    CEREBRAL_WM,
    EXTRACEREBRAL_CSF,
    PARENCHYMA,
    TUMOUR_ENHANCING,
    TUMOUR_NECROSIS,
    TUMOUR_OEDEMA,
    VENTRICLES,
)
from radsynth.core.rng import child_rng
from radsynth.pathology.lesion_shape import (
    box_around,
    check_range,
    check_ras,
    label_mask,
    offsets_mm,
    smooth_noise_field,
    sphere_noise,
    voxel_spacing_mm,
    voxel_to_world,
    voxel_volume_ml,
    world_to_voxel,
)
from radsynth.pathology.mass_effect import MAX_DISPLACEMENT_FRACTION, MassEffect
from radsynth.pathology.vascular_territories import SIDES, check_side, lobe_of

__all__ = ["Glioma", "RandomGlioma"]

#: Noise values are clipped to +-NOISE_CLIP standard deviations (bounds the lesion box).
NOISE_CLIP = 2.5
#: Correlation length (mm) of the oedema-extent modulation.
OEDEMA_CORRELATION_MM = 8.0
#: Any parenchyma this close (mm) to the core may be oedematous, not only white matter.
OEDEMA_ADJACENT_MM = 2.0

#: Accepted values of the Glioma parameters (mass_effect_mm: [0, 0.9 radius_mm]).
_LIMITS = {
    "radius_mm": (1.0, 60.0),
    "irregularity": (0.0, 0.35),
    "necrosis_fraction": (0.0, 0.95),
    "rim_thickness_mm": (0.5, 30.0),
    "oedema_extent_mm": (0.0, 60.0),
    "oedema_irregularity": (0.0, 0.8),
    "mass_effect_decay_mm": (0.5, 60.0),
}
_WM = {"left": frozenset({2}), "right": frozenset({41})}
_CORTEX = {"left": 3, "right": 42}
#: Labels a deep white-matter centre may be surrounded by (WM, deep grey nuclei, ventricles).
_DEEP_OK = {
    "left": frozenset({2, 10, 11, 12, 13, 26, 28, 4, 5}),
    "right": frozenset({41, 49, 50, 51, 52, 58, 60, 43, 44}),
}


@dataclass(frozen=True)
class Glioma:
    """Concrete glioma parameters (deterministic twin of :class:`RandomGlioma`).

    ``centre_mm`` world (RAS+) lesion centre; ``hemisphere`` "left"/"right";
    ``radius_mm`` mean core radius; ``irregularity`` relative std of the core
    radius; ``necrosis_fraction`` necrotic-core radius / core radius;
    ``rim_thickness_mm`` minimum enhancing-rim thickness; ``oedema_extent_mm``
    mean oedema reach beyond the core; ``oedema_irregularity`` relative std of
    that reach; ``mass_effect_mm`` tissue displacement at the core boundary;
    ``mass_effect_decay_mm`` its decay length; ``shape_seed`` integer seed of
    the shape noise.
    """

    centre_mm: tuple[float, float, float]
    hemisphere: str
    radius_mm: float
    irregularity: float
    necrosis_fraction: float
    rim_thickness_mm: float
    oedema_extent_mm: float
    oedema_irregularity: float
    mass_effect_mm: float
    mass_effect_decay_mm: float
    shape_seed: int

    def __post_init__(self) -> None:
        c = tuple(float(v) for v in np.asarray(self.centre_mm, dtype=np.float64).ravel())
        if len(c) != 3 or not all(np.isfinite(c)):
            raise RadsynthInputError("centre_mm", self.centre_mm, "three finite world coordinates (mm)")
        object.__setattr__(self, "centre_mm", c)
        object.__setattr__(self, "hemisphere", check_side(self.hemisphere))
        object.__setattr__(self, "shape_seed", int(self.shape_seed))
        for name, (lo, hi) in _LIMITS.items():
            v = float(getattr(self, name))
            if not (np.isfinite(v) and lo <= v <= hi):
                raise RadsynthInputError(name, getattr(self, name), f"a number in [{lo}, {hi}]")
            object.__setattr__(self, name, v)
        me = float(self.mass_effect_mm)
        if not (0.0 <= me <= MAX_DISPLACEMENT_FRACTION * self.radius_mm):
            raise RadsynthInputError(
                "mass_effect_mm", self.mass_effect_mm, f"a number in [0, {MAX_DISPLACEMENT_FRACTION} * radius_mm]"
            )
        object.__setattr__(self, "mass_effect_mm", me)

    # ------------------------------------------------------------------ twin
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["centre_mm"] = [float(v) for v in self.centre_mm]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Glioma:
        return cls(**{**d, "centre_mm": tuple(d["centre_mm"])})

    # ----------------------------------------------------------------- apply
    def mass_effect(self, affine: np.ndarray) -> MassEffect:
        """The :class:`MassEffect` of this tumour on a map with ``affine``."""
        centre_vox = world_to_voxel(check_ras(affine), np.array(self.centre_mm))
        return MassEffect(tuple(centre_vox), self.radius_mm, self.mass_effect_mm, self.mass_effect_decay_mm)

    def deform(self, labels: np.ndarray, affine: np.ndarray) -> np.ndarray:
        """The map the tumour is painted into: mass effect, then sulcal effacement in the core.

        The mass effect (:meth:`MassEffect.apply`) warps the brain and closes CSF
        spaces near the lesion in proportion to the displacement. Remaining sulcal
        CSF (label 24 inside the brain outline, i.e. within a 3 mm closing of the
        parenchyma) inside the tumour core is effaced too (relabelled as cortex of
        the tumour's hemisphere; the next step paints it as tumour), as a growing
        mass obliterates the sulci it involves. Ventricles, convexity CSF and
        extra-cerebral tissue are left as they are.
        """
        aff = check_ras(affine)
        return self._deform(labels, aff, self._fields(labels.shape, aff))

    def masks(self, labels: np.ndarray, affine: np.ndarray):
        """(box, necrosis, enhancing, oedema) boolean masks in ``box`` of an (already deformed) map.

        Everything is restricted to parenchyma of ``labels``.
        """
        aff = check_ras(affine)
        return self._masks(labels, aff, self._fields(labels.shape, aff))

    def _fields(self, shape: tuple[int, ...], aff: np.ndarray) -> dict[str, Any]:
        """Lesion box, voxel offsets (mm) from the centre, radius r and core radius R(theta) (float32)."""
        spacing = voxel_spacing_mm(aff)
        centre_vox = world_to_voxel(aff, np.array(self.centre_mm))
        if np.any(centre_vox < -0.5) or np.any(centre_vox > np.asarray(shape) - 0.5):
            raise RadsynthInputError(
                "centre_mm", list(self.centre_mm), "a point inside the label map", "Sample the glioma on this map."
            )
        big_r = self.radius_mm * (1.0 + self.irregularity * NOISE_CLIP)
        reach = self.oedema_extent_mm * (1.0 + self.oedema_irregularity * NOISE_CLIP)
        half = big_r + reach + 2.0
        box = box_around(centre_vox, half, spacing, shape)
        ox, oy, oz = offsets_mm(box, centre_vox, spacing)
        n_core = np.clip(sphere_noise(child_rng(self.shape_seed, "glioma.core"), ox, oy, oz), -NOISE_CLIP, NOISE_CLIP)
        r_core = np.float32(self.radius_mm) * (np.float32(1.0) + np.float32(self.irregularity) * n_core)
        # sub-box that can hold the core (+4 mm), relative to ``box``
        lim = big_r + 4.0
        inner = tuple(
            slice(int(np.searchsorted(o.ravel(), -lim)), int(np.searchsorted(o.ravel(), lim, "right")))
            for o in (ox, oy, oz)
        )
        return {
            "box": box, "o": (ox, oy, oz), "r": np.sqrt(ox * ox + oy * oy + oz * oz), "r_core": r_core,
            "half": half, "inner": inner,
        }

    def _deform(self, labels: np.ndarray, aff: np.ndarray, f: dict[str, Any]) -> np.ndarray:
        if labels.ndim != 3:
            raise RadsynthInputError("labels", f"shape {labels.shape}", "a 3-D label map")
        out = self.mass_effect(aff).apply(labels, aff) if self.mass_effect_mm > 0 else labels.copy()
        inner = f["inner"]
        sub = out[f["box"]][inner]
        csf = label_mask(sub, EXTRACEREBRAL_CSF) & (f["r"][inner] < f["r_core"][inner])
        if csf.any():
            inside = ndimage.binary_closing(label_mask(sub, PARENCHYMA), iterations=3, border_value=1)
            sub[csf & inside] = _CORTEX[self.hemisphere]
        return out

    def _masks(self, labels: np.ndarray, aff: np.ndarray, f: dict[str, Any]):
        box, r, r_core, half = f["box"], f["r"], f["r_core"], f["half"]
        ox, oy, oz = f["o"]
        n_nec = sphere_noise(child_rng(self.shape_seed, "glioma.necrosis"), ox, oy, oz)
        n_nec = np.clip(n_nec, -NOISE_CLIP, NOISE_CLIP)
        r_nec = np.float32(self.necrosis_fraction) * r_core * (np.float32(1.0) + np.float32(self.irregularity) * n_nec)
        r_nec = np.minimum(r_nec, r_core - np.float32(self.rim_thickness_mm))

        sub = labels[box]
        par = label_mask(sub, PARENCHYMA)
        core = r < r_core
        necrosis = (r < r_nec) & par
        enhancing = core & ~necrosis & par

        oedema = np.zeros(sub.shape, dtype=bool)
        if self.oedema_extent_mm > 0:
            n_oed = smooth_noise_field(
                child_rng(self.shape_seed, "glioma.oedema"), ox, oy, oz, OEDEMA_CORRELATION_MM, half
            )
            reach_local = np.float32(self.oedema_extent_mm) * (
                np.float32(1.0) + np.float32(self.oedema_irregularity) * np.clip(n_oed, -NOISE_CLIP, NOISE_CLIP)
            )
            excess = r - r_core  # radial distance beyond the core boundary (mm)
            wm = label_mask(sub, CEREBRAL_WM)
            cand = ~core & (excess < reach_local) & (wm | (par & (excess < OEDEMA_ADJACENT_MM)))
            seeds = necrosis | enhancing
            comp, _ = ndimage.label(cand | seeds)  # face connectivity: no leaks across thin sulci
            keep = np.unique(comp[seeds])
            oedema = cand & np.isin(comp, keep[keep > 0])
        return box, necrosis, enhancing, oedema

    def apply(self, labels: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        """(deformed labels with the tumour painted, finding dict). Deterministic.

        Equivalent to painting :meth:`masks` of :meth:`deform` ``(labels)``.
        """
        aff = check_ras(affine)
        fields = self._fields(labels.shape, aff)
        out = self._deform(labels, aff, fields)
        box, necrosis, enhancing, oedema = self._masks(out, aff, fields)
        sub = out[box]
        sub[oedema] = TUMOUR_OEDEMA
        sub[necrosis] = TUMOUR_NECROSIS
        sub[enhancing] = TUMOUR_ENHANCING
        vv = voxel_volume_ml(aff)
        n_nec, n_enh, n_oed = int(necrosis.sum()), int(enhancing.sum()), int(oedema.sum())
        finding = {
            "type": "tumour",
            "subtype": "glioma",
            "hemisphere": self.hemisphere,
            "centre_mm": [float(v) for v in self.centre_mm],
            "region": lobe_of(labels, aff, self.centre_mm, self.hemisphere),
            "volume_ml": {
                "whole": (n_nec + n_enh + n_oed) * vv,
                "necrosis": n_nec * vv,
                "enhancing": n_enh * vv,
                "oedema": n_oed * vv,
            },
            "params": self.to_dict(),
        }
        return out, finding


@dataclass(frozen=True)
class RandomGlioma:
    """Ranges (low, high) of :class:`Glioma` parameters; ``sample`` draws one glioma for a map.

    ``mass_effect_mm`` is capped at ``MAX_MASS_EFFECT_FRACTION * radius`` (fold-free warp).
    """

    radius_mm: tuple[float, float] = (8.0, 25.0)
    irregularity: tuple[float, float] = (0.08, 0.25)
    necrosis_fraction: tuple[float, float] = (0.0, 0.7)
    rim_thickness_mm: tuple[float, float] = (2.0, 6.0)
    oedema_extent_mm: tuple[float, float] = (5.0, 25.0)
    oedema_irregularity: tuple[float, float] = (0.2, 0.5)
    mass_effect_mm: tuple[float, float] = (2.0, 10.0)
    mass_effect_decay_mm: tuple[float, float] = (6.0, 14.0)

    MAX_MASS_EFFECT_FRACTION = 0.6

    def __post_init__(self) -> None:
        for name, (lo, hi) in {**_LIMITS, "mass_effect_mm": (0.0, 50.0)}.items():
            object.__setattr__(self, name, check_range(name, getattr(self, name), lo, hi))

    def sample(
        self, labels: np.ndarray, affine: np.ndarray, rng: np.random.Generator, hemisphere: str | None = None
    ) -> Glioma:
        """Draw a glioma whose centre lies in deep cerebral white matter of one hemisphere."""
        aff = check_ras(affine)
        side = str(rng.choice(SIDES)) if hemisphere is None else check_side(hemisphere)
        u = lambda rg: float(rng.uniform(*rg))  # noqa: E731
        radius = u(self.radius_mm)
        irregularity = u(self.irregularity)
        mass_effect = min(u(self.mass_effect_mm), self.MAX_MASS_EFFECT_FRACTION * radius)
        params = dict(
            hemisphere=side,
            radius_mm=radius,
            irregularity=irregularity,
            necrosis_fraction=u(self.necrosis_fraction),
            rim_thickness_mm=u(self.rim_thickness_mm),
            oedema_extent_mm=u(self.oedema_extent_mm),
            oedema_irregularity=u(self.oedema_irregularity),
            mass_effect_mm=mass_effect,
            mass_effect_decay_mm=u(self.mass_effect_decay_mm),
            shape_seed=int(rng.integers(0, 2**31 - 1)),
        )
        # Tissue within (1 - d/R) * R_max of the centre ends up inside the core after the
        # mass effect: keep ventricles out of it (they would stay unpainted holes).
        r_max = radius * (1.0 + 1.5 * irregularity)
        vent_clearance = max(0.3 * radius, r_max * (1.0 - mass_effect / radius))
        centre = _sample_centre(labels, aff, side, radius, vent_clearance, rng)
        return Glioma(centre_mm=tuple(centre), **params)


def _sample_centre(
    labels: np.ndarray, aff: np.ndarray, side: str, radius_mm: float, vent_clearance_mm: float, rng
) -> np.ndarray:
    """World centre in deep white matter of ``side``: >= 4 mm from cortex/CSF, mass mostly intra-axial.

    Computed on a 2x-strided copy of the map (2 mm at 1 mm input) for speed.
    Constraints: distance to the ventricles >= ``vent_clearance_mm`` and to the
    brain surface (sulci closed) >= max(10, 0.9 R); when no voxel qualifies the
    surface constraint is dropped first, then the ventricle one.
    """
    stride = 2
    spacing = voxel_spacing_mm(aff) * stride
    small = labels[::stride, ::stride, ::stride]
    wm = label_mask(small, _WM[side])
    if not wm.any():
        raise RadsynthInputError("labels", f"no {side} cerebral white matter", "a brain label map (FreeSurfer labels)")
    idx = np.argwhere(wm)
    lo = np.maximum(idx.min(0) - 12, 0)
    hi = np.minimum(idx.max(0) + 13, small.shape)
    crop = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    small, wm = small[crop], wm[crop]
    deep_ok = label_mask(small, _DEEP_OK[side])
    d_cortex = ndimage.distance_transform_edt(deep_ok, sampling=spacing)
    brain = ndimage.binary_closing(label_mask(small, PARENCHYMA | VENTRICLES), iterations=2)
    d_surface = ndimage.distance_transform_edt(brain, sampling=spacing)
    vent = label_mask(small, VENTRICLES)
    d_vent = ndimage.distance_transform_edt(~vent, sampling=spacing) if vent.any() else np.full(vent.shape, np.inf)
    base = wm & (d_cortex >= 4.0)
    if not base.any():
        base = wm
    far_vent = d_vent >= vent_clearance_mm
    deep = d_surface >= max(10.0, 0.9 * radius_mm)
    options = [base & far_vent & deep, base & far_vent, base & deep, base]
    cand = next(o for o in options if o.any())
    pts = np.argwhere(cand)
    pick = pts[int(rng.integers(len(pts)))] + lo
    return voxel_to_world(aff, pick * stride)
