"""Intraparenchymal haemorrhage: inside the parenchyma, volume as asked, 50-90 HU blood, oedema rim, replay."""

from __future__ import annotations

import json

import numpy as np
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.core.material_volume import MaterialVolume
from radsynth.pathology.intraparenchymal_haemorrhage import (
    IntraparenchymalHaemorrhage,
    RandomIntraparenchymalHaemorrhage,
)
from radsynth.physics.xray.materials import hounsfield_units

SPACING = (1.5, 1.5, 2.0)


def _brain(shape=(80, 90, 64)):
    """A sphere 'brain' (radius 55 mm) with a central ellipsoid 'ventricle' hole; left/right halves."""
    aff = np.diag([*SPACING, 1.0])
    aff[:3, 3] = [-60.0, -67.5, -64.0]
    i, j, k = np.ogrid[: shape[0], : shape[1], : shape[2]]
    x, y, z = (i * SPACING[0] - 60.0), (j * SPACING[1] - 67.5), (k * SPACING[2] - 64.0)
    brain = x**2 + y**2 + z**2 < 55.0**2
    vent = (x / 6.0) ** 2 + (y / 20.0) ** 2 + (z / 10.0) ** 2 < 1
    par = brain & ~vent
    regions = {"left_hemisphere": par & (x < 0), "right_hemisphere": par & (x >= 0)}  # RAS: +x = right
    return par, vent, regions, aff


def _volume(par, vent, aff):
    mat = np.where(par, 1, np.where(vent, 2, 0)).astype(np.uint8)
    dens = np.where(par, 1.04, 1.0).astype(np.float32)
    return MaterialVolume(mat, dens, ["air", "brain", "water"], aff, np.zeros(par.shape, np.int16))


def test_inside_parenchyma_volume_and_hu():
    par, vent, regions, aff = _brain()
    centre = (25.0, 0.0, 0.0)
    h = IntraparenchymalHaemorrhage(centre, 20.0, axis_ratios=(0.8, 0.6), rotation_deg=(10, 20, 30),
                                    lobulation=0.2, shape_seed=3, hu=72.0, oedema_mm=4.0, oedema_hu=15.0)
    vol = _volume(par, vent, aff)
    mask, f = h.apply(vol, par, regions=regions, energy_kev=60.0)
    m = mask.astype(bool)
    assert not (m & ~par).any()
    # centre-voxel voxelisation of the lobulated ellipsoid of analytic volume 20 mL
    assert f["volume_ml"] == pytest.approx(20.0, rel=0.05)
    assert f["location"] == {"region": "right_hemisphere", "side": "right"}  # centre x = +25 mm: RAS right
    assert hounsfield_units("blood", 60.0, float(vol.density_g_cm3[m][0])) == pytest.approx(72.0, abs=0.01)
    assert (vol.material[m] == vol.index_of("blood")).all() and (vol.labels[m] == f["label"]).all()
    oed = h.masks(par, aff)["oedema"]
    assert oed.any() and not (oed & m).any() and not (oed & ~par).any()
    assert (vol.labels[oed] == f["oedema"]["label"]).all()
    assert hounsfield_units("brain", 60.0, float(vol.density_g_cm3[oed][0])) == pytest.approx(15.0, abs=0.01)
    assert f["oedema"]["volume_ml"] == pytest.approx(oed.sum() * vol.voxel_ml)
    json.dumps(f)


def test_clipped_at_ventricle_and_no_oedema():
    par, vent, _, aff = _brain()
    h = IntraparenchymalHaemorrhage((8.0, 0.0, 0.0), 30.0, oedema_mm=0.0)
    m = h.masks(par, aff)
    assert not (m["haemorrhage"] & vent).any() and not m["oedema"].any()
    vol = _volume(par, vent, aff)
    _, f = h.apply(vol, par)
    assert f["oedema"] is None and f["volume_ml"] < 30.0


def test_sample_and_replay():
    par, vent, _, aff = _brain()
    r = RandomIntraparenchymalHaemorrhage()
    for seed in range(3):
        h = r.sample(par, aff, np.random.default_rng(seed))
        assert r.sample(par, aff, np.random.default_rng(seed)) == h
        assert 2.0 <= h.volume_ml <= 60.0 and 50.0 <= h.hu <= 90.0
        twin = IntraparenchymalHaemorrhage.from_dict(json.loads(json.dumps(h.to_dict())))
        assert twin == h
        v1, v2 = _volume(par, vent, aff), _volume(par, vent, aff)
        a, fa = h.apply(v1, par)
        b, fb = twin.apply(v2, par)
        assert np.array_equal(a, b) and fa == fb and np.array_equal(v1.density_g_cm3, v2.density_g_cm3)
        assert not (a.astype(bool) & ~par).any()
        assert fa["volume_ml"] > 0.8 * h.volume_ml


def test_bad_input_names_field():
    par, _, _, aff = _brain()
    with pytest.raises(RadsynthInputError, match="volume_ml"):
        IntraparenchymalHaemorrhage((0, 0, 30), 500.0)
    with pytest.raises(RadsynthInputError, match="hu"):
        RandomIntraparenchymalHaemorrhage(hu=(50.0, 200.0))
    with pytest.raises(RadsynthInputError, match="axis_ratios"):
        IntraparenchymalHaemorrhage((0, 0, 30), 10.0, axis_ratios=(0.1, 1.0))
    with pytest.raises(RadsynthInputError, match="centre_mm"):
        IntraparenchymalHaemorrhage((0.0, 0.0, 0.0), 10.0).masks(par, aff)  # in the ventricle
    with pytest.raises(RadsynthInputError, match="parenchyma_mask"):
        RandomIntraparenchymalHaemorrhage().sample(np.zeros_like(par), aff, np.random.default_rng(0))
    small = np.zeros_like(par)
    small[40:44, 40:44, 30:33] = True
    with pytest.raises(RadsynthInputError, match="volume_ml"):  # region too small
        RandomIntraparenchymalHaemorrhage(volume_ml=30.0).sample(small, aff, np.random.default_rng(0))
    with pytest.raises(RadsynthInputError, match="intraparenchymal_haemorrhage"):
        IntraparenchymalHaemorrhage.from_dict({"centre_mm": [0, 0, 0], "volume_ml": 5.0, "age_h": 3})
