"""Parallel-beam Joseph projector and back projector (radsynth.physics.ct.projector)."""

import math

import numba
import numpy as np
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.physics.ct.projector import auto_n_detectors, back_project, forward_project, parallel_angles


def disk(n: int, pixel_mm: float, radius_mm: float, centre_mm=(0.0, 0.0), value=1.0, ss: int = 8) -> np.ndarray:
    """Anti-aliased (ss x ss supersampled) disk on an (x, y) grid centred on the rotation axis."""
    xs = (np.arange(n * ss) - (n * ss - 1) / 2) * pixel_mm / ss
    X, Y = np.meshgrid(xs, xs, indexing="ij")
    inside = (X - centre_mm[0]) ** 2 + (Y - centre_mm[1]) ** 2 < radius_mm ** 2
    return (inside.reshape(n, ss, n, ss).mean(axis=(1, 3)) * value).astype(np.float32)


def test_disk_projection_matches_analytic_chord():
    # Line integral of a uniform disk of radius r at distance t from its centre: 2 sqrt(r^2 - t^2).
    n, p, r, cx, cy, mu = 128, 1.0, 40.0, 0.0, 5.0, 0.02
    img = disk(n, p, r, (cx, cy), mu)
    angles = parallel_angles(90)
    d = auto_n_detectors((n, n), p, p)
    sino = forward_project(img, angles, d, p, p)
    assert sino.shape == (90, d) and sino.dtype == np.float32
    t = (np.arange(d) - (d - 1) / 2) * p
    for v in range(0, 90, 7):
        tc = t - (cx * math.cos(angles[v]) + cy * math.sin(angles[v]))
        inside = np.abs(tc) < 0.8 * r
        chord = mu * 2 * np.sqrt(r ** 2 - tc[inside] ** 2)
        np.testing.assert_allclose(sino[v, inside], chord, rtol=0.01)


def test_angle_zero_integrates_along_y():
    # At theta = 0 the rays run along y, the detector along x: a point at x = +10 mm lands at t = +10 mm.
    img = np.zeros((65, 65), np.float32)
    img[32 + 10, 32 - 7] = 1.0
    s = forward_project(img, [0.0, math.pi / 2], 65, 1.0, 1.0)
    assert int(np.argmax(s[0])) == 32 + 10
    assert int(np.argmax(s[1])) == 32 - 7  # theta = pi/2: t = y
    assert s[0].sum() == pytest.approx(1.0, rel=1e-6)


def test_batched_channels_equal_single():
    rng = np.random.default_rng(0)
    imgs = rng.random((2, 3, 40, 40)).astype(np.float32)
    a = parallel_angles(30)
    batch = forward_project(imgs, a, 60, 1.0, 1.0)
    assert batch.shape == (2, 3, 30, 60)
    np.testing.assert_array_equal(batch[1, 2], forward_project(imgs[1, 2], a, 60, 1.0, 1.0))
    bp = back_project(batch, a, (40, 40), 1.0, 1.0)
    np.testing.assert_array_equal(bp[0, 1], back_project(batch[0, 1], a, (40, 40), 1.0, 1.0))


def test_thread_count_does_not_change_bytes():
    n_max = numba.config.NUMBA_NUM_THREADS
    if n_max < 2:
        pytest.skip("numba has a single thread on this machine")
    rng = np.random.default_rng(1)
    img = rng.random((2, 64, 64)).astype(np.float32)
    a = parallel_angles(64)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        s1 = forward_project(img, a, 92, 1.0, 1.0)
        b1 = back_project(s1, a, (64, 64), 1.0, 1.0)
        numba.set_num_threads(2)
        s2 = forward_project(img, a, 92, 1.0, 1.0)
        b2 = back_project(s2, a, (64, 64), 1.0, 1.0)
    finally:
        numba.set_num_threads(old)
    assert s1.tobytes() == s2.tobytes()
    assert b1.tobytes() == b2.tobytes()


@pytest.mark.parametrize("kwargs, field", [
    ({"n_det": 0}, "n_detectors"),
    ({"det_spacing_mm": -1.0}, "det_spacing_mm"),
    ({"pixel_mm": 0.0}, "pixel_mm"),
    ({"angles_rad": [np.nan]}, "angles_rad"),
])
def test_bad_input(kwargs, field):
    args = {"images": np.zeros((8, 8), np.float32), "angles_rad": [0.0], "n_det": 8, "det_spacing_mm": 1.0,
            "pixel_mm": 1.0}
    args.update(kwargs)
    with pytest.raises(RadsynthInputError) as e:
        forward_project(**args)
    assert e.value.field == field


def test_parallel_angles_rejects_zero_views():
    with pytest.raises(RadsynthInputError, match="n_views"):
        parallel_angles(0)
