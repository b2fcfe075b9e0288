"""Body habitus (size, subcutaneous fat) and inspiration level: laws and bit-exact replay."""

from __future__ import annotations

import json

import numpy as np
import pytest

from radsynth.anatomy.body_habitus import FAT_HU_RANGE, BodyHabitus, RandomBodyHabitus, body_mask
from radsynth.anatomy.chest_ct import load_chest_anatomy
from radsynth.anatomy.inspiration import Inspiration, RandomInspiration, craniocaudal_source_positions
from radsynth.core.errors import RadsynthInputError


@pytest.fixture(scope="module")
def chest():
    return load_chest_anatomy()


@pytest.fixture(scope="module")
def slab(chest):
    z0, z1 = 60, 76
    aff = np.array(chest.affine)
    aff[:3, 3] += aff[:3, :3] @ np.array([0.0, 0.0, z0])
    return np.array(chest.hu[:, :, z0:z1]), np.array(chest.labels[:, :, z0:z1]), aff


def test_fat_grow_adds_a_shell_of_fat(slab):
    hu, lab, aff = slab
    t = 8.0
    hu2, lab2 = BodyHabitus(fat_change_mm=t, texture_seed=3).apply_fat(hu, lab, aff)
    assert np.array_equal(lab2, lab)  # labels unchanged
    b0, b1 = body_mask(hu), body_mask(hu2)
    assert b1[b0].all()
    # area grows by ~ perimeter x t per slice (allow the outline's curvature and the FOV edge)
    grown_mm2 = (b1.sum() - b0.sum()) / hu.shape[2] * aff[0, 0] * aff[1, 1]
    from scipy import ndimage

    edge = b0[:, :, 8] & ~ndimage.binary_erosion(b0[:, :, 8])
    per_mm = np.count_nonzero(edge) * aff[0, 0]  # outline length (voxel count: overestimates by <~1.4x)
    assert 0.3 * t * per_mm < grown_mm2 < 1.5 * t * per_mm
    new = b1 & ~b0
    vals = hu2[new]
    fat = (vals > FAT_HU_RANGE[0]) & (vals < FAT_HU_RANGE[1])
    assert fat.mean() > 0.5  # most of the shell is fat (the rest: the moved skin rim)
    assert FAT_HU_RANGE[0] <= np.median(vals[fat]) <= FAT_HU_RANGE[1]


def test_fat_shrink_removes_only_unlabelled_fat(slab):
    hu, lab, aff = slab
    hu2, lab2 = BodyHabitus(fat_change_mm=-5.0).apply_fat(hu, lab, aff)
    b0, b1 = body_mask(hu), body_mask(hu2)
    removed = b0 & ~b1
    assert removed.sum() > 0
    assert np.all(lab[removed] == 0)
    assert not (b1 & ~b0).any()


def test_habitus_replay_bit_exact(slab):
    hu, lab, aff = slab
    h = RandomBodyHabitus().sample(np.random.default_rng(11))
    h2 = BodyHabitus.from_dict(json.loads(json.dumps(h.to_dict())))
    assert h2 == h
    a, la = h.apply(hu, lab, aff)
    b, lb = h2.apply(hu, lab, aff)
    assert a.tobytes() == b.tobytes() and la.tobytes() == lb.tobytes()
    assert RandomBodyHabitus.from_dict(RandomBodyHabitus().to_dict()) == RandomBodyHabitus()


def test_body_scale_scales_area(slab):
    hu, lab, aff = slab
    hu2, lab2 = BodyHabitus(scale_lr=1.1, scale_ap=0.95).apply(hu, lab, aff)
    r = body_mask(hu2).sum() / body_mask(hu).sum()
    assert r == pytest.approx(1.1 * 0.95, rel=0.04)


def test_habitus_bad_input():
    with pytest.raises(RadsynthInputError):
        BodyHabitus(scale_lr=3.0)
    with pytest.raises(RadsynthInputError):
        BodyHabitus(fat_change_mm=float("nan"))
    with pytest.raises(RadsynthInputError):
        RandomBodyHabitus(fat_change_mm=(5.0, -5.0))
    with pytest.raises(RadsynthInputError):
        BodyHabitus.from_dict({"scale": 1.0})


@pytest.mark.parametrize("factor", [0.85, 1.05])
def test_inspiration_volume_and_mass(chest, factor):
    lung_ids = chest.ids_of("lung")
    hu, lab = Inspiration(factor).apply(chest.hu, chest.labels, chest.affine, lung_ids)
    l0, l1 = np.isin(chest.labels, lung_ids), np.isin(lab, lung_ids)
    assert l1.sum() / l0.sum() == pytest.approx(factor, rel=0.03)
    m0 = np.sum(1.0 + chest.hu[l0].astype(np.float64) / 1000.0)
    m1 = np.sum(1.0 + hu[l1].astype(np.float64) / 1000.0)
    assert m1 == pytest.approx(m0, rel=1e-4)  # lung mass conserved
    med0, med1 = np.median(chest.hu[l0]), np.median(hu[l1])
    assert (med1 > med0) if factor < 1 else (med1 < med0)
    # above the apex nothing moves
    apex = int(np.nonzero(l0.any(axis=(0, 1)))[0][-1])
    assert np.array_equal(hu[:, :, apex + 1:], chest.hu[:, :, apex + 1:])


def test_inspiration_replay_and_identity(chest):
    ins = RandomInspiration().sample(np.random.default_rng(5))
    assert Inspiration.from_dict(json.loads(json.dumps(ins.to_dict()))) == ins
    ids = chest.ids_of("lung")
    a = ins.apply(chest.hu, chest.labels, chest.affine, ids)
    b = Inspiration.from_dict(ins.to_dict()).apply(chest.hu, chest.labels, chest.affine, ids)
    assert a[0].tobytes() == b[0].tobytes() and a[1].tobytes() == b[1].tobytes()
    hu, lab = Inspiration(1.0).apply(chest.hu, chest.labels, chest.affine, ids)
    assert np.array_equal(hu, chest.hu) and np.array_equal(lab, chest.labels)
    pos = craniocaudal_source_positions(100, 80.0, 20.0, 1.2)
    assert np.all(np.diff(pos) >= 0) and pos[90] == 90.0
    with pytest.raises(RadsynthInputError):
        Inspiration(2.0)
    with pytest.raises(RadsynthInputError):
        Inspiration(0.9).apply(chest.hu, chest.labels, chest.affine, [999])
