"""Shipped chest CT anatomy: asset, orientation, masks, per-subject variation replay."""

from __future__ import annotations

import json

import numpy as np
import pytest

from radsynth.anatomy.chest_ct import (
    LUNG_LOBES,
    ChestAnatomy,
    ChestVariation,
    RandomChestVariation,
    load_chest_anatomy,
    shipped_chest_dir,
)
from radsynth.core.errors import RadsynthInputError


@pytest.fixture(scope="module")
def chest():
    return load_chest_anatomy()


def _crop(a: ChestAnatomy, z0: int, z1: int) -> ChestAnatomy:
    aff = np.array(a.affine)
    aff[:3, 3] += aff[:3, :3] @ np.array([0.0, 0.0, z0])
    return ChestAnatomy(np.array(a.hu[:, :, z0:z1]), np.array(a.labels[:, :, z0:z1]), aff, dict(a.label_names))


def test_shipped_asset_shape_spacing_size(chest):
    assert chest.shape == (256, 209, 133)
    assert chest.spacing_mm == pytest.approx((1.40625, 1.40625, 2.5))
    assert np.allclose(chest.affine[:3, :3], np.diag(np.diag(chest.affine[:3, :3])))
    assert np.all(np.diag(chest.affine)[:3] > 0)  # RAS+
    assert chest.hu.dtype == np.float32 and chest.labels.dtype == np.int16
    assert not chest.hu.flags.writeable and not chest.labels.flags.writeable
    assert len(chest.label_names) == 118 and chest.label_names[51] == "heart"
    total = sum(p.stat().st_size for p in shipped_chest_dir().iterdir())
    assert total < 9e6  # measured 8.38 MB
    text = (shipped_chest_dir() / "LICENSE").read_text()
    assert "MIT License" in text and "Gopalakrishnan" in text
    assert load_chest_anatomy() is chest  # memoised


def test_hu_plausible(chest):
    lung = chest.mask("lung")
    # inflated lung on CT: about -900..-800 HU (shipped asset: -872)
    assert -900 < float(np.median(chest.hu[lung])) < -800
    assert -120 < float(np.median(chest.hu[chest.mask("liver")])) + 50 < 200
    assert chest.hu.min() >= -1024


def test_orientation_patient_right_is_plus_x(chest):
    """RAS+: +x points to the patient's right (liver), -x to the left (heart, spleen, left lobes)."""
    def cx(name):
        idx = np.argwhere(chest.mask(name)).mean(axis=0)
        return float((np.asarray(chest.affine)[:3, :3] @ idx + np.asarray(chest.affine)[:3, 3])[0])

    assert cx("lung_left") < cx("lung_right")
    assert cx("heart") < cx("liver")
    assert cx("spleen") < cx("liver")
    assert cx("autochthon_left") < cx("autochthon_right")


def test_masks_and_errors(chest):
    lung = chest.mask("lung")
    assert lung.sum() == sum(int(chest.mask(n).sum()) for n in LUNG_LOBES)
    assert (chest.mask("lung_left") | chest.mask("lung_right")).sum() == lung.sum()
    bone = chest.mask("bone")
    assert bone[chest.mask("vertebrae_T8")].all() and bone[chest.mask("rib_left_6")].all()
    body = chest.mask("body")
    assert body[lung].all()  # lungs inside the body outline (holes filled)
    with pytest.raises(RadsynthInputError):
        chest.mask("left_kidney_typo")
    with pytest.raises(RadsynthInputError):
        load_chest_anatomy("/nonexistent/chest")


def test_variation_replays_bit_exactly(chest):
    sub = _crop(chest, 20, 52)
    v = RandomChestVariation().sample(np.random.default_rng(7))
    d = json.loads(json.dumps(v.to_dict()))
    v2 = ChestVariation.from_dict(d)
    assert v2 == v
    hu1, lab1, aff1 = v.apply(sub)
    hu2, lab2, aff2 = v2.apply(sub)
    assert hu1.tobytes() == hu2.tobytes() and lab1.tobytes() == lab2.tobytes()
    assert np.array_equal(aff1, sub.affine)
    assert not np.array_equal(lab1, sub.labels)
    # same rng seed -> same twin
    assert RandomChestVariation().sample(np.random.default_rng(7)) == v
    assert RandomChestVariation.from_dict(RandomChestVariation().to_dict()) == RandomChestVariation()


def test_identity_variation_is_a_copy(chest):
    sub = _crop(chest, 60, 70)
    hu, lab, _ = ChestVariation().apply(sub)
    assert np.array_equal(hu, sub.hu) and np.array_equal(lab, sub.labels)
    assert hu.flags.writeable


def test_downsampling_matches_source(shared_data, chest):
    """The shipped HU are the 2x2 block means of the real CT (flipped to RAS, cropped in y)."""
    import nibabel as nib

    src = shared_data / "chest-ct"
    if not (src / "cxr.nii.gz").is_file():
        pytest.skip("../shared/data/chest-ct not present")
    img = nib.as_closest_canonical(nib.load(str(src / "cxr.nii.gz")))
    k = 66
    sl = np.maximum(np.asarray(img.dataobj[:, :, k]).astype(np.float64), -1024)
    block = sl.reshape(256, 2, 256, 2).mean(axis=(1, 3))
    y0 = int(round((chest.affine[1, 3] - (img.affine[1, 3] + 0.5 * img.affine[1, 1])) / chest.affine[1, 1]))
    got = chest.hu[:, :, k]
    inside = (got != -1000) | (chest.labels[:, :, k] != 0)  # outside the body the asset stores air, -1000 HU
    assert inside.mean() > 0.3
    assert np.abs(np.rint(block[:, y0:y0 + got.shape[1]]) - got)[inside].max() <= 0.5


def test_hu_regions_medians(chest):
    """The HU-fidelity regions and their medians on the shipped asset (reference for the CT acceptance)."""
    from radsynth.anatomy.chest_ct import hu_regions

    r = hu_regions(chest.hu, chest.labels, chest.label_names)
    med = {k: float(np.median(chest.hu[m])) for k, m in r.items()}
    assert med["air"] == -1000.0  # stored as air outside the body (scripts/ship_ct_anatomy.py)
    assert med["lung"] == pytest.approx(-872, abs=5)
    assert med["fat"] == pytest.approx(-102, abs=5)  # typical subcutaneous fat -80..-120 HU
    assert med["muscle"] == pytest.approx(37, abs=5)  # skeletal muscle 35-55 HU
    assert med["blood"] == pytest.approx(359, abs=10)  # contrast-enhanced
    assert med["cortical_bone"] == pytest.approx(535, abs=10)
