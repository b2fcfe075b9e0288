"""Age-related brain atrophy applied to a label map (deterministic given age and rates).

Three effects:

* **ventricular enlargement**: the lateral ventricles (4, 5, 43, 44) and the 3rd
  ventricle (14) grow to ``ventricle_volume_ratio()`` times their input volume, into
  neighbouring cerebral white matter first, then deep grey nuclei, hippocampus/amygdala
  and ventral DC (1.5 mm later); each new voxel joins the nearest ventricle (Euclidean
  distance transform with indices);
* **cortical thinning**: cerebral cortex (3, 42) next to extra-cerebral CSF (24) becomes
  CSF over a depth (mm) that grows with age, the same everywhere;
* **sulcal widening**: an extra CSF advance into cortex, weighted by the cortex' depth
  under the skull (0 at gyral crowns next to the skull, full in deep sulci/fissures).

Sub-voxel amounts (a 0.3 mm advance on a 1 mm grid) are rendered by a fixed dither: a
voxel at Euclidean distance ``d`` (mm, >= the voxel size h) from the growing structure
changes when ``d - h + h u(x) < amount``, where ``u`` is a smooth random field, uniform on [0, 1), drawn
from ``pattern_seed`` (it also makes the loss regional rather than uniform). For a fixed
seed the changed sets only grow with the amount, so volumes change monotonically with
age. Ages at or below ``reference_age_years`` leave the map unchanged: the input maps are
treated as anatomy of that age (the SynthSeg maps' true ages are not published; some
have large ventricles and may be older).

Amounts scale with "effective decades" past the reference age, accelerating after 60:
``D = (age - ref)/10 + acceleration * ((age - 60)/10)^2`` (second term for age > 60).

Population rates (literature-guided, not a fit):
* lateral-ventricle volume roughly doubles to triples from the 20s to the 80s, growth
  accelerating after ~60: Pfefferbaum et al., Arch Neurol 51:874-887 (1994,
  cross-sectional); Scahill et al., Arch Neurol 60:989-994 (2003, longitudinal:
  ventricular expansion accelerates with age); Fjell et al., J Neurosci 29:15223-15231
  (2009: ventricles grow by several percent per year after 60). Default +22% of the
  input volume per effective decade: x1.33 at 35, x2.0 at 65, x2.76 at 80.
* cortical thickness falls with age by up to ~0.01-0.03 mm/year in the most affected
  (heteromodal) regions and less elsewhere (Salat et al., Cereb Cortex 14:721-730,
  2004; Fjell et al., Cereb Cortex 19:2001-2012, 2009). Default 0.05 mm per effective
  decade over the whole cortex (0.4 mm at 80 y, ~15% of a 2.5 mm cortex).
* sulcal CSF widens with age (Pfefferbaum 1994: sulcal CSF grows across adulthood):
  default 0.05 mm per effective decade extra in deep sulci.
On the six shipped maps the defaults give, at 80 vs 20 y, ventricles x2.76 and cerebral
cortex volume -21 to -27% (tests/anatomy/test_anatomy_atrophy.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage, special

from radsynth.anatomy.deformation import bspline_field, bspline_weights
from radsynth.core.errors import RadsynthInputError
from radsynth.core.labels import (
    BRAIN,
    CEREBRAL_CORTEX,
    CEREBRAL_WM,
    EXTRACEREBRAL_CSF,
    LEFT_HEMISPHERE,
    LEFT_LATERAL_VENTRICLE,
    RIGHT_HEMISPHERE,
    RIGHT_LATERAL_VENTRICLE,
)

#: Ventricles that grow: lateral (incl. temporal horns) and 3rd.
GROWING_VENTRICLES = frozenset({4, 5, 43, 44, 14})
#: Tissue a ventricle may grow into: cerebral WM (+ WM-lesion labels 25/57), deep grey
#: nuclei, hippocampus, amygdala, ventral DC. Never cortex, CSF, choroid or lesions.
VENTRICLE_MEDIUM = frozenset(CEREBRAL_WM | {25, 57, 10, 11, 12, 13, 26, 49, 50, 51, 52, 58, 17, 18, 53, 54, 28, 60})
#: Intracranial labels (for the depth of cortex under the skull): brain, CSF, choroid plexus.
INTRACRANIAL = frozenset(BRAIN | {136, 137, 163, 164})

VENTRICLE_GROWTH_PER_DECADE = 0.22
CORTICAL_THINNING_MM_PER_DECADE = 0.05
SULCAL_WIDENING_MM_PER_DECADE = 0.05
ACCELERATION_AGE_YEARS = 60.0
ACCELERATION = 0.5

#: Extra distance (mm) before a ventricle enters grey nuclei rather than white matter.
_GREY_DELAY_MM = 1.5
#: Room (mm) around the ventricles' bounding box for their growth.
_VENTRICLE_MARGIN_MM = 20.0
#: Cortex depth under the inner skull (mm) where sulcal widening starts / is full.
_SULCAL_DEPTH_MM = (4.0, 14.0)
#: Control-point spacing of the dither field (mm): regional pattern of ~1-2 cm.
_PATTERN_SPACING_MM = 10.0


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


@dataclass(frozen=True)
class Atrophy:
    """Concrete age-related atrophy (deterministic twin of :class:`RandomAtrophy`).

    age_years, reference_age_years: age of the subject / age the input anatomy stands
    for; ventricle_growth_per_decade: growth of the lateral+3rd ventricles' volume, as a
    fraction of the input map's, per effective decade; cortical_thinning_mm_per_decade,
    sulcal_widening_mm_per_decade: CSF advance into cortex (mm) per effective decade;
    acceleration_age_years, acceleration: quadratic acceleration after that age;
    pattern_seed: seed of the regional dither.
    """

    age_years: float
    reference_age_years: float = 20.0
    ventricle_growth_per_decade: float = VENTRICLE_GROWTH_PER_DECADE
    cortical_thinning_mm_per_decade: float = CORTICAL_THINNING_MM_PER_DECADE
    sulcal_widening_mm_per_decade: float = SULCAL_WIDENING_MM_PER_DECADE
    acceleration_age_years: float = ACCELERATION_AGE_YEARS
    acceleration: float = ACCELERATION
    pattern_seed: int = 0

    def __post_init__(self) -> None:
        bounds = {
            "age_years": (0.0, 120.0, "years"),
            "reference_age_years": (0.0, 120.0, "years"),
            "ventricle_growth_per_decade": (0.0, 5.0, "(fraction of the reference volume per decade)"),
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
    def effective_decades(self) -> float:
        """Decades of ageing past the reference age, with quadratic acceleration."""
        if self.age_years <= self.reference_age_years:
            return 0.0
        linear = (self.age_years - self.reference_age_years) / 10.0
        start = max(self.acceleration_age_years, self.reference_age_years)
        late = max(self.age_years - start, 0.0) / 10.0
        return linear + self.acceleration * late * late

    def ventricle_volume_ratio(self) -> float:
        """Target volume of the growing ventricles relative to the input map's."""
        return 1.0 + self.ventricle_growth_per_decade * self.effective_decades()

    def cortical_thinning_mm(self) -> float:
        return self.cortical_thinning_mm_per_decade * self.effective_decades()

    def sulcal_widening_mm(self) -> float:
        return self.sulcal_widening_mm_per_decade * self.effective_decades()

    # -- serialisation
    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Atrophy:
        known = set(cls.__dataclass_fields__)
        extra = set(d) - known
        if extra or "age_years" not in d:
            raise RadsynthInputError("atrophy", sorted(d), f"keys among {sorted(known)} including 'age_years'")
        return cls(**d)

    # -- application
    def apply(self, labels: np.ndarray, affine: np.ndarray | None = None) -> np.ndarray:
        """Atrophied copy of an int16 label map.

        ``affine`` (voxel->world, mm) gives the voxel size; None means 1 mm isotropic.
        """
        labels = np.asarray(labels)
        if labels.ndim != 3:
            raise RadsynthInputError("labels", f"array of shape {labels.shape}", "a 3D label map")
        spacing = _voxel_size(affine)
        out = labels.copy()
        fv = self.ventricle_volume_ratio() - 1.0
        if fv > 0.0:
            self._grow_ventricles(out, fv, spacing)
        t, w = self.cortical_thinning_mm(), self.sulcal_widening_mm()
        if t > 0.0 or w > 0.0:
            self._thin_cortex(out, t, w, spacing)
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
        flip = (side[:-1] * side[1:]) < 0
        septum = np.zeros(sub.shape, dtype=bool)
        septum[:-1] |= flip
        septum[1:] |= flip
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
        if n_new < key.size:
            threshold = np.sort(key)[n_new - 1]
            keep = key <= threshold
            cand = tuple(c[keep] for c in cand)
        sub[cand] = nearest[cand]  # writes into ``out`` (``sub`` is a view)

    def _thin_cortex(self, out: np.ndarray, thin: float, widen: float, spacing: tuple[float, float, float]) -> None:
        h = np.float32(min(spacing))
        cortex = _isin(out, CEREBRAL_CORTEX)
        lo, hi = _SULCAL_DEPTH_MM
        box = _bbox(cortex, int(math.ceil(hi / float(h))) + 2)
        if box is None:
            return
        sub = out[box]
        ctx = cortex[box]
        csf_label = min(EXTRACEREBRAL_CSF)
        csf = sub == csf_label
        if not csf.any():
            return
        d_csf = ndimage.distance_transform_edt(~csf, sampling=spacing).astype(np.float32)
        # depth of each voxel under the skull: distance to the nearest non-intracranial voxel
        # (on a 2 mm grid: the weight is smooth, and this EDT is 8x cheaper)
        outside = ~_isin(sub[::2, ::2, ::2], INTRACRANIAL)
        if outside.any():
            coarse_spacing = tuple(2.0 * v for v in spacing)
            depth = ndimage.distance_transform_edt(~outside, sampling=coarse_spacing).astype(np.float32)
            coarse = np.clip((depth - lo) / (hi - lo), 0.0, 1.0)
            sulcal = coarse.repeat(2, 0).repeat(2, 1).repeat(2, 2)[: sub.shape[0], : sub.shape[1], : sub.shape[2]]
        else:
            sulcal = np.ones(sub.shape, dtype=np.float32)
        # a second, independent regional pattern (not the ventricles')
        u = dither_field(sub.shape, (self.pattern_seed + 0x9E3779B9) % 2**63, spacing)
        amount = np.float32(thin) + np.float32(widen) * sulcal
        lose = ctx & (d_csf - h + h * u < amount)
        sub[lose] = csf_label


