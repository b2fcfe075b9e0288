"""Tumour volume growth models: volume (mL) as a pure function of time (days).

Two classical models of untreated solid-tumour growth (reviewed and compared on
experimental data by Benzekry et al., "Classical mathematical models for
description and prediction of experimental tumor growth", PLoS Comput Biol
2014; 10(8): e1003800):

* ``exponential``: ``V(t) = V0 exp(alpha t)``, constant specific growth rate
  ``alpha`` (1/day), volume doubling time ``T_d = ln 2 / alpha``.
* ``gompertz`` (Laird, "Dynamics of tumour growth", Br J Cancer 1964; 18: 490-502):
  ``V(t) = V0 exp(ln(Vmax / V0) (1 - exp(-b t)))``, growth that starts at the
  specific rate ``alpha = b ln(Vmax / V0)`` and slows towards the carrying
  capacity ``Vmax``. Here the model is parameterised by ``alpha`` (the initial
  specific growth rate, the quantity clinical studies report) and ``Vmax``, so
  ``b = alpha / ln(Vmax / V0)``; both models then grow at the same rate at t = 0.

Properties (tested): ``V(0) = V0``; ``V`` strictly increasing in t; Gompertz
``V0 <= V(t) < Vmax``; exponential ``V(T_d) = 2 V0``.

Clinical scale of the rate (untreated glioblastoma, repeated pre-operative MRI):
Stensjøen et al., "Growth dynamics of untreated glioblastomas in vivo",
Neuro-Oncology 2015; 17(10): 1402-1411 (106 patients): median specific growth
rate 1.4 %/day, volume doubling time 49.6 days, and a Gompertz curve fitted the
population best; Ellingson et al., Cancer 2016; 122: 1718-1727 (95 patients):
median 2.1 %/day, doubling time 21.1 days (contrast-enhancing volume). The
default ranges of :class:`RandomTumourGrowth` span about half to one and a half
times the Stensjøen median.

Random component -> deterministic twin: :class:`RandomTumourGrowth` (ranges)
draws a :class:`TumourGrowth` (concrete parameters, ``to_dict`` / ``from_dict``
JSON round trip) whose :meth:`TumourGrowth.volume_ml` is deterministic.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from radsynth.core.checks import in_range, range_pair
from radsynth.core.errors import RadsynthInputError

__all__ = ["GROWTH_MODELS", "TumourGrowth", "RandomTumourGrowth", "STENSJOEN_2015_SGR_PER_DAY"]

GROWTH_MODELS = ("gompertz", "exponential")
#: Median specific growth rate of untreated glioblastoma (1/day), Stensjøen et al. 2015.
STENSJOEN_2015_SGR_PER_DAY = 0.014
#: Accepted parameter limits: initial volume (mL), carrying capacity (mL), specific growth rate (1/day).
VOLUME_LIMITS_ML = (0.01, 1500.0)
RATE_LIMITS_PER_DAY = (1e-4, 0.2)
#: Gompertz needs Vmax / V0 > this (ln(Vmax / V0) > 0 with some margin).
MIN_CAPACITY_RATIO = 1.01


def _check_model(model: Any) -> str:
    if model not in GROWTH_MODELS:
        raise RadsynthInputError("model", model, f"one of {list(GROWTH_MODELS)}")
    return str(model)


@dataclass(frozen=True)
class TumourGrowth:
    """Concrete growth-model parameters (deterministic twin of :class:`RandomTumourGrowth`).

    ``model`` "gompertz" or "exponential"; ``initial_volume_ml`` V0 at t = 0 days;
    ``specific_growth_rate_per_day`` alpha, the specific growth rate dV/dt / V at
    t = 0 (1/day); ``max_volume_ml`` Vmax, the Gompertz carrying capacity (mL;
    ignored, and may be None, for the exponential model).
    """

    model: str
    initial_volume_ml: float
    specific_growth_rate_per_day: float
    max_volume_ml: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", _check_model(self.model))
        v0 = in_range("initial_volume_ml", self.initial_volume_ml, *VOLUME_LIMITS_ML, unit="mL")
        object.__setattr__(self, "initial_volume_ml", v0)
        rate = in_range("specific_growth_rate_per_day", self.specific_growth_rate_per_day, *RATE_LIMITS_PER_DAY,
                        unit="per day")
        object.__setattr__(self, "specific_growth_rate_per_day", rate)
        if self.model == "gompertz":
            if self.max_volume_ml is None:
                raise RadsynthInputError("max_volume_ml", None, "the Gompertz carrying capacity in mL")
            vmax = in_range("max_volume_ml", self.max_volume_ml, *VOLUME_LIMITS_ML, unit="mL")
            if vmax < MIN_CAPACITY_RATIO * v0:
                raise RadsynthInputError("max_volume_ml", self.max_volume_ml,
                                         f"a carrying capacity > {MIN_CAPACITY_RATIO} * initial_volume_ml "
                                         f"(= {MIN_CAPACITY_RATIO * v0:g} mL)")
            object.__setattr__(self, "max_volume_ml", vmax)
        elif self.max_volume_ml is not None:
            object.__setattr__(self, "max_volume_ml", float(self.max_volume_ml))

    # ------------------------------------------------------------------ twin
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TumourGrowth:
        return cls(**{k: d[k] for k in ("model", "initial_volume_ml", "specific_growth_rate_per_day")},
                   max_volume_ml=d.get("max_volume_ml"))

    # ----------------------------------------------------------------- model
    @property
    def gompertz_rate_per_day(self) -> float | None:
        """Gompertz deceleration rate b = alpha / ln(Vmax / V0) (1/day); None for the exponential model."""
        if self.model != "gompertz":
            return None
        return self.specific_growth_rate_per_day / math.log(self.max_volume_ml / self.initial_volume_ml)

    @property
    def doubling_time_days(self) -> float:
        """Volume doubling time at t = 0, ln 2 / alpha (days); the exponential model's constant doubling time."""
        return math.log(2.0) / self.specific_growth_rate_per_day

    def volume_ml(self, t_days: Any) -> Any:
        """Tumour volume V(t) in mL at ``t_days`` (>= 0; a number or an array, float64)."""
        t = np.asarray(t_days, dtype=np.float64)
        if not np.all(np.isfinite(t)) or np.any(t < 0):
            raise RadsynthInputError("t_days", t_days, "finite times >= 0 days")
        if self.model == "exponential":
            v = self.initial_volume_ml * np.exp(self.specific_growth_rate_per_day * t)
        else:
            capacity_log = math.log(self.max_volume_ml / self.initial_volume_ml)
            # -expm1(-b t) = 1 - exp(-b t), accurate for small b t
            v = self.initial_volume_ml * np.exp(capacity_log * -np.expm1(-self.gompertz_rate_per_day * t))
        return float(v) if v.ndim == 0 else v

    def describe(self) -> str:
        """One line for dataset cards and reports."""
        base = (f"V0 {self.initial_volume_ml:.3g} mL, initial specific growth rate "
                f"{100 * self.specific_growth_rate_per_day:.3g} %/day (doubling time {self.doubling_time_days:.3g} days)")
        if self.model == "gompertz":
            return f"Gompertz: {base}, carrying capacity {self.max_volume_ml:.4g} mL"
        return f"exponential: {base}"


