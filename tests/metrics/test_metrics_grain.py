"""Excess-grain metric: analytic energy of white noise, rates on planted grain, input errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from radsynth.core.errors import RadsynthInputError
from radsynth.metrics.grain import ExcessGrain, excess_grain_rate, high_frequency_energy


def _smooth(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = gaussian_filter(rng.standard_normal((n, size, size)), sigma=(0, 4, 4))
    x = 0.5 + 0.15 * x / x.std()
    return np.clip(x + 0.003 * rng.standard_normal(x.shape), 0, 1)


def test_white_noise_energy_matches_the_analytic_value() -> None:
    """x = 0.5 + s*N(0,1) i.i.d.: x - blur(x) = (delta - g) * noise is Gaussian with variance
    s^2 * sum((delta - g)^2) over the discrete kernel, so its mean magnitude is that std * sqrt(2/pi)."""
    s, size = 0.05, 256
    rng = np.random.default_rng(1)
    x = 0.5 + s * rng.standard_normal((2, size, size))
    delta = np.zeros((33, 33))
    delta[16, 16] = 1.0
    k = delta - gaussian_filter(delta, 1.0)
    expected = s * np.sqrt((k**2).sum()) * np.sqrt(2 / np.pi)
    got = high_frequency_energy(x, 1.0)
    np.testing.assert_allclose(got, expected, rtol=0.02)
    assert high_frequency_energy(np.full((1, 16, 16), 0.3))[0] == pytest.approx(0.0, abs=1e-12)
    # more noise, more energy
    e = [high_frequency_energy(np.clip(0.5 + sd * rng.standard_normal((1, 64, 64)), 0, 1))[0] for sd in (0.01, 0.03, 0.1)]
    assert e[0] < e[1] < e[2]


def test_rate_counts_planted_grainy_images() -> None:
    real = _smooth(200, seed=0)
    clean = _smooth(100, seed=1)
    grainy = np.clip(clean + 0.05 * np.random.default_rng(2).standard_normal(clean.shape), 0, 1)
    syn = np.concatenate([clean[:60], grainy[60:]])
    res = excess_grain_rate(real, syn, quantile=0.99)
    assert res.n_excess == 40 and res.rate == pytest.approx(0.4) and res.ci[0] < 0.4 < res.ci[1]
    assert res.median_synthetic > res.median_real
    # a fresh real-like set is flagged at about 1 - quantile
    assert excess_grain_rate(real, _smooth(400, seed=3), quantile=0.99).rate <= 0.04
    scorer = ExcessGrain(real, quantile=0.95)
    assert scorer(grainy).rate == 1.0 and scorer.config() == {"quantile": 0.95, "sigma_px": 1.0}


def test_grain_input_errors() -> None:
    real = _smooth(30)
    with pytest.raises(RadsynthInputError, match="size"):
        excess_grain_rate(real, _smooth(5, size=16))
    with pytest.raises(RadsynthInputError, match="at least 20"):
        excess_grain_rate(real[:5], real[:5])
    with pytest.raises(RadsynthInputError, match="quantile"):
        excess_grain_rate(real, real, quantile=1.0)
    with pytest.raises(RadsynthInputError, match=r"\[0, 1\]"):
        excess_grain_rate(real, real * 255)
    with pytest.raises(RadsynthInputError, match="sigma_px"):
        high_frequency_energy(real, sigma_px=0)
