"""Polychromatic noisy CT scans (radsynth.physics.ct.ct_scan)."""

import numba
import numpy as np
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.core.material_volume import MaterialVolume
from radsynth.physics.ct.ct_scan import (
    CTScan,
    RandomCTScan,
    ctdi_vol_mgy,
    effective_energy_kev,
    effective_mu_water_per_mm,
    simulate_basis_slices,
    simulate_ct,
    simulate_dose_pair,
)
from radsynth.physics.xray.basis import basis_volumes
from radsynth.physics.xray.materials import hounsfield_units, linear_attenuation_per_mm
from radsynth.physics.xray.spectrum import TubeSpectrum

N, PX = 96, 2.5  # 240 mm field of view


def grid():
    x = (np.arange(N) - (N - 1) / 2) * PX
    return np.meshgrid(x, x, indexing="ij")


def water_phantom(nz: int = 1, bone: bool = False) -> MaterialVolume:
    """200 mm water cylinder in air, optionally a 30 mm cortical-bone rod at x = +40 mm."""
    X, Y = grid()
    mat = np.zeros((N, N, nz), np.uint8)
    dens = np.full((N, N, nz), 0.001205, np.float32)
    w = np.broadcast_to((X ** 2 + Y ** 2 < 100 ** 2)[..., None], mat.shape)
    mat[w], dens[w] = 1, 1.0
    names = ["air", "water"]
    if bone:
        b = np.broadcast_to(((X - 40) ** 2 + Y ** 2 < 15 ** 2)[..., None], mat.shape)
        mat[b], dens[b] = 2, 1.92
        names.append("cortical_bone")
    return MaterialVolume(mat, dens, names, np.diag([PX, PX, 2.5, 1.0]), np.zeros(mat.shape, np.int16))


FAST = CTScan(n_views=240)


def test_water_cylinder_is_zero_hu_after_beam_hardening_correction():
    hu = simulate_ct(water_phantom(), FAST, noise_free=True)[..., 0]
    X, Y = grid()
    centre = X ** 2 + Y ** 2 < 15 ** 2
    rim = (X ** 2 + Y ** 2 < 92 ** 2) & (X ** 2 + Y ** 2 > 80 ** 2)
    assert abs(float(hu[centre].mean())) < 5.0  # no cupping left at the centre
    assert abs(float(hu[rim].mean())) < 5.0
    assert abs(float(hu[X ** 2 + Y ** 2 > 110 ** 2].mean()) + 1000) < 10  # air


def test_water_cylinder_without_correction_would_cup():
    # Sanity of the physics: the uncorrected polychromatic water projection is sub-linear (beam hardening).
    from radsynth.physics.ct.ct_scan import BHC_TABLE_MM, _spectral

    sp = _spectral(FAST)
    ratio = sp.p_table[1:] / BHC_TABLE_MM[1:]
    assert np.all(np.diff(ratio) < 0)


def test_bone_insert_hu_is_of_the_right_order():
    # Cortical bone at E_eff (ICRU 44 composition, 1.92 g/cm^3) is ~1500 HU at ~70 keV; the
    # reconstructed rod must agree within 10 % (the residual is bone beam hardening).
    e_eff = effective_energy_kev(FAST)
    expected = hounsfield_units("cortical_bone", e_eff)
    hu = simulate_ct(water_phantom(bone=True), FAST, noise_free=True)[..., 0]
    X, Y = grid()
    rod = (X - 40) ** 2 + Y ** 2 < 10 ** 2
    assert 1000 < expected < 2000
    assert abs(float(hu[rod].mean()) / expected - 1) < 0.10


def test_effective_energy_definition():
    e = effective_energy_kev(FAST)
    assert 60.0 < e < 80.0  # 120 kVp clinical CT effective energies are ~60-75 keV
    mu = float(linear_attenuation_per_mm("water", [e])[0])
    assert mu == pytest.approx(effective_mu_water_per_mm(FAST), rel=1e-4)
    assert effective_energy_kev(CTScan(spectrum=TubeSpectrum(kvp=80, energy_bin_kev=2))) < e


def _noise_images(scans, nz=3, seed=0):
    vol = water_phantom(nz)
    truth = simulate_ct(vol, scans[0], noise_free=True)
    chans, basis = basis_volumes(vol, *_spec(scans[0]))
    out = []
    for s in scans:
        img = simulate_basis_slices(chans, basis, PX, [s], [np.random.default_rng(seed)], 2.5)[0]
        t = truth if s.kernel == scans[0].kernel else simulate_ct(vol, s, noise_free=True)
        out.append(img - t)
    return out


def _spec(scan):
    from radsynth.physics.ct.ct_scan import _spectral

    sp = _spectral(scan)
    return sp.energies_kev, sp.weights


def test_noise_scales_as_inverse_sqrt_mas():
    # Quantum-limited CT noise: sigma ~ 1/sqrt(dose) ~ mAs^-0.5 (Hsieh, Computed Tomography, 2nd ed., 2009).
    mas = np.array([10.0, 30.0, 100.0, 300.0])
    scans = [CTScan(n_views=240, mas=m) for m in mas]
    X, Y = grid()
    roi = X ** 2 + Y ** 2 < 60 ** 2
    sig = [float(n[roi].std()) for n in _noise_images(scans)]
    slope = np.polyfit(np.log(mas), np.log(sig), 1)[0]
    assert abs(slope + 0.5) < 0.05, (sig, slope)