@dataclass(frozen=True)
class RandomTumourGrowth:
    """Ranges (low, high) of :class:`TumourGrowth` parameters; :meth:`sample` draws one (uniformly).

    Defaults: V0 5-15 mL (glioblastoma core volumes at diagnosis are mostly tens of mL), initial
    specific growth rate 0.7-2.1 %/day (around the 1.4 %/day median of Stensjøen et al. 2015),
    Gompertz carrying capacity 80-150 mL.
    """

    model: str = "gompertz"
    initial_volume_ml: tuple[float, float] = (5.0, 15.0)
    specific_growth_rate_per_day: tuple[float, float] = (0.007, 0.021)
    max_volume_ml: tuple[float, float] = (80.0, 150.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", _check_model(self.model))
        for name, (lo, hi) in (("initial_volume_ml", VOLUME_LIMITS_ML), ("max_volume_ml", VOLUME_LIMITS_ML),
                               ("specific_growth_rate_per_day", RATE_LIMITS_PER_DAY)):
            object.__setattr__(self, name, range_pair(name, getattr(self, name), lo, hi))
        if self.model == "gompertz" and self.max_volume_ml[0] < MIN_CAPACITY_RATIO * self.initial_volume_ml[1]:
            raise RadsynthInputError(
                "max_volume_ml", list(self.max_volume_ml),
                f"a range whose low end exceeds {MIN_CAPACITY_RATIO} * the high end of initial_volume_ml "
                f"(= {MIN_CAPACITY_RATIO * self.initial_volume_ml[1]:g} mL)")

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RandomTumourGrowth:
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()})

    def largest_volume_ml(self, t_days: float) -> float:
        """The largest V(t_days) any draw can reach (upper ends of V0, rate and capacity; mL)."""
        top = TumourGrowth(self.model, self.initial_volume_ml[1], self.specific_growth_rate_per_day[1],
                           self.max_volume_ml[1] if self.model == "gompertz" else None)
        return float(top.volume_ml(t_days))

    def sample(self, rng: np.random.Generator) -> TumourGrowth:
        u = lambda rg: float(rng.uniform(*rg))  # noqa: E731
        v0 = u(self.initial_volume_ml)
        rate = u(self.specific_growth_rate_per_day)
        vmax = u(self.max_volume_ml)  # drawn for both models, so the stream does not depend on the model
        return TumourGrowth(self.model, v0, rate, vmax if self.model == "gompertz" else None)
