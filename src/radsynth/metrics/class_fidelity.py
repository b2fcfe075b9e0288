"""Class fidelity of a class-conditional generator: does an independent classifier agree with the asked class?

For every class ``c`` the generator was asked for, the fraction of its samples
that a reference classifier (trained on real data only) labels ``c``, with a
Wilson score interval (Wilson, JASA 22:209-212, 1927; recommended over the
Wald interval for proportions near 0 or 1 by Brown, Cai & DasGupta, Statistical
Science 16:101-133, 2001).

Three layers: :class:`ClassFidelity` (classifier + class names, callable on
images), :func:`class_fidelity` (pure function of predictions) and
:func:`wilson_interval` (the maths).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import norm

from radsynth.core.errors import RadsynthInputError


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``successes / n`` (two-sided ``confidence``)."""
    if n < 1:
        raise RadsynthInputError("n", n, "at least one trial")
    if not 0 <= successes <= n:
        raise RadsynthInputError("successes", successes, f"an integer in [0, {n}]")
    if not 0.0 < confidence < 1.0:
        raise RadsynthInputError("confidence", confidence, "a number in (0, 1)")
    z = float(norm.ppf(0.5 + confidence / 2.0))
    p = successes / n
    den = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


def class_fidelity(
    predicted: Sequence[int] | np.ndarray, asked: Sequence[int] | np.ndarray, class_names: Sequence[str],
    confidence: float = 0.95,
) -> dict[str, dict[str, Any]]:
    """Per asked class: ``n``, ``agree`` (count labelled as asked), ``rate`` and its Wilson ``ci``."""
    p = np.asarray(predicted, dtype=np.int64).ravel()
    a = np.asarray(asked, dtype=np.int64).ravel()
    if p.shape != a.shape:
        raise RadsynthInputError("predicted", f"{p.size} predictions", f"one per asked label ({a.size})")
    k = len(class_names)
    for name, v in (("predicted", p), ("asked", a)):
        if v.size and (v.min() < 0 or v.max() >= k):
            raise RadsynthInputError(name, sorted(set(v.tolist()))[:5], f"class indices 0..{k - 1}")
    out: dict[str, dict[str, Any]] = {}
    for i, c in enumerate(class_names):
        m = a == i
        n = int(m.sum())
        if n == 0:
            continue
        agree = int((p[m] == i).sum())
        lo, hi = wilson_interval(agree, n, confidence)
        out[c] = {"n": n, "agree": agree, "rate": agree / n, "ci": [lo, hi], "confidence": confidence}
    return out


class ClassFidelity:
    """Class fidelity judged by a :class:`radsynth.metrics.classifier.ReferenceClassifier`.

    ``class_map`` maps generator class names to the classifier's (case-insensitive
    identical names by default).
    """

    def __init__(self, classifier: Any, class_map: dict[str, str] | None = None) -> None:
        self.classifier = classifier
        self.class_map = dict(class_map or {})

    def _judge_index(self, name: str) -> int:
        target = self.class_map.get(name, name).lower()
        names = [c.lower() for c in self.classifier.class_names]
        if target not in names:
            raise RadsynthInputError("class", name, f"a class of the reference classifier: {list(self.classifier.class_names)}")
        return names.index(target)

    def __call__(self, images01: np.ndarray, asked: Sequence[str], confidence: float = 0.95) -> dict[str, dict[str, Any]]:
        """``images01``: ``(N, H, W)`` grey images in [0, 1]; ``asked``: the class name asked for each image."""
        if len(asked) != len(images01):
            raise RadsynthInputError("asked", f"{len(asked)} labels", f"one per image ({len(images01)})")
        idx = np.array([self._judge_index(a) for a in asked], dtype=np.int64)
        pred = self.classifier.predict(images01)
        res = class_fidelity(pred, idx, list(self.classifier.class_names), confidence)
        inv = {self._judge_index(a): a for a in dict.fromkeys(asked)}
        return {inv[i]: res[c] for i, c in enumerate(self.classifier.class_names) if c in res}
