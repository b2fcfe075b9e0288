"""Apparent age from the lateral-ventricle fraction of ICV: curve, inverse, real maps."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radsynth.anatomy.apparent_age import (
    AGE_RANGE_YEARS,
    INTRACRANIAL_LABELS,
    LATERAL_VENTRICLES,
    age_for_ventricle_fraction,
    apparent_age,
    apparent_age_of_file,
    median_ventricle_fraction,
    median_ventricle_ratio,
    ventricle_fraction,
)
from radsynth.anatomy.labelmaps import available_labelmaps, load_labelmap, load_labelmap_cached
from radsynth.core.errors import RadsynthInputError

ICV_ML = 1500.0  # a typical adult intracranial volume (Matsumae et al. 1996: 1289-1469 mL)


def test_curve_matches_published_norms():
    """Lateral ventricles ~10-20 mL in young adults (Blatter et al., AJNR 1995) and
    ~30-60 mL at 70-80 y; ~20 %/decade early growth (Kaye et al., J Am Geriatr Soc 1992),
    accelerating to a few %/year late in life (Scahill 2003; Fjell 2009)."""
    ml = {a: median_ventricle_fraction(a) * ICV_ML for a in (20, 35, 50, 65, 70, 80, 90)}
    assert 10.0 <= ml[20] <= 20.0
    assert 30.0 <= ml[70] <= 45.0 and 40.0 <= ml[80] <= 60.0
    decade_20s = median_ventricle_ratio(30, 20) - 1.0
    assert 0.10 <= decade_20s <= 0.25
    rate_75 = math.log(median_ventricle_ratio(76, 75))
    assert 0.02 <= rate_75 <= 0.05  # per year
    ages = np.linspace(20, 100, 161)
    f = [median_ventricle_fraction(float(a)) for a in ages]
    assert all(b > a for a, b in zip(f, f[1:]))
    # below 20 y: no development modelled
    assert median_ventricle_fraction(5) == median_ventricle_fraction(20)


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=20.0, max_value=90.0))
def test_inverse_of_median_curve(age):
    assert age_for_ventricle_fraction(median_ventricle_fraction(age)) == pytest.approx(age, abs=1e-9)


@given(st.floats(min_value=0.0, max_value=1.0), st.floats(min_value=0.0, max_value=1.0))
def test_inverse_is_monotone_and_clipped(f1, f2):
    a1, a2 = age_for_ventricle_fraction(f1), age_for_ventricle_fraction(f2)
    assert AGE_RANGE_YEARS[0] <= a1 <= AGE_RANGE_YEARS[1]
    if f1 <= f2:
        assert a1 <= a2


def test_clipping_and_bad_input():
    assert age_for_ventricle_fraction(0.0) == 20.0
    assert age_for_ventricle_fraction(0.001) == 20.0
    assert age_for_ventricle_fraction(0.2) == 90.0
    with pytest.raises(RadsynthInputError, match="fraction"):
        age_for_ventricle_fraction(-0.1)
    with pytest.raises(RadsynthInputError, match="fraction"):
        age_for_ventricle_fraction(float("nan"))
    with pytest.raises(RadsynthInputError, match="age_years"):
        median_ventricle_fraction(130)
    with pytest.raises(RadsynthInputError, match="labels"):
        ventricle_fraction(np.zeros((4, 4), dtype=np.int16))
    assert ventricle_fraction(np.zeros((4, 4, 4), dtype=np.int16)) == 0.0


def test_ventricle_fraction_counts_labels():
    lab = np.zeros((10, 10, 10), dtype=np.int16)
    lab[:5] = 2  # 500 WM
    lab[5:7] = 24  # 200 CSF
    lab[7, :, :5] = 4  # 50 left lateral ventricle
    lab[7, :, 5:] = 44  # 50 right temporal horn
    lab[8] = 515  # bone: not intracranial
    assert ventricle_fraction(lab) == pytest.approx(100 / 800)
    assert {4, 5, 43, 44} == set(LATERAL_VENTRICLES) and 24 in INTRACRANIAL_LABELS and 515 not in INTRACRANIAL_LABELS


@pytest.fixture(scope="module")
def shipped():
    return {p.name: load_labelmap_cached(p)[0] for p in available_labelmaps()}


def test_shipped_maps_apparent_ages_are_plausible(shipped):
    """Young-looking maps (small ventricles) come out younger than old-looking ones, in
    the order of their ventricle fraction; head_03 (0.6 % of ICV, ~11 mL) looks young,
    head_05 (4.6 %, ~65 mL) old."""
    frac = {n: ventricle_fraction(lab) for n, lab in shipped.items()}
    age = {n: apparent_age(lab) for n, lab in shipped.items()}
    order = sorted(frac, key=frac.get)
    assert all(age[a] <= age[b] for a, b in zip(order, order[1:]))
    assert all(20.0 <= a <= 90.0 for a in age.values())
    assert age["synthseg_head_03.nii.gz"] == 20.0 < age["synthseg_head_08.nii.gz"] < age["synthseg_head_05.nii.gz"]
    assert age["synthseg_head_05.nii.gz"] >= 85.0
    # the middle maps: 2-2.8 % of ICV -> 65-80 y
    for n in ("01", "08", "12", "17"):
        assert 60.0 <= age[f"synthseg_head_{n}.nii.gz"] <= 82.0


def test_estimate_ignores_head_size_and_voxel_size(shipped):
    lab = shipped["synthseg_head_08.nii.gz"]
    a1 = apparent_age(lab)
    a2 = apparent_age(np.ascontiguousarray(lab[::2, ::2, ::2]))  # 2 mm draft grid
    assert a2 == pytest.approx(a1, abs=1.5)


def test_file_estimate_is_cached_and_equal(shipped):
    p = available_labelmaps()[0]
    a = apparent_age_of_file(p)
    assert a == apparent_age(shipped[p.name])
    assert apparent_age_of_file(str(p)) == a


def test_real_synthseg_maps_span_young_to_old(shared_data):
    """Four of the other SynthSeg training maps: the smallest and largest ventricles of the
    20 (maps 13: 6.5 mL, 18: 88 mL) and two in between; estimates follow the fraction."""
    folder = shared_data / "brain-labelmaps"
    names = ["training_seg_13.nii.gz", "training_seg_19.nii.gz", "training_seg_02.nii.gz", "training_seg_18.nii.gz"]
    if not all((folder / n).is_file() for n in names):
        pytest.skip("SynthSeg training maps not found in the shared data")
    fr, ages = [], []
    for n in names:
        lab, _ = load_labelmap(folder / n)
        fr.append(ventricle_fraction(lab))
        ages.append(apparent_age(lab))
    assert fr == sorted(fr)
    assert ages == sorted(ages)
    assert ages[0] == 20.0 and ages[-1] == 90.0
    assert 40.0 < ages[1] < ages[2] < 90.0
