"""PRDC (Naeem et al. 2020): hand-computed example, identical / disjoint sets, Lemma 1-2 expectations."""

from __future__ import annotations

import numpy as np
import pytest

import radsynth.metrics.prdc as prdc_mod
from radsynth.core.errors import RadsynthInputError
from radsynth.metrics.features import PixelEncoder
from radsynth.metrics.prdc import PRDC, expected_coverage, knn_radii, prdc


def _prdc_from_formulas(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, float]:
    """The paper's definitions, on full distance matrices (sorting, not partitioning)."""
    d_rr = np.linalg.norm(real[:, None] - real[None], axis=-1)
    d_ff = np.linalg.norm(fake[:, None] - fake[None], axis=-1)
    d_rf = np.linalg.norm(real[:, None] - fake[None], axis=-1)
    r_r = np.sort(d_rr, axis=1)[:, k]  # k-th nearest other point (column 0 is the point itself)
    r_f = np.sort(d_ff, axis=1)[:, k]
    inside_real = d_rf < r_r[:, None]
    return {
        "precision": inside_real.any(axis=0).mean(),
        "recall": (d_rf < r_f[None, :]).any(axis=1).mean(),
        "density": inside_real.sum(axis=0).mean() / k,
        "coverage": (d_rf.min(axis=1) < r_r).mean(),
    }


def test_hand_computed_example() -> None:
    # real 0,1,2,3 (k=1 radii all 1); fake 0.5 and 10 (radii 9.5 each)
    # precision: 0.5 is inside the balls of 0 and 1, 10 in none -> 1/2
    # recall: every real point lies within 9.5 of 0.5 -> 1 (the outlier inflates the fake manifold)
    # density: fake 0.5 counted by 2 real balls, 10 by 0 -> (2 + 0) / (1 * 2) = 1
    # coverage: nearest fake of 0 and 1 is 0.5 < 1; of 2 and 3 it is 1.5, 2.5 >= 1 -> 1/2
    r = prdc(np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([[0.5], [10.0]]), k=1)
    assert (r.precision, r.recall, r.density, r.coverage) == (0.5, 1.0, 1.0, 0.5)


def test_identical_sets_are_perfect() -> None:
    x = np.random.default_rng(0).normal(size=(80, 6))
    r = prdc(x, x, k=5)
    assert r.precision == 1.0 and r.recall == 1.0 and r.coverage == 1.0
    assert r.density == pytest.approx(1.0, abs=1e-12)  # each real ball holds its centre + k-1 others


def test_disjoint_far_sets_are_zero() -> None:
    rng = np.random.default_rng(1)
    r = prdc(rng.normal(size=(50, 4)), rng.normal(size=(40, 4)) + 100.0, k=5)
    assert (r.precision, r.recall, r.density, r.coverage) == (0.0, 0.0, 0.0, 0.0)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_matches_formulas_and_chunking(k: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(2 + k)
    real = rng.normal(size=(70, 5))
    fake = rng.normal(size=(55, 5)) * 1.2 + 0.3
    want = _prdc_from_formulas(real, fake, k)
    got = prdc(real, fake, k=k)
    monkeypatch.setattr(prdc_mod, "_CHUNK_ELEMENTS", 37)  # force many tiny row chunks
    chunked = prdc(real, fake, k=k)
    for key, v in want.items():
        assert getattr(got, key) == pytest.approx(v, abs=1e-12), key
        assert getattr(chunked, key) == getattr(got, key), key
    d_rr = np.linalg.norm(real[:, None] - real[None], axis=-1)
    np.testing.assert_allclose(knn_radii(real, k), np.sort(d_rr, axis=1)[:, k])


def test_lemma_expectations_for_identical_distributions() -> None:
    # Naeem et al. (2020) Lemma 1: E[density] = 1; Lemma 2: E[coverage] = 1 - prod_{i=1..k} (N-i)/(N+M-i)
    n, m, k, reps = 60, 60, 5, 40
    cov, dens = [], []
    for s in range(reps):
        rng = np.random.default_rng(100 + s)
        r = prdc(rng.normal(size=(n, 4)), rng.normal(size=(m, 4)), k=k)
        cov.append(r.coverage)
        dens.append(r.density)
    want = expected_coverage(n, m, k)
    assert want == pytest.approx(1.0 - np.prod([(n - i) / (n + m - i) for i in range(1, k + 1)]), rel=1e-12)
    assert np.mean(cov) == pytest.approx(want, abs=0.015)
    assert np.mean(dens) == pytest.approx(1.0, abs=0.06)
    assert expected_coverage(10**6, 10**6, k) == pytest.approx(1 - 2.0**-k, rel=1e-5)


def test_image_class_and_result() -> None:
    rng = np.random.default_rng(3)
    x = rng.uniform(0.3, 0.7, (24, 16, 16))
    r = PRDC(PixelEncoder(4), k=3)(x[:12], x[12:])
    d = r.to_dict()
    assert d["metric"] == "prdc" and d["k"] == 3 and r.encoder == "pixels-4x4"
    assert 0.0 <= r.precision <= 1.0 and d["expected_coverage_if_identical"] == pytest.approx(expected_coverage(12, 12, 3))


def test_bad_input() -> None:
    a = np.random.default_rng(4).normal(size=(6, 2))
    with pytest.raises(RadsynthInputError, match="k \\+ 1"):
        prdc(a, a, k=6)
    with pytest.raises(RadsynthInputError, match="k"):
        prdc(a, a, k=0)
    with pytest.raises(RadsynthInputError, match="synthetic_features"):
        prdc(a, np.zeros((6, 3)), k=2)
    with pytest.raises(RadsynthInputError, match="k"):
        PRDC(k=0)
