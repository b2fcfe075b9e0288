"""Age-related brain atrophy applied to a label map, from the map's own age to a target age.

The input map stands for anatomy of ``reference_age_years`` (its apparent age, see
:mod:`radsynth.anatomy.apparent_age`); :class:`Atrophy` moves it to ``age_years``:
forward (ageing) when the target is older, backward (rejuvenation) when it is younger.
At the reference age the map is unchanged. Three effects:

* **ventricles**: the lateral ventricles (4, 5, 43, 44) and the 3rd ventricle (14) are
  scaled to ``ventricle_volume_ratio()`` times their input volume: the population median
  ratio ``f(age)/f(reference)`` of :mod:`radsynth.anatomy.apparent_age` raised to the
  subject's ``ventricle_rate`` (1 = median trajectory). *Growth* takes neighbouring
  cerebral white matter first, then deep grey nuclei, hippocampus/amygdala and ventral
  DC (1.5 mm later); each new voxel joins the nearest ventricle (Euclidean distance
  transform with indices). *Shrinkage* peels each ventricle by the same fraction from
  the wall inwards, each voxel becoming the label of its nearest parenchyma voxel (same
  hemisphere for the lateral ventricles); choroid plexus cut off from the ventricles
  joins the parenchyma too;
* **cortex**: ageing turns cerebral cortex (3, 42) next to extra-cerebral CSF (24) into
  CSF over a depth (mm) that grows with age; rejuvenation turns CSF next to the cortex
  back into cortex (the label of the nearest cortex voxel, never bridging the
  interhemispheric fissure);
* **sulci**: an extra advance, weighted by the depth under the skull (0 at gyral crowns
  next to the skull, full in deep sulci/fissures): sulci widen with age, narrow back
  when rejuvenating.

Sub-voxel amounts (a 0.3 mm advance on a 1 mm grid) are rendered by a fixed dither: a
voxel at Euclidean distance ``d`` (mm, >= the voxel size h) from the advancing front
changes when ``d - h + h u(x) < amount``, where ``u`` is a smooth random field, uniform
on [0, 1), drawn from ``pattern_seed`` (it also makes the change regional rather than
uniform). For a fixed input and seed the changed sets are nested in the amount, so
ventricular volume rises and cortical volume falls strictly with the target age across
the reference age (tests/anatomy/test_anatomy_atrophy.py).

Cortical amounts follow a schedule of "effective decades" since 20 y, accelerating after
``acceleration_age_years``: ``D(a) = (a - 20)/10 + acceleration ((a - 60)/10)^2`` (second
term for a > 60), applied as ``rate * (D(age) - D(reference))`` (negative: restore).
Ages below 20 y count as 20 (no development is modelled).

Population rates (literature-guided, not a fit):
* ventricles: the median curve of :mod:`radsynth.anatomy.apparent_age` (Kaye et al.
  1992; Scahill et al., Arch Neurol 60:989-994, 2003; Fjell et al., J Neurosci
  29:15223-15231, 2009): x1.25 from 20 to 35 y, x2.1 to 65 y, x3.3 to 80 y, with
  per-subject variation of ``ventricle_rate`` (:class:`RandomAtrophy`);
* cortical thickness falls with age by up to ~0.01-0.03 mm/year in the most affected
  (heteromodal) regions and less elsewhere (Salat et al., Cereb Cortex 14:721-730,
  2004; Fjell et al., Cereb Cortex 19:2001-2012, 2009). Default 0.05 mm per effective
  decade over the whole cortex (0.4 mm from 20 to 80 y, ~15 % of a 2.5 mm cortex);
* sulcal CSF widens with age (Pfefferbaum et al., Arch Neurol 51:874-887, 1994):
  default 0.05 mm per effective decade extra in deep sulci.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage, special

from radsynth.anatomy.apparent_age import median_ventricle_ratio
from radsynth.anatomy.deformation import bspline_field, bspline_weights
from radsynth.core.checks import check_dataclass_keys
from radsynth.core.errors import RadsynthInputError
from radsynth.core.labels import (
    BRAIN,
    CEREBRAL_CORTEX,
    CEREBRAL_WM,
    CHOROID_PLEXUS,
    EXTRACEREBRAL_CSF,
    LEFT_HEMISPHERE,
    LEFT_LATERAL_VENTRICLE,
    RIGHT_HEMISPHERE,
    RIGHT_LATERAL_VENTRICLE,
)

#: Ventricles that grow or shrink: lateral (incl. temporal horns) and 3rd.
GROWING_VENTRICLES = frozenset({4, 5, 43, 44, 14})
#: Tissue a ventricle may grow into (and gives back when shrinking): cerebral WM (+
#: WM-lesion labels 25/57), deep grey nuclei, hippocampus, amygdala, ventral DC. Never
#: cortex, CSF, choroid or lesions.
VENTRICLE_MEDIUM = frozenset(CEREBRAL_WM | {25, 57, 10, 11, 12, 13, 26, 49, 50, 51, 52, 58, 17, 18, 53, 54, 28, 60})
#: Intracranial labels (for the depth of cortex under the skull): brain, CSF, choroid plexus.
INTRACRANIAL = frozenset(BRAIN | {136, 137, 163, 164})
#: What a shrinking left / right lateral ventricle may turn into (its own hemisphere).
_LEFT_MEDIUM = frozenset(VENTRICLE_MEDIUM & (LEFT_HEMISPHERE | {25}))
_RIGHT_MEDIUM = frozenset(VENTRICLE_MEDIUM & (RIGHT_HEMISPHERE | {57}))
#: Left choroid plexus (lateral-ventricle body/atrium, temporal horn); the rest is right.
_LEFT_CHOROID = frozenset({136, 137})

VENTRICLE_RATE = 1.0
CORTICAL_THINNING_MM_PER_DECADE = 0.05
SULCAL_WIDENING_MM_PER_DECADE = 0.05
ACCELERATION_AGE_YEARS = 60.0
ACCELERATION = 0.5
#: Youngest age (years) the anatomy is moved to or from; younger ages count as this.
MIN_AGE_YEARS = 20.0

#: Extra distance (mm) before a ventricle enters grey nuclei rather than white matter.
_GREY_DELAY_MM = 1.5
#: Room (mm) around the ventricles' bounding box for their growth.
_VENTRICLE_MARGIN_MM = 20.0
#: Room (mm) around the ventricles' bounding box for the parenchyma they shrink back to.
_SHRINK_MARGIN_MM = 4.0
#: Cortex depth under the inner skull (mm) where sulcal widening starts / is full.
_SULCAL_DEPTH_MM = (4.0, 14.0)
#: Control-point spacing of the dither field (mm): regional pattern of ~1-2 cm.
_PATTERN_SPACING_MM = 10.0
#: Seed offset of the cortex' dither pattern (independent of the ventricles').
_CORTEX_SEED_OFFSET = 0x9E3779B9


def _isin(a: np.ndarray, labels) -> np.ndarray:
    return np.isin(a, np.fromiter(labels, dtype=a.dtype if a.dtype.kind in "iu" else np.int64))


def dither_field(shape: tuple[int, int, int], seed: int, spacing=(1.0, 1.0, 1.0)) -> np.ndarray:
    """Smooth random field (float32, *shape*) uniform on [0, 1) at every voxel.

    Cubic B-spline of N(0, 1) control values every ~10 mm (``spacing``: voxel size, mm),
    divided by its exact per-voxel std (separable), mapped through the normal CDF.
    """
    grid = tuple(max(2, int(math.ceil(n * h / _PATTERN_SPACING_MM)) + 1) for n, h in zip(shape, spacing))
    ctrl = np.random.default_rng(seed).standard_normal(size=(1, *grid))
    v = bspline_field(ctrl, shape)[0]
    norms = [np.sqrt((bspline_weights(n, g) ** 2).sum(axis=1)).astype(np.float32) for n, g in zip(shape, grid)]
    sd = norms[0][:, None, None] * norms[1][None, :, None] * norms[2][None, None, :]
    u = special.ndtr(v / sd).astype(np.float32)
    return np.minimum(u, np.float32(1.0 - 1e-7))


def _voxel_size(affine: np.ndarray | None) -> tuple[float, float, float]:
    if affine is None:
        return (1.0, 1.0, 1.0)
    a = np.asarray(affine, dtype=np.float64)
    if a.shape != (4, 4) or not np.isfinite(a).all():
        raise RadsynthInputError("affine", f"array of shape {a.shape}", "a finite 4x4 voxel->world matrix (mm)")
    sizes = np.sqrt((a[:3, :3] ** 2).sum(axis=0))
    if not (sizes > 0).all():
        raise RadsynthInputError("affine", sizes.tolist(), "positive voxel sizes")
    return tuple(float(v) for v in sizes)


def _bbox(mask: np.ndarray, margin: int) -> tuple[slice, ...] | None:
    idx = [np.nonzero(mask.any(axis=tuple(a for a in range(3) if a != ax)))[0] for ax in range(3)]
    if any(i.size == 0 for i in idx):
        return None
    return tuple(slice(max(int(i[0]) - margin, 0), min(int(i[-1]) + 1 + margin, n)) for i, n in zip(idx, mask.shape))


def _take_smallest(cand: tuple[np.ndarray, ...], key: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    """The ``n`` candidates with the smallest keys (all if fewer): nested in ``n``."""
    if n < key.size:
        threshold = np.partition(key, n - 1)[n - 1]
        keep = key <= threshold
        cand = tuple(c[keep] for c in cand)
    return cand


def _unlesioned(labels: np.ndarray) -> np.ndarray:
    """White-matter lesion labels (25, 57: FreeSurfer WM hypointensities) as plain white
    matter (2, 41): tissue given back by a shrinking ventricle is normal white matter."""
    return np.where(labels == 25, np.int16(2), np.where(labels == 57, np.int16(41), labels)).astype(labels.dtype)


def _touching(mask: np.ndarray) -> np.ndarray:
    """Voxels with a 6-neighbour in ``mask`` (the mask's 1-voxel 6-connected dilation)."""
    out = mask.copy()
    for ax in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[ax], hi[ax] = slice(None, -1), slice(1, None)
        out[tuple(lo)] |= mask[tuple(hi)]
        out[tuple(hi)] |= mask[tuple(lo)]
    return out


def _side_switch(side: np.ndarray) -> np.ndarray:
    """Voxels where the side (-1 left, +1 right) of the nearest structure flips along x."""
    flip = (side[:-1] * side[1:]) < 0
    out = np.zeros(side.shape, dtype=bool)
    out[:-1] |= flip
    out[1:] |= flip
    return out


def _sulcal_weight(sub: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """0..1 weight of sulcal change: depth under the skull from 4 mm (0) to 14 mm (1).

    Depth = distance to the nearest non-intracranial voxel, on a 2 mm grid (the weight is
    smooth, and this EDT is 8x cheaper).
    """
    lo, hi = _SULCAL_DEPTH_MM
    outside = ~_isin(sub[::2, ::2, ::2], INTRACRANIAL)
    if not outside.any():
        return np.ones(sub.shape, dtype=np.float32)
    coarse_spacing = tuple(2.0 * v for v in spacing)
    depth = ndimage.distance_transform_edt(~outside, sampling=coarse_spacing).astype(np.float32)
    coarse = np.clip((depth - lo) / (hi - lo), 0.0, 1.0)
    return coarse.repeat(2, 0).repeat(2, 1).repeat(2, 2)[: sub.shape[0], : sub.shape[1], : sub.shape[2]]


@dataclass(frozen=True)
class Atrophy:
    """Concrete age-related atrophy (deterministic twin of :class:`RandomAtrophy`).

    age_years: target age of the subject; reference_age_years: age the input anatomy
    stands for (its apparent age, :func:`radsynth.anatomy.apparent_age.apparent_age`);
    ventricle_rate: exponent on the population median ventricle-volume ratio (1 =
    median trajectory, 1.3 = a subject whose ventricles change 30 % faster in log);
    cortical_thinning_mm_per_decade, sulcal_widening_mm_per_decade: CSF advance into
    cortex (mm) per effective decade; acceleration_age_years, acceleration: quadratic
    acceleration of the cortical schedule after that age; pattern_seed: seed of the
    regional dither.
    """

    age_years: float
    reference_age_years: float = MIN_AGE_YEARS
    ventricle_rate: float = VENTRICLE_RATE
    cortical_thinning_mm_per_decade: float = CORTICAL_THINNING_MM_PER_DECADE
    sulcal_widening_mm_per_decade: float = SULCAL_WIDENING_MM_PER_DECADE
    acceleration_age_years: float = ACCELERATION_AGE_YEARS
    acceleration: float = ACCELERATION
    pattern_seed: int = 0

    def __post_init__(self) -> None:
        bounds = {
            "age_years": (0.0, 120.0, "years"),
            "reference_age_years": (0.0, 120.0, "years"),
            "ventricle_rate": (0.0, 5.0, "(exponent on the median ventricle-volume ratio)"),
            "cortical_thinning_mm_per_decade": (0.0, 2.0, "mm/decade"),
            "sulcal_widening_mm_per_decade": (0.0, 2.0, "mm/decade"),
            "acceleration_age_years": (0.0, 120.0, "years"),
            "acceleration": (0.0, 5.0, ""),
        }
        for name, (lo, hi, unit) in bounds.items():
            val = getattr(self, name)
            ok = isinstance(val, (int, float, np.integer, np.floating)) and not isinstance(val, bool)
            if not ok or not (lo <= float(val) <= hi):
                raise RadsynthInputError(name, val, f"a number in [{lo:g}, {hi:g}] {unit}".rstrip())
            object.__setattr__(self, name, float(val))
        if isinstance(self.pattern_seed, bool) or not isinstance(self.pattern_seed, (int, np.integer)) or not (
            0 <= int(self.pattern_seed) < 2**63
        ):
            raise RadsynthInputError("pattern_seed", self.pattern_seed, "an integer in [0, 2**63)")
        object.__setattr__(self, "pattern_seed", int(self.pattern_seed))

    # -- amounts
    def decades_since_20(self, age_years: float) -> float:
        """Effective decades of cortical ageing from 20 y to ``age_years`` (accelerating)."""
        a = max(float(age_years), MIN_AGE_YEARS)
        late = max(a - self.acceleration_age_years, 0.0) / 10.0
        return (a - MIN_AGE_YEARS) / 10.0 + self.acceleration * late * late

    def effective_decades(self) -> float:
        """Signed effective decades from the reference age to the target age (< 0: younger)."""
        return self.decades_since_20(self.age_years) - self.decades_since_20(self.reference_age_years)

    def ventricle_volume_ratio(self) -> float:
        """Target volume of the lateral + 3rd ventricles relative to the input map's."""
        return median_ventricle_ratio(self.age_years, self.reference_age_years) ** self.ventricle_rate

    def cortical_thinning_mm(self) -> float:
        """Signed CSF advance into cortex (mm) everywhere; < 0: cortex thickens back."""
        return self.cortical_thinning_mm_per_decade * self.effective_decades()

    def sulcal_widening_mm(self) -> float:
        """Signed extra advance (mm) in deep sulci; < 0: sulci narrow."""
        return self.sulcal_widening_mm_per_decade * self.effective_decades()

    # -- serialisation
    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Atrophy:
        check_dataclass_keys("atrophy", d, cls, required=("age_years",))
        return cls(**d)

    # -- application
    def apply(self, labels: np.ndarray, affine: np.ndarray | None = None) -> np.ndarray:
        """Copy of an int16 label map moved from the reference age to the target age.

        ``affine`` (voxel->world, mm) gives the voxel size; None means 1 mm isotropic.
        """
        labels = np.asarray(labels)
        if labels.ndim != 3:
            raise RadsynthInputError("labels", f"array of shape {labels.shape}", "a 3D label map")
        spacing = _voxel_size(affine)
        out = labels.copy()
        ratio = self.ventricle_volume_ratio()
        if ratio > 1.0:
            self._grow_ventricles(out, ratio - 1.0, spacing)
        elif ratio < 1.0:
            self._shrink_ventricles(out, 1.0 - ratio, spacing)
        t, w = self.cortical_thinning_mm(), self.sulcal_widening_mm()
        if t > 0.0 or w > 0.0:
            self._thin_cortex(out, t, w, spacing)
        elif t < 0.0 or w < 0.0:
            self._thicken_cortex(out, -t, -w, spacing)
        return out

    def _grow_ventricles(self, out: np.ndarray, fraction: float, spacing: tuple[float, float, float]) -> None:
        h = np.float32(min(spacing))
        vent = _isin(out, GROWING_VENTRICLES)
        box = _bbox(vent, int(math.ceil(_VENTRICLE_MARGIN_MM / float(h))))
        n_new = int(round(fraction * float(np.count_nonzero(vent))))
        if box is None or n_new <= 0:
            return
        sub = out[box]
        dist, idx = ndimage.distance_transform_edt(~vent[box], sampling=spacing, return_indices=True)
        nearest = sub[idx[0], idx[1], idx[2]]
        # side of the nearest lateral ventricle: -1 left, +1 right, 0 third ventricle
        side = _isin(nearest, RIGHT_LATERAL_VENTRICLE).astype(np.int8) - _isin(nearest, LEFT_LATERAL_VENTRICLE)
        # the septum pellucidum: where the nearest lateral ventricle switches side along x
        septum = _side_switch(side)
        # a ventricle grows only into tissue of its own hemisphere
        wrong_side = ((side < 0) & _isin(sub, RIGHT_HEMISPHERE | {41, 57})) | (
            (side > 0) & _isin(sub, LEFT_HEMISPHERE | {2, 25})
        )
        medium = _isin(sub, VENTRICLE_MEDIUM) & ~septum & ~wrong_side
        cand = np.nonzero(medium)
        if cand[0].size == 0:
            return
        u = dither_field(sub.shape, self.pattern_seed, spacing)
        # growth order: distance from the ventricle wall, dithered by the regional field;
        # taking the n_new smallest keys makes the grown set nested in the volume target.
        key = dist[cand].astype(np.float32) - h + h * u[cand]
        # ventricles expand mainly at the expense of periventricular white matter; grey
        # nuclei (caudate head, thalamus), hippocampus and ventral DC recede later
        key += np.where(_isin(sub[cand], CEREBRAL_WM | {25, 57}), 0.0, _GREY_DELAY_MM).astype(np.float32)
        cand = _take_smallest(cand, key, n_new)
        sub[cand] = nearest[cand]  # writes into ``out`` (``sub`` is a view)

    def _shrink_ventricles(self, out: np.ndarray, fraction: float, spacing: tuple[float, float, float]) -> None:
        """Give ``fraction`` of each ventricle's voxels back to the parenchyma around it,
        from the wall inwards (the reverse of growth); choroid plexus left outside the
        ventricles joins the parenchyma too."""
        h = np.float32(min(spacing))
        vent = _isin(out, GROWING_VENTRICLES)
        box = _bbox(vent, int(math.ceil(_SHRINK_MARGIN_MM / float(h))))
        if box is None:
            return
        sub = out[box]
        medium = _isin(sub, VENTRICLE_MEDIUM)
        if not medium.any():
            return
        dist, idx = ndimage.distance_transform_edt(~medium, sampling=spacing, return_indices=True)
        nearest = _unlesioned(sub[idx[0], idx[1], idx[2]])
        grey = ~_isin(nearest, CEREBRAL_WM)
        # grey nuclei, hippocampus and ventral DC take back at most a _GREY_DELAY_MM layer
        # from a lateral ventricle; deeper voxels become the nearest white matter (else
        # a caudate bordering a large ventricle would double in volume)
        lateral = _isin(sub, LEFT_LATERAL_VENTRICLE | RIGHT_LATERAL_VENTRICLE)
        far = lateral & grey & (dist > np.float32(_GREY_DELAY_MM))
        wm = _isin(sub, CEREBRAL_WM | {25, 57})
        if far.any() and wm.any():
            idx = ndimage.distance_transform_edt(~wm, sampling=spacing, return_distances=False, return_indices=True)
            nearest[far] = _unlesioned(sub[idx[0][far], idx[1][far], idx[2][far]])
        del idx
        # a lateral ventricle gives its voxels only to tissue of its own hemisphere (not
        # through the septum pellucidum); the midline 3rd ventricle to either side
        ok = ~(_isin(sub, LEFT_LATERAL_VENTRICLE) & ~_isin(nearest, _LEFT_MEDIUM))
        ok &= ~(_isin(sub, RIGHT_LATERAL_VENTRICLE) & ~_isin(nearest, _RIGHT_MEDIUM))
        u = dither_field(sub.shape, self.pattern_seed, spacing)
        changed = False
        # each ventricle (lateral bodies, temporal horns, 3rd) shrinks by the same
        # fraction: a single global order would erase the thin ones (3rd ventricle,
        # temporal horns) before the bodies lose anything
        for label in sorted(GROWING_VENTRICLES):
            mine = sub == label
            n_remove = int(round(fraction * float(np.count_nonzero(mine))))
            cand = np.nonzero(mine & ok)
            if n_remove <= 0 or cand[0].size == 0:
                continue
            # order: distance to the nearest parenchyma, dithered: nested in n_remove;
            # the reverse of growth: white matter comes back first, grey nuclei,
            # hippocampus and ventral DC 1.5 mm later (they shrink little with age)
            key = dist[cand].astype(np.float32) - h + h * u[cand]
            key += np.where(grey[cand], _GREY_DELAY_MM, 0.0).astype(np.float32)
            cand = _take_smallest(cand, key, n_remove)
            sub[cand] = nearest[cand]
            changed = True
        if changed:
            self._absorb_orphan_choroid(sub, spacing)

    @staticmethod
    def _absorb_orphan_choroid(sub: np.ndarray, spacing: tuple[float, float, float]) -> None:
        """Choroid plexus no longer connected to a ventricle becomes the nearest
        parenchyma of its own hemisphere (it lies inside the ventricles)."""
        chor = _isin(sub, CHOROID_PLEXUS)
        if not chor.any():
            return
        vent = _isin(sub, GROWING_VENTRICLES)
        comp, _ = ndimage.label(chor | vent)
        attached = np.unique(comp[vent])
        orphan = chor & ~np.isin(comp, attached[attached > 0])
        if not orphan.any():
            return
        medium = _isin(sub, VENTRICLE_MEDIUM)
        idx = ndimage.distance_transform_edt(~medium, sampling=spacing, return_distances=False, return_indices=True)
        nearest = _unlesioned(sub[idx[0], idx[1], idx[2]])
        left = _isin(sub, _LEFT_CHOROID)
        orphan &= ~(left & ~_isin(nearest, _LEFT_MEDIUM)) & ~(~left & ~_isin(nearest, _RIGHT_MEDIUM))
        sub[orphan] = nearest[orphan]

    @staticmethod
    def _cortex_region(out: np.ndarray, spacing: tuple[float, float, float]):
        """(h, sub, ctx, csf_label, csf) around the cortex, or None when there is no cortex/CSF.

        ``sub`` is a view into ``out``: writing to it edits the label map in place.
        """
        h = np.float32(min(spacing))
        cortex = _isin(out, CEREBRAL_CORTEX)
        box = _bbox(cortex, int(math.ceil(_SULCAL_DEPTH_MM[1] / float(h))) + 2)
        if box is None:
            return None
        sub = out[box]
        csf_label = min(EXTRACEREBRAL_CSF)
        csf = sub == csf_label
        if not csf.any():
            return None
        return h, sub, cortex[box], csf_label, csf

    def _thin_cortex(self, out: np.ndarray, thin: float, widen: float, spacing: tuple[float, float, float]) -> None:
        region = self._cortex_region(out, spacing)
        if region is None:
            return
        h, sub, ctx, csf_label, csf = region
        d_csf = ndimage.distance_transform_edt(~csf, sampling=spacing).astype(np.float32)
        sulcal = _sulcal_weight(sub, spacing)
        # a second, independent regional pattern (not the ventricles')
        u = dither_field(sub.shape, (self.pattern_seed + _CORTEX_SEED_OFFSET) % 2**63, spacing)
        amount = np.float32(thin) + np.float32(widen) * sulcal
        lose = ctx & (d_csf - h + h * u < amount)
        sub[lose] = csf_label

    def _thicken_cortex(
        self, out: np.ndarray, thick: float, narrow: float, spacing: tuple[float, float, float]
    ) -> None:
        """Turn extra-cerebral CSF next to the cortex back into cortex (the reverse of
        :meth:`_thin_cortex`, same regional pattern and sulcal weighting)."""
        region = self._cortex_region(out, spacing)
        if region is None:
            return
        h, sub, ctx, csf_label, csf = region
        d_ctx, idx = ndimage.distance_transform_edt(~ctx, sampling=spacing, return_indices=True)
        nearest = sub[idx[0], idx[1], idx[2]]
        # never bridge the interhemispheric fissure: no new cortex where the nearest
        # cortex switches hemisphere along x, nor next to the other hemisphere's cortex
        side = (nearest == 42).astype(np.int8) - (nearest == 3)
        barrier = _side_switch(side)
        barrier |= (side < 0) & _touching(sub == 42)
        barrier |= (side > 0) & _touching(sub == 3)
        sulcal = _sulcal_weight(sub, spacing)
        u = dither_field(sub.shape, (self.pattern_seed + _CORTEX_SEED_OFFSET) % 2**63, spacing)
        amount = np.float32(thick) + np.float32(narrow) * sulcal
        gain = csf & ~barrier & (d_ctx - h + h * u < amount)
        sub[gain] = nearest[gain]


@dataclass(frozen=True)
class RandomAtrophy:
    """Population atrophy rates with per-subject variation;
    ``sample(age, rng, reference_age_years=...)`` -> Atrophy.

    rate_cv: coefficient of variation of each subject's rate multiplier (log-normal,
    mean 1); rate_correlation: correlation of the three multipliers' logs (a subject who
    loses tissue fast tends to do so everywhere). reference_age_years: default apparent
    age of the input anatomy when ``sample`` is not given one.
    """

    reference_age_years: float = MIN_AGE_YEARS
    ventricle_rate: float = VENTRICLE_RATE
    cortical_thinning_mm_per_decade: float = CORTICAL_THINNING_MM_PER_DECADE
    sulcal_widening_mm_per_decade: float = SULCAL_WIDENING_MM_PER_DECADE
    acceleration_age_years: float = ACCELERATION_AGE_YEARS
    acceleration: float = ACCELERATION
    rate_cv: float = 0.25
    rate_correlation: float = 0.5

    def __post_init__(self) -> None:
        Atrophy(  # validates the shared fields
            age_years=self.reference_age_years,
            reference_age_years=self.reference_age_years,
            ventricle_rate=self.ventricle_rate,
            cortical_thinning_mm_per_decade=self.cortical_thinning_mm_per_decade,
            sulcal_widening_mm_per_decade=self.sulcal_widening_mm_per_decade,
            acceleration_age_years=self.acceleration_age_years,
            acceleration=self.acceleration,
        )
        for name, lo, hi in (("rate_cv", 0.0, 1.0), ("rate_correlation", 0.0, 1.0)):
            val = getattr(self, name)
            if isinstance(val, bool) or not isinstance(val, (int, float)) or not (lo <= float(val) <= hi):
                raise RadsynthInputError(name, val, f"a number in [{lo:g}, {hi:g}]")

    def sample(
        self, age_years: float, rng: np.random.Generator, reference_age_years: float | None = None
    ) -> Atrophy:
        """Draw one subject's rates around the population rates (4 draws from ``rng``).

        ``reference_age_years``: apparent age of the anatomy the subject is built on
        (e.g. :func:`radsynth.anatomy.apparent_age.apparent_age_of_file`); default: the
        instance's ``reference_age_years``. It does not change the draws.
        """
        ref = self.reference_age_years if reference_age_years is None else reference_age_years
        z = rng.standard_normal(3)
        z0 = rng.standard_normal()
        seed = int(rng.integers(0, 2**31 - 1))
        sigma = math.sqrt(math.log1p(self.rate_cv**2))  # log-normal with this CV
        r = self.rate_correlation
        zz = math.sqrt(r) * z0 + math.sqrt(1.0 - r) * z
        mult = np.exp(sigma * zz - 0.5 * sigma**2)
        return Atrophy(
            age_years=float(age_years),
            reference_age_years=ref,
            ventricle_rate=float(min(self.ventricle_rate * mult[0], 5.0)),
            cortical_thinning_mm_per_decade=float(min(self.cortical_thinning_mm_per_decade * mult[1], 2.0)),
            sulcal_widening_mm_per_decade=float(min(self.sulcal_widening_mm_per_decade * mult[2], 2.0)),
            acceleration_age_years=self.acceleration_age_years,
            acceleration=self.acceleration,
            pattern_seed=seed,
        )

    def to_dict(self) -> dict[str, Any]:
        return {name: float(getattr(self, name)) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RandomAtrophy:
        check_dataclass_keys("atrophy", d, cls)
        return cls(**d)
