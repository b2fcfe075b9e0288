"""Turbo spin echo: spin-echo contrast for water, bright fat from the echo train (Henkelman et al.,
"Why fat is bright in RARE and fast spin-echo imaging", JMRI 1992;2:533-540)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radsynth.core.errors import RadsynthInputError
from radsynth.physics.mri import Acquisition, simulate
from radsynth.physics.mri.presets import get_sequence, signal_model_from_dict
from radsynth.physics.mri.spin_echo import SpinEcho
from radsynth.physics.mri.tissue import LIPID_FRACTION, label_lipid_lut, tissue_table
from radsynth.physics.mri.turbo_spin_echo import TurboSpinEcho


def test_water_tissue_has_the_spin_echo_signal():
    tse, se = TurboSpinEcho(5000.0, 90.0), SpinEcho(5000.0, 90.0)
    for name, p in tissue_table(3.0).items():
        a = float(tse.signal(p.pd, p.t1_ms, p.t2_ms, p.t2star_ms, lipid_fraction=0.0))
        b = float(se.signal(p.pd, p.t1_ms, p.t2_ms, p.t2star_ms))
        assert a == pytest.approx(b, rel=1e-6), name
        assert float(tse.signal(p.pd, p.t1_ms, p.t2_ms)) == pytest.approx(b, rel=1e-6)  # no lipid map: water


def test_pure_lipid_decays_with_the_echo_train_t2():
    # S = PD (1 - e^{-TR/T1}) e^{-TE/T2_lipid}, analytic
    m = TurboSpinEcho(5000.0, 90.0, lipid_t2_ms=140.0)
    got = float(m.signal(0.9, 382.0, 68.0, lipid_fraction=1.0))
    assert got == pytest.approx(0.9 * (1 - math.exp(-5000 / 382)) * math.exp(-90 / 140), rel=1e-6)


@pytest.mark.parametrize("b0", [1.5, 3.0])
def test_fat_bright_on_t2w_tse_between_grey_matter_and_csf(b0):
    model, _ = get_sequence("T2w", b0)
    assert isinstance(model, TurboSpinEcho)
    t = tissue_table(b0)

    def s(name):
        p = t[name]
        return float(model.signal(p.pd, p.t1_ms, p.t2_ms, lipid_fraction=LIPID_FRACTION.get(name, 0.0)))

    se = SpinEcho(model.tr_ms, model.te_ms)
    fat_se = float(se.signal(t["fat"].pd, t["fat"].t1_ms, t["fat"].t2_ms))
    assert fat_se < s("gm")  # the single-echo fat T2: fat below cortex (what the simulator made before)
    assert s("csf") > s("fat") > s("gm") > s("wm")  # clinical T2 TSE: fat bright, under CSF
    assert 1.8 < s("fat") / fat_se < 3.0  # 2-2.6x the conventional spin-echo fat signal at TE 90-100 ms


@settings(max_examples=60, deadline=None)
@given(f=st.floats(0.0, 1.0), t2=st.floats(20.0, 130.0), te=st.floats(20.0, 150.0))
def test_signal_is_the_lipid_weighted_mix_and_grows_with_lipid(f, t2, te):
    m = TurboSpinEcho(5000.0, te, echo_spacing_ms=10.0, echo_train_length=16, lipid_t2_ms=140.0)
    water = float(m.signal(1.0, 800.0, t2, lipid_fraction=0.0))
    lipid = float(m.signal(1.0, 800.0, t2, lipid_fraction=1.0))
    mix = float(m.signal(1.0, 800.0, t2, lipid_fraction=f))
    assert mix == pytest.approx((1 - f) * water + f * lipid, rel=1e-5, abs=1e-7)
    # lipid T2 longer than the water T2 here: more lipid, more signal
    assert float(m.signal(1.0, 800.0, t2, lipid_fraction=min(1.0, f + 0.1))) >= mix - 1e-7


def test_simulated_t2w_scalp_fat_is_bright_and_masks_are_untouched():
    lab = np.zeros((24, 24, 6), np.int16)
    lab[2:22, 2:22] = 507   # extracranial soft tissue (fat)
    lab[5:19, 5:19] = 3     # cortex
    lab[8:16, 8:16] = 24    # CSF
    rec, _ = simulate(lab, np.eye(4), "T2w", 3.0, acquisition=Acquisition(snr=None, bias_field_strength=0.0),
                      rng=np.random.default_rng(0))
    img = rec.array
    assert img[lab == 24].mean() > img[lab == 507].mean() > img[lab == 3].mean()
    assert rec.acquisition["sequence_type"] == "TSE" and rec.acquisition["echo_train_length"] == 16
    assert label_lipid_lut()[507] == pytest.approx(0.9) and label_lipid_lut()[3] == 0.0


def test_round_trip_and_errors():
    m = TurboSpinEcho(4000.0, 100.0, 12.5, 8, 150.0)
    assert signal_model_from_dict(m.to_dict()) == m
    with pytest.raises(RadsynthInputError, match="te_ms"):
        TurboSpinEcho(5000.0, 200.0, 10.0, 16)  # TE past the end of the train
    with pytest.raises(RadsynthInputError, match="echo_train_length"):
        TurboSpinEcho(5000.0, 90.0, 10.0, 0)
    with pytest.raises(RadsynthInputError, match="echo_train_length"):
        TurboSpinEcho(1000.0, 90.0, 10.0, 120)  # train longer than TR
    with pytest.raises(RadsynthInputError, match="lipid_fraction"):
        TurboSpinEcho(5000.0, 90.0).signal(1.0, 800.0, 80.0, lipid_fraction=1.5)
