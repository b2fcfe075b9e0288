"""KID: unbiased MMD^2 with the cubic kernel against a brute-force sum and MONAI's compute_mmd."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.metrics.features import PixelEncoder
from radsynth.metrics.kid import KernelInceptionDistance, kernel_inception_distance, mmd2_unbiased, polynomial_kernel


def _k(x: np.ndarray, y: np.ndarray) -> float:
    """Bińkowski et al. (2018) KID kernel, written out: (x.y / d + 1)^3."""
    return (float(np.dot(x, y)) / x.size + 1.0) ** 3


def _mmd2_bruteforce(x: np.ndarray, y: np.ndarray) -> float:
    """Gretton et al. (2012) Eq. 3, by explicit double sums."""
    m, n = len(x), len(y)
    sxx = sum(_k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    syy = sum(_k(y[i], y[j]) for i, j in itertools.permutations(range(n), 2)) / (n * (n - 1))
    sxy = sum(_k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return sxx + syy - 2.0 * sxy


def _cubic_feature_map(x: np.ndarray) -> np.ndarray:
    """phi(x) = z (x) z (x) z with z = [1, x / sqrt(d)]: phi(x).phi(y) = (1 + x.y / d)^3 exactly."""
    z = np.concatenate([np.ones((len(x), 1)), x / np.sqrt(x.shape[1])], axis=1)
    return np.einsum("ni,nj,nk->nijk", z, z, z).reshape(len(x), -1)


def test_kernel_and_mmd_match_bruteforce() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(9, 3)), rng.normal(size=(7, 3)) + 0.5
    assert polynomial_kernel(x, y)[2, 4] == pytest.approx(_k(x[2], y[4]), rel=1e-14)
    got = mmd2_unbiased(polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y))
    assert got == pytest.approx(_mmd2_bruteforce(x, y), rel=1e-12)
    # whole sets as the one subset: KID equals the brute-force MMD^2 of the two sets (order does not matter)
    r = kernel_inception_distance(x, y, n_subsets=3, subset_size=50)
    assert r.subset_size == 7 and r.n_real == 9
    r_eq = kernel_inception_distance(x[:7], y, n_subsets=3, subset_size=7)
    np.testing.assert_allclose(r_eq.values, _mmd2_bruteforce(x[:7], y), rtol=1e-12)
    assert r_eq.std == pytest.approx(0.0, abs=1e-12)


def test_matches_monai_compute_mmd_on_explicit_feature_map() -> None:
    torch = pytest.importorskip("torch")
    mmd = pytest.importorskip("monai.metrics.mmd")
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 2)), rng.normal(size=(40, 2)) * 1.3 + 0.2
    want = float(mmd.compute_mmd(torch.from_numpy(_cubic_feature_map(x)), torch.from_numpy(_cubic_feature_map(y)), None))
    r = kernel_inception_distance(x, y, n_subsets=1, subset_size=40)
    assert r.mean == pytest.approx(want, rel=1e-10)


def test_same_distribution_near_zero_and_can_be_negative_shift_positive() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    shifted = rng.normal(size=(400, 16)) + 0.3
    same = kernel_inception_distance(a, b, n_subsets=20, subset_size=200, seed=3)
    diff = kernel_inception_distance(a, shifted, n_subsets=20, subset_size=200, seed=3)
    assert diff.mean > 5 * diff.std and diff.mean > 0.1
    assert abs(same.mean) < 0.05 * diff.mean
    # the estimator is unbiased, not non-negative: some subsets give MMD^2 < 0 (documented, not clipped)
    assert same.values.min() < 0.0
    assert same.std == pytest.approx(float(np.std(same.values)), rel=1e-12)


def test_seeded_and_deterministic() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(60, 5)), rng.normal(size=(50, 5))
    r1 = kernel_inception_distance(a, b, n_subsets=5, subset_size=20, seed=7)
    r2 = kernel_inception_distance(a, b, n_subsets=5, subset_size=20, seed=7)
    r3 = kernel_inception_distance(a, b, n_subsets=5, subset_size=20, seed=8)
    np.testing.assert_array_equal(r1.values, r2.values)
    assert not np.array_equal(r1.values, r3.values)
    assert r1.to_dict()["metric"] == "kid" and len(r1.to_dict(include_values=True)["values"]) == 5


def test_image_class_uses_encoder() -> None:
    rng = np.random.default_rng(5)
    x = rng.uniform(0.2, 0.6, (30, 16, 16))
    kid = KernelInceptionDistance(PixelEncoder(4), n_subsets=4, subset_size=20, seed=0)
    near = kid(x[:15], x[15:])
    far = kid(x[:15], x[15:] + 0.3)
    assert far.mean > near.mean and far.encoder == "pixels-4x4" and far.subset_size == 15


def test_bad_input() -> None:
    a = np.zeros((10, 3))
    with pytest.raises(RadsynthInputError, match="subset_size"):
        kernel_inception_distance(a, a, subset_size=1)
    with pytest.raises(RadsynthInputError, match="n_subsets"):
        kernel_inception_distance(a, a, n_subsets=0)
    with pytest.raises(RadsynthInputError, match="gamma"):
        kernel_inception_distance(a, a, gamma=-1.0)
    with pytest.raises(RadsynthInputError, match="synthetic_features"):
        kernel_inception_distance(a, np.zeros((10, 4)))
    with pytest.raises(RadsynthInputError, match="rows"):
        kernel_inception_distance(a, a[:1])
