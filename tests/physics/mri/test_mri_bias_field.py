"""Bias field: polynomial evaluation, smoothness, twin replay."""

from __future__ import annotations

import numpy as np
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.physics.mri.bias_field import BiasField, RandomBiasField, exponents, n_coefficients

def test_number_of_terms():
    # all (i, j, k) with 0 < i + j + k <= 3: C(6, 3) - 1 = 19; in 2D C(5, 2) - 1 = 9
    assert n_coefficients(3, 3) == 19 and n_coefficients(3, 2) == 9
    assert exponents(1, 3) == [(0, 0, 1), (0, 1, 0), (1, 0, 0)]

def test_matches_direct_evaluation():
    rng = np.random.default_rng(3)
    bf = RandomBiasField(order=3, coefficient_range=0.5).sample(3, rng)
    shape = (9, 7, 5)
    x, y, z = np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij")
    log_f = sum(c * x**i * y**j * z**k for c, (i, j, k) in zip(bf.coefficients, exponents(3, 3)))
    np.testing.assert_allclose(bf.field(shape), np.exp(log_f), rtol=1e-5)

def test_zero_coefficients_identity_and_no_global_gain():
    bf = BiasField((0.0,) * 9, 3)
    np.testing.assert_array_equal(bf.field((4, 5)), 1.0)
    # no constant term: the field is 1 at the grid centre (all coordinates 0)
    f = RandomBiasField(3, 0.3).sample(3, np.random.default_rng(0)).field((5, 5, 5))
    assert f[2, 2, 2] == pytest.approx(1.0)

def test_smooth_and_bounded():
    for seed in range(5):
        f = RandomBiasField(3, 0.3).sample(2, np.random.default_rng(seed)).field((128, 128))
        assert f.min() > np.exp(-9 * 0.3) - 1e-6 and f.max() < np.exp(9 * 0.3) + 1e-6
        assert np.abs(np.diff(np.log(f), axis=0)).max() < 0.1  # slowly varying

def test_twin_replay_bit_exact():
    img = np.random.default_rng(0).random((16, 12, 8)).astype(np.float32)
    bf = RandomBiasField().sample(3, np.random.default_rng(11))
    np.testing.assert_array_equal(bf.apply(img), BiasField.from_dict(bf.to_dict()).apply(img))
    with pytest.raises(RadsynthInputError):
        BiasField((0.1,) * 5, 3).field((4, 4, 4))
