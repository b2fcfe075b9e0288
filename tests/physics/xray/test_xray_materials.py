"""Materials, spectra and polychromatic attenuation against published values.

Reference mass attenuation coefficients: NIST X-Ray Mass Attenuation Coefficients
(Hubbell & Seltzer, NISTIR 5632; physics.nist.gov/PhysRefData/XrayMassCoef), tables 4
(water, liquid) and 4 (bone, cortical, ICRU-44). radsynth's values come from xraydb's
Elam tables by the mixture rule, so agreement within a few per cent is expected.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.core.material_volume import MaterialVolume
from radsynth.physics.xray import materials as M
from radsynth.physics.xray.basis import basis_for, basis_mass_attenuation, basis_volumes, decompose
from radsynth.physics.xray.beer_lambert import detected_weights, effective_mu_cm2_g, polychromatic_transmission
from radsynth.physics.xray.spectrum import TubeSpectrum

NIST_WATER = {20: 0.8096, 30: 0.3756, 40: 0.2683, 50: 0.2269, 60: 0.2059, 80: 0.1837, 100: 0.1707, 150: 0.1505}
NIST_CORTICAL_BONE = {30: 1.331, 40: 0.6655, 50: 0.4242, 60: 0.3148, 80: 0.2229, 100: 0.1855, 150: 0.1480}


@pytest.mark.parametrize("table,material", [(NIST_WATER, "water"), (NIST_CORTICAL_BONE, "cortical_bone")])
def test_mass_attenuation_matches_nist(table, material):
    e = np.array(sorted(table), dtype=float)
    got = M.mass_attenuation_cm2_g(material, e)
    ref = np.array([table[k] for k in sorted(table)])
    np.testing.assert_allclose(got, ref, rtol=0.04)


def test_every_material_has_fractions_summing_to_one_and_positive_attenuation():
    e = np.arange(20.0, 151.0, 10.0)
    for name, mat in M.MATERIALS.items():
        assert abs(sum(mat.composition.values()) - 1) < 1e-9
        mu = M.mass_attenuation_cm2_g(name, e)
        assert np.all(mu > 0)
        if name not in ("iodine", "iodinated_blood"):  # no K-edge in range: monotone decreasing
            assert np.all(np.diff(mu) < 0), name


def test_hounsfield_units_of_tissues_at_60_kev_are_textbook_order():
    # water 0 by definition; fat ~ -100, muscle ~ +40..60, bone >> 1000 (e.g. Hsieh, Computed Tomography, Table 1.1)
    assert abs(M.hounsfield_units("water", 60)) < 1e-9
    assert -130 < M.hounsfield_units("adipose", 60) < -60
    assert 20 < M.hounsfield_units("muscle", 60) < 80
    assert M.hounsfield_units("cortical_bone", 60) > 1200
    assert M.hounsfield_units("air", 60) < -990


def test_density_for_hu_inverts_hounsfield_units():
    for name in ("adipose", "muscle", "lung", "cortical_bone"):
        rho = float(M.density_for_hu(name, 123.0, 65.0))
        assert M.hounsfield_units(name, 65.0, rho) == pytest.approx(123.0, abs=1e-6)


def test_unknown_material_and_energy_out_of_range_raise_one_line():
    with pytest.raises(RadsynthInputError, match="material: got 'unobtainium'"):
        M.get_material("unobtainium")
    with pytest.raises(RadsynthInputError, match="energy_kev"):
        M.mass_attenuation_cm2_g("water", [10.0])
    with pytest.raises(RadsynthInputError, match="energy_kev"):
        M.linear_attenuation_per_mm("water", [200.0])


def test_spectrum_kvp_outside_tables_raises():
    for kvp in (30, 160):
        with pytest.raises(RadsynthInputError, match="kvp"):
            TubeSpectrum(kvp=kvp)


def test_spectrum_mean_energy_rises_with_kvp_and_filtration():
    e80 = TubeSpectrum(80).mean_energy_kev()
    e120 = TubeSpectrum(120).mean_energy_kev()
    e120f = TubeSpectrum(120, filtration_mm_al=12).mean_energy_kev()
    assert e80 < e120 < e120f
    e, n = TubeSpectrum(120).fluence()
    assert e.min() >= 20 and e.max() < 120 and np.all(n > 0)


def test_spekpy_filtration_agrees_with_the_material_tables():
    """SpekPy's own aluminium attenuation (NIST-based) vs radsynth's (xraydb) bin by bin: exp(-mu t)."""
    a = TubeSpectrum(kvp=100, filtration_mm_al=3.0)
    b = TubeSpectrum(kvp=100, filtration_mm_al=5.0)
    e, na = a.fluence()
    _, nb = b.fluence()
    mu_al = M.mass_attenuation_cm2_g(M.Material("Al", 2.699, {"Al": 1.0}), e) * 2.699 / 10  # 1/mm
    np.testing.assert_allclose(nb / na, np.exp(-mu_al * 2.0), rtol=0.03)


def test_polychromatic_transmission_reduces_to_beer_lambert_for_one_energy():
    mu = basis_mass_attenuation(("water",), np.array([60.0]))
    L = np.array([[0.0, 1.0, 20.0]])  # g/cm^2 of water
    t = polychromatic_transmission(L, mu, np.array([1.0]))
    np.testing.assert_allclose(t, np.exp(-0.2059 * L[0]), rtol=0.02)


def test_beam_hardening_lowers_effective_attenuation_with_thickness():
    e, n = TubeSpectrum(120).fluence()
    mu = basis_mass_attenuation(("water",), e)
    w = detected_weights(e, n)
    eff = effective_mu_cm2_g(np.array([[1.0, 10.0, 30.0]]), mu, w)
    assert eff[0] > eff[1] > eff[2]


def test_two_basis_decomposition_fits_soft_tissues_within_three_percent():
    e, n = TubeSpectrum(120).fluence()
    w = detected_weights(e, n)
    basis = ("water", "cortical_bone")
    B = basis_mass_attenuation(basis, e)
    for name in ("lung", "adipose", "muscle", "blood", "brain", "cancellous_bone"):
        c = decompose(name, basis, e, w)
        rel = np.abs(c @ B / M.mass_attenuation_cm2_g(name, e) - 1)
        assert float((rel * w).sum() / w.sum()) < 0.03, name
    assert basis_for(["water", "iodinated_blood", "titanium"]) == ("water", "cortical_bone", "iodine", "titanium")


def test_basis_volumes_of_pure_water_is_its_density():
    shape = (3, 4, 5)
    mv = MaterialVolume(np.zeros(shape, np.uint8), np.full(shape, 0.9, np.float32), ["water"], np.eye(4),
                        np.zeros(shape, np.int16))
    e, n = TubeSpectrum(100).fluence()
    vols, basis = basis_volumes(mv, e, n)
    assert basis == ("water", "cortical_bone")
    assert vols.shape == (2,) + shape
    np.testing.assert_allclose(vols[0], 0.9)
    np.testing.assert_allclose(vols[1], 0.0)
    assert math.isclose(mv.voxel_ml, 0.001)
