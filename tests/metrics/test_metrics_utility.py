"""Utility study: patient sampling, duplication control, patient bootstrap, paired verdict, TSTR sanity.

Toy data (16 px, the classifier's input size): a centre disc of radius 4 px, +0.08 for
class 1 and -0.08 for class 0, under white noise of sd 0.2. A matched filter separates
the classes almost perfectly (d' = 2 * 0.08 * sqrt(50) / 0.2 ~ 5.7), while a random
function of the pixels sees only d'/sqrt(256) ~ 0.35 of it, so a classifier trained on
label-free noise scores near AUC 0.5 on the real test images (on 6 data seeds the mean
over 3 model seeds deviated from 0.5 by at most 0.10; the informative arm's mean was
>= 0.97). With a strong global label cue (e.g. bright vs dark disc without noise) any
random function, including one trained on noise, separates the classes, so TSTR on
noise would NOT be near 0.5; the toy avoids that on purpose.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.metrics.roc import roc_auc
from radsynth.metrics.utility import (
    UtilityStudy,
    duplicate_to_count,
    evaluate_scores,
    paired_difference,
    patient_bootstrap_weights,
    sample_patient_fraction,
    split_train_val,
    weighted_auc,
)

S = 16
YY, XX = np.mgrid[:S, :S]
DISC = ((YY - 7.5) ** 2 + (XX - 7.5) ** 2) < 4.0**2


def _toy(n_pat: int, rng: np.random.Generator, prefix: str, *, informative: bool = True, multi: bool = True):
    """``n_pat`` patients (alternating class), 1-2 images each (``multi``) or 1."""
    xs, ys, ps = [], [], []
    for p in range(n_pat):
        lab = p % 2
        for _ in range(int(rng.integers(1, 3)) if multi else 1):
            x = 0.5 + 0.2 * rng.standard_normal((S, S))
            if informative:
                x[DISC] += 0.08 if lab == 1 else -0.08
            xs.append(np.clip(x, 0, 1))
            ys.append(lab)
            ps.append(f"{prefix}{p}")
    return np.array(xs, np.float32), np.array(ys, np.int64), np.array(ps, dtype=object)


def _study(**kw) -> UtilityStudy:
    cfg = dict(image_size=S, net_channels=(8, 16), net_strides=(2, 2), max_epochs=2, min_steps=0, batch_size=16,
               n_boot=200, progress=False, log=None, n_seeds=2, fractions=(0.5, 1.0))
    cfg.update(kw)
    return UtilityStudy(**cfg)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(100)
    real = _toy(40, rng, "r")
    test = _toy(60, rng, "t")
    syn_noise = _toy(160, rng, "s", informative=False, multi=False)
    syn_info = _toy(160, rng, "s", multi=False)
    return real, test, syn_noise, syn_info


@pytest.fixture(scope="module")
def full_result(data):
    real, test, _, syn = data
    msgs: list[str] = []
    res = _study(log=msgs.append)(*real, *test, syn[0], syn[1])
    return res, msgs


# ---------------------------------------------------------------- maths


def test_weighted_auc_matches_roc_auc_and_replication():
    rng = np.random.default_rng(0)
    s = np.round(rng.random(30), 1)  # ties on purpose
    y = np.arange(30) % 2
    assert weighted_auc(s, y, np.ones((1, 30)))[0] == pytest.approx(roc_auc(s, y), abs=1e-12)
    w = rng.integers(0, 4, 30).astype(float)  # integer weights = replicating samples
    w[:2] = 1.0
    rep = np.repeat(np.arange(30), w.astype(int))
    assert weighted_auc(s, y, w[None])[0] == pytest.approx(roc_auc(s[rep], y[rep]), abs=1e-12)
    assert math.isnan(weighted_auc(s, y, np.where(y == 1, 0.0, 1.0)[None])[0])  # no positive weight


def test_patient_bootstrap_weights_move_whole_patients():
    codes = np.array([0, 0, 1, 2, 2, 2])
    w = patient_bootstrap_weights(codes, 50, np.random.default_rng(1))
    assert w.shape == (50, 6)
    assert (w[:, 0] == w[:, 1]).all() and (w[:, 3] == w[:, 4]).all() and (w[:, 4] == w[:, 5]).all()
    # each replicate draws 3 patients: summed patient counts = 3
    assert (w[:, [0, 2, 3]].sum(axis=1) == 3).all()


# ---------------------------------------------------------------- sampling


def test_fraction_samples_whole_patients_stratified_nested(data):
    (x, y, p), *_ = data
    n_pat = {c: len({pp for pp, yy in zip(p, y, strict=True) if yy == c}) for c in (0, 1)}
    prev: set[str] = set()
    for f in (0.1, 0.25, 0.5, 1.0):
        idx = sample_patient_fraction(y, p, f, seed=3)
        chosen = set(p[idx])
        # whole patients: every image of a chosen patient is in the sample
        assert set(np.flatnonzero(np.isin(p, list(chosen)))) == set(idx.tolist())
        for c in (0, 1):
            k = len({pp for pp in chosen if y[p == pp][0] == c})
            assert k == min(n_pat[c], max(2, math.ceil(f * n_pat[c])))
        assert prev <= chosen  # nested for a fixed seed
        prev = chosen
    assert np.array_equal(sample_patient_fraction(y, p, 0.25, 3), sample_patient_fraction(y, p, 0.25, 3))
    assert not np.array_equal(sample_patient_fraction(y, p, 0.25, 3), sample_patient_fraction(y, p, 0.25, 4))
    with pytest.raises(RadsynthInputError, match="fraction"):
        sample_patient_fraction(y, p, 0.0)


def test_train_val_split_disjoint_patients(data):
    (x, y, p), *_ = data
    idx = sample_patient_fraction(y, p, 0.5, seed=1)
    tr, va = split_train_val(y, p, idx, 0.25, seed=1)
    assert set(p[tr]).isdisjoint(set(p[va]))
    assert sorted(np.r_[tr, va].tolist()) == idx.tolist()
    assert set(y[va].tolist()) == {0, 1} and set(y[tr].tolist()) == {0, 1}


def test_duplicate_to_count():
    idx = np.array([3, 5, 9])
    d = duplicate_to_count(idx, 11, seed=0)
    assert d.size == 11
    counts = np.bincount(d, minlength=10)[idx]
    assert sorted(counts.tolist()) == [3, 4, 4]  # 11 = 3 * 3 + 2
    assert np.array_equal(duplicate_to_count(idx, 6), np.sort(np.r_[idx, idx]))
    with pytest.raises(RadsynthInputError, match="n_target"):
        duplicate_to_count(idx, 2)


# ---------------------------------------------------------------- evaluation


def test_evaluate_scores_hand_example_and_patient_bootstrap():
    # sklearn's roc_auc_score documentation example: AUC 0.75
    r = evaluate_scores(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]), threshold=0.5, n_boot=200)
    assert r["auc"] == pytest.approx(0.75)
    assert r["accuracy"] == pytest.approx(0.75) and r["sensitivity"] == 0.5 and r["specificity"] == 1.0
    assert r["auc_ci"][0] <= 0.75 <= r["auc_ci"][1]
    # Each patient has two identical images: resampling patients must give exactly the CI of the
    # de-duplicated set (uniform weight scaling leaves the weighted AUC unchanged), and resampling
    # images must give a narrower, overconfident one (~1/sqrt(2) of the width).
    rng = np.random.default_rng(2)
    s1 = rng.random(80) + 0.3 * (np.arange(80) % 2)
    y1 = np.arange(80) % 2
    pid = np.array([f"p{i:03d}" for i in range(80)], dtype=object)
    dup = evaluate_scores(np.repeat(s1, 2), np.repeat(y1, 2), np.repeat(pid, 2), seed=5, n_boot=400)
    one = evaluate_scores(s1, y1, pid, seed=5, n_boot=400)
    assert dup["auc"] == pytest.approx(one["auc"])
    assert dup["auc_ci"] == pytest.approx(one["auc_ci"])
    img = evaluate_scores(np.repeat(s1, 2), np.repeat(y1, 2), None, seed=5, n_boot=400)
    width = lambda ci: ci[1] - ci[0]  # noqa: E731
    assert width(img["auc_ci"]) < 0.9 * width(dup["auc_ci"])


def test_paired_difference():
    rng = np.random.default_rng(4)
    y = np.arange(60) % 2
    good = np.stack([y + 0.5 * rng.random(60) for _ in range(3)])
    bad = np.stack([rng.random(60) for _ in range(3)])
    same = paired_difference(good, good, y, n_boot=200)
    assert same["estimate"] == 0.0 and same["ci"] == [0.0, 0.0]
    d = paired_difference(good, bad, y, n_boot=200)
    assert d["ci"][0] > 0.2 and d["estimate"] == pytest.approx(np.mean([roc_auc(g, y) - roc_auc(b, y)
                                                                        for g, b in zip(good, bad, strict=True)]))
    with pytest.raises(RadsynthInputError, match="scores_b"):
        paired_difference(good, bad[:2], y)


# ---------------------------------------------------------------- the study


def test_study_rows_ci_counts_and_verdict(full_result):
    res, msgs = full_result
    arms = ("real", "synthetic", "real+synthetic", "real+duplicated")
    # TSTR with synthetic validation: once per seed (fraction 0.0); the others per fraction
    keys = {(r["arm"], r["fraction"], r["seed"]) for r in res.rows}
    expected = {("synthetic", 0.0, s) for s in (0, 1)} | {(a, f, s) for a in arms[:1] + arms[2:]
                                                           for f in (0.5, 1.0) for s in (0, 1)}
    assert keys == expected and len(res.rows) == len(expected)
    for r in res.rows:
        for m in ("auc", "accuracy", "sensitivity", "specificity"):
            lo, hi = r[f"{m}_ci"]
            assert 0.0 <= lo <= r[m] <= hi <= 1.0, (r["arm"], m, lo, r[m], hi)
        assert r["n_test"] == len(res.test_labels)
    by = {(r["arm"], r["fraction"], r["seed"]): r for r in res.rows}
    for f in (0.5, 1.0):
        for s in (0, 1):
            rs, rd, rr = by[("real+synthetic", f, s)], by[("real+duplicated", f, s)], by[("real", f, s)]
            assert rd["n_train"] == rs["n_train"] == rr["n_train"] + 160
            assert rd["n_real_unique"] == rr["n_real_train"] and rd["n_synthetic_train"] == 0
            assert rs["n_real_train"] == rr["n_real_train"] and rs["n_synthetic_train"] == 160
    assert by[("synthetic", 0.0, 0)]["n_real_train"] == 0 and by[("synthetic", 0.0, 0)]["validation"] == "synthetic"
    assert len(res.summary) == 7 and all(e["n_seeds"] == 2 for e in res.summary)
    for e in res.summary:
        assert e["auc_mean_ci"][0] <= e["auc_mean"] <= e["auc_mean_ci"][1]
    cmp = res.compare()
    assert [c["fraction"] for c in cmp] == [0.5, 1.0]
    assert all(c["verdict"] in ("beats", "worse", "no detectable difference") and c["text"] for c in cmp)
    assert any("estimated time" in m for m in msgs)
    d = json.loads(json.dumps(res.to_dict()))
    assert d["metric"] == "utility" and len(d["rows"]) == len(res.rows) and len(d["comparison"]) == 2


def test_plan_patient_disjoint_and_fraction(data):
    (x, y, p), *_ = data
    st = _study(fractions=(0.25,), n_seeds=1)
    ys = np.arange(20) % 2
    for j in st.plan(y, p, ys):
        if j.arm == "synthetic":
            continue
        tr, va = set(p[j.real_idx]), set(p[j.val_idx])
        assert tr.isdisjoint(va)
        for c in (0, 1):
            n_c = len({pp for pp, yy in zip(p, y, strict=True) if yy == c})
            assert len({pp for pp in tr | va if y[p == pp][0] == c}) == max(2, math.ceil(0.25 * n_c))
    # TSTR with real validation: one synthetic model per fraction, validated on that fraction's real split
    jobs = _study(fractions=(0.25, 1.0), n_seeds=1, tstr_validation="real").plan(y, p, ys)
    tstr = [j for j in jobs if j.arm == "synthetic"]
    real_val = {j.fraction: j.val_idx for j in jobs if j.arm == "real"}
    assert [j.fraction for j in tstr] == [0.25, 1.0] and all(j.val_src == "real" for j in tstr)
    assert all(np.array_equal(j.val_idx, real_val[j.fraction]) and j.real_idx.size == 0 for j in tstr)


def test_test_overlap_patients_are_dropped(data):
    (x, y, p), (xt, yt, pt), _, _ = data
    pt2 = pt.copy()
    pt2[:3] = p[:3]  # three training patient ids also appear in the test set
    res = _study(arms=("real",), fractions=(1.0,), n_seeds=1)(x, y, p, xt, yt, pt2)
    assert res.notes and "dropped" in res.notes[0]
    n_drop = int(np.isin(p, list(set(p[:3]))).sum())
    r = res.rows[0]
    assert r["n_real_train"] + r["n_val"] == len(y) - n_drop


def test_tstr_noise_near_chance_informative_high(data):
    real, test, noise, info = data
    st = _study(arms=("synthetic",), fractions=(1.0,), n_seeds=3, max_epochs=8)
    r_noise = st(*real, *test, noise[0], noise[1]).summary[0]["auc_mean"]
    r_info = st(*real, *test, info[0], info[1]).summary[0]["auc_mean"]
    assert abs(r_noise - 0.5) < 0.2, r_noise
    assert r_info > 0.8, r_info


# ---------------------------------------------------------------- errors and budget


def test_bad_input_names_the_field(data):
    (x, y, p), (xt, yt, pt), _, (xs, ys, _) = data
    st = _study()
    with pytest.raises(RadsynthInputError, match="^synthetic_labels"):
        st(x, y, p, xt, yt, pt, xs, None)
    with pytest.raises(RadsynthInputError, match="^real_labels"):
        st(x, None, p, xt, yt, pt, xs, ys)
    with pytest.raises(RadsynthInputError, match="^test_labels"):
        st(x, y, p, xt, yt[:-1], pt, xs, ys)
    with pytest.raises(RadsynthInputError, match="^real_patients"):
        st(x, y, p[:-1], xt, yt, pt, xs, ys)
    with pytest.raises(RadsynthInputError, match="^test"):
        st(x, y, p, xt[:0], yt[:0], pt[:0], xs, ys)
    with pytest.raises(RadsynthInputError, match="^synthetic"):
        st(x, y, p, xt, yt, pt)
    with pytest.raises(RadsynthInputError, match="^arms"):
        UtilityStudy(arms=("real", "bogus"))
    with pytest.raises(RadsynthInputError, match="^fractions"):
        UtilityStudy(fractions=(0.0, 0.5))
    with pytest.raises(RadsynthInputError, match="^max_total_minutes"):
        _study(max_total_minutes=1e-6)(x, y, p, xt, yt, pt, xs, ys, seconds_per_image=1.0)


def test_estimate_scales_with_plan(data):
    (x, y, p), *_ = data
    st = _study(max_minutes_per_model=100.0)
    jobs = st.plan(y, p, np.arange(40) % 2)
    t1 = st.estimate_seconds(jobs, 50, seconds_per_image=1e-3)
    expect = sum(st.epochs_for(j.n_train) * (j.n_train + j.val_idx.size / 3) * 1e-3 + 50 / 3 * 1e-3 for j in jobs)
    assert t1 == pytest.approx(expect)
    capped = _study(max_minutes_per_model=1e-4).estimate_seconds(jobs, 50, seconds_per_image=1e-3)
    assert capped < t1
    assert st.calibrate_seconds_per_image(steps=1) > 0
