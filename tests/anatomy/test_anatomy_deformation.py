"""Head deformation: twin replay, geometry laws (scale^3 volume, rigid motion), sex effect."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radsynth.anatomy.deformation import (
    SEX_LOG_SCALE_OFFSET,
    HeadDeformation,
    RandomHeadDeformation,
    bspline_field,
    rotation_matrix,
)
from radsynth.anatomy.labelmaps import available_labelmaps, load_labelmap_cached
from radsynth.core.errors import RadsynthInputError

AFF = np.eye(4)


@pytest.fixture(scope="module")
def head():
    lab, aff = load_labelmap_cached(available_labelmaps()[1])
    return lab, np.array(aff)


def _ellipsoid(n=48):
    g = np.mgrid[:n, :n, :n].astype(np.float64) - (n - 1) / 2
    lab = np.zeros((n, n, n), np.int16)
    lab[(g[0] / 14) ** 2 + (g[1] / 17) ** 2 + (g[2] / 11) ** 2 < 1] = 2
    lab[(np.abs(g[0] - 6) < 3) & (np.abs(g[1] + 4) < 4) & (np.abs(g[2] - 2) < 2)] = 17
    return lab


def _jacobian_det(u):
    """det(I + grad u) per voxel (1 mm grid)."""
    g = [np.gradient(u[i]) for i in range(3)]
    a = [[g[i][k] + (1.0 if i == k else 0.0) for k in range(3)] for i in range(3)]
    return (
        a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1])
        - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
        + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0])
    )


def test_twin_replays_bit_exactly(head):
    lab, aff = head
    d = RandomHeadDeformation().sample(np.random.default_rng(42), sex="F")
    twin = HeadDeformation.from_dict(json.loads(json.dumps(d.to_dict())))
    assert twin == d
    a = d.apply(lab, aff)
    b = twin.apply(lab, aff)
    assert a.dtype == np.int16 and a.shape == lab.shape
    assert a.tobytes() == b.tobytes()
    # same generator state -> same draw
    assert RandomHeadDeformation().sample(np.random.default_rng(42), sex="F") == d


def test_identity_is_exact(head):
    lab, aff = head
    d = HeadDeformation()
    assert d.is_identity
    assert np.array_equal(d.apply(lab, aff), lab)
    # and the coordinate field of the identity is the voxel grid itself
    c = d.coordinates((5, 6, 7), aff)
    assert np.array_equal(c, np.stack(np.meshgrid(*[np.arange(s) for s in (5, 6, 7)], indexing="ij")).astype(np.float32))


def test_elastic_only_preserves_label_set_and_volumes(head):
    lab, aff = head
    d = HeadDeformation(elastic_std_mm=2.0, elastic_seed=7)
    out = d.apply(lab, aff)
    u0, c0 = np.unique(lab, return_counts=True)
    u1, c1 = np.unique(out, return_counts=True)
    big = u0[c0 > 2000]
    assert set(big) <= set(u1)
    v0, v1 = dict(zip(u0, c0)), dict(zip(u1, c1))
    # smooth field: local volume change |det J - 1| < ~10% (2 mm control displacements
    # every ~40 mm). Change of variables: source volume = sum of det J over the output
    # region (thin structures add nearest-neighbour sampling error).
    jac = _jacobian_det(d.displacement_field(lab.shape))
    assert 0.8 < jac.min() and jac.max() < 1.2
    for k in big:
        assert jac[out == k].sum() == pytest.approx(v0[k], rel=0.01 if v0[k] > 50000 else 0.08), k
        assert v1[k] == pytest.approx(v0[k], rel=0.2), k
    brain = [2, 3, 41, 42]
    assert sum(v1[k] for k in brain) == pytest.approx(sum(v0[k] for k in brain), rel=0.01)
    assert not np.array_equal(out, lab)


@pytest.fixture(scope="module")
def big_ellipsoid():
    n = 96
    g = np.mgrid[:n, :n, :n].astype(np.float32) - (n - 1) / 2
    return ((g[0] / 30) ** 2 + (g[1] / 36) ** 2 + (g[2] / 26) ** 2 < 1).astype(np.int16)


@settings(max_examples=10, deadline=None)
@given(s=st.floats(0.85, 0.95) | st.floats(1.05, 1.15))
def test_isotropic_scale_multiplies_label_volume_by_s_cubed(big_ellipsoid, s):
    # (|s - 1| >= 0.05: for s ~ 1, nearest neighbour duplicates/drops whole voxel rows
    # only every 1/|1 - 1/s| voxels, too few inside the object to average out)
    lab = big_ellipsoid
    out = HeadDeformation(scale=(s, s, s)).apply(lab, AFF)
    assert (out > 0).sum() / (lab > 0).sum() == pytest.approx(s**3, rel=0.015)


@settings(max_examples=10, deadline=None)
@given(s=st.tuples(*[st.floats(0.85, 1.15)] * 3))
def test_anisotropic_scale_multiplies_image_mass_by_product(big_ellipsoid, s):
    img = big_ellipsoid.astype(np.float32)
    out = HeadDeformation(scale=s).apply_image(img, AFF)
    assert out.sum() / img.sum() == pytest.approx(float(np.prod(s)), rel=0.003)


@settings(max_examples=12, deadline=None)
@given(
    rot=st.tuples(*[st.floats(-10, 10)] * 3),
    t=st.tuples(*[st.floats(-4, 4)] * 3),
)
def test_rigid_motion_moves_centroid_as_predicted_and_keeps_volume(rot, t):
    lab = _ellipsoid()
    d = HeadDeformation(rotation_deg=rot, translation_mm=t)
    out = d.apply(lab, AFF)
    c = (np.asarray(lab.shape) - 1) / 2
    p0 = np.argwhere(lab == 17).mean(0) - c
    p1 = np.argwhere(out == 17).mean(0) - c
    # nearest neighbour quantises a shift to whole voxels: error <= 0.5 voxel per axis
    np.testing.assert_allclose(p1, rotation_matrix(rot) @ p0 + np.asarray(t), atol=0.6)
    assert (out > 0).sum() == pytest.approx((lab > 0).sum(), rel=0.01)


def test_translation_direction_is_world_ras():
    lab = _ellipsoid()
    # world x = -voxel x: an LAS-like affine; +5 mm in x must move the blob to lower i
    aff = np.diag([-1.0, 1.0, 1.0, 1.0])
    out = HeadDeformation(translation_mm=(5.0, 0.0, 0.0)).apply(lab, aff)
    shift = np.argwhere(out == 17).mean(0) - np.argwhere(lab == 17).mean(0)
    np.testing.assert_allclose(shift, [-5.0, 0.0, 0.0], atol=1e-9)


def test_sex_shifts_scale_by_ruigrok_icv_ratio():
    """Male:female ICV ratio 1.12 (Ruigrok et al. 2014) -> linear 1.12**(1/3)."""
    r = RandomHeadDeformation(scale_range=(0.5, 2.0))
    m = r.sample(np.random.default_rng(3), sex="M")
    f = r.sample(np.random.default_rng(3), sex="female")
    u = r.sample(np.random.default_rng(3), sex=None)
    assert m.rotation_deg == f.rotation_deg and m.elastic_seed == f.elastic_seed
    ratio = np.prod(m.scale) / np.prod(f.scale)
    assert ratio == pytest.approx(1.12, rel=1e-9)
    np.testing.assert_allclose(np.log(m.scale) - np.log(u.scale), SEX_LOG_SCALE_OFFSET, rtol=1e-9)
    # population level: mean ICV ratio over many subjects
    rng = np.random.default_rng(0)
    vm = np.mean([np.prod(RandomHeadDeformation().sample(rng, "M").scale) for _ in range(400)])
    vf = np.mean([np.prod(RandomHeadDeformation().sample(rng, "F").scale) for _ in range(400)])
    assert vm / vf == pytest.approx(1.12, abs=0.03)


def test_sex_effect_on_deformed_head_volume(big_ellipsoid):
    img = big_ellipsoid.astype(np.float32)
    r = RandomHeadDeformation(rotation_deg=0.0, anisotropy=0.0, translation_mm=0.0, elastic_std_mm=0.0)
    vm = r.sample(np.random.default_rng(1), "M").apply_image(img, AFF).sum()
    vf = r.sample(np.random.default_rng(1), "F").apply_image(img, AFF).sum()
    assert vm / vf == pytest.approx(1.12, rel=0.005)  # Ruigrok et al. 2014 ICV ratio


def test_bspline_field_reproduces_constant_and_linear_fields():
    # normalised cubic B-splines reproduce constants exactly; interior linear fields too
    ctrl = np.full((1, 4, 5, 6), 2.5)
    np.testing.assert_allclose(bspline_field(ctrl, (20, 21, 22)), 2.5, rtol=1e-6)
    ramp = np.broadcast_to(np.arange(6, dtype=float)[None, None, None, :], (1, 4, 5, 6))
    f = bspline_field(ramp, (9, 9, 51))[0, 4, 4]
    z = np.arange(51) * 5 / 50
    np.testing.assert_allclose(f[10:41], z[10:41], atol=1e-5)


def test_bad_parameters_raise():
    with pytest.raises(RadsynthInputError, match="rotation_deg"):
        RandomHeadDeformation(rotation_deg=90)
    with pytest.raises(RadsynthInputError, match="scale_range"):
        RandomHeadDeformation(scale_range=(1.1, 1.2))
    with pytest.raises(RadsynthInputError, match="sex"):
        RandomHeadDeformation().sample(np.random.default_rng(0), sex="X")
    with pytest.raises(RadsynthInputError, match="scale"):
        HeadDeformation(scale=(1.0, 1.0))
    with pytest.raises(RadsynthInputError):
        HeadDeformation.from_dict({"rotation": [0, 0, 0]})
    assert RandomHeadDeformation.from_dict(RandomHeadDeformation().to_dict()) == RandomHeadDeformation()
    assert math.isclose(SEX_LOG_SCALE_OFFSET, math.log(1.12) / 6)
