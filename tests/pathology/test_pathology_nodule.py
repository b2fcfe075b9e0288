"""Lung nodule: inside lung, volume pi d^3/6 (ball volume), HU as asked, replay, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.core.material_volume import MaterialVolume
from radsynth.pathology.lung_nodule import LungNodule, RandomLungNodule, ball_mask
from radsynth.pathology.lesion_shape import offsets_mm
from radsynth.physics.xray.materials import density_for_hu, hounsfield_units


def _affine(spacing):
    a = np.diag([*spacing, 1.0])
    a[:3, 3] = [-10.0, -20.0, -30.0]
    return a


def _lungs(shape=(60, 40, 40), spacing=(2.0, 2.0, 2.0)):
    """Two ellipsoid 'lungs' (RAS: left at low x, right at high x) and a lobe dict (upper/lower by z)."""
    aff = _affine(spacing)
    i, j, k = np.ogrid[: shape[0], : shape[1], : shape[2]]
    cy, cz = shape[1] / 2, shape[2] / 2
    right = ((i - shape[0] * 0.73) / (shape[0] * 0.22)) ** 2 + ((j - cy) / (shape[1] * 0.4)) ** 2 + (
        (k - cz) / (shape[2] * 0.45)) ** 2 < 1
    left = ((i - shape[0] * 0.27) / (shape[0] * 0.22)) ** 2 + ((j - cy) / (shape[1] * 0.4)) ** 2 + (
        (k - cz) / (shape[2] * 0.45)) ** 2 < 1
    upper = np.broadcast_to(k >= cz, shape)
    lobes = {"lung_upper_lobe_right": right & upper, "lung_lower_lobe_right": right & ~upper,
             "lung_upper_lobe_left": left & upper, "lung_lower_lobe_left": left & ~upper}
    return right | left, lobes, aff


def _volume(lung, aff):
    shape = lung.shape
    mat = np.where(lung, 1, 2).astype(np.uint8)
    dens = np.where(lung, 0.26, 1.06).astype(np.float32)
    return MaterialVolume(mat, dens, ["air", "lung", "soft_tissue"], aff, np.zeros(shape, np.int16))


@pytest.mark.parametrize(
    ("spacing", "diameters"),
    [((1.0, 1.0, 1.0), (3.0, 4.0, 6.0, 10.0, 30.0)), ((1.4, 1.4, 2.5), (3.0, 5.0, 8.0, 12.0, 20.0, 30.0)),
     ((0.703125, 0.703125, 2.5), (3.0, 7.0)), ((0.7, 0.7, 1.25), (5.0, 9.0))],
)
def test_ball_volume_within_10_percent(spacing, diameters):
    """Mask volume within 10 % of the ball volume V = pi d^3 / 6 (= 4/3 pi r^3), sub-voxel centres."""
    sp = np.array(spacing)
    rng = np.random.default_rng(0)
    for d in diameters:
        for _ in range(3):
            n = [int(math.ceil((d + 4 * s) / s)) for s in sp]
            centre = np.array(n) / 2.0 + rng.uniform(-0.5, 0.5, 3)
            box = tuple(slice(0, k) for k in n)
            ox, oy, oz = offsets_mm(box, centre, sp)
            vol = ball_mask(ox, oy, oz, d / 2, sp).sum() * np.prod(sp)
            ref = math.pi * d**3 / 6
            assert abs(vol - ref) / ref < 0.10, (spacing, d, vol, ref)


def test_nodule_inside_lung_volume_and_hu():
    lung, lobes, aff = _lungs()
    rn = RandomLungNodule(diameter_mm=(8.0, 12.0), subtypes=("solid",), spiculation_probability=0.0)
    nod = rn.sample(lung, aff, np.random.default_rng(3))
    vol = _volume(lung, aff)
    mask, f = nod.apply(vol, lung, lobes=lobes, energy_kev=60.0)
    assert mask.dtype == np.uint8 and mask.any()
    assert not (mask.astype(bool) & ~lung).any()
    ref = math.pi * nod.diameter_mm**3 / 6 / 1000
    assert abs(f["volume_ml"] - ref) / ref < 0.10
    assert f["location"]["lobe"] in lobes and f["location"]["side"] in ("left", "right")
    assert f["location"]["side"] in f["location"]["lobe"]
    m = mask.astype(bool)
    assert set(np.unique(vol.material[m])) == {vol.index_of("soft_tissue")}
    assert (vol.labels[m] == f["label"]).all()
    hu = hounsfield_units("soft_tissue", 60.0, float(vol.density_g_cm3[m][0]))
    assert hu == pytest.approx(nod.solid_hu, abs=0.01) and 20 <= hu <= 60
    json.dumps(f)


def test_part_solid_and_ground_glass_hu():
    lung, _, aff = _lungs()
    centre = tuple(float(v) for v in aff[:3, :3] @ [16, 20, 20] + aff[:3, 3])
    vol = _volume(lung, aff)
    nod = LungNodule(centre, 16.0, "part-solid", solid_hu=45.0, ggo_hu=-550.0, core_fraction=0.5)
    mask, f = nod.apply(vol, lung, energy_kev=70.0)
    masks = nod.masks(lung, aff)
    core, ggo = masks["solid"], masks["ground_glass"]
    assert core.any() and ggo.any() and not (core & ggo).any()
    assert (core | ggo == mask.astype(bool)).all()
    assert hounsfield_units("lung", 70.0, float(vol.density_g_cm3[ggo][0])) == pytest.approx(-550.0, abs=0.01)
    assert hounsfield_units("soft_tissue", 70.0, float(vol.density_g_cm3[core][0])) == pytest.approx(45.0, abs=0.01)
    assert f["solid_volume_ml"] < f["ground_glass_volume_ml"]
    assert f["hu"] == {"solid": 45.0, "ground_glass": -550.0}


def test_spiculated_clipped_to_lung_and_replay():
    lung, _, aff = _lungs()
    rn = RandomLungNodule(diameter_mm=(10.0, 14.0), subtypes=("solid", "part-solid"), spiculation_probability=1.0)
    nod = rn.sample(lung, aff, np.random.default_rng(11))
    assert nod.n_spicules >= 3
    m1 = nod.masks(lung, aff)
    assert m1["nodule"].sum() > m1["body"].sum()
    assert not (m1["nodule"] & ~lung).any()
    body_ref = math.pi * nod.diameter_mm**3 / 6 / 8.0  # in 2 mm voxels
    assert abs(m1["body"].sum() - body_ref) / body_ref < 0.10
    twin = LungNodule.from_dict(json.loads(json.dumps(nod.to_dict())))
    assert twin == nod
    v1, v2 = _volume(lung, aff), _volume(lung, aff)
    a, fa = nod.apply(v1, lung)
    b, fb = twin.apply(v2, lung)
    assert np.array_equal(a, b) and fa == fb
    assert np.array_equal(v1.density_g_cm3, v2.density_g_cm3)
    # same seed -> same draw
    assert rn.sample(lung, aff, np.random.default_rng(11)) == nod


def test_bad_input_names_field():
    lung, lobes, aff = _lungs()
    centre = tuple(float(v) for v in aff[:3, :3] @ [16, 20, 20] + aff[:3, 3])
    with pytest.raises(RadsynthInputError, match="diameter_mm"):
        LungNodule(centre, 31.0)
    with pytest.raises(RadsynthInputError, match="diameter_mm"):
        LungNodule(centre, 2.0)
    with pytest.raises(RadsynthInputError, match="diameter_mm"):
        RandomLungNodule(diameter_mm=(2.0, 10.0))
    with pytest.raises(RadsynthInputError, match="subtype"):
        LungNodule(centre, 10.0, "calcified")
    with pytest.raises(RadsynthInputError, match="lung_mask"):
        RandomLungNodule().sample(np.zeros_like(lung), aff, np.random.default_rng(0))
    with pytest.raises(RadsynthInputError, match="diameter_mm"):  # region too small for the nodule
        small = np.zeros_like(lung)
        small[10:20, 10:20, 10:20] = True  # a 20 mm cube holds no 30 mm ball
        RandomLungNodule(diameter_mm=30.0).sample(small, aff, np.random.default_rng(0))
    with pytest.raises(RadsynthInputError, match="centre_mm"):
        LungNodule((500.0, 0.0, 0.0), 10.0).masks(lung, aff)
    with pytest.raises(RadsynthInputError, match="lung_nodule"):
        LungNodule.from_dict({"centre_mm": centre, "diameter_mm": 10.0, "colour": 1})
    with pytest.raises(RadsynthInputError, match="energy_kev"):
        LungNodule(centre, 10.0).apply(_volume(lung, aff), lung, energy_kev=10.0)
    assert density_for_hu("water", 0.0, 60.0) == pytest.approx(1.0)
