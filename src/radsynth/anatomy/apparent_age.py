"""Apparent age of a label map from its lateral-ventricle fraction of intracranial volume.

The real label maps radsynth builds subjects on (SynthSeg training maps, Billot et al.
2023) come from adults whose ages are not published; their lateral ventricles range
from 6 to 88 mL. Atrophy must start from the age the anatomy *looks*, not from a fixed
age: :func:`apparent_age` inverts a population median curve of

    f(age) = lateral-ventricle volume / intracranial volume (ICV)

(lateral ventricles incl. temporal horns, FreeSurfer labels 4, 5, 43, 44; ICV = every
intracranial label: brain, ventricles, extra-cerebral CSF, choroid plexus, lesions). The
ratio to ICV factors out head size (Whitwell et al., AJNR 22:1483-1489, 2001), and ICV
does not change with age in adults (Matsumae et al., J Neurosurg 84:982-991, 1996), so
ventricular growth shows directly in f. Voxel size cancels in the ratio.

Median curve (log-scale, accelerating after 50 y)::

    ln f(a) = ln F20 + G (a - 20) + C max(a - 50, 0)^2,   20 <= a <= 100

* F20 = 0.9 % of ICV at 20 y (~13.5 mL in a 1.5 L skull): young adults' lateral
  ventricles are ~10-20 mL (Blatter et al., AJNR 16:241-251, 1995, normative database
  16-65 y; Matsumae 1996);
* G = 1.5 %/year (~16 % per decade) up to 50 y: ventricular volume grows by a roughly
  constant ~20 % per decade in early and middle adulthood, then "precipitously"
  (Kaye et al., J Am Geriatr Soc 40:225-231, 1992, CT in optimally healthy adults);
* C: acceleration after 50 y (Scahill et al., Arch Neurol 60:989-994, 2003: ventricular
  expansion rate rises with age; Fjell et al., J Neurosci 29:15223-15231, 2009: several
  % per year in healthy 60-91 y olds), fixed by the anchor f(80) = 3.0 % of ICV
  (~45 mL in a 1.5 L skull; brief's norm 30-60 mL at 70-80 y; Bethlehem et al., Nature
  604:525-533, 2022: ventricular volume rises monotonically, accelerating late in life).

The result: 0.9 / 1.13 / 1.41 / 1.91 / 3.0 / 4.4 % of ICV at 20 / 35 / 50 / 65 / 80 / 90 y
(13.5 / 17 / 21 / 29 / 45 / 66 mL at 1.5 L): a growth rate of 2.9 %/year at 70 and
3.5 %/year at 80. This is a literature-guided curve, not a fit to one data set.
Population spread around the median: lateral-ventricle volume varies strongly between
healthy people of one age; :data:`POPULATION_LOG_SD` = 0.4 (log-normal, CV ~40 %) is
used for tolerance bands only.

Estimates are clipped to [20, 90] y (:data:`AGE_RANGE_YEARS`): a map with smaller
ventricles than the 20-year median is "20"; larger than the 90-year median is "90"
(such maps are likely old or demented subjects; their surplus is kept as individual
variation by :class:`radsynth.anatomy.atrophy.Atrophy`).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np

from radsynth.core.errors import RadsynthInputError
from radsynth.core.labels import BRAIN, CHOROID_PLEXUS

#: Lateral ventricles incl. temporal horns (FreeSurfer Lateral-Ventricle + Inf-Lat-Vent).
LATERAL_VENTRICLES = frozenset({4, 5, 43, 44})
#: Intracranial labels (ICV): brain, ventricles, extra-cerebral CSF, choroid plexus, lesions.
INTRACRANIAL_LABELS = frozenset(BRAIN | CHOROID_PLEXUS)

#: Range of apparent ages (years) returned by the estimators.
AGE_RANGE_YEARS = (20.0, 90.0)
#: Ages (years) over which the median curve is defined; outside, the age is clamped
#: (no development below 20 y; beyond 90 y the formula is extrapolated up to 100 y).
CURVE_RANGE_YEARS = (20.0, 100.0)

#: Median lateral-ventricle fraction of ICV at 20 y (Blatter 1995; Matsumae 1996).
F20 = 0.009
#: Log growth rate (1/year) before the acceleration (Kaye 1992: ~20 %/decade).
GROWTH_PER_YEAR = 0.015
#: Age (years) after which growth accelerates (Kaye 1992; Scahill 2003).
ACCELERATION_START_YEARS = 50.0
#: Anchor: median fraction of ICV at 80 y (~45 mL at 1.5 L ICV).
F80 = 0.030
#: Quadratic log-acceleration (1/year^2), fixed by the anchor F80.
ACCELERATION_PER_YEAR2 = (math.log(F80 / F20) - GROWTH_PER_YEAR * 60.0) / (80.0 - ACCELERATION_START_YEARS) ** 2
#: Log-normal spread of the fraction between healthy people of one age (CV ~40 %).
POPULATION_LOG_SD = 0.4


def _check_age(age_years: float, field: str = "age_years") -> float:
    ok = isinstance(age_years, (int, float, np.integer, np.floating)) and not isinstance(age_years, bool)
    if not ok or not (0.0 <= float(age_years) <= 120.0):
        raise RadsynthInputError(field, age_years, "a number in [0, 120] years")
    return float(age_years)


def log_median_ventricle_fraction(age_years: float) -> float:
    """ln of the median lateral-ventricle fraction of ICV at ``age_years``."""
    lo, hi = CURVE_RANGE_YEARS
    a = min(max(_check_age(age_years), lo), hi)
    late = max(a - ACCELERATION_START_YEARS, 0.0)
    return math.log(F20) + GROWTH_PER_YEAR * (a - lo) + ACCELERATION_PER_YEAR2 * late * late


def median_ventricle_fraction(age_years: float) -> float:
    """Population median lateral-ventricle volume / ICV (dimensionless) at ``age_years``."""
    return math.exp(log_median_ventricle_fraction(age_years))


def median_ventricle_ratio(age_years: float, reference_age_years: float) -> float:
    """Median lateral-ventricle volume at ``age_years`` over that at ``reference_age_years``."""
    return math.exp(log_median_ventricle_fraction(age_years) - log_median_ventricle_fraction(reference_age_years))


def age_for_ventricle_fraction(fraction: float) -> float:
    """Age (years, clipped to :data:`AGE_RANGE_YEARS`) at which the median curve equals ``fraction``.

    Closed-form inverse of the piecewise curve (linear in log before 50 y, quadratic after).
    """
    ok = isinstance(fraction, (int, float, np.integer, np.floating)) and not isinstance(fraction, bool)
    if not ok or not (0.0 <= float(fraction) <= 1.0) or math.isnan(float(fraction)):
        raise RadsynthInputError("fraction", fraction, "a ventricle fraction of intracranial volume in [0, 1]")
    lo, hi = AGE_RANGE_YEARS
    if fraction <= 0.0:
        return lo
    y = math.log(fraction) - math.log(F20)  # log growth since 20 y
    y_knee = GROWTH_PER_YEAR * (ACCELERATION_START_YEARS - CURVE_RANGE_YEARS[0])
    if y <= y_knee:
        age = CURVE_RANGE_YEARS[0] + y / GROWTH_PER_YEAR
    else:  # C x^2 + G x - (y - y_knee) = 0, x = age - 50
        g, c = GROWTH_PER_YEAR, ACCELERATION_PER_YEAR2
        x = (-g + math.sqrt(g * g + 4.0 * c * (y - y_knee))) / (2.0 * c)
        age = ACCELERATION_START_YEARS + x
    return float(min(max(age, lo), hi))


def ventricle_fraction(labels: np.ndarray) -> float:
    """Lateral-ventricle voxels / intracranial voxels of a label map (0 if no intracranial label)."""
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise RadsynthInputError("labels", f"array of shape {labels.shape}", "a 3D label map")
    # one bincount instead of two np.isin passes over the volume
    lab = labels.ravel()
    if lab.dtype.kind not in "iu":
        raise RadsynthInputError("labels", str(lab.dtype), "an integer label map")
    lo = int(lab.min()) if lab.size else 0
    counts = np.bincount((lab.astype(np.int64) - lo), minlength=1)

    def total(ids) -> int:
        idx = np.array([i - lo for i in ids if 0 <= i - lo < counts.size], dtype=np.int64)
        return int(counts[idx].sum()) if idx.size else 0

    icv = total(INTRACRANIAL_LABELS)
    return total(LATERAL_VENTRICLES) / icv if icv else 0.0


def apparent_age(labels: np.ndarray) -> float:
    """Apparent age (years, in [20, 90]) of a label map from its lateral-ventricle fraction."""
    return age_for_ventricle_fraction(ventricle_fraction(labels))


@functools.lru_cache(maxsize=64)
def _apparent_age_of_file(path: str) -> float:
    from radsynth.anatomy.labelmaps import load_labelmap_cached

    labels, _ = load_labelmap_cached(path)
    return apparent_age(labels)


def apparent_age_of_file(path: str | Path) -> float:
    """:func:`apparent_age` of a label-map file on the working grid, memoised per resolved path."""
    return _apparent_age_of_file(str(Path(path).expanduser().resolve()))
