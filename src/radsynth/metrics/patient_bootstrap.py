"""Patient-level (cluster) bootstrap for evaluating a classifier on real held-out scans.

Split out of :mod:`radsynth.metrics.utility` (the study) so the shortcut test and the
fairness metrics can reuse the evaluation without the study: input checks, patient
bootstrap weights (resample patients, not images: images of one patient are correlated;
Field & Welsh, JRSS-B 69:369-390, 2007), weighted AUC and rates, :func:`evaluate_scores`
and the paired difference of two arms (:func:`paired_difference`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from radsynth.core.errors import RadsynthInputError

# ---------------------------------------------------------------- input checks


def _check_images(a: Any, name: str) -> None:
    if a is None:
        raise RadsynthInputError(name, None, "a numpy array (N, H, W) of grey images in [0, 1]")
    if not isinstance(a, np.ndarray):
        raise RadsynthInputError(name, type(a).__name__, "a numpy array (N, H, W) of grey images in [0, 1]")
    if a.ndim not in (3, 4) or (a.ndim == 4 and a.shape[1] != 1):
        raise RadsynthInputError(name, f"array of shape {a.shape}", "shape (N, H, W) or (N, 1, H, W)")
    if a.shape[0] == 0:
        raise RadsynthInputError(name, f"empty array of shape {a.shape}", "at least one image (N, H, W) in [0, 1]")


def _check_labels(labels: Any, n: int, name: str, images_name: str) -> np.ndarray:
    if labels is None:
        raise RadsynthInputError(
            name, None, f"binary class labels 0/1, one per image of {images_name} ({n})",
            "The utility study trains classifiers, so every training and test image needs a label.",
        )
    y = np.asarray(labels).ravel()
    if y.shape != (n,):
        raise RadsynthInputError(name, f"{y.size} labels", f"one label per image of {images_name} ({n})")
    if y.dtype == bool:
        y = y.astype(np.int64)
    if not np.issubdtype(y.dtype, np.integer) or not set(np.unique(y).tolist()) <= {0, 1}:
        vals = sorted(set(np.unique(y).tolist()))[:5] if y.size else []
        raise RadsynthInputError(name, vals, "binary integer labels 0/1 (1 = positive class)")
    return y.astype(np.int64)


def _check_groups(groups: Any, n: int, name: str) -> np.ndarray:
    """Patient (group) ids as a str object array; None -> every image its own patient."""
    if groups is None:
        return np.array([f"#{i}" for i in range(n)], dtype=object)
    g = np.asarray(groups, dtype=object).ravel()
    if g.shape != (n,):
        raise RadsynthInputError(name, f"{g.size} ids", f"one patient id per image ({n})")
    return np.array([str(v) for v in g], dtype=object)


def _codes(groups: np.ndarray) -> tuple[np.ndarray, int]:
    uniq, inv = np.unique(groups.astype(str), return_inverse=True)
    return inv.astype(np.int64), int(uniq.size)


# ---------------------------------------------------------------- maths: patient bootstrap


def patient_bootstrap_weights(patient_codes: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_boot, N)`` image weights of a patient (cluster) bootstrap.

    ``patient_codes``: integer patient index per image in ``[0, P)``. Each replicate draws
    ``P`` patients with replacement; an image's weight is how often its patient was drawn.
    """
    codes = np.asarray(patient_codes, dtype=np.int64).ravel()
    if n_boot < 1:
        raise RadsynthInputError("n_boot", n_boot, "an integer >= 1")
    p = int(codes.max()) + 1 if codes.size else 0
    draws = rng.integers(0, p, size=(n_boot, p))
    counts = np.zeros((n_boot, p), dtype=np.float64)
    np.add.at(counts, (np.arange(n_boot)[:, None], draws), 1.0)
    return counts[:, codes]


