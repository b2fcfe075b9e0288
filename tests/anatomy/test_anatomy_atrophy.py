"""Age atrophy: identity at the reference age, monotonic with age, literature-sized at 80."""

from __future__ import annotations

import json

import numpy as np
import pytest

from radsynth.anatomy.atrophy import (
    GROWING_VENTRICLES,
    VENTRICLE_MEDIUM,
    Atrophy,
    RandomAtrophy,
    dither_field,
)
from radsynth.anatomy.labelmaps import available_labelmaps, load_labelmap_cached
from radsynth.core.errors import RadsynthInputError
from radsynth.core.labels import CEREBRAL_CORTEX, TUMOUR_OEDEMA

AGES = (20, 35, 50, 65, 80)
VENT = sorted(GROWING_VENTRICLES)
CTX = sorted(CEREBRAL_CORTEX)


@pytest.fixture(scope="module")
def head():
    lab, _ = load_labelmap_cached(available_labelmaps()[0])
    return lab


@pytest.fixture(scope="module")
def centre(head):
    """Central 100 x 120 x 90 mm block (ventricles, deep nuclei, some cortex): faster."""
    return np.ascontiguousarray(head[38:138, 44:164, 60:150])


@pytest.fixture(scope="module")
def aged(head):
    return {age: Atrophy(age, pattern_seed=11).apply(head) for age in AGES}


def test_reference_age_and_younger_are_identity(head, aged):
    assert np.array_equal(aged[20], head)
    assert np.array_equal(Atrophy(12.0).apply(head), head)
    assert Atrophy(20).effective_decades() == 0.0


def test_monotonic_with_age(aged):
    """Ventricles strictly grow and cortex strictly shrinks over 20..80 y on one anatomy."""
    vent = [int(np.isin(aged[a], VENT).sum()) for a in AGES]
    ctx = [int(np.isin(aged[a], CTX).sum()) for a in AGES]
    assert all(b > a for a, b in zip(vent, vent[1:])), vent
    assert all(b < a for a, b in zip(ctx, ctx[1:])), ctx


def test_sizes_at_80_match_literature(aged):
    """Lateral+3rd ventricles roughly double to triple from the 20s to the 80s
    (Pfefferbaum et al. 1994; Scahill et al. 2003); cortical volume loss of the order of
    10-30% (Salat et al. 2004 thinning of ~0.01-0.03 mm/year in affected regions)."""
    v20, v80 = (np.isin(aged[a], VENT).sum() for a in (20, 80))
    c20, c80 = (np.isin(aged[a], CTX).sum() for a in (20, 80))
    assert 2.0 <= v80 / v20 <= 3.5
    assert 0.70 <= c80 / c20 <= 0.90
    # growth accelerates after 60: 65->80 adds more than 20->35
    v35, v65 = (np.isin(aged[a], VENT).sum() for a in (35, 65))
    assert (v80 - v65) > 1.5 * (v35 - v20)


def test_changes_are_only_allowed_conversions(head, aged):
    old, new = head, aged[80]
    changed = old != new
    src, dst = old[changed], new[changed]
    to_vent = np.isin(dst, VENT)
    assert np.isin(src[to_vent], sorted(VENTRICLE_MEDIUM)).all()
    to_csf = dst == 24
    assert np.isin(src[to_csf], CTX).all()
    assert (to_vent | to_csf).all()
    # a lateral ventricle grows only into its own hemisphere
    assert np.isin(src[np.isin(dst, [4, 5])], [2, 25, 10, 11, 12, 13, 17, 18, 26, 28]).all()
    assert np.isin(src[np.isin(dst, [43, 44])], [41, 57, 49, 50, 51, 52, 53, 54, 58, 60]).all()


def test_septum_between_lateral_ventricles_survives(aged):
    """The lateral ventricles do not merge through the septum pellucidum (the input
    map's own few touching voxels, where the 1 mm septum is incomplete, stay few)."""
    from scipy import ndimage

    def touching(lab):
        return int((ndimage.binary_dilation(lab == 4) & (lab == 43)).sum())

    assert touching(aged[80]) <= touching(aged[20]) + 10


