"""A growing glioma: one tumour (position, shape, composition) whose size follows a growth model.

At each time t (days) of a subject's timepoints:

1. Target. The tumour-core volume V(t) (mL) of a :class:`~radsynth.pathology.tumour_growth.TumourGrowth`
   (Gompertz or exponential; "core" = necrosis + enhancing rim, labels 1001 + 1002, the BraTS
   tumour core).
2. Radius. The :class:`~radsynth.pathology.glioma.Glioma` mean radius ``radius_mm`` whose *painted*
   core volume (core voxels counted on the deformed map times the voxel volume) equals V(t) within
   ``volume_tolerance``. The painted volume is not the volume of a sphere of that radius: the outline
   is irregular and lesion labels go only onto parenchyma (never ventricles or CSF), so the radius is
   solved for: a cube-root secant step ``R <- R (V / V_painted(R))^(1/3)`` (exact for a sphere in
   homogeneous parenchyma), safeguarded by bisection inside the bracket found so far. The painted
   volume grows monotonically with R in practice (the core region ``r < R(theta)`` is nested), which the
   bisection relies on. The shape seed, centre, irregularity, necrosis fraction and rim thickness are
   fixed, so the same tumour grows; it is never re-drawn.
3. Size-dependent components grow with the radius (monotone, documented relations):

   * mass effect: tissue displacement at the core boundary ``mass_effect_mm = expansive_fraction * R``.
     A purely expansive mass in incompressible tissue pushes the tissue at its boundary by its whole
     radius (tissue at distance s ends at (s^3 + R^3)^(1/3)); an infiltrative glioma replaces much of
     the tissue it occupies, so only a fraction of R is displacement. The fraction is capped at
     :data:`MAX_EXPANSIVE_FRACTION` (0.6, the cap :class:`~radsynth.pathology.glioma.RandomGlioma`
     uses; the warp is fold-free below 0.9, :mod:`radsynth.pathology.mass_effect`). For a fixed
     point outside the tumour the displacement u(r) of the radial warp then grows with R (both d and
     the exponential tail grow), so the ipsilateral ventricle is pushed further at every timepoint.
   * vasogenic oedema reach beyond the core ``oedema_extent_mm = oedema_ratio * R`` (capped at the
     glioma's 60 mm limit): peritumoural oedema volume grows with tumour volume.

:func:`ventricle_mass_effect` measures the mass effect on the anatomy: the mean displacement (mm) of the
ipsilateral lateral ventricle's tissue, its label centroid shift (mm) and its volume (mL) against the
tumour-free map.

Random component -> deterministic twin: :class:`RandomGliomaProgression` draws a
:class:`GliomaProgression` (JSON round trip via ``to_dict`` / ``from_dict``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from radsynth.core.checks import in_range, range_pair
from radsynth.core.errors import RadsynthInputError
from radsynth.core.labels import (
    LEFT_LATERAL_VENTRICLE,
    RIGHT_LATERAL_VENTRICLE,
    TUMOUR_ENHANCING,
    TUMOUR_NECROSIS,
)
from radsynth.pathology.glioma import _LIMITS as GLIOMA_LIMITS
from radsynth.pathology.glioma import Glioma, _sample_centre
from radsynth.pathology.lesion_shape import check_ras, label_mask, voxel_volume_ml
from radsynth.pathology.tumour_growth import RandomTumourGrowth, TumourGrowth
from radsynth.pathology.vascular_territories import SIDES, check_side

__all__ = ["GliomaProgression", "RandomGliomaProgression", "ventricle_mass_effect", "sphere_radius_mm", "CORE_LABELS"]

#: Labels of the tumour core whose volume follows the growth model.
CORE_LABELS = (TUMOUR_NECROSIS, TUMOUR_ENHANCING)
MAX_EXPANSIVE_FRACTION = 0.6
MAX_OEDEMA_RATIO = 2.0
#: Accepted solver tolerance (relative volume error); must stay below the 5 % acceptance.
TOLERANCE_LIMITS = (0.001, 0.04)
MAX_SOLVER_STEPS = 40
_RADIUS_MM = GLIOMA_LIMITS["radius_mm"]
_IPSILATERAL_VENTRICLE = {"left": LEFT_LATERAL_VENTRICLE, "right": RIGHT_LATERAL_VENTRICLE}


def sphere_radius_mm(volume_ml: float) -> float:
    """Radius (mm) of a sphere of ``volume_ml`` mL (1 mL = 1000 mm^3)."""
    return float((3.0 * 1000.0 * volume_ml / (4.0 * math.pi)) ** (1.0 / 3.0))


@dataclass(frozen=True)
class GliomaProgression:
    """One growing glioma (deterministic twin of :class:`RandomGliomaProgression`).

    ``growth`` the core-volume growth model; ``centre_mm``, ``hemisphere``, ``irregularity``,
    ``necrosis_fraction``, ``rim_thickness_mm``, ``oedema_irregularity``, ``mass_effect_decay_mm``,
    ``shape_seed``: the fixed :class:`Glioma` parameters (see there); ``expansive_fraction``
    boundary displacement / radius; ``oedema_ratio`` oedema reach / radius; ``volume_tolerance``
    relative error the radius solve stops at.
    """

    growth: TumourGrowth
    centre_mm: tuple[float, float, float]
    hemisphere: str
    irregularity: float
    necrosis_fraction: float
    rim_thickness_mm: float
    oedema_irregularity: float
    mass_effect_decay_mm: float
    shape_seed: int
    expansive_fraction: float
    oedema_ratio: float
    volume_tolerance: float = 0.01

    def __post_init__(self) -> None:
        if isinstance(self.growth, dict):
            object.__setattr__(self, "growth", TumourGrowth.from_dict(self.growth))
        if not isinstance(self.growth, TumourGrowth):
            raise RadsynthInputError("growth", type(self.growth).__name__, "a TumourGrowth (or its to_dict())")
        if self.hemisphere not in SIDES:
            raise RadsynthInputError("hemisphere", self.hemisphere, f"one of {list(SIDES)}")
        object.__setattr__(self, "expansive_fraction",
                           in_range("expansive_fraction", self.expansive_fraction, 0.0, MAX_EXPANSIVE_FRACTION))
        object.__setattr__(self, "oedema_ratio", in_range("oedema_ratio", self.oedema_ratio, 0.0, MAX_OEDEMA_RATIO))
        object.__setattr__(self, "volume_tolerance",
                           in_range("volume_tolerance", self.volume_tolerance, *TOLERANCE_LIMITS))
        self.glioma(10.0)  # validates the fixed glioma parameters (centre, side, ranges) once

    # ------------------------------------------------------------------ twin
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["growth"] = self.growth.to_dict()
        d["centre_mm"] = [float(v) for v in self.centre_mm]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GliomaProgression:
        return cls(**{**d, "growth": TumourGrowth.from_dict(d["growth"]), "centre_mm": tuple(d["centre_mm"])})

    # ------------------------------------------------------------ components
    def glioma(self, radius_mm: float, oedema: bool = True) -> Glioma:
        """The tumour at mean core radius ``radius_mm``: mass effect and oedema scaled with it."""
        r = float(radius_mm)
        return Glioma(
            centre_mm=self.centre_mm, hemisphere=self.hemisphere, radius_mm=r, irregularity=self.irregularity,
            necrosis_fraction=self.necrosis_fraction, rim_thickness_mm=self.rim_thickness_mm,
            oedema_extent_mm=min(self.oedema_ratio * r, GLIOMA_LIMITS["oedema_extent_mm"][1]) if oedema else 0.0,
            oedema_irregularity=self.oedema_irregularity, mass_effect_mm=self.expansive_fraction * r,
            mass_effect_decay_mm=self.mass_effect_decay_mm, shape_seed=self.shape_seed,
        )

    def core_volume_ml(self, labels: np.ndarray, affine: np.ndarray, radius_mm: float) -> float:
        """Painted tumour-core volume (mL) at ``radius_mm`` on ``labels`` (oedema does not change the core)."""
        out, _ = self.glioma(radius_mm, oedema=False).apply(labels, affine)
        return float(label_mask(out, CORE_LABELS).sum()) * voxel_volume_ml(affine)

    def solve_radius(
        self, labels: np.ndarray, affine: np.ndarray, target_ml: float, min_radius_mm: float = _RADIUS_MM[0]
    ) -> dict[str, Any]:
        """The radius (>= ``min_radius_mm``) whose painted core volume is within ``volume_tolerance`` of ``target_ml``.

        Returns ``{"radius_mm", "core_volume_ml", "steps"}`` (the closest radius tried when the voxel
        grid cannot resolve the tolerance). RadsynthInputError when even the largest radius (60 mm)
        paints less than the target. ``min_radius_mm`` (the previous timepoint's radius) keeps the
        tumour from shrinking between timepoints whose targets differ by less than the tolerance.
        """
        aff = check_ras(affine)
        target = float(target_ml)
        if not (math.isfinite(target) and target > 0):
            raise RadsynthInputError("target_ml", target_ml, "a volume > 0 mL")
        lo_r, hi_r = max(_RADIUS_MM[0], float(min_radius_mm)), _RADIUS_MM[1]
        # irregular outline: E[(1 + s n)^3] ~ 1 + 3 s^2 for a unit-variance modulation n
        r = sphere_radius_mm(target) / (1.0 + 3.0 * self.irregularity**2) ** (1.0 / 3.0)
        below, above = lo_r, hi_r  # bracket: painted(below) < target < painted(above) once seen
        seen_above = False
        best: tuple[float, float, float] | None = None  # (|error|, radius, volume)
        for step in range(1, MAX_SOLVER_STEPS + 1):
            r = min(max(r, lo_r), hi_r)
            v = self.core_volume_ml(labels, aff, r)
            err = abs(v - target) / target
            if best is None or err < best[0]:
                best = (err, r, v)
            if err <= self.volume_tolerance:
                break
            if v < target:
                if r >= hi_r:
                    raise RadsynthInputError(
                        "progression target volume (mL)", round(target, 3),
                        f"a tumour-core volume the brain around this tumour holds (radius {hi_r:g} mm paints "
                        f"{v:.1f} mL)", "Use fewer or earlier timepoints_days, a slower growth rate or a smaller "
                        "initial/maximum volume.")
                below = max(below, r)
            else:
                above, seen_above = min(above, r), True
            if above - below < 1e-3:
                break
            proposal = r * (target / v) ** (1.0 / 3.0) if v > 0 else 2.0 * r
            if not (below < proposal < above):
                proposal = 0.5 * (below + above) if seen_above else min(2.0 * max(r, below), hi_r)
            r = proposal
        assert best is not None
        return {"radius_mm": best[1], "core_volume_ml": best[2], "steps": step}

    def at(
        self, labels: np.ndarray, affine: np.ndarray, t_days: float, min_radius_mm: float = _RADIUS_MM[0]
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """(labels with the tumour at ``t_days`` painted, finding). Deterministic.

        The finding is :meth:`Glioma.apply`'s plus ``progression``: time_days, target and painted core
        volume (mL), relative error (%), solved radius (mm), solver steps, mass effect (mm), oedema reach (mm).
        ``min_radius_mm``: see :meth:`solve_radius` (the generator passes the previous timepoint's radius).
        """
        target = float(self.growth.volume_ml(float(t_days)))
        solved = self.solve_radius(labels, affine, target, min_radius_mm)
        glioma = self.glioma(solved["radius_mm"])
        out, finding = glioma.apply(labels, affine)
        core_ml = float(label_mask(out, CORE_LABELS).sum()) * voxel_volume_ml(affine)
        finding["progression"] = {
            "time_days": float(t_days),
            "target_core_volume_ml": target,
            "core_volume_ml": core_ml,
            "core_volume_error_pct": 100.0 * (core_ml - target) / target,
            "radius_mm": glioma.radius_mm,
            "solver_steps": int(solved["steps"]),
            "mass_effect_mm": glioma.mass_effect_mm,
            "oedema_extent_mm": glioma.oedema_extent_mm,
        }
        return out, finding


@dataclass(frozen=True)
class RandomGliomaProgression:
    """Ranges of :class:`GliomaProgression` parameters; :meth:`sample` draws one growing glioma for a map.

    The glioma ranges default to :class:`~radsynth.pathology.glioma.RandomGlioma`'s; ``expansive_fraction``
    (boundary displacement / radius) 0.15-0.45 and ``oedema_ratio`` (oedema reach / radius) 0.4-1.0.
    """

    growth: RandomTumourGrowth = field(default_factory=RandomTumourGrowth)
    irregularity: tuple[float, float] = (0.08, 0.25)
    necrosis_fraction: tuple[float, float] = (0.0, 0.7)
    rim_thickness_mm: tuple[float, float] = (2.0, 6.0)
    oedema_irregularity: tuple[float, float] = (0.2, 0.5)
    mass_effect_decay_mm: tuple[float, float] = (6.0, 14.0)
    expansive_fraction: tuple[float, float] = (0.15, 0.45)
    oedema_ratio: tuple[float, float] = (0.4, 1.0)
    volume_tolerance: float = 0.01

    def __post_init__(self) -> None:
        if isinstance(self.growth, dict):
            object.__setattr__(self, "growth", RandomTumourGrowth.from_dict(self.growth))
        for name in ("irregularity", "necrosis_fraction", "rim_thickness_mm", "oedema_irregularity",
                     "mass_effect_decay_mm"):
            object.__setattr__(self, name, range_pair(name, getattr(self, name), *GLIOMA_LIMITS[name]))
        object.__setattr__(self, "expansive_fraction",
                           range_pair("expansive_fraction", self.expansive_fraction, 0.0, MAX_EXPANSIVE_FRACTION))
        object.__setattr__(self, "oedema_ratio", range_pair("oedema_ratio", self.oedema_ratio, 0.0, MAX_OEDEMA_RATIO))
        object.__setattr__(self, "volume_tolerance",
                           in_range("volume_tolerance", self.volume_tolerance, *TOLERANCE_LIMITS))

    def sample(
        self, labels: np.ndarray, affine: np.ndarray, rng: np.random.Generator, last_day: float,
        hemisphere: str | None = None,
    ) -> GliomaProgression:
        """Draw a growing glioma; its centre is placed for the size it reaches at ``last_day`` (days).

        The centre lies in deep white matter of one hemisphere, as for
        :class:`~radsynth.pathology.glioma.RandomGlioma`, with the ventricle clearance and depth of the
        largest tumour, so the ventricle is pushed rather than swallowed as the tumour grows.
        """
        aff = check_ras(affine)
        side = str(rng.choice(SIDES)) if hemisphere is None else check_side(hemisphere)
        growth = self.growth.sample(rng)
        u = lambda rg: float(rng.uniform(*rg))  # noqa: E731
        params = dict(
            irregularity=u(self.irregularity),
            necrosis_fraction=u(self.necrosis_fraction),
            rim_thickness_mm=u(self.rim_thickness_mm),
            oedema_irregularity=u(self.oedema_irregularity),
            mass_effect_decay_mm=u(self.mass_effect_decay_mm),
            expansive_fraction=u(self.expansive_fraction),
            oedema_ratio=u(self.oedema_ratio),
            shape_seed=int(rng.integers(0, 2**31 - 1)),
        )
        r_last = min(sphere_radius_mm(float(growth.volume_ml(float(last_day)))), _RADIUS_MM[1])
        r_max = r_last * (1.0 + 1.5 * params["irregularity"])
        vent_clearance = max(0.3 * r_last, r_max * (1.0 - params["expansive_fraction"]))
        centre = _sample_centre(labels, aff, side, r_last, vent_clearance, rng)
        return GliomaProgression(growth=growth, centre_mm=tuple(float(v) for v in centre), hemisphere=side,
                                 volume_tolerance=self.volume_tolerance, **params)


def ventricle_mass_effect(
    before: np.ndarray, after: np.ndarray, affine: np.ndarray, glioma: Glioma
) -> dict[str, float]:
    """Mass effect of ``glioma`` on the ipsilateral lateral ventricle (labels 4/5 left, 43/44 right).

    ``before`` the tumour-free map, ``after`` the map with the tumour painted (same grid). Two kinds of
    numbers (mm and mL):

    From the mass-effect field applied to this anatomy (following material points, so not disturbed by
    the nearest-neighbour resampling of labels): for each ventricle voxel of ``before`` at distance
    ``rho`` from the tumour centre, its forward radial displacement ``r - rho`` where ``r - u(r) = rho``
    (``u``: :meth:`MassEffect.radial_displacement_mm`; the skull taper, non-zero only within ``taper_mm``
    of the skull, is left out).

    * ``ventricle_displacement_mm``: the largest, i.e. that of the ventricle wall facing the tumour;
    * ``ventricle_mean_displacement_mm``: the mean over the whole ventricle.

    Both are non-decreasing in the radius for the growth relation of :class:`GliomaProgression`
    (``u(r)`` at a fixed ``r`` never decreases as R and d = f R grow).

    Measured on the label maps:

    * ``ventricle_wall_shift_mm``: increase of the distance from the tumour centre to the nearest
      ventricle voxel (the wall pushed away, plus the effaced CSF next to the tumour); whole-voxel steps;
    * ``ventricle_centroid_shift_mm``: |centroid(after) - centroid(before)| of the ventricle labels.
      Noisy at about half a voxel: sub-voxel displacements drop or duplicate voxels of this thin
      structure, and parts of it on different sides of the tumour move in different directions;
    * ``ventricle_volume_ml`` (after) and ``ventricle_volume_before_ml``: not monotone in the radius (the
      warp stretches tissue next to the tumour and compresses it further out; CSF next to it is effaced).

    Distances are NaN (volumes 0) when the ventricle is absent.
    """
    aff = check_ras(affine)
    ids = _IPSILATERAL_VENTRICLE[glioma.hemisphere]
    vv = voxel_volume_ml(aff)
    centre = np.asarray(glioma.centre_mm, dtype=np.float64)
    nan = float("nan")
    pts, cents, near = [], [], []
    for m in (before, after):
        idx = np.argwhere(label_mask(m, ids))
        xyz = idx @ aff[:3, :3].T + aff[:3, 3]
        pts.append(xyz)
        cents.append(xyz.mean(axis=0) if len(xyz) else None)
        near.append(float(np.linalg.norm(xyz - centre, axis=1).min()) if len(xyz) else nan)
    out = {
        "ventricle_displacement_mm": nan, "ventricle_mean_displacement_mm": nan,
        "ventricle_wall_shift_mm": near[1] - near[0],
        "ventricle_centroid_shift_mm": nan if cents[0] is None or cents[1] is None
        else float(np.linalg.norm(cents[1] - cents[0])),
        "ventricle_volume_ml": len(pts[1]) * vv, "ventricle_volume_before_ml": len(pts[0]) * vv,
    }
    if len(pts[0]):
        rho = np.linalg.norm(pts[0] - centre, axis=1)
        disp = np.zeros_like(rho)
        if glioma.mass_effect_mm > 0:
            field = glioma.mass_effect(aff)
            lo, hi = rho.copy(), rho + glioma.mass_effect_mm + 1.0  # s(r) = r - u(r) is increasing (fold-free)
            for _ in range(60):  # bisection far below float32 resolution of u
                mid = 0.5 * (lo + hi)
                below = mid - field.radial_displacement_mm(mid).astype(np.float64) < rho
                lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
            disp = 0.5 * (lo + hi) - rho
        out.update(ventricle_displacement_mm=float(disp.max()), ventricle_mean_displacement_mm=float(disp.mean()))
    return out
