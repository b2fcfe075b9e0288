"""Radiograph physics: Beer-Lambert, inverse square, noise scaling, scatter, display, determinism."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.core.material_volume import MaterialVolume
from radsynth.physics.xray.basis import basis_mass_attenuation
from radsynth.physics.xray.beer_lambert import polychromatic_transmission
from radsynth.physics.xray.geometry import RadiographGeometry
from radsynth.physics.xray.materials import mass_attenuation_cm2_g
from radsynth.physics.xray.radiograph import Radiograph, RandomRadiograph, process_for_presentation
from radsynth.physics.xray.scatter import ScatterKernel
from radsynth.physics.xray.spectrum import TubeSpectrum

BASIS = ("water", "cortical_bone")
QUIET = dict(quantum_noise=False, electronic_noise_quanta=0.0, blur_sigma_mm=0.0, scatter=None)


def _geom(n=33, sid=1800.0, pix=2.0, view="PA"):
    return RadiographGeometry(view, sid, 150.0, n, n, pix)


def _uniform_L(g, water_g_cm2=10.0, bone_g_cm2=0.0):
    L = np.zeros((2, *g.shape), dtype=np.float32)
    L[0], L[1] = water_g_cm2, bone_g_cm2
    return L


def test_beer_lambert_water_slab_matches_direct_spectrum_sum():
    """-ln(I/I0) of 20 cm water == -ln(sum_E w exp(-mu(E) rho t) / sum_E w), w = E N(E)."""
    g = _geom(9)
    r = Radiograph(geometry=g, **QUIET)  # default chest beam: 120 kVp, 3 mm Al + 0.1 mm Cu
    spec = r.spectrum
    im = r.apply(_uniform_L(g, 20.0), BASIS)
    e, n = spec.fluence()
    w = e * n
    expect = -np.log((w * np.exp(-mass_attenuation_cm2_g("water", e) * 20.0)).sum() / w.sum())
    np.testing.assert_allclose(im.log_image, expect, rtol=1e-5)
    # beam hardening (Jensen): less than the spectrum-averaged attenuation, more than at 150 keV
    assert expect < (w * mass_attenuation_cm2_g("water", e)).sum() / w.sum() * 20.0
    assert expect > mass_attenuation_cm2_g("water", [150.0])[0] * 20.0
    # a narrow (heavily filtered) beam approaches the monoenergetic law
    narrow = TubeSpectrum(kvp=60.0, filtration_mm_al=20.0, filtration_mm_cu=1.0, energy_bin_kev=0.5)
    en, nn = narrow.fluence()
    im2 = Radiograph(geometry=g, spectrum=narrow, **QUIET).apply(_uniform_L(g, 2.0), BASIS)
    mono = mass_attenuation_cm2_g("water", [(en * en * nn).sum() / (en * nn).sum()])[0] * 2.0
    assert im2.log_image[4, 4] == pytest.approx(mono, rel=0.02)


def test_flat_field_inverse_square_and_mas():
    a = Radiograph(geometry=_geom(33, 1000.0), mas=2.0)
    b = Radiograph(geometry=_geom(33, 2000.0), mas=2.0)
    c = Radiograph(geometry=_geom(33, 1000.0), mas=4.0)
    fa, fb, fc = a.flat_field_photons(), b.flat_field_photons(), c.flat_field_photons()
    assert fa[16, 16] / fb[16, 16] == pytest.approx(4.0, rel=1e-12)
    assert fc[16, 16] / fa[16, 16] == pytest.approx(2.0, rel=1e-12)
    phi = a.spectrum.photons_per_mm2_per_mas_at_1m()
    assert fa[16, 16] == pytest.approx(phi * 2.0 * 2.0 ** 2 * a.detector_efficiency, rel=1e-12)
    # off-axis pixels: cos^3 of the ray angle
    rho = 16 * 2.0 * np.sqrt(2)
    assert fa[0, 0] / fa[16, 16] == pytest.approx((1000.0 / np.hypot(1000.0, rho)) ** 3, rel=1e-9)


def test_noise_variance_scales_as_inverse_mas():
    g = _geom(64, pix=1.0)
    L = _uniform_L(g, 15.0, 1.0)
    var = {}
    for mas in (0.05, 0.2):
        r = Radiograph(geometry=g, mas=mas, quantum_noise=True, electronic_noise_quanta=0.0,
                       blur_sigma_mm=0.0, scatter=None, noise_seed=3)
        im = r.apply(L, BASIS)
        var[mas] = float(im.log_image.var())
        e, n, _ = r.detected_spectrum()
        t_photons = polychromatic_transmission(L[:, :1, :1], basis_mass_attenuation(BASIS, e), n)[0, 0]
        expected_counts = r.flat_field_photons().mean() * t_photons
        # relative variance of a Poisson count = 1/N (N: expected detected photons)
        assert var[mas] * expected_counts == pytest.approx(1.0, rel=0.08)
    assert var[0.05] / var[0.2] == pytest.approx(4.0, rel=0.1)


def test_same_seed_same_bytes_and_replay():
    g = _geom(24)
    r = Radiograph(geometry=g, mas=0.5, noise_seed=11)
    L = _uniform_L(g, 12.0, 0.5)
    L[1, 5:10] = 3.0
    a, b = r.apply(L, BASIS), Radiograph.from_dict(json.loads(json.dumps(r.to_dict()))).apply(L, BASIS)
    for name in ("intensity", "log_image", "display"):
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes()
    c = replace(r, noise_seed=12).apply(L, BASIS)
    assert a.intensity.tobytes() != c.intensity.tobytes()


def test_random_twin_replays():
    rr = RandomRadiograph.for_view("PA")
    r1 = rr.sample(np.random.default_rng(5))
    r2 = rr.sample(np.random.default_rng(5))
    assert r1 == r2 and Radiograph.from_dict(json.loads(json.dumps(r1.to_dict()))) == r1
    assert 110 <= r1.spectrum.kvp <= 125 and 1.0 <= r1.mas <= 4.0
    assert 1750 <= r1.geometry.source_to_image_mm <= 1850
    assert RandomRadiograph.from_dict(json.loads(json.dumps(rr.to_dict()))) == rr
    ap = RandomRadiograph.for_view("AP").sample(np.random.default_rng(1))
    assert ap.geometry.view == "AP" and ap.geometry.source_to_image_mm <= 1100
    with pytest.raises(RadsynthInputError):
        RandomRadiograph(kvp=(100, 200))
    with pytest.raises(RadsynthInputError):
        RandomRadiograph(object_to_image_mm=(100, 2000))


def test_scatter_adds_spr_times_primary():
    g = _geom(40, pix=2.0)
    L = _uniform_L(g, 20.0)
    k = ScatterKernel(spr_per_cm=0.15, grid=False)
    base = dict(quantum_noise=False, electronic_noise_quanta=0.0, blur_sigma_mm=0.0)
    no = Radiograph(geometry=g, scatter=None, **base).apply(L, BASIS)
    yes = Radiograph(geometry=g, scatter=k, **base).apply(L, BASIS)
    added = yes.intensity.astype(np.float64).sum() - no.intensity.astype(np.float64).sum()
    assert added == pytest.approx((k.spr(yes.water_mm) * no.primary).sum(), rel=1e-4)
    assert float(yes.water_mm.mean()) == pytest.approx(200.0, rel=1e-6)
    assert yes.log_image.mean() < no.log_image.mean()  # scatter lowers apparent attenuation
    grid = Radiograph(geometry=g, scatter=ScatterKernel(grid=True), **base).apply(L, BASIS)
    assert (grid.scatter / grid.primary).mean() < (yes.scatter / yes.primary).mean() / 3


def _chest_like_volume():
    """Tiny thorax: soft-tissue body, two lungs, a dense mediastinum and a bony spine."""
    shape = (40, 24, 30)
    mat = np.zeros(shape, np.uint8)
    dens = np.full(shape, 0.0012, np.float32)
    names = ["air", "soft_tissue", "lung", "cortical_bone"]
    body = np.zeros(shape, bool)
    body[3:37, 3:21, 2:28] = True
    mat[body], dens[body] = 1, 1.06
    for xs in (slice(6, 17), slice(23, 34)):
        mat[xs, 6:18, 6:25], dens[xs, 6:18, 6:25] = 2, 0.26
    mat[18:22, 4:8, 2:28], dens[18:22, 4:8, 2:28] = 3, 1.92  # spine, posterior
    aff = np.diag([5.0, 5.0, 5.0, 1.0])
    return MaterialVolume(mat, dens, names, aff, np.zeros(shape, np.int16)), body


def test_simulate_chest_like_phantom_monochrome2():
    vol, _ = _chest_like_volume()
    g = RadiographGeometry("PA", 1800.0, 100.0, 48, 64, 4.0)
    im = Radiograph(geometry=g, mas=2.0, noise_seed=1).simulate(vol)
    d = im.display
    assert d.dtype == np.float32 and d.min() >= 0.0 and d.max() <= 1.0
    assert im.basis == ("water", "cortical_bone")
    # display columns: patient's right (+x, high index here) on image left
    lung_right = d[15:30, 14:24].mean()
    lung_left = d[15:30, 40:50].mean()
    spine = d[15:30, 31:33].mean()
    air = d[0:2, 0:3].mean()
    assert air < lung_right < spine and lung_left < spine
    assert im.acquisition["photometric_interpretation"] == "MONOCHROME2"
    assert im.acquisition["view_position"] == "PA" and im.acquisition["kvp"] == 120.0


def test_process_for_presentation_window_and_gamma():
    p = np.tile(np.linspace(0, 3, 50), (20, 1))
    d, (lo, hi) = process_for_presentation(p, 1.0, (0.0, 100.0), unsharp_amount=0.0, detail_amount=0.0, gamma=1.0)
    assert lo == pytest.approx(0.06122, rel=1e-3) and hi == pytest.approx(3.0)  # window inside the body (> 0.05)
    dg, _ = process_for_presentation(p, 1.0, (0.0, 100.0), unsharp_amount=0.0, detail_amount=0.0, gamma=2.0)
    np.testing.assert_allclose(dg, d.astype(np.float64) ** 2, atol=1e-6)


@pytest.mark.parametrize("kw,field", [
    ({"mas": 0}, "mas"), ({"mas": -1}, "mas"), ({"detector": "film"}, "detector"),
    ({"noise_seed": -1}, "noise_seed"), ({"blur_sigma_mm": -0.1}, "blur_sigma_mm"),
    ({"window_percentiles": (90, 10)}, "window_percentiles"), ({"quantum_noise": "yes"}, "quantum_noise"),
    ({"detector_efficiency": 0}, "detector_efficiency"), ({"gamma": 0}, "gamma"),
    ({"geometry": "PA"}, "geometry"), ({"scatter": 0.3}, "scatter"),
])
def test_bad_params(kw, field):
    with pytest.raises(RadsynthInputError) as e:
        Radiograph(**kw)
    assert e.value.field == field


def test_bad_line_integral_shape_and_dict():
    r = Radiograph(geometry=_geom(8))
    with pytest.raises(RadsynthInputError):
        r.apply(np.zeros((2, 9, 8), np.float32), BASIS)
    with pytest.raises(RadsynthInputError):
        Radiograph.from_dict({"kvp": 120})
    with pytest.raises(RadsynthInputError):
        Radiograph(spectrum=TubeSpectrum(kvp=200))
