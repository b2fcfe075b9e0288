"""DRR ray casting against analytic chord lengths, magnification, orientation and determinism."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.physics.xray.drr import line_integrals, mask_2d_and_bbox, project_mask
from radsynth.physics.xray.geometry import RadiographGeometry, volume_centre_mm


def _sphere(n: int, spacing: float, radius_mm: float, centre_mm=None, sub: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Partial-volume sphere (fraction of each voxel inside, by sub^3 supersampling) on an n^3 grid."""
    aff = np.diag([spacing, spacing, spacing, 1.0])
    c = np.full(3, (n - 1) / 2 * spacing) if centre_mm is None else np.asarray(centre_mm, float)
    offs = (np.arange(sub) + 0.5) / sub - 0.5
    ax = np.arange(n) * spacing
    frac = np.zeros((n, n, n), dtype=np.float32)
    for ox in offs:
        for oy in offs:
            for oz in offs:
                d2 = ((ax + ox * spacing - c[0])[:, None, None] ** 2 + (ax + oy * spacing - c[1])[None, :, None] ** 2
                      + (ax + oz * spacing - c[2])[None, None, :] ** 2)
                frac += (d2 <= radius_mm ** 2)
    return frac / sub ** 3, aff


def test_uniform_box_chord_is_exact():
    aff = np.diag([0.7, 0.8, 2.5, 1.0])
    vol = np.ones((2, 30, 40, 12), dtype=np.float32)
    vol[1] *= 2.0
    g = RadiographGeometry("PA", 1000.0, 100.0, 9, 9, 1.0)
    out = line_integrals(vol, aff, g)
    assert out.shape == (2, 9, 9) and out.dtype == np.float32
    # central ray: perpendicular through the whole 40 x 0.8 mm depth
    assert out[0, 4, 4] == pytest.approx(32.0, rel=1e-6)
    assert out[1, 4, 4] == pytest.approx(64.0, rel=1e-6)
    # off-axis ray (fully inside the box): depth / cos(angle)
    fr = g.frame(aff, vol.shape[1:])
    d = fr.pixel_mm(0, 0) - fr.source_mm
    assert out[0, 0, 0] == pytest.approx(32.0 * np.linalg.norm(d) / abs(d[1]), rel=1e-6)
    # LAT through x: 30 x 0.7 mm
    out_lat = line_integrals(vol[:1], aff, RadiographGeometry("LAT", 1000.0, 100.0, 9, 9, 1.0))
    assert out_lat[0, 4, 4] == pytest.approx(21.0, rel=1e-6)


def test_sphere_chords_match_analytic():
    radius, n, sp = 12.0, 33, 1.0
    vol, aff = _sphere(n, sp, radius)
    g = RadiographGeometry("PA", 2000.0, 200.0, 31, 31, 1.0)
    out = line_integrals(vol[None], aff, g)[0]
    fr = g.frame(aff, vol.shape)
    c = volume_centre_mm(aff, vol.shape)
    errs = []
    for r in range(0, 31, 2):
        for col in range(0, 31, 2):
            p = fr.pixel_mm(r, col)
            u = (p - fr.source_mm) / np.linalg.norm(p - fr.source_mm)
            rho = np.linalg.norm(np.cross(c - fr.source_mm, u))
            chord = 2 * np.sqrt(max(radius ** 2 - rho ** 2, 0.0))
            if rho < radius - 1.5:  # away from the grazing rim
                errs.append(out[r, col] - chord)
    errs = np.abs(errs)
    assert len(errs) > 50
    assert errs.max() < 0.3 and errs.mean() < 0.1  # mm


def test_magnification_of_a_sphere_at_the_object_plane():
    radius, sp = 5.0, 0.5
    vol, aff = _sphere(31, sp, radius)
    g = RadiographGeometry("PA", 1000.0, 500.0, 61, 61, 0.5)  # M = 2
    path = project_mask(vol > 0.5, aff, g)
    mask, (r0, c0, r1, c1) = mask_2d_and_bbox(path, min_mm=0.05)
    expect_px = radius * g.magnification / g.pixel_mm  # 20 px
    assert abs((c1 - c0) / 2 - expect_px) <= 1.0
    assert abs((r1 - r0) / 2 - expect_px) <= 1.0
    assert abs(np.sqrt(mask.sum() / np.pi) - expect_px) <= 1.0
    # smaller magnification at a longer SOD
    g2 = RadiographGeometry("PA", 1000.0, 100.0, 61, 61, 0.5)
    _, (r0, c0, r1, c1) = mask_2d_and_bbox(project_mask(vol > 0.5, aff, g2), min_mm=0.05)
    assert abs((c1 - c0) / 2 - radius * g2.magnification / 0.5) <= 1.0


def _marker_volume():
    """Body block with a dense marker at the patient's right (+x), anterior (+y), superior (+z)."""
    vol = np.zeros((1, 20, 16, 24), dtype=np.float32)
    vol[0, 2:18, 2:14, 2:22] = 1.0
    vol[0, 13:17, 10:13, 17:21] = 5.0
    return vol, np.diag([2.0, 2.0, 2.0, 1.0])


