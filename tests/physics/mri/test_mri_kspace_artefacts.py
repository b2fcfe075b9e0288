"""k-space artefacts: Gibbs ringing overshoot, ghost position, undersampling identity."""

from __future__ import annotations

import numpy as np
import pytest

from radsynth.physics.mri.gibbs_ringing import GibbsRinging, RandomGibbsRinging, kept_lines
from radsynth.physics.mri.motion_ghosting import MotionGhosting, RandomMotionGhosting
from radsynth.physics.mri.undersampling import CartesianUndersampling, RandomUndersampling


def test_gibbs_overshoot_is_about_9_percent():
    # Wilbraham-Gibbs overshoot of a truncated Fourier series: 0.0895 of the jump
    # (Gibbs, Nature 1899; Wood & Henkelman, MRM 1985)
    img = np.zeros((512, 2), np.float32)
    img[256:] = 100.0
    out = GibbsRinging((0.1, 1.0)).apply(img)
    assert np.abs(out.imag).max() < 1e-3 * 100  # symmetric window keeps a real image real
    overshoot = (out.real.max() - 100.0) / 100.0
    undershoot = -out.real.min() / 100.0
    assert 0.08 < overshoot < 0.10 and 0.08 < undershoot < 0.10
    # ringing is local to the edge: far from it, the plateau is restored
    assert abs(out.real[128, 0]) < 2.0 and abs(out.real[384, 0] - 100.0) < 2.0


def test_gibbs_fraction_one_is_identity():
    img = np.random.default_rng(0).random((16, 15)).astype(np.float32)
    np.testing.assert_allclose(GibbsRinging(1.0).apply(img).real, img, atol=1e-6)
    assert kept_lines(100, 0.5) == 49 and kept_lines(100, 1.0) == 100


def test_ghost_at_fov_over_period():
    # amplitude modulation with period P lines -> ghosts of relative height a/2 at +-N/P pixels
    n, period, a = 64, 8.0, 0.4
    img = np.zeros((n, n), np.float32)
    img[28:36, 28:36] = 100.0
    out = np.abs(MotionGhosting(axis=1, period_lines=period, amplitude=a).apply(img))
    shift = int(n / period)
    assert out[32, 32 + shift] == pytest.approx(100.0 * a / 2, rel=0.02)
    assert out[32, 32 - shift] == pytest.approx(100.0 * a / 2, rel=0.02)
    assert out[32 + shift, 32] < 1e-3  # nothing along the other (readout) axis
    # phase modulation: all ghost energy sits at multiples of N/P along the phase-encode axis
    out = MotionGhosting(axis=1, period_lines=period, amplitude=0.0, phase_rad=0.8).apply(img)
    energy = (np.abs(out) ** 2).sum(axis=0)
    obj_cols = np.zeros(n, bool)
    for k in range(-4, 5):
        obj_cols[(np.arange(28, 36) + k * shift) % n] = True
    ghost = energy[obj_cols].sum() - energy[28:36].sum()
    assert ghost > 0.1 * energy.sum()
    assert energy[~obj_cols].sum() < 1e-6 * energy.sum()


def test_undersampling_r1_is_identity():
    img = np.random.default_rng(0).random((32, 48)).astype(np.float32)
    u = CartesianUndersampling(1.0, 0.08, seed=3, axis=1)
    assert u.mask(48).all()
    np.testing.assert_allclose(u.apply(img).real, img, atol=1e-5)
    np.testing.assert_allclose(u.apply(img).imag, 0.0, atol=1e-5)


def test_undersampling_mask_properties():
    u = CartesianUndersampling(4.0, 0.08, seed=9, axis=0)
    m = u.mask(256)
    assert m.sum() / 256 == pytest.approx(0.25, abs=0.06)
    k = np.fft.fftfreq(256) * 256
    assert m[np.abs(k) <= 9].all()  # fully sampled centre (8 % of 256 = 20 lines)
    np.testing.assert_array_equal(m, CartesianUndersampling(4.0, 0.08, seed=9, axis=0).mask(256))
    assert not np.array_equal(m, CartesianUndersampling(4.0, 0.08, seed=10, axis=0).mask(256))
    img = np.zeros((256, 8), np.float32)
    img[100:156] = 1.0
    out = u.apply(img)
    assert np.abs(out).mean() == pytest.approx(img.mean(), rel=0.3)  # DC kept, aliasing spreads energy
    assert not np.allclose(np.abs(out), img, atol=1e-2)


@pytest.mark.parametrize("random_twin, args", [
    (RandomGibbsRinging((0.4, 0.9)), (2,)),
    (RandomMotionGhosting(1, (2.0, 10.0), (0.05, 0.3), (0.0, 0.5)), ()),
    (RandomUndersampling((2.0, 4.0), 0.1, 1), ()),
])
def test_twins_replay_bit_exact(random_twin, args):
    img = np.random.default_rng(1).random((32, 40)).astype(np.float32)
    x = random_twin.sample(*args, np.random.default_rng(2))
    y = type(x).from_dict(x.to_dict())
    assert x == y
    np.testing.assert_array_equal(x.apply(img), y.apply(img))
