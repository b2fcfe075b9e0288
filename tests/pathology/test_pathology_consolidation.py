"""Lobar consolidation: mask inside one lobe exactly, connected, fraction, HU, bronchograms, replay."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from radsynth.core.errors import RadsynthInputError
from radsynth.core.material_volume import MaterialVolume
from radsynth.pathology.lobar_consolidation import LobarConsolidation, RandomLobarConsolidation
from radsynth.physics.xray.materials import hounsfield_units


def _lungs(shape=(60, 40, 44), spacing=(2.5, 2.5, 3.0)):
    """Two ellipsoid lungs, each split by an oblique 'fissure' into upper and lower lobes."""
    aff = np.diag([*spacing, 1.0])
    aff[:3, 3] = [-75.0, -50.0, -60.0]
    i, j, k = np.ogrid[: shape[0], : shape[1], : shape[2]]
    cy, cz = shape[1] / 2, shape[2] / 2
    ell = lambda cx: ((i - cx) / (shape[0] * 0.22)) ** 2 + ((j - cy) / (shape[1] * 0.42)) ** 2 + (  # noqa: E731
        (k - cz) / (shape[2] * 0.46)) ** 2 < 1
    right, left = ell(shape[0] * 0.27), ell(shape[0] * 0.73)
    upper = np.broadcast_to((k - cz) + 0.5 * (j - cy) > 0, shape)
    lobes = {"lung_upper_lobe_right": right & upper, "lung_lower_lobe_right": right & ~upper,
             "lung_upper_lobe_left": left & upper, "lung_lower_lobe_left": left & ~upper}
    return lobes, aff


def _volume(lobes, aff):
    lung = np.zeros(next(iter(lobes.values())).shape, dtype=bool)
    for m in lobes.values():
        lung |= m
    mat = np.where(lung, 1, 2).astype(np.uint8)
    dens = np.where(lung, 0.26, 1.06).astype(np.float32)
    return MaterialVolume(mat, dens, ["air", "lung", "soft_tissue"], aff, np.zeros(lung.shape, np.int16))


def test_mask_inside_lobe_connected_with_bronchograms():
    lobes, aff = _lungs()
    rc = RandomLobarConsolidation(fraction=(0.6, 0.7), n_generations=(5, 5))
    c = rc.sample(lobes, aff, np.random.default_rng(5), lobe="lung_lower_lobe_right")
    vol = _volume(lobes, aff)
    mask, f = c.apply(vol, lobes, energy_kev=60.0)
    m = mask.astype(bool)
    lobe = lobes["lung_lower_lobe_right"]
    assert not (m & ~lobe).any()
    assert ndimage.label(m)[1] == 1
    assert f["fraction_of_lobe"] == pytest.approx(c.fraction, abs=1.0 / lobe.sum())
    assert f["location"] == {"lobe": "lung_lower_lobe_right", "side": "right"}
    ms = c.masks(lobes, aff)
    bron = ms["bronchograms"]
    assert bron.any() and not (bron & ~m).any() and f["n_branches"] >= 3
    assert f["bronchogram_volume_ml"] == pytest.approx(bron.sum() * vol.voxel_ml)
    solid = m & ~bron
    assert (vol.material[solid] == vol.index_of("soft_tissue")).all()
    assert (vol.material[bron] == vol.index_of("air")).all()
    assert (vol.labels[m] == f["label"]).all() and not vol.labels[~m].any()
    hu = hounsfield_units("soft_tissue", 60.0, float(vol.density_g_cm3[solid][0]))
    assert hu == pytest.approx(c.hu, abs=0.01) and 20 <= hu <= 50
    hu_air = hounsfield_units("air", 60.0, float(vol.density_g_cm3[bron][0]))
    assert hu_air == pytest.approx(c.bronchogram_hu, abs=0.01)
    json.dumps(f)


def test_whole_lobe_and_replay():
    lobes, aff = _lungs()
    c = LobarConsolidation("lung_upper_lobe_left", seed_mm=tuple(aff[:3, :3] @ [44, 20, 34] + aff[:3, 3]),
                           fraction=1.0, n_generations=0)
    m = c.masks(lobes, aff)
    assert np.array_equal(m["consolidation"], lobes["lung_upper_lobe_left"]) and not m["bronchograms"].any()
    rc = RandomLobarConsolidation()
    c2 = rc.sample(lobes, aff, np.random.default_rng(9))
    assert rc.sample(lobes, aff, np.random.default_rng(9)) == c2
    twin = LobarConsolidation.from_dict(json.loads(json.dumps(c2.to_dict())))
    assert twin == c2
    v1, v2 = _volume(lobes, aff), _volume(lobes, aff)
    a, fa = c2.apply(v1, lobes)
    b, fb = twin.apply(v2, lobes)
    assert np.array_equal(a, b) and fa == fb and np.array_equal(v1.density_g_cm3, v2.density_g_cm3)
    assert not (a.astype(bool) & ~lobes[c2.lobe]).any()


def test_strided_solver_stays_in_lobe(monkeypatch):
    import radsynth.pathology.lobar_consolidation as lc

    monkeypatch.setattr(lc, "MAX_COST_VOXELS", 1000)
    lobes, aff = _lungs()
    c = RandomLobarConsolidation(fraction=0.5).sample(lobes, aff, np.random.default_rng(2))
    m = c.masks(lobes, aff)["consolidation"]
    assert not (m & ~lobes[c.lobe]).any()
    assert m.sum() == round(c.fraction * lobes[c.lobe].sum())


def test_bad_input_names_field():
    lobes, aff = _lungs()
    seed = tuple(aff[:3, :3] @ [16, 20, 10] + aff[:3, 3])
    with pytest.raises(RadsynthInputError, match="lobe"):
        LobarConsolidation("lingula", seed).masks(lobes, aff)
    with pytest.raises(RadsynthInputError, match="lobe"):
        RandomLobarConsolidation().sample(lobes, aff, np.random.default_rng(0), lobe="lingula")
    with pytest.raises(RadsynthInputError, match="lobe_names"):
        RandomLobarConsolidation(lobe_names=())
    with pytest.raises(RadsynthInputError, match="seed_mm"):
        LobarConsolidation("lung_upper_lobe_left", seed).masks(lobes, aff)  # seed in the right lung
    empty = dict(lobes, lung_upper_lobe_left=np.zeros_like(lobes["lung_upper_lobe_left"]))
    with pytest.raises(RadsynthInputError, match="lung_upper_lobe_left"):
        RandomLobarConsolidation().sample(empty, aff, np.random.default_rng(0))
    with pytest.raises(RadsynthInputError, match="fraction"):
        RandomLobarConsolidation(fraction=(0.5, 1.2))
    with pytest.raises(RadsynthInputError, match="bronchus_radius_mm"):
        LobarConsolidation("lung_upper_lobe_left", seed, bronchus_radius_mm=5.0)
    with pytest.raises(RadsynthInputError, match="lobar_consolidation"):
        LobarConsolidation.from_dict({"lobe": "x", "seed_mm": [0, 0, 0], "size": 3})
