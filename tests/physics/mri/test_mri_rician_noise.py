"""Rician noise: requested SNR is recovered by the background estimators; twin replay."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radsynth.core.errors import RadsynthInputError
from radsynth.physics.mri.rician_noise import (
    RandomRicianNoise,
    RicianNoise,
    estimate_sigma_background,
    measure_snr,
    rician_sigma_for_snr,
)


def _phantom():
    img = np.zeros((128, 128), np.float32)
    img[:, 64:] = 250.0  # "WM" half, background half
    sig = np.zeros(img.shape, bool)
    sig[:, 70:] = True
    bg = np.zeros(img.shape, bool)
    bg[:, :58] = True
    return img, sig, bg


@settings(max_examples=30, deadline=None)
@given(snr=st.floats(5.0, 100.0), seed=st.integers(0, 2**32), method=st.sampled_from(["mean", "std"]))
def test_measured_snr_within_10_percent(snr, seed, method):
    # Henkelman, Med Phys 1985 (Rayleigh background); Gudbjartsson & Patz, MRM 1995 (bias correction)
    img, sig, bg = _phantom()
    sigma = rician_sigma_for_snr(img, sig, snr)
    noisy = RicianNoise(sigma, seed).apply(img)
    assert measure_snr(noisy, sig, bg, method) == pytest.approx(snr, rel=0.10)


def test_background_is_rayleigh():
    noisy = RicianNoise(10.0, 1).apply(np.zeros((256, 256), np.float32))
    assert noisy.mean() == pytest.approx(10.0 * math.sqrt(math.pi / 2), rel=0.01)
    assert noisy.std() == pytest.approx(10.0 * math.sqrt(2 - math.pi / 2), rel=0.02)
    assert estimate_sigma_background(noisy, "std") == pytest.approx(10.0, rel=0.02)


def test_complex_input_and_zero_sigma():
    z = np.full((8, 8), 3.0 + 4.0j, np.complex64)
    np.testing.assert_allclose(RicianNoise(0.0, 0).apply(z), 5.0)
    assert RicianNoise(1.0, 0).apply(z).dtype == np.float32


def test_twin_replay_bit_exact_and_sampling():
    img, sig, _ = _phantom()
    noise = RandomRicianNoise((10.0, 40.0)).sample(img, sig, np.random.default_rng(5))
    assert 250.0 / 40.0 <= noise.sigma <= 250.0 / 10.0
    again = RicianNoise.from_dict(noise.to_dict())
    np.testing.assert_array_equal(noise.apply(img), again.apply(img))
    assert not np.array_equal(noise.apply(img), RicianNoise(noise.sigma, noise.seed + 1).apply(img))


def test_errors():
    img, sig, _ = _phantom()
    with pytest.raises(RadsynthInputError, match="snr"):
        rician_sigma_for_snr(img, sig, 0.0)
    with pytest.raises(RadsynthInputError, match="reference_mask"):
        rician_sigma_for_snr(img, np.zeros_like(sig), 10.0)
    with pytest.raises(RadsynthInputError, match="snr_range"):
        RandomRicianNoise((40.0, 10.0))
