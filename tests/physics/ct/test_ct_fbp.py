"""Filtered back projection (radsynth.physics.ct.fbp)."""

import numpy as np
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.physics.ct.fbp import KERNELS, fbp, filter_response, padded_length
from radsynth.physics.ct.projector import auto_n_detectors, forward_project, parallel_angles



def disk(n: int, pixel_mm: float, radius_mm: float, centre_mm=(0.0, 0.0), value=1.0, ss: int = 8) -> np.ndarray:
    """Anti-aliased (ss x ss supersampled) disk on an (x, y) grid centred on the rotation axis."""
    xs = (np.arange(n * ss) - (n * ss - 1) / 2) * pixel_mm / ss
    X, Y = np.meshgrid(xs, xs, indexing="ij")
    inside = (X - centre_mm[0]) ** 2 + (Y - centre_mm[1]) ** 2 < radius_mm ** 2
    return (inside.reshape(n, ss, n, ss).mean(axis=(1, 3)) * value).astype(np.float32)


@pytest.mark.parametrize("kernel", KERNELS)
def test_disk_interior_reconstructs_to_its_value(kernel):
    # A uniform disk of value mu reconstructs to mu (FBP scaling), within 1 % inside it.
    n, p, r, mu = 128, 1.0, 40.0, 0.02
    img = disk(n, p, r, (0.0, 5.0), mu)
    a = parallel_angles(180)
    d = auto_n_detectors((n, n), p, p)
    rec = fbp(forward_project(img, a, d, p, p), a, (n, n), p, p, kernel)
    x = (np.arange(n) - (n - 1) / 2) * p
    X, Y = np.meshgrid(x, x, indexing="ij")
    inside = X ** 2 + (Y - 5.0) ** 2 < (r - 5.0) ** 2
    assert abs(rec[inside].mean() / mu - 1) < 0.01
    assert np.all(np.abs(rec[inside] / mu - 1) < 0.01)
    outside = X ** 2 + (Y - 5.0) ** 2 > (r + 5.0) ** 2
    assert np.abs(rec[outside]).mean() < 0.005 * mu and np.abs(rec[outside]).max() < 0.05 * mu


def test_ramp_filter_has_no_dc_offset_and_reaches_nyquist():
    # Kak & Slaney's spatial ramp: H(0) ~ 0 and H(0.5) = 0.5 cycles/sample (the |f| ramp).
    h = filter_response("ramp", 1024)
    assert abs(h[0]) < 1e-3
    assert h[-1] == pytest.approx(0.5, rel=1e-3)
    assert filter_response("hann", 1024)[-1] == pytest.approx(0.0, abs=1e-12)


def test_padding_is_power_of_two_at_least_twice_detectors():
    assert padded_length(725) == 2048
    assert padded_length(512) == 1024


def test_unknown_kernel():
    with pytest.raises(RadsynthInputError) as e:
        fbp(np.zeros((4, 8)), parallel_angles(4), (8, 8), 1.0, 1.0, "bone-sharp")
    assert e.value.field == "kernel" and "shepp-logan" in str(e.value)
