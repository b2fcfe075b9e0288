"""Subgroup metrics: hand-computed per-group AUC / accuracy / TPR / FPR, gaps, small-group flag, errors.

Hand example (threshold 0.5):
  group A (40): positives 15 x 0.8, 5 x 0.3; negatives 4 x 0.7, 16 x 0.2
     TP 15, FN 5, FP 4, TN 16 -> TPR 0.75, FPR 0.2, accuracy 31/40;
     AUC = (15 * 20 + 5 * 16) / (20 * 20) = 380 / 400 = 0.95 (pair count)
  group B (40): positives 10 x 0.9, 10 x 0.1; negatives 2 x 0.6, 18 x 0.1
     TP 10, FP 2 -> TPR 0.5, FPR 0.1, accuracy 28/40;
     AUC = (10 * 20 + 0.5 * 10 * 18) / 400 = 290 / 400 = 0.725 (ties count one half)
  group C (6): positives 3 x 0.9; negatives 3 x 0.9 -> TPR 1, FPR 1, AUC 0.5, too small (< 30)
Gaps over A and B: TPR 0.25, FPR 0.1, accuracy 0.075, AUC 0.225.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from radsynth.core.errors import RadsynthInputError
from radsynth.metrics.class_fidelity import wilson_interval
from radsynth.metrics.classifier import ClassifierConfig, ReferenceClassifier, build_classifier
from radsynth.metrics.fairness import SubgroupAudit, subgroup_metrics


def _hand():
    s = np.r_[[0.8] * 15, [0.3] * 5, [0.7] * 4, [0.2] * 16,
              [0.9] * 10, [0.1] * 10, [0.6] * 2, [0.1] * 18,
              [0.9] * 6]
    y = np.r_[[1] * 20, [0] * 20, [1] * 20, [0] * 20, [1] * 3, [0] * 3]
    grp = np.array(["A"] * 40 + ["B"] * 40 + ["C"] * 6, dtype=object)
    return s, y, grp


def test_hand_computed_groups_and_gaps():
    s, y, grp = _hand()
    rep = subgroup_metrics(s, y, {"site": grp}, n_boot=200)
    g = rep.attributes["site"]["groups"]
    a, b, c = g["A"], g["B"], g["C"]
    assert (a["n"], a["n_positive"], a["n_negative"]) == (40, 20, 20)
    assert a["tpr"] == 0.75 and a["fpr"] == 0.2 and a["accuracy"] == pytest.approx(31 / 40)
    assert a["auc"] == pytest.approx(0.95)
    assert b["tpr"] == 0.5 and b["fpr"] == 0.1 and b["accuracy"] == pytest.approx(28 / 40)
    assert b["auc"] == pytest.approx(0.725)
    assert c["tpr"] == 1.0 and c["fpr"] == 1.0 and c["auc"] == pytest.approx(0.5)
    assert a["tpr_ci"] == pytest.approx(list(wilson_interval(15, 20)))
    assert b["fpr_ci"] == pytest.approx(list(wilson_interval(2, 20)))
    assert a["accuracy_ci"] == pytest.approx(list(wilson_interval(31, 40)))
    assert a["auc_ci"][0] <= 0.95 <= a["auc_ci"][1]
    # small-group flag and gaps over the judgeable groups only
    assert c["too_small"] and not a["too_small"] and rep.attributes["site"]["too_small"] == ["C"]
    gaps = rep.attributes["site"]["gaps"]
    assert gaps["tpr"]["gap"] == pytest.approx(0.25) and gaps["tpr"]["max_group"] == "A"
    assert gaps["fpr"]["gap"] == pytest.approx(0.1) and gaps["fpr"]["min_group"] == "B"
    assert gaps["accuracy"]["gap"] == pytest.approx(0.075)
    assert gaps["auc"]["gap"] == pytest.approx(0.225) and gaps["auc"]["judgeable"]
    assert gaps["fpr"]["gap_all_groups"] == pytest.approx(0.9)  # C's FPR 1.0 vs B's 0.1
    # overall
    assert rep.overall["n"] == 86 and rep.overall["tpr"] == pytest.approx((15 + 10 + 3) / 43)
    json.dumps(rep.to_dict())
    assert len(rep.table()) == 1 + 3


def test_only_small_groups_not_judgeable_and_unknown_group():
    s, y, grp = _hand()
    sex = np.array(["F", "M"] * 43, dtype=object)
    sex[:4] = [None, "", float("nan"), " "]
    rep = subgroup_metrics(s, y, {"sex": sex, "site": grp}, min_n=100, n_boot=50)
    d = rep.attributes["sex"]
    assert set(d["groups"]) == {"F", "M", "unknown"} and d["groups"]["unknown"]["n"] == 4
    assert all(not e["judgeable"] and e["gap"] is None for e in d["gaps"].values())
    assert d["gaps"]["tpr"]["gap_all_groups"] is not None


def test_given_predictions_and_undefined_rates():
    s = np.array([0.9, 0.8, 0.1, 0.2])
    y = np.array([1, 1, 1, 1])  # no negatives: AUC and FPR undefined
    rep = subgroup_metrics(s, y, {"g": ["a", "a", "b", "b"]}, predictions=np.array([0, 1, 1, 1]), min_n=1, n_boot=50)
    a = rep.attributes["g"]["groups"]["a"]
    assert a["auc"] is None and a["fpr"] is None and a["tpr"] == 0.5
    assert rep.attributes["g"]["gaps"]["auc"]["gap"] is None
    assert rep.attributes["g"]["gaps"]["tpr"]["gap"] == pytest.approx(0.5)


def test_patient_bootstrap_path():
    s, y, grp = _hand()
    pats = np.array([f"p{i // 2}" for i in range(s.size)], dtype=object)
    rep = subgroup_metrics(s, y, {"site": grp}, patients=pats, n_boot=200)
    a = rep.attributes["site"]["groups"]["A"]
    assert a["n_patients"] == 20 and a["auc_ci"][0] <= a["auc"] <= a["auc_ci"][1]
    assert rep.settings["auc_bootstrap"] == "patients"


def test_audit_uses_classifier_threshold():
    cfg = ClassifierConfig(image_size=16, net_channels=(8, 16), net_strides=(2, 2), threshold=0.3)
    torch.manual_seed(0)
    clf = ReferenceClassifier(cfg, build_classifier(cfg))
    x = np.random.default_rng(0).random((12, 16, 16)).astype(np.float32)
    y = np.arange(12) % 2
    rep = SubgroupAudit(clf, min_n=1, n_boot=50)(x, y, {"g": ["a"] * 6 + ["b"] * 6})
    p = clf.predict_proba(x)[:, 1]
    assert rep.settings["threshold"] == 0.3
    assert rep.overall["tpr"] == pytest.approx(float((p[y == 1] >= 0.3).mean()))


def test_bad_input_names_the_field():
    s, y, grp = _hand()
    with pytest.raises(RadsynthInputError, match="^labels"):
        subgroup_metrics(s, y[:-1], {"site": grp})
    with pytest.raises(RadsynthInputError, match="^labels"):
        subgroup_metrics(s, None, {"site": grp})
    with pytest.raises(RadsynthInputError, match=r"^attributes\['site'\]"):
        subgroup_metrics(s, y, {"site": grp[:-1]})
    with pytest.raises(RadsynthInputError, match="^attributes"):
        subgroup_metrics(s, y, {})
    with pytest.raises(RadsynthInputError, match="^scores"):
        subgroup_metrics(np.array([]), np.array([]), {"site": []})
    with pytest.raises(RadsynthInputError, match="^predictions"):
        subgroup_metrics(s, y, {"site": grp}, predictions=np.zeros(3))
    with pytest.raises(RadsynthInputError, match="^patients"):
        subgroup_metrics(s, y, {"site": grp}, patients=["p"] * 3)
    with pytest.raises(RadsynthInputError, match="^labels"):
        subgroup_metrics(s, np.full(s.size, 2), {"site": grp})