def weighted_auc(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted Mann-Whitney AUC for each row of ``weights`` ``(B, N)``; ties count one half.

    AUC_b = sum_{i pos, j neg} w_bi w_bj [s_i > s_j] + 0.5 [s_i = s_j]) / (W_pos W_neg).
    Rows with no positive or no negative weight give NaN. Unit weights reproduce
    :func:`radsynth.metrics.roc.roc_auc`.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel().astype(bool)
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    order = np.argsort(s, kind="stable")
    ss, ys, ws = s[order], y[order], w[:, order]
    starts = np.flatnonzero(np.r_[True, ss[1:] != ss[:-1]])
    wp = np.where(ys[None], ws, 0.0)
    pos = np.add.reduceat(wp, starts, axis=1)
    neg = np.add.reduceat(ws - wp, starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    num = (pos * (below + 0.5 * neg)).sum(axis=1)
    den = pos.sum(axis=1) * neg.sum(axis=1)
    out = np.full(w.shape[0], np.nan)
    ok = den > 0
    out[ok] = num[ok] / den[ok]
    return out


def _weighted_rates(pred: np.ndarray, y: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray]:
    """Weighted accuracy / sensitivity / specificity per row of ``w`` (NaN where undefined)."""
    correct = (pred == y).astype(np.float64)
    tot = w.sum(axis=1)
    wp = w * y[None]
    wn = w * (1 - y)[None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "accuracy": np.where(tot > 0, (w * correct[None]).sum(axis=1) / tot, np.nan),
            "sensitivity": np.where(wp.sum(1) > 0, (wp * correct[None]).sum(axis=1) / wp.sum(1), np.nan),
            "specificity": np.where(wn.sum(1) > 0, (wn * correct[None]).sum(axis=1) / wn.sum(1), np.nan),
        }


def _quantiles(values: np.ndarray, level: float) -> tuple[float, float]:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return float("nan"), float("nan")
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(v, [a, 1.0 - a])
    return float(lo), float(hi)


# ---------------------------------------------------------------- pure functions: evaluation


def evaluate_scores(
    scores: np.ndarray,
    labels: np.ndarray,
    patients: Sequence[Any] | np.ndarray | None = None,
    *,
    threshold: float = 0.5,
    seed: int = 0,
    n_boot: int = 2000,
    level: float = 0.95,
) -> dict[str, Any]:
    """AUC, accuracy, sensitivity, specificity (at ``score >= threshold``) with patient-bootstrap CIs.

    ``scores``: p(class 1) per test image; ``labels``: 0/1; ``patients``: patient id per image
    (None: every image its own patient, i.e. the ordinary image bootstrap). CIs are percentile
    intervals over ``n_boot`` patient resamples from ``np.random.default_rng(seed)``.
    """
    from radsynth.metrics.roc import roc_auc

    s = np.asarray(scores, dtype=np.float64).ravel()
    if s.size == 0:
        raise RadsynthInputError("scores", "empty", "one score per test image")
    y = _check_labels(labels, s.size, "labels", "scores")
    g = _check_groups(patients, s.size, "patients")
    if not np.isfinite(s).all():
        raise RadsynthInputError("scores", "non-finite values", "finite scores")
    if not 0.0 < level < 1.0:
        raise RadsynthInputError("level", level, "a number in (0, 1)")
    if n_boot < 10:
        raise RadsynthInputError("n_boot", n_boot, "an integer >= 10")
    auc = roc_auc(s, y)  # raises when one class is missing
    pred = (s >= threshold).astype(np.int64)
    point = _weighted_rates(pred, y, np.ones((1, s.size)))
    codes, n_pat = _codes(g)
    w = patient_bootstrap_weights(codes, n_boot, np.random.default_rng(seed))
    boot_auc = weighted_auc(s, y, w)
    boot = _weighted_rates(pred, y, w)
    out: dict[str, Any] = {"auc": auc, "auc_ci": list(_quantiles(boot_auc, level))}
    for k in ("accuracy", "sensitivity", "specificity"):
        out[k] = float(point[k][0])
        out[f"{k}_ci"] = list(_quantiles(boot[k], level))
    out.update({"threshold": float(threshold), "level": level, "n_images": int(s.size), "n_patients": n_pat,
                "n_positive": int(y.sum()), "n_boot": n_boot,
                "bootstrap": "patients" if patients is not None else "images"})
    return out


def _metric_matrix(scores: np.ndarray, y: np.ndarray, w: np.ndarray, metric: str,
                   thresholds: np.ndarray | None) -> np.ndarray:
    """``(S, B)`` metric per seed row of ``scores`` ``(S, N)`` and bootstrap row of ``w``."""
    out = np.empty((scores.shape[0], w.shape[0]))
    for i, s in enumerate(scores):
        if metric == "auc":
            out[i] = weighted_auc(s, y, w)
        else:
            t = 0.5 if thresholds is None else float(thresholds[i])
            out[i] = _weighted_rates((s >= t).astype(np.int64), y, w)[metric]
    return out


METRICS = ("auc", "accuracy", "sensitivity", "specificity")


def paired_difference(
    scores_a: np.ndarray,
    scores_b: np.ndarray | None,
    labels: np.ndarray,
    patients: Sequence[Any] | np.ndarray | None = None,
    *,
    metric: str = "auc",
    thresholds_a: Sequence[float] | None = None,
    thresholds_b: Sequence[float] | None = None,
    resample_seeds: bool = True,
    seed: int = 0,
    n_boot: int = 2000,
    level: float = 0.95,
) -> dict[str, Any]:
    """Seed-mean of ``metric(a) - metric(b)`` with a paired bootstrap CI (``scores_b`` None: of ``metric(a)``).

    ``scores_a`` / ``scores_b``: ``(S, N)`` test scores of S models (row i of both = seed i)
    on the same N test images. Each bootstrap replicate draws test patients with
    replacement (one draw shared by both arms and all seeds) and, if ``resample_seeds``,
    S seed indices with replacement; the statistic is the mean over the drawn seeds of the
    per-seed difference. Thresholds (per seed) are needed for the threshold metrics
    (default 0.5).
    """
    if metric not in METRICS:
        raise RadsynthInputError("metric", metric, f"one of {list(METRICS)}")
    a = np.atleast_2d(np.asarray(scores_a, dtype=np.float64))
    if a.size == 0:
        raise RadsynthInputError("scores_a", "empty", "(S, N) scores, one row per seed")
    y = _check_labels(labels, a.shape[1], "labels", "scores_a")
    b = None
    if scores_b is not None:
        b = np.atleast_2d(np.asarray(scores_b, dtype=np.float64))
        if b.shape != a.shape:
            raise RadsynthInputError("scores_b", f"shape {b.shape}",
                                     f"the shape of scores_a {a.shape} (paired by seed)")
    g = _check_groups(patients, a.shape[1], "patients")
    codes, _ = _codes(g)
    rng = np.random.default_rng(seed)
    w = patient_bootstrap_weights(codes, n_boot, rng)
    ones = np.ones((1, a.shape[1]))
    ta = None if thresholds_a is None else np.asarray(thresholds_a, dtype=np.float64)
    tb = None if thresholds_b is None else np.asarray(thresholds_b, dtype=np.float64)
    pa, ma = _metric_matrix(a, y, ones, metric, ta)[:, 0], _metric_matrix(a, y, w, metric, ta)
    if b is not None:
        pb, mb = _metric_matrix(b, y, ones, metric, tb)[:, 0], _metric_matrix(b, y, w, metric, tb)
        per_seed, boot = pa - pb, ma - mb
    else:
        per_seed, boot = pa, ma
    n_s = a.shape[0]
    if resample_seeds and n_s > 1:
        pick = rng.integers(0, n_s, size=(n_boot, n_s))
        stat = np.take_along_axis(boot.T, pick, axis=1).mean(axis=1)
    else:
        stat = boot.mean(axis=0)
    lo, hi = _quantiles(stat, level)
    return {"metric": metric, "estimate": float(per_seed.mean()), "ci": [lo, hi], "level": level,
            "per_seed": per_seed.tolist(), "sd_over_seeds": float(per_seed.std(ddof=1)) if n_s > 1 else 0.0,
            "n_seeds": n_s, "resample_seeds": bool(resample_seeds and n_s > 1), "n_boot": n_boot}
