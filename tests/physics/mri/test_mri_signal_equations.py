"""Analytic checks of the signal equations.

References: Haacke EM et al., MRI: Physical Principles and Sequence Design (1999);
Bernstein MA et al., Handbook of MRI Pulse Sequences (2004) sec. 14.1-14.3;
Bydder GM, Young IR, J Comput Assist Tomogr 1985;9:659-675 (IR null at TI = T1 ln 2);
Ernst RR, Anderson WA, Rev Sci Instrum 1966;37:93-102 (Ernst angle).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radsynth.core.errors import RadsynthInputError
from radsynth.physics.mri.inversion_recovery import InversionRecovery
from radsynth.physics.mri.mprage import MPRAGE
from radsynth.physics.mri.presets import signal_model_from_dict
from radsynth.physics.mri.spin_echo import SpinEcho
from radsynth.physics.mri.spoiled_gradient_echo import SpoiledGradientEcho


def test_spin_echo_long_tr_zero_te_gives_pd():
    s = SpinEcho(tr_ms=1e6, te_ms=0.0).signal([0.7, 1.0], [800.0, 4000.0], [70.0, 2000.0])
    np.testing.assert_allclose(s, [0.7, 1.0], rtol=1e-6)
    assert s.dtype == np.float32


def test_spin_echo_t1_recovery_and_t2_decay():
    # TR = T1 -> 1 - 1/e ; TE = T2 -> 1/e
    s = SpinEcho(tr_ms=800.0, te_ms=70.0).signal(1.0, 800.0, 70.0)
    assert float(s) == pytest.approx((1 - math.exp(-1)) * math.exp(-1), rel=1e-6)


@settings(max_examples=50, deadline=None)
@given(t1=st.floats(100.0, 5000.0))
def test_inversion_recovery_null_at_t1_ln2(t1):
    # TR >> T1: Mz(TI) = 1 - 2 exp(-TI/T1) is zero at TI = T1 ln 2 (Bydder & Young 1985)
    ir = InversionRecovery(tr_ms=1e7, te_ms=0.0, ti_ms=t1 * math.log(2.0))
    assert float(ir.signal(1.0, t1, 100.0)) < 1e-5
    assert ir.null_t1_ms() == pytest.approx(t1, rel=1e-6)


def test_inversion_recovery_finite_tr_null_and_flair_nulls_csf():
    ir = InversionRecovery(tr_ms=9000.0, te_ms=120.0, ti_ms=2500.0)
    t1_null = ir.null_t1_ms()
    # closed form TI = T1 ln(2 / (1 + exp(-TR/T1)))
    assert 2500.0 == pytest.approx(t1_null * math.log(2.0 / (1.0 + math.exp(-9000.0 / t1_null))), rel=1e-6)
    assert 4000.0 < t1_null < 4600.0  # CSF T1 ~4.3 s
    # far from the null the magnitude is |1 - 2e^{-TI/T1} + e^{-TR/T1}| e^{-TE/T2}
    s = float(ir.signal(0.8, 1000.0, 90.0))
    assert s == pytest.approx(0.8 * abs(1 - 2 * math.exp(-2.5) + math.exp(-9.0)) * math.exp(-120 / 90), rel=1e-5)


def test_spoiled_gre_90deg_long_tr_is_pd_t2star_decay():
    s = SpoiledGradientEcho(tr_ms=1e6, te_ms=30.0, flip_deg=90.0).signal(0.8, 1000.0, 80.0, 30.0)
    assert float(s) == pytest.approx(0.8 * math.exp(-1.0), rel=1e-5)


@settings(max_examples=50, deadline=None)
@given(t1=st.floats(200.0, 4000.0), tr=st.floats(3.0, 100.0))
def test_spoiled_gre_maximal_at_ernst_angle(t1, tr):
    ernst = SpoiledGradientEcho(tr, 1.0, 10.0).ernst_angle_deg(t1)
    assert ernst == pytest.approx(math.degrees(math.acos(math.exp(-tr / t1))))
    s_e = float(SpoiledGradientEcho(tr, 1.0, ernst).signal(1.0, t1, 50.0, 40.0))
    for d in (-3.0, 3.0):
        fa = min(max(ernst + d, 0.1), 90.0)
        assert float(SpoiledGradientEcho(tr, 1.0, fa).signal(1.0, t1, 50.0, 40.0)) <= s_e * (1 + 1e-5)
    # at cos(a) = E1 the Ernst equation reduces to sqrt((1 - E1)/(1 + E1))
    e1 = math.exp(-tr / t1)
    assert s_e == pytest.approx(math.sqrt((1 - e1) / (1 + e1)) * math.exp(-1.0 / 40.0), rel=1e-4)


def _mprage_bruteforce(m: MPRAGE, t1: float, n_periods: int = 40) -> float:
    """Step the longitudinal magnetisation through many inversion periods (float64)."""
    a = math.radians(m.flip_deg)
    kc = int(round(m.centre_fraction * (m.n_readouts - 1)))
    t_a = m.ti_ms - kc * m.echo_spacing_ms
    t_d = m.tr_ms - t_a - m.n_readouts * m.echo_spacing_ms
    relax = lambda mz, t: 1.0 - (1.0 - mz) * math.exp(-t / t1)  # noqa: E731
    mz, centre = 1.0, None
    for _ in range(n_periods):
        mz = relax(-mz, t_a)
        for k in range(m.n_readouts):
            if k == kc:
                centre = mz
            mz = relax(mz * math.cos(a), m.echo_spacing_ms)
        mz = relax(mz, t_d)
    return centre


@pytest.mark.parametrize("t1", [300.0, 838.0, 1607.0, 4300.0])
def test_mprage_closed_form_matches_bloch_stepping(t1):
    m = MPRAGE(2300.0, 900.0, 2.98, 9.0, 7.1, 176)
    assert float(m.longitudinal_at_centre(t1)) == pytest.approx(_mprage_bruteforce(m, t1), abs=1e-5)


def test_mprage_t1_contrast_wm_over_gm_over_csf():
    m = MPRAGE(2300.0, 900.0, 2.98, 9.0, 7.1, 176)
    s = m.signal([0.69, 0.8, 1.0], [838.0, 1607.0, 4300.0], [69.0, 99.0, 2000.0], [53.0, 66.0, 1000.0])
    assert s[0] > s[1] > s[2]


@pytest.mark.parametrize("model", [
    SpinEcho(500.0, 15.0), InversionRecovery(9000.0, 120.0, 2500.0),
    SpoiledGradientEcho(20.0, 5.0, 25.0), MPRAGE(2400.0, 1000.0, 3.6, 8.0, 8.0, 160),
])
def test_to_dict_round_trip(model):
    again = signal_model_from_dict(model.to_dict())
    assert again == model
    args = ([0.7, 0.8], [800.0, 1200.0], [70.0, 90.0], [50.0, 60.0])
    np.testing.assert_array_equal(again.signal(*args), model.signal(*args))


@pytest.mark.parametrize("build", [
    lambda: SpinEcho(-1.0, 10.0),
    lambda: SpinEcho(500.0, 600.0),
    lambda: InversionRecovery(2000.0, 10.0, 2500.0),
    lambda: SpoiledGradientEcho(20.0, 5.0, 0.0),
    lambda: MPRAGE(1000.0, 900.0, 3.0, 9.0, 7.1, 176),
    lambda: signal_model_from_dict({"kind": "bssfp"}),
])
def test_bad_parameters_raise_input_error(build):
    with pytest.raises(RadsynthInputError):
        build()
