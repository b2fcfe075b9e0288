"""Longitudinal ``mri-brain`` subjects: one head scanned at several timepoints while a glioma grows.

Switched on by ``generator.params.progression`` (:class:`ProgressionParams`) in a cohort spec::

    progression:
      model: gompertz                  # or exponential
      timepoints_days: [0, 60, 120]    # one BIDS session per timepoint: ses-t000, ses-t060, ses-t120
      initial_volume_ml: [5, 15]       # tumour-core volume at day 0 (drawn per subject)
      specific_growth_rate_per_day: [0.007, 0.021]   # or doubling_time_days: [33, 99]
      max_volume_ml: [80, 150]         # Gompertz carrying capacity

For one subject (:func:`generate_progression`), everything comes from the subject's seed:

1. anatomy once (real label map, deformation, atrophy): the same head at every timepoint;
2. one growing glioma (:class:`~radsynth.pathology.glioma_progression.RandomGliomaProgression`, stream
   ``tumour``): growth model, position, shape seed, composition, expansive fraction and oedema ratio;
   at each timepoint its painted core volume is solved to the growth model's V(t) and its mass effect
   and oedema grow with it (:mod:`radsynth.pathology.glioma_progression`);
3. each timepoint is a new examination of the same head (:meth:`BrainMRIGenerator._acquire`): the
   subject-level draws (clinical protocol, tissue properties, texture, T1 variant) are shared, the
   scan-level draws (SNR, motion ghosting, noise, bias field, display window) use streams suffixed
   ``@ses-<label>``, so sessions differ by the tumour and by scan noise only.

Every session has its own images, label map and lesion masks (a :class:`~radsynth.core.records.SessionRecord`);
the per-timepoint measurements (target and painted core volume, error, radius, mass effect, ventricle
displacement) go to ``provenance.sampled["progression"]`` and to each session.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from radsynth.core.errors import RadsynthInputError

#: Largest tumour-core volume (mL) a progression may reach: about the largest glioblastoma cores reported.
MAX_CORE_VOLUME_ML = 150.0
#: Accepted tumour-core volumes (mL) of the growth model's parameters.
VOLUME_RANGE_ML = (1.0, 1500.0)
#: Accepted specific growth rates (1/day) and the doubling times (days) they correspond to.
RATE_RANGE_PER_DAY = (1e-4, 0.2)
DOUBLING_RANGE_DAYS = (math.log(2.0) / RATE_RANGE_PER_DAY[1], math.log(2.0) / RATE_RANGE_PER_DAY[0])
DEFAULT_RATE_PER_DAY = (0.007, 0.021)
MAX_DAYS = 3650
MAX_TIMEPOINTS = 16


def _pair(v: tuple[float, float], lo: float, hi: float, unit: str) -> tuple[float, float]:
    a, b = float(v[0]), float(v[1])
    if not (math.isfinite(a) and math.isfinite(b) and lo <= a <= b <= hi):
        raise ValueError(f"a [low, high] pair with {lo:g} <= low <= high <= {hi:g}{' ' + unit if unit else ''}")
    return a, b


class ProgressionParams(BaseModel):
    """A growing tumour scanned at several timepoints (all ranges are drawn per subject, uniformly)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: Literal["gompertz", "exponential"] = Field(
        "gompertz", description="growth model of the tumour-core volume (radsynth.pathology.tumour_growth)")
    initial_volume_ml: tuple[float, float] = Field((5.0, 15.0), description="core volume at day 0 (mL)")
    max_volume_ml: tuple[float, float] = Field(
        (80.0, 150.0), validate_default=True, description="Gompertz carrying capacity (mL); unused by exponential")
    specific_growth_rate_per_day: tuple[float, float] | None = Field(
        None, description="initial specific growth rate dV/dt / V (1/day); default 0.007-0.021 "
                          "(Stensjoen et al. 2015 median 0.014)")
    doubling_time_days: tuple[float, float] | None = Field(
        None, description="instead of specific_growth_rate_per_day: volume doubling time at day 0 (days)")
    expansive_fraction: tuple[float, float] = Field(
        (0.15, 0.45), description="tissue displacement at the tumour boundary / tumour radius (0..0.6)")
    oedema_ratio: tuple[float, float] = Field((0.4, 1.0), description="oedema reach beyond the core / radius (0..2)")
    volume_tolerance: float = Field(0.01, ge=0.001, le=0.04,
                                    description="relative error the painted core volume is solved to")
    timepoints_days: list[int] = Field(min_length=2, max_length=MAX_TIMEPOINTS,
                                       description="scan times in days, strictly increasing, the first >= 0")

    @field_validator("initial_volume_ml")
    @classmethod
    def _initial(cls, v: tuple[float, float]) -> tuple[float, float]:
        return _pair(v, *VOLUME_RANGE_ML, "mL")

    @field_validator("max_volume_ml")
    @classmethod
    def _capacity(cls, v: tuple[float, float], info: ValidationInfo) -> tuple[float, float]:
        v = _pair(v, *VOLUME_RANGE_ML, "mL")
        v0 = info.data.get("initial_volume_ml")
        if info.data.get("model") == "gompertz" and v0 is not None and v[0] < 1.01 * v0[1]:
            raise ValueError(f"a range whose low end exceeds 1.01 x the high end of initial_volume_ml "
                             f"({1.01 * v0[1]:g} mL) for the Gompertz model")
        return v

    @field_validator("specific_growth_rate_per_day")
    @classmethod
    def _rate(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        return None if v is None else _pair(v, *RATE_RANGE_PER_DAY, "per day")

    @field_validator("doubling_time_days")
    @classmethod
    def _doubling(cls, v: tuple[float, float] | None, info: ValidationInfo) -> tuple[float, float] | None:
        if v is None:
            return None
        if info.data.get("specific_growth_rate_per_day") is not None:
            raise ValueError("either specific_growth_rate_per_day or doubling_time_days, not both")
        return _pair(v, round(DOUBLING_RANGE_DAYS[0], 3), round(DOUBLING_RANGE_DAYS[1], 1), "days")

    @field_validator("expansive_fraction")
    @classmethod
    def _expansive(cls, v: tuple[float, float]) -> tuple[float, float]:
        return _pair(v, 0.0, 0.6, "")

    @field_validator("oedema_ratio")
    @classmethod
    def _oedema(cls, v: tuple[float, float]) -> tuple[float, float]:
        return _pair(v, 0.0, 2.0, "")

    @field_validator("timepoints_days")
    @classmethod
    def _timepoints(cls, v: list[int], info: ValidationInfo) -> list[int]:
        if v[0] < 0 or v[-1] > MAX_DAYS or any(b <= a for a, b in zip(v, v[1:])):
            raise ValueError(f"strictly increasing whole days in 0..{MAX_DAYS}")
        keys = ("model", "initial_volume_ml", "max_volume_ml", "specific_growth_rate_per_day", "doubling_time_days")
        if all(k in info.data for k in keys):  # (an earlier field's own error is reported first otherwise)
            rate = _rate_range(info.data.get("specific_growth_rate_per_day"), info.data.get("doubling_time_days"))
            growth = _growth_sampler(info.data["model"], info.data["initial_volume_ml"], rate,
                                     info.data["max_volume_ml"])
            top = growth.largest_volume_ml(float(v[-1]))
            if top > MAX_CORE_VOLUME_ML:
                which = "initial_volume_ml, the growth rate" + (
                    " and max_volume_ml" if info.data["model"] == "gompertz" else "")
                raise ValueError(
                    f"timepoints at which the largest possible tumour-core volume stays <= {MAX_CORE_VOLUME_ML:g} mL "
                    f"(at day {v[-1]} the upper ends of {which} give {top:.0f} mL); use earlier timepoints, a "
                    "slower growth rate or smaller volumes")
        return v

    # ------------------------------------------------------------------ use
    @property
    def growth_rate_per_day(self) -> tuple[float, float]:
        """The specific-growth-rate range drawn from (1/day), from either field or the default."""
        return _rate_range(self.specific_growth_rate_per_day, self.doubling_time_days)

    def session_labels(self) -> list[str]:
        """BIDS session labels (without ``ses-``): ``t`` + zero-padded days, e.g. t000, t060, t120."""
        width = max(3, len(str(self.timepoints_days[-1])))
        return [f"t{d:0{width}d}" for d in self.timepoints_days]

    def sampler(self, mass_effect: bool = True) -> Any:
        """The :class:`~radsynth.pathology.glioma_progression.RandomGliomaProgression` these ranges describe."""
        from radsynth.pathology.glioma_progression import RandomGliomaProgression

        return RandomGliomaProgression(
            growth=_growth_sampler(self.model, self.initial_volume_ml, self.growth_rate_per_day, self.max_volume_ml),
            expansive_fraction=self.expansive_fraction if mass_effect else (0.0, 0.0),
            oedema_ratio=self.oedema_ratio, volume_tolerance=self.volume_tolerance,
        )

    def describe(self) -> str:
        lo, hi = self.growth_rate_per_day
        cap = (f", carrying capacity {self.max_volume_ml[0]:g}-{self.max_volume_ml[1]:g} mL"
               if self.model == "gompertz" else "")
        return (f"- Progression: each subject is scanned at days {', '.join(str(d) for d in self.timepoints_days)} "
                f"(BIDS sessions ses-{', ses-'.join(self.session_labels())}) while one glioma grows: {self.model} "
                f"tumour-core volume growth (Laird 1964; Benzekry et al. 2014), day-0 core "
                f"{self.initial_volume_ml[0]:g}-{self.initial_volume_ml[1]:g} mL, initial specific growth rate "
                f"{100 * lo:.3g}-{100 * hi:.3g} %/day (Stensjoen et al. 2015: median 1.4 %/day){cap}. The painted core "
                f"(necrosis + enhancing rim) is solved to the model's volume within {100 * self.volume_tolerance:g} %; "
                f"mass effect (boundary displacement {self.expansive_fraction[0]:g}-{self.expansive_fraction[1]:g} x "
                f"radius) and oedema reach ({self.oedema_ratio[0]:g}-{self.oedema_ratio[1]:g} x radius) grow with "
                "the tumour. Each session has its own images, label map and masks; sessions differ by the tumour "
                "and by scan noise.")


def _rate_range(rate: tuple[float, float] | None, doubling: tuple[float, float] | None) -> tuple[float, float]:
    if rate is not None:
        return rate
    if doubling is not None:
        return (math.log(2.0) / doubling[1], math.log(2.0) / doubling[0])
    return DEFAULT_RATE_PER_DAY


def _growth_sampler(model: str, v0: tuple[float, float], rate: tuple[float, float], vmax: tuple[float, float]) -> Any:
    from radsynth.pathology.tumour_growth import RandomTumourGrowth

    return RandomTumourGrowth(model=model, initial_volume_ml=v0, specific_growth_rate_per_day=rate,
                              max_volume_ml=vmax)


def check_progression_spec(spec: Any) -> None:
    """Cohort-level checks: every subject carries the growing tumour, none a stroke (a static second lesion
    would be sampled on a different map at every timepoint)."""
    tumour = spec.labels.get("tumour")
    if tumour != 1.0:
        raise RadsynthInputError("labels.tumour", tumour, "1 with generator.params.progression (every subject of a "
                                 "progression cohort carries the growing tumour)")
    stroke = spec.labels.get("stroke", 0.0)
    if stroke:
        raise RadsynthInputError("labels.stroke", stroke, "0 or absent with generator.params.progression")


def generate_progression(generator: Any, plan: Any) -> Any:
    """One longitudinal subject of a :class:`~radsynth.physics.mri.brain_generator.BrainMRIGenerator`
    whose config has ``progression``: a :class:`~radsynth.core.records.SubjectRecord` with one
    :class:`~radsynth.core.records.SessionRecord` per timepoint (see module docstring)."""
    from radsynth import __version__
    from radsynth.anatomy.plausibility import check_plausibility
    from radsynth.core import labels as L
    from radsynth.core.records import Provenance, SessionRecord, SubjectRecord
    from radsynth.core.rng import child_rng
    from radsynth.pathology.glioma import Glioma
    from radsynth.pathology.glioma_progression import ventricle_mass_effect

    cfg = generator.config
    prog: ProgressionParams = cfg.progression
    if not plan.labels.get("tumour"):
        raise RadsynthInputError("labels.tumour", plan.labels.get("tumour"),
                                 "True for every subject when generator.params.progression is set")
    if plan.labels.get("stroke"):
        raise RadsynthInputError("labels.stroke", True, "False or absent when generator.params.progression is set")
    sampled: dict[str, Any] = {}
    anatomy, affine = generator._anatomy(plan, sampled)
    flags = check_plausibility(anatomy, affine, L.LABEL_NAMES, "brain")
    growing = prog.sampler(mass_effect=cfg.tumour.mass_effect).sample(
        anatomy, affine, child_rng(plan.seed, "tumour"), last_day=float(prog.timepoints_days[-1]))
    timepoints: list[dict[str, Any]] = []
    sampled["progression"] = {"glioma_progression": growing.to_dict(), "timepoints": timepoints}
    sessions = []
    radius = 1.0
    for day, label in zip(prog.timepoints_days, prog.session_labels()):
        painted, finding = growing.at(anatomy, affine, float(day), min_radius_mm=radius)
        measured = finding.pop("progression")
        radius = measured["radius_mm"]
        measured.update(ventricle_mass_effect(anatomy, painted, affine, Glioma.from_dict(finding["params"])))
        finding.update(session=f"ses-{label}", time_days=float(day))
        scan: dict[str, Any] = {}
        images, masks, out_affine = generator._acquire(plan, painted, affine, [finding], sampled,
                                                       scan=f"@ses-{label}", sampled_scan=scan)
        core = next((m for m in masks if m.name == "tumour_core"), None)
        if core is not None:
            written = float(np.count_nonzero(core.array)) * float(abs(np.linalg.det(out_affine[:3, :3]))) / 1000.0
            measured["core_volume_output_grid_ml"] = written
        finding["progression"] = dict(measured)
        timepoints.append({"session": f"ses-{label}", **measured})
        sessions.append(SessionRecord(label=label, time_days=float(day), affine=out_affine, images=images,
                                      masks=masks, findings=[finding], measurements=dict(measured), sampled=scan))
    provenance = Provenance(generator=generator.name, generator_version=generator.version,
                            config=generator.config_dict(), seed=plan.seed, sampled=sampled,
                            radsynth_version=__version__)
    return SubjectRecord(
        subject_id=plan.subject_id, subject_index=plan.index, affine=sessions[0].affine, images=[], masks=[],
        labels=dict(plan.labels), attributes={**plan.attributes, "anatomy_source": sampled["labelmap"]["name"]},
        provenance=provenance, findings=[], plausibility={"reference": "brain", "flags": flags}, sessions=sessions,
    )