@dataclass(frozen=True)
class RandomAtrophy:
    """Population atrophy rates with per-subject variation; ``sample(age, rng)`` -> Atrophy.

    rate_cv: coefficient of variation of each subject's rate multiplier (log-normal,
    mean 1); rate_correlation: correlation of the three multipliers' logs (a subject who
    loses tissue fast tends to do so everywhere).
    """

    reference_age_years: float = 20.0
    ventricle_growth_per_decade: float = VENTRICLE_GROWTH_PER_DECADE
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
            ventricle_growth_per_decade=self.ventricle_growth_per_decade,
            cortical_thinning_mm_per_decade=self.cortical_thinning_mm_per_decade,
            sulcal_widening_mm_per_decade=self.sulcal_widening_mm_per_decade,
            acceleration_age_years=self.acceleration_age_years,
            acceleration=self.acceleration,
        )
        for name, lo, hi in (("rate_cv", 0.0, 1.0), ("rate_correlation", 0.0, 1.0)):
            val = getattr(self, name)
            if isinstance(val, bool) or not isinstance(val, (int, float)) or not (lo <= float(val) <= hi):
                raise RadsynthInputError(name, val, f"a number in [{lo:g}, {hi:g}]")

    def sample(self, age_years: float, rng: np.random.Generator) -> Atrophy:
        """Draw one subject's rates around the population rates (4 draws from ``rng``)."""
        z = rng.standard_normal(3)
        z0 = rng.standard_normal()
        seed = int(rng.integers(0, 2**31 - 1))
        sigma = math.sqrt(math.log1p(self.rate_cv**2))  # log-normal with this CV
        r = self.rate_correlation
        zz = math.sqrt(r) * z0 + math.sqrt(1.0 - r) * z
        mult = np.exp(sigma * zz - 0.5 * sigma**2)
        return Atrophy(
            age_years=float(age_years),
            reference_age_years=self.reference_age_years,
            ventricle_growth_per_decade=float(min(self.ventricle_growth_per_decade * mult[0], 5.0)),
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
        known = set(cls.__dataclass_fields__)
        extra = set(d) - known
        if extra:
            raise RadsynthInputError("atrophy", sorted(extra), f"keys among {sorted(known)}")
        return cls(**d)
