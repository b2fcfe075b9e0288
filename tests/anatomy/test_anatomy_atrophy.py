"""Age atrophy from a map's apparent age: identity at the reference age, growth when older,
shrinkage when younger, monotonic in the target age, population-sized ventricles."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import ndimage

from radsynth.anatomy.apparent_age import (
    POPULATION_LOG_SD,
    apparent_age,
    median_ventricle_fraction,
    ventricle_fraction,
)
from radsynth.anatomy.atrophy import (
    GROWING_VENTRICLES,
    VENTRICLE_MEDIUM,
    Atrophy,
    RandomAtrophy,
    dither_field,
)
from radsynth.anatomy.labelmaps import available_labelmaps, load_labelmap_cached
from radsynth.core.errors import RadsynthInputError
from radsynth.core.labels import CEREBRAL_CORTEX, CHOROID_PLEXUS, LEFT_HEMISPHERE, RIGHT_HEMISPHERE, TUMOUR_OEDEMA

AGES = (20, 35, 50, 65, 80)
VENT = sorted(GROWING_VENTRICLES)
LV = [4, 5, 43, 44]
CTX = sorted(CEREBRAL_CORTEX)
AFF2 = np.diag([2.0, 2.0, 2.0, 1.0])


def _count(lab, labels) -> int:
    return int(np.isin(lab, labels).sum())


@pytest.fixture(scope="module")
def head():
    """Shipped map 01: ventricles 42 mL (2.8 % of ICV), apparent age ~78 y."""
    lab, _ = load_labelmap_cached(available_labelmaps()[0])
    return lab


@pytest.fixture(scope="module")
def ref(head):
    return apparent_age(head)


@pytest.fixture(scope="module")
def centre(head):
    """Central 100 x 120 x 90 mm block (ventricles, deep nuclei, some cortex): faster."""
    return np.ascontiguousarray(head[38:138, 44:164, 60:150])


@pytest.fixture(scope="module")
def aged(head, ref):
    return {age: Atrophy(age, reference_age_years=ref, pattern_seed=11).apply(head) for age in AGES}


@pytest.fixture(scope="module")
def shipped2mm():
    """Every shipped map on the 2 mm draft grid with its apparent age (from the 1 mm map,
    as the generator does)."""
    out = {}
    for p in available_labelmaps():
        lab, _ = load_labelmap_cached(p)
        out[p.name] = (np.ascontiguousarray(lab[::2, ::2, ::2]), apparent_age(lab))
    return out


def test_identity_at_the_reference_age(head, ref):
    a = Atrophy(ref, reference_age_years=ref, pattern_seed=4)
    assert a.effective_decades() == 0.0 and a.ventricle_volume_ratio() == 1.0
    assert np.array_equal(a.apply(head), head)
    # ages below 20 y count as 20 (no development modelled)
    assert np.array_equal(Atrophy(12.0).apply(head), head)


def test_monotonic_over_ages_on_one_anatomy(aged):
    """Ventricles strictly grow and cortex strictly shrinks over 20..80 y, across the map's
    own age (~78 y: 20..65 shrink the ventricles, 80 grows them)."""
    vent = [_count(aged[a], VENT) for a in AGES]
    ctx = [_count(aged[a], CTX) for a in AGES]
    assert all(b > a for a, b in zip(vent, vent[1:])), vent
    assert all(b < a for a, b in zip(ctx, ctx[1:])), ctx


@pytest.fixture(scope="module")
def shipped_aged(shipped2mm):
    return {
        name: [Atrophy(a, reference_age_years=ref, pattern_seed=5).apply(lab, AFF2) for a in AGES]
        for name, (lab, ref) in shipped2mm.items()
    }


def test_monotonic_on_every_shipped_map(shipped2mm, shipped_aged):
    for name, (lab, ref) in shipped2mm.items():
        outs = shipped_aged[name]
        vent = [_count(o, VENT) for o in outs]
        ctx = [_count(o, CTX) for o in outs]
        assert all(b > a for a, b in zip(vent, vent[1:])), (name, ref, vent)
        assert all(b < a for a, b in zip(ctx, ctx[1:])), (name, ref, ctx)


def test_target_ventricle_fraction_near_population_median(shipped2mm, shipped_aged):
    """With the median rate, every map lands on f_source * f(age)/f(reference): the
    population median where the map's age is inside 20..90 y, and within the population
    spread (log-SD 0.4, CV ~40 %) of it for the clipped ones (a map smaller than the 20-y
    median or larger than the 90-y median keeps its surplus as individual variation)."""
    for name, (lab, ref) in shipped2mm.items():
        f0 = ventricle_fraction(lab)
        for a, out in zip(AGES, shipped_aged[name]):
            f = ventricle_fraction(out)
            med = median_ventricle_fraction(a)
            expected = f0 * med / median_ventricle_fraction(ref)
            assert f == pytest.approx(expected, rel=0.08), (name, a)
            assert abs(math.log(f / med)) <= 2 * POPULATION_LOG_SD, (name, a, f, med)
            if 20.5 < ref < 89.5:
                assert f == pytest.approx(med, rel=0.08), (name, a)


def test_atrophied_map_looks_its_target_age(head, ref, aged):
    """Closure: the apparent age of the output is the target age (head 01 is unclipped)."""
    assert 20.0 < ref < 90.0
    for a in AGES:
        assert apparent_age(aged[a]) == pytest.approx(a, abs=2.0)


def test_shrinkage_when_target_is_younger(head, ref, aged):
    """A 20-year-old built on a ~78-year-old anatomy: ventricles 42 mL -> ~14 mL (young
    adults' lateral ventricles ~10-20 mL, Blatter et al. 1995); sulcal CSF narrows, cortex
    thickens back; every structure shrinks by the same fraction (the 3rd ventricle and
    temporal horns are not erased)."""
    young = aged[20]
    ratio = Atrophy(20, reference_age_years=ref).ventricle_volume_ratio()
    assert ratio < 0.5
    for labels in ([4], [43], [5], [44], [14]):
        assert _count(young, labels) / _count(head, labels) == pytest.approx(ratio, rel=0.03), labels
    assert 10.0 <= _count(young, LV) / 1000 <= 20.0  # mL at 1 mm
    assert _count(young, [24]) < _count(head, [24])
    assert _count(young, CTX) > 1.1 * _count(head, CTX)


def test_shrinkage_changes_are_only_allowed_conversions(head, aged):
    old, new = head, aged[20]
    changed = old != new
    src, dst = old[changed], new[changed]
    # ventricles and orphaned choroid plexus become parenchyma (never lesion labels)
    from_vent = np.isin(src, VENT + sorted(CHOROID_PLEXUS))
    assert np.isin(dst[from_vent], sorted(VENTRICLE_MEDIUM - {25, 57})).all()
    # a lateral ventricle gives its voxels only to its own hemisphere
    assert np.isin(dst[np.isin(src, [4, 5])], sorted(LEFT_HEMISPHERE)).all()
    assert np.isin(dst[np.isin(src, [43, 44])], sorted(RIGHT_HEMISPHERE)).all()
    # extra-cerebral CSF becomes cortex; nothing else changes
    from_csf = src == 24
    assert np.isin(dst[from_csf], CTX).all()
    assert (from_vent | from_csf).all()
    # grey nuclei take back little of a shrinking ventricle (caudate < +50 % here)
    assert _count(new, [11, 50]) < 1.5 * _count(old, [11, 50])


def test_hemispheres_stay_apart(head, aged):
    """Neither the ventricles (septum pellucidum) nor the new cortex (interhemispheric
    fissure) join the hemispheres (the input map's own few contacts, where the 1 mm
    septum is incomplete, stay few)."""

    def touching(lab, a, b):
        return int((ndimage.binary_dilation(lab == a) & (lab == b)).sum())

    for age in (20, 80):
        assert touching(aged[age], 4, 43) <= touching(head, 4, 43) + 10
        assert touching(aged[age], 3, 42) <= touching(head, 3, 42)


def test_changes_when_ageing_are_only_allowed_conversions(head, aged):
    old, new = head, aged[80]
    changed = old != new
    src, dst = old[changed], new[changed]
    to_vent = np.isin(dst, VENT)
    assert np.isin(src[to_vent], sorted(VENTRICLE_MEDIUM)).all()
    to_csf = dst == 24
    assert np.isin(src[to_csf], CTX).all()
    assert (to_vent | to_csf).all()
    assert np.isin(src[np.isin(dst, [4, 5])], [2, 25, 10, 11, 12, 13, 17, 18, 26, 28]).all()
    assert np.isin(src[np.isin(dst, [43, 44])], [41, 57, 49, 50, 51, 52, 53, 54, 58, 60]).all()


def test_sizes_from_20_to_80_match_literature(head):
    """From a 20-y reference: lateral+3rd ventricles roughly triple by 80 (Pfefferbaum et
    al. 1994; Kaye et al. 1992), growth accelerating after 60 (Scahill et al. 2003);
    cortical volume loss of the order of 10-30 % (Salat et al. 2004 thinning of
    ~0.01-0.03 mm/year in affected regions)."""
    lab = np.ascontiguousarray(head[::2, ::2, ::2])
    out = {a: Atrophy(a, pattern_seed=11).apply(lab, AFF2) for a in (20, 35, 65, 80)}
    v = {a: _count(o, VENT) for a, o in out.items()}
    c = {a: _count(o, CTX) for a, o in out.items()}
    assert 2.5 <= v[80] / v[20] <= 4.0
    assert v[80] / v[20] == pytest.approx(Atrophy(80).ventricle_volume_ratio(), rel=0.02)
    assert 0.70 <= c[80] / c[20] <= 0.90
    assert (v[80] - v[65]) > 1.5 * (v[35] - v[20])


def test_lesions_are_never_overwritten(centre):
    lab = np.array(centre)
    vent = np.argwhere(np.isin(lab, [4]))
    c = vent[len(vent) // 2]
    sl = tuple(slice(int(v) - 6, int(v) + 6) for v in c)
    region = lab[sl]
    region[np.isin(region, [2, 3, 4])] = TUMOUR_OEDEMA
    n = (lab == TUMOUR_OEDEMA).sum()
    for a in (Atrophy(85), Atrophy(20, reference_age_years=80)):
        assert (a.apply(lab) == TUMOUR_OEDEMA).sum() == n


@pytest.mark.parametrize("age", [71.0, 25.0])
def test_twin_roundtrip_is_bit_exact(centre, age):
    a = RandomAtrophy().sample(age, np.random.default_rng(5), reference_age_years=62.5)
    d = json.loads(json.dumps(a.to_dict()))
    assert d["reference_age_years"] == 62.5
    b = Atrophy.from_dict(d)
    assert a == b
    out = a.apply(centre)
    assert not np.array_equal(out, centre)
    assert out.tobytes() == b.apply(centre).tobytes()


def test_random_atrophy_rates_vary_around_population():
    r = RandomAtrophy()
    s = [r.sample(70.0, np.random.default_rng(i)) for i in range(2000)]
    v = np.array([x.ventricle_rate for x in s])
    t = np.array([x.cortical_thinning_mm_per_decade for x in s])
    assert v.mean() == pytest.approx(r.ventricle_rate, rel=0.03)
    assert v.std() / v.mean() == pytest.approx(r.rate_cv, rel=0.1)
    assert t.mean() == pytest.approx(r.cortical_thinning_mm_per_decade, rel=0.03)
    rho = np.corrcoef(np.log(v), np.log(t))[0, 1]
    assert rho == pytest.approx(r.rate_correlation, abs=0.06)
    assert len({x.pattern_seed for x in s}) > 1990
    assert r.sample(70.0, np.random.default_rng(1)) == r.sample(70.0, np.random.default_rng(1))
    assert RandomAtrophy.from_dict(r.to_dict()) == r
    # the reference age does not change the draws
    a = r.sample(70.0, np.random.default_rng(1), reference_age_years=55.0)
    b = r.sample(70.0, np.random.default_rng(1))
    assert a.reference_age_years == 55.0 and b.reference_age_years == r.reference_age_years
    assert a.ventricle_rate == b.ventricle_rate and a.pattern_seed == b.pattern_seed


def test_sampled_ventricles_spread_as_sampled(shipped2mm):
    """Per-subject variation: the output ventricle ratio is the median ratio to the power
    of the sampled rate, so its spread is the sampled one."""
    lab, ref = shipped2mm["synthseg_head_08.nii.gz"]
    v0 = _count(lab, VENT)
    for seed in range(3):
        for age in (30.0, 80.0):
            a = RandomAtrophy().sample(age, np.random.default_rng(seed), reference_age_years=ref)
            assert _count(a.apply(lab, AFF2), VENT) / v0 == pytest.approx(a.ventricle_volume_ratio(), rel=0.03)
            med = Atrophy(age, reference_age_years=ref).ventricle_volume_ratio()
            assert a.ventricle_volume_ratio() == pytest.approx(med**a.ventricle_rate)


def test_effective_decades_signed_and_accelerating_after_60():
    assert Atrophy(50).effective_decades() == pytest.approx(3.0)
    assert Atrophy(80).effective_decades() == pytest.approx(6.0 + 0.5 * 2.0**2)
    assert Atrophy(80, acceleration=0.0).effective_decades() == pytest.approx(6.0)
    assert Atrophy(30, reference_age_years=80).effective_decades() == pytest.approx(1.0 - 8.0)
    assert Atrophy(30, reference_age_years=80).cortical_thinning_mm() < 0.0
    assert Atrophy(30, reference_age_years=80).ventricle_volume_ratio() < 1.0
    assert Atrophy(80, reference_age_years=30).ventricle_volume_ratio() > 1.0


def test_dither_field_is_uniform():
    u = dither_field((60, 70, 50), seed=3)
    assert u.dtype == np.float32 and 0.0 <= u.min() and u.max() < 1.0
    hist = np.histogram(u, bins=10, range=(0, 1))[0] / u.size
    assert np.abs(hist - 0.1).max() < 0.05  # smooth field: few independent samples
    assert np.array_equal(u, dither_field((60, 70, 50), seed=3))


def test_bad_parameters_raise():
    with pytest.raises(RadsynthInputError, match="age_years"):
        Atrophy(150)
    with pytest.raises(RadsynthInputError, match="reference_age_years"):
        Atrophy(60, reference_age_years=-1)
    with pytest.raises(RadsynthInputError, match="ventricle_rate"):
        Atrophy(60, ventricle_rate=-0.5)
    with pytest.raises(RadsynthInputError, match="cortical_thinning"):
        Atrophy(60, cortical_thinning_mm_per_decade=-0.1)
    with pytest.raises(RadsynthInputError, match="pattern_seed"):
        Atrophy(60, pattern_seed=-1)
    with pytest.raises(RadsynthInputError):
        Atrophy.from_dict({"age": 60})
    with pytest.raises(RadsynthInputError, match="rate_cv"):
        RandomAtrophy(rate_cv=3.0)


def test_voxel_size_from_affine(head, ref, aged):
    """1 mm affine == no affine; on a 2 mm grid (fast-draft mode) the targets still hold."""
    assert np.array_equal(Atrophy(80, reference_age_years=ref, pattern_seed=11).apply(head, np.eye(4)), aged[80])
    lab2 = np.ascontiguousarray(head[::2, ::2, ::2])
    v0, c0 = _count(lab2, VENT), _count(lab2, CTX)
    out = Atrophy(80).apply(lab2, AFF2)
    assert _count(out, VENT) / v0 == pytest.approx(Atrophy(80).ventricle_volume_ratio(), rel=0.01)
    assert 0.70 <= _count(out, CTX) / c0 <= 0.90
