"""Patient-level sampling for the utility study: fractions of patients, validation splits, duplication.

All by patient (a patient's images are never split); see :mod:`radsynth.metrics.utility` for how
the study uses them. A patient's class is the majority label of its images
(:func:`patient_strata`); fractions are of patients per class, nested for a fixed seed
(:func:`sample_patient_fraction`); validation takes ``val_fraction`` of each class's patients
(:func:`split_train_val`, via :func:`radsynth.generators.common.data.patient_split`); the duplicated
control repeats indices to a target count (:func:`duplicate_to_count`); seeded class-stratified
subsets keep class proportions by the largest-remainder rule (:func:`stratified_subset`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from radsynth.core.errors import RadsynthInputError
from radsynth.metrics.patient_bootstrap import _check_groups


def patient_strata(labels: np.ndarray, patients: np.ndarray) -> dict[str, int]:
    """Class of each patient: the majority label of its images (ties: the lower label)."""
    out: dict[str, int] = {}
    counts: dict[str, np.ndarray] = {}
    for p, yi in zip(patients, labels, strict=True):
        c = counts.setdefault(str(p), np.zeros(2, np.int64))
        c[int(yi)] += 1
    for p, c in counts.items():
        out[p] = int(np.argmax(c))
    return out


def sample_patient_fraction(
    labels: np.ndarray,
    patients: Sequence[Any] | np.ndarray,
    fraction: float,
    seed: int = 0,
    *,
    min_patients_per_class: int = 2,
) -> np.ndarray:
    """Sorted image indices of a class-stratified, seeded sample of whole patients.

    Per class (:func:`patient_strata`), ``max(min_patients_per_class, ceil(fraction * n))``
    of its ``n`` patients are kept, the first ones of a permutation drawn from
    ``np.random.default_rng([seed, class])`` over the sorted patient ids, so that for a
    fixed seed smaller fractions are subsets of larger ones.
    """
    if not (isinstance(fraction, (int, float)) and 0.0 < fraction <= 1.0):
        raise RadsynthInputError("fraction", fraction, "a number in (0, 1]")
    y = np.asarray(labels).ravel().astype(np.int64)
    g = _check_groups(patients, y.size, "patients")
    strata = patient_strata(y, g)
    keep: set[str] = set()
    for c in (0, 1):
        pats = sorted(p for p, s in strata.items() if s == c)
        if len(pats) < min_patients_per_class:
            raise RadsynthInputError(
                "patients", f"{len(pats)} patients of class {c}",
                f"at least {min_patients_per_class} patients per class (one for training, one for validation)",
            )
        k = min(len(pats), max(min_patients_per_class, math.ceil(fraction * len(pats) - 1e-9)))
        order = np.random.default_rng([int(seed), c]).permutation(len(pats))
        keep.update(pats[i] for i in order[:k])
    return np.flatnonzero(np.array([p in keep for p in g], dtype=bool))


def split_train_val(
    labels: np.ndarray, patients: Sequence[Any] | np.ndarray, indices: np.ndarray, val_fraction: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``(train, val)`` subsets of ``indices``, whole patients, ``val_fraction`` of each class's patients.

    Uses :func:`radsynth.generators.common.data.patient_split` per patient class (at least one
    validation patient per class when the class has two or more).
    """
    from radsynth.generators.common.data import patient_split

    y = np.asarray(labels).ravel().astype(np.int64)
    g = _check_groups(patients, y.size, "patients")
    idx = np.asarray(indices, dtype=np.int64)
    strata = patient_strata(y[idx], g[idx])
    val_p: set[str] = set()
    for c in (0, 1):
        pats = sorted(p for p, s in strata.items() if s == c)
        _, va = patient_split(pats, val_fraction, seed)
        val_p.update(pats[i] for i in va)
    is_val = np.array([p in val_p for p in g[idx]], dtype=bool)
    return idx[~is_val], idx[is_val]


def duplicate_to_count(indices: np.ndarray, n_target: int, seed: int = 0) -> np.ndarray:
    """``indices`` repeated to exactly ``n_target`` entries: whole copies + a seeded random remainder.

    Every index appears ``n_target // n`` or ``n_target // n + 1`` times (no replacement inside
    the remainder), so the class mix stays that of ``indices`` up to one image per class per copy.
    """
    idx = np.asarray(indices, dtype=np.int64).ravel()
    if idx.size == 0:
        raise RadsynthInputError("indices", "empty", "at least one index to duplicate")
    if n_target < idx.size:
        raise RadsynthInputError("n_target", n_target, f"an integer >= the number of indices ({idx.size})")
    k, r = divmod(int(n_target), idx.size)
    extra = np.random.default_rng(seed).choice(idx, size=r, replace=False) if r else np.empty(0, np.int64)
    return np.sort(np.concatenate([np.tile(idx, k), extra]))


def stratified_subset(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` indices of ``y`` without replacement, class proportions kept (largest remainder)."""
    if n >= y.size:
        return np.arange(y.size)
    classes, counts = np.unique(y, return_counts=True)
    quota = counts * n / y.size
    take = np.floor(quota).astype(int)
    for i in np.argsort(-(quota - take), kind="stable")[: n - take.sum()]:
        take[i] += 1
    out = [rng.choice(np.flatnonzero(y == c), size=t, replace=False) for c, t in zip(classes, take, strict=True)]
    return np.sort(np.concatenate(out))

