"""Anatomy plausibility: real sources pass, broken deformations (3x scale, mirror) are flagged."""

from __future__ import annotations

import numpy as np
import pytest

from radsynth.anatomy.chest_ct import RandomChestVariation, load_chest_anatomy
from radsynth.anatomy.deformation import HeadDeformation, RandomHeadDeformation
from radsynth.anatomy.labelmaps import available_labelmaps, load_labelmap_cached
from radsynth.anatomy.plausibility import build_reference, check_plausibility, load_reference, measure_structures
from radsynth.core.errors import RadsynthInputError
from radsynth.core.labels import LABEL_NAMES


@pytest.fixture(scope="module")
def chest():
    return load_chest_anatomy()


@pytest.fixture(scope="module")
def head():
    lab, aff = load_labelmap_cached(available_labelmaps()[2])
    return np.array(lab), np.array(aff)


def _checks(flags):
    return {f["check"] for f in flags}


def test_measure_cube():
    lab = np.zeros((20, 20, 20), dtype=np.int16)
    lab[2:6, 4:10, 5:15] = 7  # 4 x 6 x 10 voxels of 2 mm
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    aff[:3, 3] = (10.0, -5.0, 3.0)
    m = measure_structures(lab, aff)[7]
    assert m["voxels"] == 240 and m["volume_ml"] == pytest.approx(240 * 8 / 1000)
    assert m["centroid_mm"] == pytest.approx([10 + 2 * 3.5, -5 + 2 * 6.5, 3 + 2 * 9.5])
    assert not m["touches_boundary"]


def test_references_ship_with_method():
    for name in ("chest", "brain"):
        ref = load_reference(name)
        assert ref["structures"] and ref["relations"] and ref["method"]["volume_factor"]
    chest = load_reference("chest")
    # RAS: +x is the patient's right: the heart lies at lower x than the spine, left lobes below right ones
    assert {"plus_x": "midline", "minus_x": "heart", "anatomical": True} in chest["relations"]
    assert {"plus_x": "lung_upper_lobe_right", "minus_x": "lung_upper_lobe_left", "anatomical": True} in chest["relations"]
    assert all(r["anatomical"] for r in load_reference("brain")["relations"])  # SynthSeg maps: left labels at -x
    with pytest.raises(RadsynthInputError):
        load_reference("knee")


def test_chest_source_and_default_variation_pass(chest):
    assert check_plausibility(chest.labels, chest.affine, chest.label_names, "chest") == []
    _, lab, aff = RandomChestVariation().sample(np.random.default_rng(3)).apply(chest)
    assert check_plausibility(lab, aff, chest.label_names, "chest") == []


def test_chest_3x_scale_flagged(chest):
    lab = HeadDeformation(scale=(3.0, 3.0, 3.0)).apply(chest.labels, chest.affine)
    flags = check_plausibility(lab, chest.affine, chest.label_names, "chest")
    assert "volume_ml" in _checks(flags) or "missing" in _checks(flags)
    assert len(flags) > 10


def test_chest_mirrored_heart_flagged(chest):
    lab = np.array(chest.labels)
    heart = lab == 51
    spine = np.isin(lab, [k for k, v in chest.label_names.items() if v.startswith("vertebrae_")])
    mid = int(round(np.argwhere(spine)[:, 0].mean()))
    mirrored = np.zeros_like(heart)
    xs = 2 * mid - np.arange(lab.shape[0])
    ok = (xs >= 0) & (xs < lab.shape[0])
    mirrored[ok] = heart[xs[ok]]
    lab[heart] = 0
    lab[mirrored] = 51
    flags = check_plausibility(lab, chest.affine, chest.label_names, "chest")
    assert any(f["structure"] == "heart" and f["check"] == "left_of" for f in flags)
    assert any(f["structure"] == "heart" and f["check"] == "centroid_mm" for f in flags)


def test_chest_left_right_flip_flagged(chest):
    flags = check_plausibility(np.array(chest.labels[::-1]), chest.affine, chest.label_names, "chest")
    lr = [f for f in flags if f["check"] == "left_of"]
    assert len(lr) >= 10
    assert any(f["structure"] == "lung_upper_lobe_left" for f in lr)


def test_brain_source_and_default_deformation_pass(head):
    lab, aff = head
    for p in available_labelmaps():
        lab_p, aff_p = load_labelmap_cached(p)
        assert check_plausibility(lab_p, aff_p, LABEL_NAMES, "brain") == [], p.name
    d = RandomHeadDeformation().sample(np.random.default_rng(1), "F")
    assert check_plausibility(d.apply(lab, aff), aff, LABEL_NAMES, "brain") == []


def test_brain_scale_and_flip_flagged(head):
    lab, aff = head
    big = HeadDeformation(scale=(3.0, 3.0, 3.0)).apply(lab, aff)
    assert len(check_plausibility(big, aff, LABEL_NAMES, "brain")) > 5
    small = HeadDeformation(scale=(0.5, 0.5, 0.5)).apply(lab, aff)
    assert "volume_ml" in _checks(check_plausibility(small, aff, LABEL_NAMES, "brain"))
    flipped = check_plausibility(lab[::-1].copy(), aff, LABEL_NAMES, "brain")
    assert sum(f["check"] == "left_of" for f in flipped) >= 10


def test_build_reference_rules():
    lab = np.zeros((30, 20, 20), dtype=np.int16)
    lab[4:10, 5:10, 5:10] = 1  # "thing_left" at -x (RAS: the patient's left)
    lab[20:26, 5:10, 5:10] = 2  # "thing_right" at +x
    lab[0:3, 0:3, 0:3] = 3  # touches the boundary: not checked
    names = {1: "thing_left", 2: "thing_right", 3: "edge"}
    ref = build_reference([(lab, np.eye(4), names)], "toy", volume_factor=(0.5, 2.0), centroid_tol_mm=2.0,
                          centroid_tol_frac=0.0, min_volume_ml=0.0)
    assert set(ref["structures"]) == {"thing_left", "thing_right"}
    assert ref["relations"] == [{"plus_x": "thing_right", "minus_x": "thing_left", "anatomical": True}]
    assert check_plausibility(lab, np.eye(4), names, ref) == []
    swapped = np.where(lab == 1, 2, np.where(lab == 2, 1, lab)).astype(np.int16)
    assert "left_of" in _checks(check_plausibility(swapped, np.eye(4), names, ref))
    lab2 = lab.copy()
    lab2[lab2 == 2] = 0
    assert "missing" in _checks(check_plausibility(lab2, np.eye(4), names, ref))