def test_display_orientation_pa_ap_lat():
    vol, aff = _marker_volume()
    for view in ("PA", "AP"):
        img = line_integrals(vol, aff, RadiographGeometry(view, 1500.0, 100.0, 40, 40, 1.5))[0]
        r, c = np.unravel_index(np.argmax(img), img.shape)
        assert r < 20 and c < 20, view  # superior at top, patient's right on image left
    lat = line_integrals(vol, aff, RadiographGeometry("LAT", 1500.0, 100.0, 40, 40, 1.5))[0]
    r, c = np.unravel_index(np.argmax(lat), lat.shape)
    assert r < 20 and c < 20  # anterior on image left


def test_affine_orientation_is_respected():
    """An LAS-stored copy of the same anatomy (x flipped, negative x spacing) projects identically."""
    vol, aff = _marker_volume()
    las = aff.copy()
    las[0, 0] = -2.0
    las[0, 3] = 2.0 * (vol.shape[1] - 1)  # same world box
    g = RadiographGeometry("PA", 1500.0, 100.0, 40, 40, 1.5)
    a = line_integrals(vol, aff, g)
    b = line_integrals(np.ascontiguousarray(vol[:, ::-1]), las, g)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)


def test_pa_ap_mirror_relation():
    """AP of a volume == PA of its anterior-posterior mirror image (both displayed right-on-left)."""
    vol, aff = _marker_volume()
    ap = line_integrals(vol, aff, RadiographGeometry("AP", 1200.0, 150.0, 40, 40, 1.5))
    pa = line_integrals(np.ascontiguousarray(vol[:, :, ::-1]), aff, RadiographGeometry("PA", 1200.0, 150.0, 40, 40, 1.5))
    np.testing.assert_allclose(ap, pa, rtol=1e-5, atol=1e-4)
    # without the mirror, the anterior marker is magnified more in AP (nearer the source):
    # the integral of the projected path over the detector is V * M^2
    m = vol[0] == 5.0
    y_m = (np.nonzero(m)[1].mean() - (vol.shape[2] - 1) / 2) * 2.0  # marker depth, +anterior (mm)
    sid, oid = 400.0, 100.0
    ap_m = project_mask(m, aff, RadiographGeometry("AP", sid, oid, 60, 60, 1.0)).sum()
    pa_m = project_mask(m, aff, RadiographGeometry("PA", sid, oid, 60, 60, 1.0)).sum()
    expect = ((sid - oid + y_m) / (sid - oid - y_m)) ** 2
    assert ap_m / pa_m == pytest.approx(expect, rel=0.03)
    assert ap_m == pytest.approx(m.sum() * 8.0 * (sid / (sid - oid - y_m)) ** 2, rel=0.03)


def test_thread_count_determinism():
    vol, aff = _sphere(25, 1.0, 9.0)
    ch = np.stack([vol, 2 * vol + 0.1])
    g = RadiographGeometry("PA", 1000.0, 100.0, 37, 29, 0.9, (1.3, 0.0, -0.7))
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        a = line_integrals(ch, aff, g).tobytes()
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        b = line_integrals(ch, aff, g).tobytes()
    finally:
        numba.set_num_threads(before)
    assert a == b


def test_project_mask_and_bbox():
    vol, aff = _marker_volume()
    m = vol[0] == 5.0
    g = RadiographGeometry("PA", 1500.0, 100.0, 40, 40, 1.5)
    path = project_mask(m, aff, g)
    np.testing.assert_allclose(path, line_integrals(m[None].astype(np.float32), aff, g)[0], rtol=1e-6, atol=1e-6)
    assert path.max() == pytest.approx(6.0, rel=0.02)  # 3 voxels x 2 mm deep
    mask, bbox = mask_2d_and_bbox(path)
    r0, c0, r1, c1 = bbox
    assert mask.dtype == np.uint8 and mask[r0:r1, c0:c1].sum() == mask.sum()
    assert mask_2d_and_bbox(np.zeros((4, 4)))[1] is None
    with pytest.raises(RadsynthInputError):
        mask_2d_and_bbox(path, min_mm=0)


def test_bad_inputs():
    g = RadiographGeometry("PA", 1000.0, 100.0, 8, 8, 1.0)
    with pytest.raises(RadsynthInputError):
        line_integrals(np.ones((4, 4, 4), np.float32), np.eye(4), g)
    with pytest.raises(RadsynthInputError):
        line_integrals(np.ones((1, 4, 4, 4), np.float32), np.zeros((4, 4)), g)
    with pytest.raises(RadsynthInputError):
        project_mask(np.ones((4, 4)), np.eye(4), g)
    with pytest.raises(RadsynthInputError):
        line_integrals(np.ones((1, 4, 4, 4), np.float32), np.eye(4), "PA")
