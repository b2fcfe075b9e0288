"""Radial power spectrum: flat for white noise, peak at a sinusoid's frequency, blur removes high frequencies."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from radsynth.core.errors import RadsynthInputError
from radsynth.metrics.spectrum import PowerSpectrumDistance, radial_power_spectrum, radial_rings, spectrum_distance


def test_rings_and_frequencies() -> None:
    ring, freqs = radial_rings(8, 8)
    np.testing.assert_allclose(freqs, [1 / 8, 2 / 8, 3 / 8, 4 / 8])
    assert ring[0, 0] == 0 and ring[0, 1] == 1 and ring[1, 1] == 1 and ring[2, 2] == 3
    assert ring[4, 4] == 0  # corner beyond Nyquist (f = 0.71 cycles/pixel) dropped
    assert ring[0, 4] == 4 and ring[4, 0] == 4


def test_white_noise_spectrum_is_flat_at_its_variance() -> None:
    # E[P(k)] = variance for white noise with the sum(w^2) normalisation; uniform(0, 1) has variance 1/12
    x = np.random.default_rng(0).uniform(0.0, 1.0, (200, 32, 32))
    f, p = radial_power_spectrum(x)
    m = p.mean(axis=0) * 12.0
    assert p.shape == (200, 16)
    np.testing.assert_allclose(m[1:], 1.0, atol=0.1)  # ring 1 also carries the mean-removal deficit (~7 %)
    slope = np.polyfit(np.log10(f), np.log10(m), 1)[0]
    assert abs(slope) < 0.03


@pytest.mark.parametrize(
    "shape, k, want", [((64, 64), (0, 8), 8 / 64), ((64, 64), (6, 8), 10 / 64), ((48, 96), (0, 24), 12 / 48)]
)
def test_sinusoid_peaks_at_its_frequency(shape: tuple[int, int], k: tuple[int, int], want: float) -> None:
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    img = 0.5 + 0.4 * np.sin(2 * np.pi * (k[0] * yy / h + k[1] * xx / w))
    f, p = radial_power_spectrum(img[None])
    assert f[np.argmax(p[0])] == pytest.approx(want)


def test_blur_removes_high_frequencies_monotonically() -> None:
    x = np.random.default_rng(1).uniform(0.0, 1.0, (20, 32, 32))
    f, p0 = radial_power_spectrum(x)
    hf = f > 0.25
    powers, dists = [], []
    for s in (0.5, 1.0, 1.5, 2.0):
        b = gaussian_filter(x, (0, s, s), mode="reflect")
        powers.append(radial_power_spectrum(b)[1].mean(axis=0)[hf].mean())
        dists.append(spectrum_distance(x, b).distance)
    assert p0.mean(axis=0)[hf].mean() > powers[0]
    assert np.all(np.diff(powers) < 0) and np.all(np.diff(dists) > 0)


def test_contrast_scaling_gives_exact_log_distance() -> None:
    # x -> 0.5 + a (x - 0.5) multiplies every power by a^2: |log10 difference| = 2 |log10 a| in every ring
    x = np.random.default_rng(2).uniform(0.0, 1.0, (6, 32, 32))
    a = 0.5
    r = spectrum_distance(x, 0.5 + a * (x - 0.5))
    np.testing.assert_allclose(r.abs_log10_diff, 2 * np.log10(2.0), rtol=1e-10)
    assert r.distance == pytest.approx(2 * np.log10(2.0), rel=1e-10)
    assert PowerSpectrumDistance()(x, x).distance == 0.0
    d = r.to_dict()
    assert d["metric"] == "power_spectrum" and len(d["freqs_cycles_per_pixel"]) == 16


def test_constant_images_hit_the_floor() -> None:
    r = spectrum_distance(np.full((2, 16, 16), 0.3), np.full((2, 16, 16), 0.7), floor=1e-10)
    np.testing.assert_allclose(r.log10_real, -10.0)
    assert r.distance == 0.0


def test_bad_input() -> None:
    a = np.full((2, 16, 16), 0.5)
    with pytest.raises(RadsynthInputError, match="synthetic_images"):
        spectrum_distance(a, np.full((2, 32, 32), 0.5))
    with pytest.raises(RadsynthInputError, match="floor"):
        spectrum_distance(a, a, floor=0.0)
    with pytest.raises(RadsynthInputError, match="image shape"):
        radial_power_spectrum(np.full((1, 1, 8), 0.5))
