"""radsynth.study.reader: cases, blinded order, AUC with CI, CSV."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.study.reader import CSV_COLUMNS, check_rating, draw_cases, reader_order, summarise, to_csv

REAL = [f"real/{i}.png" for i in range(70)]
SYN = [f"syn/{i}.png" for i in range(40)]


def test_draw_cases_balanced_and_capped():
    cases = draw_cases(REAL, SYN, 100, seed=1)
    assert len(cases) == 80  # 40 synthetic at most, so 40 real
    assert sum(c.source == "synthetic" for c in cases) == 40
    assert len({c.case_id for c in cases}) == 80 and all("real" not in c.case_id for c in cases)
    assert [c.path for c in draw_cases(REAL, SYN, 10, seed=1)] != [c.path for c in draw_cases(REAL, SYN, 10, seed=2)]
    assert draw_cases(REAL, SYN, 10, seed=3) == draw_cases(REAL, SYN, 10, seed=3)  # reproducible from the seed
    with pytest.raises(RadsynthInputError):
        draw_cases([], SYN, 10, 0)


def test_reader_order_is_per_reader_and_stable():
    ids = [f"{i:04x}" for i in range(50)]
    a1, a2, b = reader_order(ids, 3, "ann"), reader_order(list(reversed(ids)), 3, "ann"), reader_order(ids, 3, "bob")
    assert a1 == a2 and sorted(a1) == sorted(ids) and a1 != b


@pytest.mark.parametrize("bad", ["0", "6", "2.5", "", "x", True])
def test_rating_scale(bad):
    assert [check_rating(x) for x in ("1", 5, " 3 ")] == [1, 5, 3]
    with pytest.raises(RadsynthInputError):
        check_rating(bad)


def test_random_readers_average_half_truth_reader_one():
    cases = draw_cases(REAL, REAL[:50], 100, seed=0)
    truth = [c.source for c in cases]
    aucs = []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        rows = [{"reader": "r", "truth": t, "rating": int(rng.integers(1, 6)), "seconds": 1.0} for t in truth]
        aucs.append(summarise(rows, n_boot=50)["pooled"]["auc"])
    assert abs(np.mean(aucs) - 0.5) < 0.03 and np.mean(np.abs(np.array(aucs) - 0.5) <= 0.1) > 0.8
    rows = [{"reader": "oracle", "truth": t, "rating": 5 if t == "synthetic" else 1, "seconds": 2.0 + i % 3}
            for i, t in enumerate(truth)]
    rows += [{"reader": "contrarian", "truth": t, "rating": 1 if t == "synthetic" else 5, "seconds": 1.0}
             for t in truth]
    out = summarise(rows, n_boot=200)
    by = {r["reader"]: r for r in out["readers"]}
    assert by["oracle"]["auc"] == 1.0 and by["oracle"]["ci"] == [1.0, 1.0] and by["contrarian"]["auc"] == 0.0
    assert by["oracle"]["seconds_median"] == 3.0 and out["pooled"]["n"] == 200
    assert out["pooled"]["auc"] == pytest.approx(0.5) and out["pooled"]["ci"][0] < 0.5 < out["pooled"]["ci"][1]


def test_one_class_only_has_no_auc():
    out = summarise([{"reader": "r", "truth": "real", "rating": 3, "seconds": 1}])
    assert out["pooled"]["auc"] is None and "both" in out["pooled"]["note"]


def test_csv_columns():
    text = to_csv([{"study": "s", "reader": "r", "position": 1, "case": "c", "truth": "real", "rating": 2,
                    "seconds": 1.5, "image": "a.png"}])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS and rows[0]["rating"] == "2"
