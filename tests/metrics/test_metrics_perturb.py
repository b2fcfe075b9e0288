"""Degradations for encoder sanity checks, and the few-sample Fréchet distance against the library's."""

import numpy as np

from radsynth.metrics.frechet import frechet_distance, frechet_distance_few_samples
from radsynth.metrics.perturb import add_noise, gaussian_blur


def test_noise_is_seeded_clipped_and_of_the_asked_spread():
    x = np.full((4, 32, 32), 0.5, dtype=np.float32)
    a, b = add_noise(x, 0.05, seed=1), add_noise(x, 0.05, seed=1)
    assert np.array_equal(a, b) and not np.array_equal(a, add_noise(x, 0.05, seed=2))
    assert abs(float((a - x).std()) - 0.05) < 0.005
    assert add_noise(x, 2.0, seed=0).min() >= 0.0 and add_noise(x, 2.0, seed=0).max() <= 1.0


def test_blur_keeps_constants_and_smooths_each_image_alone():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (2, 32, 32)).astype(np.float32)
    x[1] = 0.3
    y = gaussian_blur(x, 1.0)
    assert np.allclose(y[1], 0.3, atol=1e-6)  # images are not mixed along the stack
    assert y[0].std() < 0.6 * x[0].std()


def test_few_sample_frechet_equals_the_library_fid():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(36, 256))
    b = 1.3 * rng.normal(size=(30, 256)) + 0.2
    want = frechet_distance(a, b)
    assert abs(frechet_distance_few_samples(a, b) - want) / want < 1e-6
    assert abs(frechet_distance_few_samples(a, a)) < 1e-8
