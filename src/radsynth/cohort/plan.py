"""Plan a cohort: decide each subject's seed, labels, attributes and formats.

Every subject is a pure function of (spec, subject index). Label prevalences are
met exactly (``round(p * N)`` positives, chosen by a seeded permutation that
depends on the spec only), so a spec asking for 30 % tumours gets 30 %.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np

from radsynth.cohort.generator import SubjectPlan
from radsynth.cohort.spec import CategoricalDist, CohortSpec, ConstantDist, NormalDist, UniformDist
from radsynth.core.rng import stream_id, subject_rng, subject_seed


def subject_id(index: int, n_subjects: int) -> str:
    width = max(4, len(str(n_subjects)))
    return f"sub-{index + 1:0{width}d}"


def _positive_set(seed: int, stream: str, n: int, k: int) -> frozenset[int]:
    return frozenset(_permutation(seed, stream, n)[:k])


def _positives(spec: CohortSpec, name: str) -> frozenset[int]:
    """Subjects positive for ``name``: round(p * N) of them, disjoint within an exclusive group."""
    n = spec.n_subjects
    for group in spec.exclusive_labels:
        if name in group:
            order = _permutation(spec.seed, "exclusive:" + "|".join(group), n)
            start = sum(int(round(spec.labels[g] * n)) for g in group[: group.index(name)])
            k = int(round(spec.labels[name] * n))
            return frozenset(order[start:start + k])
    return _positive_set(spec.seed, f"label:{name}", n, int(round(spec.labels[name] * n)))


@lru_cache(maxsize=64)
def _permutation(seed: int, stream: str, n: int) -> tuple[int, ...]:
    rng = np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(2**31 - 1, stream_id(stream))))
    return tuple(int(i) for i in rng.permutation(n))


def _sample_attribute(dist: Any, rng: np.random.Generator) -> Any:
    if isinstance(dist, UniformDist):
        x = dist.low + (dist.high - dist.low) * rng.random()
        return int(math.floor(x)) if dist.integer else float(round(x, 3))
    if isinstance(dist, NormalDist):
        x = rng.normal(dist.mean, dist.std)
        lo = -math.inf if dist.low is None else dist.low
        hi = math.inf if dist.high is None else dist.high
        return float(round(min(max(x, lo), hi), 3))
    if isinstance(dist, CategoricalDist):
        keys = sorted(dist.values)
        p = np.array([dist.values[k] for k in keys], dtype=np.float64)
        return keys[int(rng.choice(len(keys), p=p / p.sum()))]
    if isinstance(dist, ConstantDist):
        return dist.value
    raise TypeError(f"unknown distribution {type(dist).__name__}")


def plan_subject(spec: CohortSpec, index: int) -> SubjectPlan:
    """The plan of subject ``index`` (0-based) of ``spec``."""
    n = spec.n_subjects
    if not 0 <= index < n:
        raise IndexError(f"subject index {index} outside 0..{n - 1}")
    labels = {name: index in _positives(spec, name) for name in sorted(spec.labels)}
    attributes = {
        name: _sample_attribute(dist, subject_rng(spec.seed, index, f"attribute:{name}"))
        for name, dist in sorted(spec.attributes.items())
    }
    formats = [f for f in ("nifti", "png") if f in spec.outputs.formats]
    if "dicom" in spec.outputs.formats:
        k = spec.outputs.dicom_subjects
        if k is None or index in _positive_set(spec.seed, "dicom", n, min(k, n)):
            formats.append("dicom")
    return SubjectPlan(
        index=index,
        subject_id=subject_id(index, n),
        seed=subject_seed(spec.seed, index),
        labels=labels,
        attributes=attributes,
        formats=tuple(formats),
        extra={"watermark_payload": spec.hash} if spec.outputs.watermark else {},
    )


def plan_cohort(spec: CohortSpec) -> list[SubjectPlan]:
    return [plan_subject(spec, i) for i in range(spec.n_subjects)]
