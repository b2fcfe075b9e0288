"""Fréchet distance: closed forms for Gaussians, MONAI / scipy cross-checks, and the issue's FID sanity ladder."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg
from scipy.ndimage import gaussian_filter

from radsynth.core.errors import RadsynthInputError
from radsynth.metrics.features import PixelEncoder
from radsynth.metrics.frechet import (
    FrechetDistance,
    frechet_distance,
    frechet_distance_gaussian,
    gaussian_fit,
    trace_sqrt_product,
)


def _random_cov(rng: np.random.Generator, d: int, rank: int | None = None) -> np.ndarray:
    a = rng.normal(size=(d, rank or d))
    return a @ a.T / d


def test_diagonal_gaussians_closed_form() -> None:
    # Dowson & Landau (1982) with commuting (diagonal) covariances:
    # d^2 = |mu1 - mu2|^2 + sum_i (s1_i + s2_i - 2 sqrt(s1_i s2_i))
    rng = np.random.default_rng(0)
    d = 7
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = rng.uniform(0.1, 3.0, d), rng.uniform(0.1, 3.0, d)
    want = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2.0 * np.sqrt(s1 * s2))
    got = frechet_distance_gaussian(mu1, np.diag(s1), mu2, np.diag(s2))
    assert got == pytest.approx(want, rel=1e-12)


def test_one_dimensional_is_squared_w2() -> None:
    # In 1D the Fréchet distance of N(m1, v1), N(m2, v2) is (m1 - m2)^2 + (sd1 - sd2)^2.
    got = frechet_distance_gaussian(np.array([1.0]), np.array([[4.0]]), np.array([-2.0]), np.array([[0.25]]))
    assert got == pytest.approx(9.0 + (2.0 - 0.5) ** 2, rel=1e-13)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_full_covariances_match_scipy_sqrtm(seed: int) -> None:
    # independent route: tr(sqrtm(S1 S2)) with scipy's Schur-based sqrtm of the non-symmetric product
    rng = np.random.default_rng(seed)
    s1, s2 = _random_cov(rng, 12), _random_cov(rng, 12)
    ref = np.trace(scipy.linalg.sqrtm(s1 @ s2)).real
    assert trace_sqrt_product(s1, s2) == pytest.approx(ref, rel=1e-10)
    assert trace_sqrt_product(s2, s1) == pytest.approx(ref, rel=1e-10)


def test_features_match_monai_get_fid_score() -> None:
    torch = pytest.importorskip("torch")
    fid_mod = pytest.importorskip("monai.metrics.fid")
    rng = np.random.default_rng(4)
    a = rng.normal(size=(150, 20)) @ rng.normal(size=(20, 20))
    b = 0.8 * rng.normal(size=(120, 20)) @ rng.normal(size=(20, 20)) + 0.3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # MONAI passes scipy's deprecated `disp`
        try:
            want = float(fid_mod.get_fid_score(torch.from_numpy(b), torch.from_numpy(a)))
        except TypeError:  # SciPy >= 1.18 removed `disp`: MONAI's FID cannot run
            pytest.skip("monai get_fid_score incompatible with this SciPy")
    assert frechet_distance(a, b) == pytest.approx(want, rel=1e-9)


def test_identical_sets_zero_and_symmetric() -> None:
    rng = np.random.default_rng(5)
    a = rng.normal(size=(200, 16)) @ rng.normal(size=(16, 16))
    b = rng.normal(size=(180, 16)) * 2.0 + 1.0
    tr = np.trace(gaussian_fit(a)[1])
    assert abs(frechet_distance(a, a)) < 1e-10 * tr
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-10)
    assert frechet_distance(a, b) > 1.0
    # translating both sets by one vector changes nothing
    t = rng.normal(size=16) * 10
    assert frechet_distance(a + t, b + t) == pytest.approx(frechet_distance(a, b), rel=1e-9)


def test_rank_deficient_covariances_are_real_and_near_zero() -> None:
    # N < D: singular covariances (common with 2048-d features and few images)
    rng = np.random.default_rng(6)
    a = rng.normal(size=(30, 64))
    d_same = frechet_distance(a, a)
    assert isinstance(d_same, float) and abs(d_same) < 1e-6 * np.trace(gaussian_fit(a)[1])
    s1, s2 = _random_cov(rng, 40, rank=10), _random_cov(rng, 40, rank=15)
    assert trace_sqrt_product(s1, s2) == pytest.approx(np.trace(scipy.linalg.sqrtm(s1 @ s2)).real, rel=1e-6)


def test_eps_ridge_is_added_to_both_covariances() -> None:
    s1, s2 = np.array([1.0, 2.0]), np.array([0.5, 3.0])
    mu = np.zeros(2)
    e = 0.1
    want = np.sum((s1 + e) + (s2 + e) - 2.0 * np.sqrt((s1 + e) * (s2 + e)))
    assert frechet_distance_gaussian(mu, np.diag(s1), mu, np.diag(s2), eps=e) == pytest.approx(want, rel=1e-12)


def test_bad_input() -> None:
    rng = np.random.default_rng(7)
    a = rng.normal(size=(10, 4))
    with pytest.raises(RadsynthInputError, match="synthetic_features"):
        frechet_distance(a, rng.normal(size=(10, 5)))
    with pytest.raises(RadsynthInputError, match="rows"):
        frechet_distance(a, a[:1])
    bad = a.copy()
    bad[0, 0] = np.nan
    with pytest.raises(RadsynthInputError, match="non-finite"):
        frechet_distance(bad, a)
    with pytest.raises(RadsynthInputError, match="shape"):
        frechet_distance(a.ravel(), a)
    with pytest.raises(RadsynthInputError, match="eps"):
        frechet_distance(a, a, eps=-1.0)
    with pytest.raises(RadsynthInputError, match="sigma1"):
        frechet_distance_gaussian(np.zeros(2), np.array([[1.0, 0.5], [0.0, 1.0]]), np.zeros(2), np.eye(2))
    with pytest.raises(RadsynthInputError, match="real_images"):
        FrechetDistance()(np.full((4, 16, 16), 1.5), np.zeros((4, 16, 16)))


# ------------------------------------------------------------ sanity ladder (issue #4)


def _smooth_fields(n: int, seed: int, size: int = 32, corr: float = 2.0) -> np.ndarray:
    """Stationary Gaussian random fields (white noise * Gaussian kernel), grey level 0.5 +- 0.12, in [0, 1]."""
    z = np.random.default_rng(seed).normal(size=(n, size, size))
    f = gaussian_filter(z, (0, corr, corr), mode="wrap")
    return np.clip(0.5 + 0.12 * f / f.std(), 0.0, 1.0)


@pytest.fixture(scope="module")
def halves() -> tuple[np.ndarray, np.ndarray]:
    x = _smooth_fields(2000, seed=11)
    return x[:1000], x[1000:]


def test_fid_grows_with_added_noise_half_vs_half_is_floor(halves) -> None:
    a, b = halves
    fd = FrechetDistance(PixelEncoder(16))
    rng = np.random.default_rng(12)
    floor = fd(a, b).distance
    ladder = [fd(a, np.clip(b + rng.normal(0.0, s, b.shape), 0.0, 1.0)).distance for s in (0.02, 0.05, 0.1, 0.2)]
    assert floor > 0.0
    assert np.all(np.diff([floor, *ladder]) > 0), (floor, ladder)
    assert ladder[-1] > 5 * floor


def test_fid_grows_with_blur(halves) -> None:
    a, b = halves
    fd = FrechetDistance(PixelEncoder(16))
    floor = fd(a, b).distance
    ladder = [fd(a, gaussian_filter(b, (0, s, s), mode="reflect")).distance for s in (1.0, 2.0, 4.0)]
    assert np.all(np.diff([floor, *ladder]) > 0), (floor, ladder)
    r = fd(a, b)
    assert r.n_real == 1000 and r.dim == 256 and r.encoder == "pixels-16x16"
