"""Per-subgroup performance of a binary classifier: AUC, accuracy, TPR, FPR with CIs, and the gaps between groups.

Given scores, labels and any attribute columns (sex, age band, site, scanner, synthetic
vs real, ...), every group of every attribute gets its size, its AUC with a bootstrap
CI, and accuracy, true-positive rate (sensitivity) and false-positive rate at the
decision threshold with Wilson score intervals (Wilson, JASA 22:209-212, 1927;
:func:`radsynth.metrics.class_fidelity.wilson_interval`). Per attribute and metric, the
largest difference between groups is reported: the TPR and FPR gaps are the two parts of
"equalized odds" (Hardt, Price & Srebro, NeurIPS 2016, arXiv:1610.02413); the FPR/TPR gap
by sex, age, race and insurance is how under-diagnosis of chest X-ray classifiers was
shown (Seyyed-Kalantari et al., Nature Medicine 27:2176-2182, 2021).

Small groups: a group with fewer than ``min_n`` images (default 30) is flagged
``too_small`` and left out of the gap (``gap``); ``gap_all_groups`` includes it. A rate
whose denominator is zero (TPR of a group without positives, AUC of a group with one
class) is None and takes no part in the gap. Missing attribute values (None, NaN, "")
form a group named ``"unknown"``.

CIs: the AUC CI is the stratified percentile bootstrap of
:func:`radsynth.metrics.roc.bootstrap_auc_ci` (images), or, when ``patients`` is given,
the patient (cluster) bootstrap of :func:`radsynth.metrics.patient_bootstrap.evaluate_scores`.
Wilson intervals treat images as independent; with several images per patient they are
too narrow. The gap itself has no CI: read it together with the groups' CIs (a gap
between overlapping CIs is weak evidence).

Three layers: :class:`SubgroupAudit` (a classifier + settings, callable on images);
:func:`subgroup_metrics` (pure function of scores) -> :class:`FairnessReport`; the maths
in :mod:`radsynth.metrics.roc`, :mod:`radsynth.metrics.class_fidelity` and
:mod:`radsynth.metrics.utility`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from radsynth.core.errors import RadsynthInputError

GAP_METRICS = ("auc", "accuracy", "tpr", "fpr")
UNKNOWN = "unknown"


def _group_values(values: Any, n: int, name: str) -> np.ndarray:
    v = np.asarray(values, dtype=object).ravel()
    if v.shape != (n,):
        raise RadsynthInputError(f"attributes['{name}']", f"{v.size} values", f"one value per image ({n})")
    out = []
    for a in v:
        if a is None or (isinstance(a, float) and math.isnan(a)) or (isinstance(a, str) and not a.strip()):
            out.append(UNKNOWN)
        else:
            out.append(str(a).strip())
    return np.array(out, dtype=object)


def _rate(k: int, n: int, level: float) -> tuple[float | None, list[float] | None]:
    from radsynth.metrics.class_fidelity import wilson_interval

    if n == 0:
        return None, None
    return k / n, list(wilson_interval(int(k), int(n), level))


def _group_stats(s: np.ndarray, y: np.ndarray, pred: np.ndarray, patients: np.ndarray | None,
                 rng: np.random.Generator, n_boot: int, level: float) -> dict[str, Any]:
    from radsynth.metrics.roc import bootstrap_auc_ci, roc_auc
    from radsynth.metrics.patient_bootstrap import evaluate_scores

    n, n_pos = int(y.size), int(y.sum())
    n_neg = n - n_pos
    tp = int(((pred == 1) & (y == 1)).sum())
    fp = int(((pred == 1) & (y == 0)).sum())
    correct = int((pred == y).sum())
    out: dict[str, Any] = {"n": n, "n_positive": n_pos, "n_negative": n_neg}
    if patients is not None:
        out["n_patients"] = int(np.unique(patients.astype(str)).size)
    if n_pos and n_neg:
        out["auc"] = roc_auc(s, y)
        if patients is not None:
            seed = int(rng.integers(2**31 - 2))
            out["auc_ci"] = evaluate_scores(s, y, patients, seed=seed, n_boot=n_boot, level=level)["auc_ci"]
        else:
            out["auc_ci"] = list(bootstrap_auc_ci(s, y, rng, n_boot=n_boot, level=level))
    else:
        out["auc"], out["auc_ci"] = None, None
    out["accuracy"], out["accuracy_ci"] = _rate(correct, n, level)
    out["tpr"], out["tpr_ci"] = _rate(tp, n_pos, level)
    out["fpr"], out["fpr_ci"] = _rate(fp, n_neg, level)
    return out


@dataclass(frozen=True)
class FairnessReport:
    """Per attribute: ``groups`` (value -> metrics) and ``gaps`` (metric -> gap); plus the overall metrics."""

    attributes: dict[str, dict[str, Any]]
    overall: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)

    def table(self) -> list[dict[str, Any]]:
        """Flat rows: one per (attribute, group), overall first."""
        rows = [{"attribute": "(all)", "group": "(all)", **self.overall}]
        for a, d in self.attributes.items():
            rows += [{"attribute": a, "group": g, **m} for g, m in d["groups"].items()]
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": "subgroup_metrics",
            "overall": dict(self.overall),
            "attributes": {a: {"groups": {g: dict(m) for g, m in d["groups"].items()},
                               "gaps": {k: dict(v) for k, v in d["gaps"].items()},
                               "too_small": list(d["too_small"])} for a, d in self.attributes.items()},
            "settings": dict(self.settings),
            "references": [
                "equalized odds: Hardt, Price & Srebro, arXiv:1610.02413 (2016)",
                "Seyyed-Kalantari et al., Nat Med 27:2176-2182 (2021)",
                "Wilson, JASA 22:209-212 (1927)",
            ],
        }


def subgroup_metrics(
    scores: np.ndarray,
    labels: np.ndarray,
    attributes: Mapping[str, Sequence[Any] | np.ndarray],
    *,
    predictions: np.ndarray | None = None,
    threshold: float = 0.5,
    patients: Sequence[Any] | np.ndarray | None = None,
    min_n: int = 30,
    seed: int = 0,
    n_boot: int = 2000,
    level: float = 0.95,
) -> FairnessReport:
    """Per-subgroup AUC / accuracy / TPR / FPR with CIs, group sizes and the largest gap per metric.

    ``scores``: ``(N,)`` score of the positive class (e.g. p(class 1)); ``labels``: ``(N,)`` 0/1;
    ``attributes``: name -> ``(N,)`` group value per image; ``predictions``: ``(N,)`` 0/1 decisions
    (default ``scores >= threshold``); ``patients``: ``(N,)`` patient ids for the patient
    bootstrap of the AUC CI (default: image bootstrap). Groups with ``n < min_n`` are flagged
    and excluded from ``gap``. Bootstrap draws come from ``np.random.default_rng([seed, a, g])``
    for attribute ``a`` and group ``g`` (in sorted order), so results do not depend on the
    order of the attributes.
    """
    s = np.asarray(scores, dtype=np.float64).ravel() if scores is not None else None
    if s is None or s.size == 0:
        raise RadsynthInputError("scores", "empty" if s is not None else None, "one score per image (N,)")
    if not np.isfinite(s).all():
        raise RadsynthInputError("scores", "non-finite values", "finite scores")
    n = s.size
    if labels is None:
        raise RadsynthInputError("labels", None, f"binary labels 0/1, one per score ({n})")
    y = np.asarray(labels).ravel()
    if y.shape != (n,):
        raise RadsynthInputError("labels", f"{y.size} labels", f"one label per score ({n})")
    if not set(np.unique(y).tolist()) <= {0, 1, False, True}:
        raise RadsynthInputError("labels", sorted(set(np.unique(y).tolist()))[:5], "binary labels 0/1")
    y = y.astype(np.int64)
    if predictions is None:
        pred = (s >= threshold).astype(np.int64)
    else:
        pred = np.asarray(predictions).ravel()
        if pred.shape != (n,) or not set(np.unique(pred).tolist()) <= {0, 1, False, True}:
            raise RadsynthInputError("predictions", f"array of shape {pred.shape}",
                                     f"0/1 decisions, one per score ({n})")
        pred = pred.astype(np.int64)
    if not isinstance(attributes, Mapping) or not attributes:
        got = type(attributes).__name__ if not isinstance(attributes, Mapping) else "{}"
        raise RadsynthInputError("attributes", got, "a dict: attribute name -> one group value per image")
    g = None
    if patients is not None:
        g = np.asarray(patients, dtype=object).ravel()
        if g.shape != (n,):
            raise RadsynthInputError("patients", f"{g.size} ids", f"one patient id per image ({n})")
        g = np.array([str(v) for v in g], dtype=object)
    if not isinstance(min_n, (int, np.integer)) or min_n < 1:
        raise RadsynthInputError("min_n", min_n, "an integer >= 1")
    if not 0.0 < level < 1.0:
        raise RadsynthInputError("level", level, "a number in (0, 1)")
    if n_boot < 10:
        raise RadsynthInputError("n_boot", n_boot, "an integer >= 10")

    overall = _group_stats(s, y, pred, g, np.random.default_rng([seed, 0, 0, 1]), n_boot, level)
    out: dict[str, dict[str, Any]] = {}
    for ai, name in enumerate(sorted(attributes)):
        v = _group_values(attributes[name], n, str(name))
        groups: dict[str, dict[str, Any]] = {}
        for gi, val in enumerate(sorted(set(v.tolist()))):
            m = v == val
            st = _group_stats(s[m], y[m], pred[m], None if g is None else g[m],
                              np.random.default_rng([seed, ai + 1, gi]), n_boot, level)
            st["too_small"] = st["n"] < min_n
            groups[val] = st
        gaps: dict[str, dict[str, Any]] = {}
        for metric in GAP_METRICS:
            defined = {k: d[metric] for k, d in groups.items() if d[metric] is not None}
            judged = {k: x for k, x in defined.items() if not groups[k]["too_small"]}
            entry: dict[str, Any] = {"gap": None, "max_group": None, "min_group": None, "n_groups_judged": len(judged),
                                     "gap_all_groups": None, "judgeable": len(judged) >= 2}
            if len(judged) >= 2:
                hi, lo = max(judged, key=judged.get), min(judged, key=judged.get)
                entry.update(gap=judged[hi] - judged[lo], max_group=hi, min_group=lo)
            if len(defined) >= 2:
                entry["gap_all_groups"] = max(defined.values()) - min(defined.values())
            gaps[metric] = entry
        out[str(name)] = {"groups": groups, "gaps": gaps,
                          "too_small": [k for k, d in groups.items() if d["too_small"]]}
    settings = {"threshold": None if predictions is not None else float(threshold),
                "decisions": "given predictions" if predictions is not None else f"score >= {threshold:g}",
                "min_n": int(min_n), "seed": seed, "n_boot": n_boot, "level": level,
                "auc_bootstrap": "patients" if g is not None else "images (stratified)",
                "rate_intervals": "Wilson score"}
    return FairnessReport(attributes=out, overall=overall, settings=settings)


class SubgroupAudit:
    """Subgroup metrics of a :class:`radsynth.metrics.classifier.ReferenceClassifier` (binary) on images.

    ``threshold``: decision threshold on p(class 1); None uses the classifier's own
    (``config.threshold``, chosen on its validation set) or 0.5 when it has none.
    """

    def __init__(self, classifier: Any, *, threshold: float | None = None, min_n: int = 30, seed: int = 0,
                 n_boot: int = 2000, level: float = 0.95) -> None:
        if len(getattr(classifier, "class_names", ())) != 2:
            raise RadsynthInputError("classifier", type(classifier).__name__, "a binary ReferenceClassifier")
        self.classifier = classifier
        self.threshold = threshold
        self.min_n = min_n
        self.seed = seed
        self.n_boot = n_boot
        self.level = level

    def __call__(self, images: np.ndarray, labels: np.ndarray, attributes: Mapping[str, Any], *,
                 patients: Sequence[Any] | np.ndarray | None = None) -> FairnessReport:
        """``images``: ``(N, H, W)`` grey in [0, 1]; ``labels``: 0/1; ``attributes``: name -> value per image."""
        s = self.classifier.predict_proba(images)[:, 1]
        t = self.threshold
        if t is None:
            t = self.classifier.config.threshold if self.classifier.config.threshold is not None else 0.5
        return subgroup_metrics(s, labels, attributes, threshold=t, patients=patients, min_n=self.min_n,
                                seed=self.seed, n_boot=self.n_boot, level=self.level)
