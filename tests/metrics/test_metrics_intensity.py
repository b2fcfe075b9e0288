"""Grey-value distances: W1 on a known shift against scipy, JS divergence against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from radsynth.core.errors import RadsynthInputError
from radsynth.metrics.intensity import IntensityDistance, grey_histogram, intensity_distance, js_divergence


def _images(n: int, seed: int, lo: float = 0.1, hi: float = 0.6) -> np.ndarray:
    return np.random.default_rng(seed).uniform(lo, hi, (n, 16, 16))


@pytest.mark.parametrize("c", [0.05, 0.2, 0.35])
def test_w1_of_a_constant_shift_is_the_shift(c: float) -> None:
    a = _images(12, 0)  # values in [0.1, 0.6]: a + c stays in [0, 1], no clipping
    r = intensity_distance(a, a + c)
    assert r.w1 == pytest.approx(c, abs=1e-12)
    assert r.w1 == pytest.approx(wasserstein_distance(a.ravel(), (a + c).ravel()), abs=1e-15)
    assert r.mean_synthetic - r.mean_real == pytest.approx(c, abs=1e-12)


def test_w1_matches_scipy_on_unequal_sets() -> None:
    a, b = _images(10, 1), _images(7, 2, 0.0, 1.0) ** 2
    r = intensity_distance(a, b)
    assert r.w1 == pytest.approx(wasserstein_distance(a.ravel(), b.ravel()), rel=1e-12)
    assert r.n_w1_values_real == a.size and r.n_w1_values_synthetic == b.size


def test_identical_sets_zero() -> None:
    a = _images(8, 3)
    r = intensity_distance(a, a.copy())
    assert r.w1 == 0.0 and r.js_divergence == pytest.approx(0.0, abs=1e-15)
    np.testing.assert_array_equal(r.hist_real, r.hist_synthetic)


def test_js_divergence_values() -> None:
    # disjoint support -> 1 bit; p = [1, 0], q = [1/2, 1/2]: M = [3/4, 1/4],
    # JS = (log2(4/3) + 0.5 log2(2/3) + 0.5 log2(2)) / 2 = 0.311278...
    assert js_divergence(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0, abs=1e-12)
    want = (np.log2(4 / 3) + 0.5 * np.log2(2 / 3) + 0.5) / 2
    assert js_divergence(np.array([1.0, 0.0]), np.array([0.5, 0.5])) == pytest.approx(want, abs=1e-12)
    r = intensity_distance(np.full((2, 4, 4), 0.1), np.full((3, 4, 4), 0.9))
    assert r.js_divergence == pytest.approx(1.0, abs=1e-12) and r.w1 == pytest.approx(0.8, abs=1e-12)
    r2 = intensity_distance(np.full((3, 4, 4), 0.9), np.full((2, 4, 4), 0.1))
    assert r2.js_divergence == r.js_divergence


def test_histogram_bins_and_edges() -> None:
    p, edges = grey_histogram(np.array([0.0, 0.24, 0.25, 0.99, 1.0]), bins=4)
    np.testing.assert_allclose(edges, [0.0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(p, [0.4, 0.2, 0.0, 0.4])  # 1.0 falls in the last (closed) bin


def test_subsampling_above_cap_is_seeded_and_close() -> None:
    a, b = _images(20, 4), _images(20, 5, 0.0, 0.8)  # 5120 values each
    exact = intensity_distance(a, b).w1
    r1 = intensity_distance(a, b, max_values=2000, seed=1)
    r2 = intensity_distance(a, b, max_values=2000, seed=1)
    r3 = IntensityDistance(max_values=2000, seed=2)(a, b)
    assert r1.w1 == r2.w1 and r1.w1 != r3.w1
    assert r1.n_w1_values_real == 2000 and r1.n_values_real == a.size
    assert r1.w1 == pytest.approx(exact, abs=0.02)
    assert r1.js_divergence == intensity_distance(a, b).js_divergence  # histograms use all values


def test_bad_input() -> None:
    a = _images(2, 6)
    with pytest.raises(RadsynthInputError, match="synthetic_images"):
        intensity_distance(a, a + 0.6)  # values above 1
    with pytest.raises(RadsynthInputError, match="real_images"):
        intensity_distance(a[0], a)
    with pytest.raises(RadsynthInputError, match="bins"):
        intensity_distance(a, a, bins=1)
    with pytest.raises(RadsynthInputError, match="max_values"):
        IntensityDistance(max_values=0)
