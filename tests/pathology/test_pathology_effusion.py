"""Pleural effusion: inside the hemithorax, volume as drawn, dependent layering, meniscus, HU, replay."""

from __future__ import annotations

import json

import numpy as np
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.core.material_volume import MaterialVolume
from radsynth.pathology.pleural_effusion import PleuralEffusion, RandomPleuralEffusion
from radsynth.physics.xray.materials import hounsfield_units

SPACING = (2.5, 2.5, 3.0)


def _hemithorax(shape=(64, 44, 50)):
    """Two ellipsoid lungs: left at low x, right at high x (RAS: +x = right); a 'rib' slab of bone beside the right one."""
    aff = np.diag([*SPACING, 1.0])
    aff[:3, 3] = [-80.0, -55.0, -75.0]
    i, j, k = np.ogrid[: shape[0], : shape[1], : shape[2]]
    cy, cz = shape[1] / 2, shape[2] / 2
    ell = lambda cx: ((i - cx) / (shape[0] * 0.2)) ** 2 + ((j - cy) / (shape[1] * 0.42)) ** 2 + (  # noqa: E731
        (k - cz) / (shape[2] * 0.46)) ** 2 < 1
    return {"right": ell(shape[0] * 0.73), "left": ell(shape[0] * 0.27)}, aff


def _volume(hemi, aff):
    lung = hemi["left"] | hemi["right"]
    mat = np.where(lung, 1, 2).astype(np.uint8)
    mat[-2, :, :] = 3  # a bone slab lateral to the right lung
    dens = np.where(lung, 0.26, 1.06).astype(np.float32)
    return MaterialVolume(mat, dens, ["air", "lung", "soft_tissue", "cortical_bone"], aff,
                          np.zeros(lung.shape, np.int16))


@pytest.mark.parametrize(("side", "mirrored"), [("right", False), ("left", False), ("right", True)])
def test_upright_base_meniscus_volume(side, mirrored):
    hemi, aff = _hemithorax()
    if mirrored:  # labels mirrored against the affine: lateral is found from the geometry
        hemi = {"left": hemi["right"], "right": hemi["left"]}
    vol = _volume(hemi, aff)
    e = PleuralEffusion(side, 300.0, "upright", hu=12.0, meniscus_mm=25.0, meniscus_decay_mm=12.0)
    mask, f = e.apply(vol, hemi, energy_kev=60.0)
    m = mask.astype(bool)
    h = hemi[side]
    assert not (m & ~h).any()
    assert abs(f["volume_ml"] - 300.0) / 300.0 < 0.05 and f["volume_ml_by_side"] == {side: f["volume_ml"]}
    zs = np.nonzero(h)[2]
    assert m[..., zs.min()].any() and np.nonzero(m)[2].mean() < zs.mean()
    # meniscus: along the lateral wall the fluid reaches higher than along the medial wall
    lat_top, med_top = [], []
    for jj in range(h.shape[1]):
        for kk in range(h.shape[2]):
            xs = np.nonzero(h[:, jj, kk])[0]
            if xs.size < 4:
                continue
            lateral_low_x = (side == "left") != mirrored
            lat_x, med_x = (xs.min(), xs.max()) if lateral_low_x else (xs.max(), xs.min())
            if m[lat_x, jj, kk]:
                lat_top.append(kk)
            if m[med_x, jj, kk]:
                med_top.append(kk)
    assert max(lat_top) - max(med_top) >= 3  # >= 9 mm higher laterally (meniscus 25 mm)
    assert hounsfield_units("water", 60.0, float(vol.density_g_cm3[m][0])) == pytest.approx(12.0, abs=0.01)
    assert (vol.material[m] == vol.index_of("water")).all() and (vol.labels[m] == f["label"]).all()
    json.dumps(f)


def test_supine_posterior_both_sides_and_dilation():
    hemi, aff = _hemithorax()
    vol = _volume(hemi, aff)
    e = PleuralEffusion("both", 200.0, "supine", meniscus_mm=0.0, dilation_mm=5.0)
    mask, f = e.apply(vol, hemi)
    m = mask.astype(bool)
    for s in ("left", "right"):
        ms = e.masks(hemi, aff)[s]
        assert abs(ms.sum() * vol.voxel_ml - 200.0) / 200.0 < 0.05
        ys = np.nonzero(hemi[s])[1]
        assert np.nonzero(ms)[1].mean() < ys.mean() - 5  # posterior (low y)
    assert f["volume_ml"] == pytest.approx(sum(f["volume_ml_by_side"].values()))
    # dilation stays out of bone and within 5 mm of a lung
    lung = hemi["left"] | hemi["right"]
    from scipy import ndimage

    near = ndimage.distance_transform_edt(~lung, sampling=SPACING) <= 5.0
    assert not (m & ~near).any() and not m[1].any()
    assert (m & ~lung).any()


def test_replay_and_sample():
    hemi, aff = _hemithorax()
    r = RandomPleuralEffusion()
    e = r.sample(hemi, aff, np.random.default_rng(4))
    assert r.sample(hemi, aff, np.random.default_rng(4)) == e
    twin = PleuralEffusion.from_dict(json.loads(json.dumps(e.to_dict())))
    assert twin == e
    v1, v2 = _volume(hemi, aff), _volume(hemi, aff)
    a, fa = e.apply(v1, hemi)
    b, fb = twin.apply(v2, hemi)
    assert np.array_equal(a, b) and fa == fb
    cap = 0.6 * min(m.sum() for m in hemi.values()) * v1.voxel_ml
    assert e.volume_ml <= cap + 1e-9
    assert abs(fa["volume_ml"] - e.volume_ml * (2 if e.side == "both" else 1)) / fa["volume_ml"] < 0.05


def test_bad_input_names_field():
    hemi, aff = _hemithorax()
    with pytest.raises(RadsynthInputError, match="side"):
        PleuralEffusion("middle", 100.0)
    with pytest.raises(RadsynthInputError, match="position"):
        PleuralEffusion("left", 100.0, "prone")
    with pytest.raises(RadsynthInputError, match="volume_ml"):
        PleuralEffusion("left", 5000.0)
    with pytest.raises(RadsynthInputError, match="volume_ml"):  # more than the hemithorax holds
        PleuralEffusion("left", 3000.0).masks(hemi, aff)
    with pytest.raises(RadsynthInputError, match="hemithorax"):
        PleuralEffusion("both", 100.0).masks({"left": hemi["left"]}, aff)
    with pytest.raises(RadsynthInputError, match="hemithorax"):
        PleuralEffusion("left", 100.0).masks({"left": np.zeros_like(hemi["left"])}, aff)
    with pytest.raises(RadsynthInputError, match="positions"):
        RandomPleuralEffusion(positions=("sitting",))
    with pytest.raises(RadsynthInputError, match="pleural_effusion"):
        PleuralEffusion.from_dict({"side": "left", "volume_ml": 100.0, "colour": "x"})