def _high_frequency_fraction(noise: np.ndarray) -> float:
    sub = noise[N // 2 - 16:N // 2 + 16, N // 2 - 16:N // 2 + 16]
    ps = (np.abs(np.fft.fft2(sub - sub.mean(axis=(0, 1)), axes=(0, 1))) ** 2).mean(axis=-1)
    f = np.fft.fftfreq(32)
    fr = np.hypot(*np.meshgrid(f, f, indexing="ij"))
    return float(ps[fr > 0.25].sum())


def test_sharper_kernel_has_more_high_frequency_noise_power():
    # NPS above 0.5 Nyquist: ramp > shepp-logan > hann (same noise realisation, kernels differ).
    scans = [CTScan(n_views=240, mas=50.0, kernel=k) for k in ("ramp", "shepp-logan", "hann")]
    hf = [_high_frequency_fraction(n) for n in _noise_images(scans, nz=2)]
    assert hf[0] > hf[1] > hf[2], hf


def test_same_seed_same_bytes_any_thread_count():
    vol = water_phantom(bone=True)
    a = simulate_ct(vol, FAST, np.random.default_rng(7))
    b = simulate_ct(vol, FAST, np.random.default_rng(7))
    assert a.tobytes() == b.tobytes()
    if numba.config.NUMBA_NUM_THREADS >= 2:
        old = numba.get_num_threads()
        try:
            numba.set_num_threads(1)
            c = simulate_ct(vol, FAST, np.random.default_rng(7))
            numba.set_num_threads(2)
            d = simulate_ct(vol, FAST, np.random.default_rng(7))
        finally:
            numba.set_num_threads(old)
        assert c.tobytes() == d.tobytes() == a.tobytes()
    assert simulate_ct(vol, FAST, np.random.default_rng(8)).tobytes() != a.tobytes()


def test_dose_pair_independent_noise_and_recorded_mas():
    pair = simulate_dose_pair(water_phantom(), CTScan(n_views=120, mas=200.0), low_mas=25.0, seed=3, with_truth=True)
    X, Y = grid()
    roi = X ** 2 + Y ** 2 < 60 ** 2
    s_low = float((pair.low_hu - pair.truth_hu)[..., 0][roi].std())
    s_full = float((pair.full_hu - pair.truth_hu)[..., 0][roi].std())
    assert s_low / s_full == pytest.approx(np.sqrt(8.0), rel=0.15)
    prov = pair.provenance()
    assert prov["low_mas"] == 25.0 and prov["full_mas"] == 200.0
    assert prov["low_ctdi_vol_mgy"] < prov["full_ctdi_vol_mgy"]
    again = simulate_dose_pair(water_phantom(), CTScan(n_views=120, mas=200.0), 25.0, seed=3)
    assert again.low_hu.tobytes() == pair.low_hu.tobytes()


def test_ctdi_estimate():
    assert ctdi_vol_mgy(CTScan(mas=100.0)) == pytest.approx(8.0)
    assert ctdi_vol_mgy(CTScan(mas=100.0, spectrum=TubeSpectrum(kvp=80))) < 8.0 * 0.4


def test_round_trip_and_random_twin():
    s = CTScan(mas=42.0, kernel="hann", n_detectors=300, det_spacing_mm=0.8)
    assert CTScan.from_dict(s.to_dict()) == s
    r = RandomCTScan(mas_range=(20.0, 400.0), kvp_choices=(100.0, 120.0), kernels=("ramp", "hann"))
    a = r.sample(np.random.default_rng(0))
    assert a == r.sample(np.random.default_rng(0))
    assert 20.0 <= a.mas <= 400.0 and a.kernel in ("ramp", "hann")
    assert CTScan.from_dict(a.to_dict()) == a
    assert RandomCTScan.from_dict(r.to_dict()) == r


@pytest.mark.parametrize("kwargs, field", [
    ({"mas": 0.0}, "mas"),
    ({"mas": -5.0}, "mas"),
    ({"n_views": 0}, "n_views"),
    ({"n_views": 2.5}, "n_views"),
    ({"kernel": "sharp"}, "kernel"),
    ({"source_to_isocenter_mm": 10.0}, "source_to_isocenter_mm"),
    ({"det_spacing_mm": 0.0}, "det_spacing_mm"),
    ({"detector": "film"}, "detector"),
    ({"electronic_noise": -1.0}, "electronic_noise"),
    ({"spectrum": {"kvp": 200.0}}, "kvp"),
])
def test_bad_input(kwargs, field):
    with pytest.raises(RadsynthInputError) as e:
        CTScan(**kwargs)
    assert e.value.field == field


def test_unknown_key_and_source_inside_patient():
    with pytest.raises(RadsynthInputError, match="ct_scan"):
        CTScan.from_dict({"mAs": 10})
    big = CTScan(source_to_isocenter_mm=300.0, n_views=8)
    vol = water_phantom()
    vol = MaterialVolume(vol.material, vol.density_g_cm3, vol.names, np.diag([8.0, 8.0, 2.5, 1.0]), vol.labels)
    with pytest.raises(RadsynthInputError, match="source_to_isocenter_mm"):
        simulate_ct(vol, big, noise_free=True)


def test_tabulated_transmission_matches_direct_sum():
    # The (water, bone) ln T table must agree with beer_lambert's direct sum far below quantum noise.
    from radsynth.physics.ct.ct_scan import _spectral, transmission
    from radsynth.physics.xray.basis import basis_mass_attenuation
    from radsynth.physics.xray.beer_lambert import polychromatic_transmission

    rng = np.random.default_rng(0)
    L = np.stack([rng.uniform(0, 40, 5000), rng.uniform(-1, 12, 5000)])
    basis = ("water", "cortical_bone")
    sp = _spectral(FAST)
    direct = polychromatic_transmission(L, basis_mass_attenuation(basis, sp.energies_kev), sp.weights)
    assert np.abs(np.log(transmission(L, basis, FAST)) - np.log(direct)).max() < 3e-4  # quantum noise >= 1e-3
