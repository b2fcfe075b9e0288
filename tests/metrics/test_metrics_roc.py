"""ROC tools: AUC against the exhaustive pair definition (Hanley & McNeil 1982), CI, threshold."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radsynth.core.errors import RadsynthInputError
from radsynth.metrics.roc import balanced_threshold, bootstrap_auc_ci, per_class_accuracy, roc_auc


def _auc_pairs(s: np.ndarray, y: np.ndarray) -> float:
    """AUC = P(score_pos > score_neg) + 0.5 P(tie), over all positive-negative pairs."""
    pos, neg = s[y == 1], s[y == 0]
    d = pos[:, None] - neg[None, :]
    return float(((d > 0) + 0.5 * (d == 0)).mean())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.booleans()), min_size=2, max_size=40))
def test_auc_equals_pair_count(pairs):
    s = np.array([p[0] for p in pairs], float)  # small integers: many ties
    y = np.array([p[1] for p in pairs], int)
    if y.all() or not y.any():
        with pytest.raises(RadsynthInputError):
            roc_auc(s, y)
        return
    assert roc_auc(s, y) == pytest.approx(_auc_pairs(s, y), abs=1e-12)


def test_auc_known_values():
    y = np.array([0, 0, 1, 1])
    assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), y) == pytest.approx(0.75)  # classic sklearn doc example
    assert roc_auc(np.array([0.0, 0.1, 0.2, 0.3]), y) == 1.0
    assert roc_auc(np.array([0.3, 0.2, 0.1, 0.0]), y) == 0.0
    assert roc_auc(np.ones(4), y) == 0.5


def test_bootstrap_ci_reproducible_and_brackets():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(80, int), np.ones(120, int)]
    s = rng.normal(size=200) + 1.2 * y
    auc = roc_auc(s, y)
    a = bootstrap_auc_ci(s, y, np.random.default_rng(5), n_boot=300)
    b = bootstrap_auc_ci(s, y, np.random.default_rng(5), n_boot=300)
    assert a == b
    assert a[0] < auc < a[1]
    assert 0.04 < a[1] - a[0] < 0.2  # SE of AUC ~0.03 here (Hanley & McNeil 1982, eq. 2)


def test_balanced_threshold_separates_and_per_class_accuracy():
    s = np.array([0.05, 0.1, 0.2, 0.6, 0.7, 0.9, 0.95])
    y = np.array([0, 0, 0, 1, 1, 1, 1])
    t = balanced_threshold(s, y)
    assert 0.2 < t < 0.6
    acc = per_class_accuracy((s >= t).astype(int), y, 2)
    assert acc == [1.0, 1.0]
    assert per_class_accuracy(np.array([0, 1, 1]), np.array([0, 0, 1]), 3)[:2] == [0.5, 1.0]


def test_bad_inputs():
    with pytest.raises(RadsynthInputError, match="labels"):
        roc_auc(np.zeros(3), np.zeros(4))
    with pytest.raises(RadsynthInputError, match="binary"):
        roc_auc(np.zeros(3), np.array([0, 1, 2]))
    with pytest.raises(RadsynthInputError, match="scores"):
        roc_auc(np.array([0.0, np.nan]), np.array([0, 1]))