def test_lesions_are_never_overwritten(centre):
    lab = np.array(centre)
    vent = np.argwhere(np.isin(lab, [4]))
    c = vent[len(vent) // 2]
    sl = tuple(slice(int(v) - 6, int(v) + 6) for v in c)
    region = lab[sl]
    region[np.isin(region, [2, 3])] = TUMOUR_OEDEMA
    out = Atrophy(85).apply(lab)
    assert (out == TUMOUR_OEDEMA).sum() == (lab == TUMOUR_OEDEMA).sum()


def test_twin_roundtrip_is_bit_exact(centre):
    a = RandomAtrophy().sample(71.0, np.random.default_rng(5))
    b = Atrophy.from_dict(json.loads(json.dumps(a.to_dict())))
    assert a == b
    out = a.apply(centre)
    assert not np.array_equal(out, centre)
    assert out.tobytes() == b.apply(centre).tobytes()


def test_random_atrophy_rates_vary_around_population():
    r = RandomAtrophy()
    s = [r.sample(70.0, np.random.default_rng(i)) for i in range(2000)]
    v = np.array([x.ventricle_growth_per_decade for x in s])
    t = np.array([x.cortical_thinning_mm_per_decade for x in s])
    assert v.mean() == pytest.approx(r.ventricle_growth_per_decade, rel=0.03)
    assert v.std() / v.mean() == pytest.approx(r.rate_cv, rel=0.1)
    assert t.mean() == pytest.approx(r.cortical_thinning_mm_per_decade, rel=0.03)
    rho = np.corrcoef(np.log(v), np.log(t))[0, 1]
    assert rho == pytest.approx(r.rate_correlation, abs=0.06)
    assert len({x.pattern_seed for x in s}) > 1990
    assert r.sample(70.0, np.random.default_rng(1)) == r.sample(70.0, np.random.default_rng(1))
    assert RandomAtrophy.from_dict(r.to_dict()) == r


def test_effective_decades_accelerate_quadratically_after_60():
    assert Atrophy(50).effective_decades() == pytest.approx(3.0)
    assert Atrophy(80).effective_decades() == pytest.approx(6.0 + 0.5 * 2.0**2)
    assert Atrophy(80, acceleration=0.0).effective_decades() == pytest.approx(6.0)


def test_dither_field_is_uniform():
    u = dither_field((60, 70, 50), seed=3)
    assert u.dtype == np.float32 and 0.0 <= u.min() and u.max() < 1.0
    hist = np.histogram(u, bins=10, range=(0, 1))[0] / u.size
    assert np.abs(hist - 0.1).max() < 0.05  # smooth field: few independent samples
    assert np.array_equal(u, dither_field((60, 70, 50), seed=3))


def test_bad_parameters_raise():
    with pytest.raises(RadsynthInputError, match="age_years"):
        Atrophy(150)
    with pytest.raises(RadsynthInputError, match="cortical_thinning"):
        Atrophy(60, cortical_thinning_mm_per_decade=-0.1)
    with pytest.raises(RadsynthInputError, match="pattern_seed"):
        Atrophy(60, pattern_seed=-1)
    with pytest.raises(RadsynthInputError):
        Atrophy.from_dict({"age": 60})
    with pytest.raises(RadsynthInputError, match="rate_cv"):
        RandomAtrophy(rate_cv=3.0)


def test_voxel_size_from_affine(head, aged):
    """1 mm affine == no affine; on a 2 mm grid (fast-draft mode) the targets still hold."""
    aff1 = np.eye(4)
    assert np.array_equal(Atrophy(80, pattern_seed=11).apply(head, aff1), aged[80])
    lab2 = np.ascontiguousarray(head[::2, ::2, ::2])
    aff2 = np.diag([2.0, 2.0, 2.0, 1.0])
    v0, c0 = np.isin(lab2, VENT).sum(), np.isin(lab2, CTX).sum()
    out = Atrophy(80).apply(lab2, aff2)
    assert np.isin(out, VENT).sum() / v0 == pytest.approx(Atrophy(80).ventricle_volume_ratio(), rel=0.01)
    assert 0.70 <= np.isin(out, CTX).sum() / c0 <= 0.90
