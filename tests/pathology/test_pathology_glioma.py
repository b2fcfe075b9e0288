"""Tests of radsynth.pathology.glioma on a real 1 mm brain label map (skip without data)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from scipy import ndimage

from radsynth.core.errors import RadsynthInputError
from radsynth.core.labels import (
    CEREBRAL_WM,
    LEFT_HEMISPHERE,
    LEFT_LATERAL_VENTRICLE,
    LESION_LABELS,
    PARENCHYMA,
    RIGHT_HEMISPHERE,
    RIGHT_LATERAL_VENTRICLE,
    TUMOUR_ENHANCING,
    TUMOUR_NECROSIS,
    TUMOUR_OEDEMA,
)
from radsynth.pathology import Glioma, RandomGlioma
from radsynth.pathology.lesion_shape import label_mask, voxel_to_world, voxel_volume_ml, world_to_voxel
from radsynth.pathology.mass_effect import INTRACRANIAL

TUMOUR = (TUMOUR_NECROSIS, TUMOUR_ENHANCING, TUMOUR_OEDEMA)
_RESULTS: dict = {}


def _sampled(brain_map, seed: int, hemisphere=None):
    key = (seed, hemisphere)
    if key not in _RESULTS:
        lab, aff = brain_map
        g = RandomGlioma().sample(lab, aff, np.random.default_rng(seed), hemisphere=hemisphere)
        out, finding = g.apply(lab, aff)
        _RESULTS[key] = (g, out, finding)
    return _RESULTS[key]


CASES = [(0, None), (3, "left"), (4, "right")]


@pytest.mark.parametrize("seed,side", CASES)
def test_tumour_only_on_parenchyma(brain_map, extracranial, seed, side):
    lab, aff = brain_map
    g, out, finding = _sampled(brain_map, seed, side)
    deformed = g.deform(lab, aff)
    lesion = label_mask(out, TUMOUR)
    assert lesion.sum() > 0
    assert label_mask(deformed[lesion], PARENCHYMA).all()
    # never in ventricles / CSF / extra-cerebral: the rest of the deformed map is kept
    assert np.array_equal(out[~lesion], deformed[~lesion])
    # nothing outside the skull changed, not even by the mass effect
    static = extracranial(lab)
    assert np.array_equal(out[static], lab[static])
    # what changed was intracranial (or an enclosed hole / thin dura sheet inside the box)
    changed = out != lab
    assert label_mask(lab[changed], INTRACRANIAL).mean() > 0.99
    # oedema is vasogenic: mostly white matter (the rest within 2 mm of the core)
    oed = out == TUMOUR_OEDEMA
    assert label_mask(deformed[oed], CEREBRAL_WM).mean() > 0.8


@pytest.mark.parametrize("seed,side", CASES)
def test_finding_volumes_are_voxel_counts(brain_map, seed, side):
    lab, aff = brain_map
    g, out, finding = _sampled(brain_map, seed, side)
    vv = voxel_volume_ml(aff)
    vol = finding["volume_ml"]
    for name, value in [("necrosis", TUMOUR_NECROSIS), ("enhancing", TUMOUR_ENHANCING), ("oedema", TUMOUR_OEDEMA)]:
        assert vol[name] == pytest.approx(int((out == value).sum()) * vv, rel=1e-12)
    assert vol["whole"] == pytest.approx(int(label_mask(out, TUMOUR).sum()) * vv, rel=1e-12)
    assert finding["type"] == "tumour" and finding["subtype"] == "glioma"
    assert finding["region"] in {"frontal", "parietal", "temporal", "occipital", "deep"}
    assert finding["params"] == g.to_dict()
    json.dumps(finding)  # JSON-serialisable provenance


def test_volume_scales_with_voxel_size(make_phantom_map):
    """Same lesion on a 1 mm and a 1.25 mm phantom: volumes agree within a few % (voxel-count x voxel volume)."""
    vols = []
    for sp in (1.0, 1.25):
        lab, aff = make_phantom_map(n=int(round(64 / sp)), spacing=sp)
        # sphere in the left white matter, clear of the ventricle (|x| < 5.8 mm) and the cortex
        g = Glioma((-12.0, 0.0, 5.0), "left", 6.0, 0.0, 0.5, 2.0, 0.0, 0.0, 0.0, 5.0, 3)
        out, finding = g.apply(lab, aff)
        n = int(label_mask(out, TUMOUR).sum())
        assert finding["volume_ml"]["whole"] == pytest.approx(n * sp**3 / 1000.0)
        vols.append(finding["volume_ml"]["whole"])
    # a sphere of radius 6 mm in white matter: 4/3 pi 6^3 = 0.905 mL
    assert vols[0] == pytest.approx(4 / 3 * np.pi * 6**3 / 1000, rel=0.05)
    assert vols[1] == pytest.approx(vols[0], rel=0.08)


def test_centre_in_white_matter_of_requested_hemisphere(brain_map):
    lab, aff = brain_map
    for seed, side in [(3, "left"), (4, "right")]:
        g, _, finding = _sampled(brain_map, seed, side)
        assert g.hemisphere == side == finding["hemisphere"]
        ijk = tuple(np.round(world_to_voxel(aff, np.array(g.centre_mm))).astype(int))
        expect = {"left": 2, "right": 41}[side]
        assert lab[ijk] == expect
        hemi = LEFT_HEMISPHERE if side == "left" else RIGHT_HEMISPHERE
        other = RIGHT_HEMISPHERE if side == "left" else LEFT_HEMISPHERE
        core = label_mask(_RESULTS[(seed, side)][1], {TUMOUR_NECROSIS, TUMOUR_ENHANCING})
        # the core lies in the requested hemisphere (as labelled before the lesion)
        before = lab[core]
        assert label_mask(before, hemi).sum() > 10 * label_mask(before, other).sum()


def test_twin_replay_is_byte_identical(brain_map):
    lab, aff = brain_map
    g, out, finding = _sampled(brain_map, 0)
    d = json.loads(json.dumps(g.to_dict()))
    twin = Glioma.from_dict(d)
    assert twin == g
    out2, finding2 = twin.apply(lab, aff)
    assert out2.dtype == np.int16
    assert out2.tobytes() == out.tobytes()
    assert finding2 == finding


def test_different_seeds_give_different_shapes(brain_map):
    lab, aff = brain_map
    g, out, _ = _sampled(brain_map, 0)
    other = dataclasses.replace(g, shape_seed=g.shape_seed + 1)
    out2, _ = other.apply(lab, aff)
    a, b = label_mask(out, TUMOUR), label_mask(out2, TUMOUR)
    assert (a ^ b).sum() > 0.05 * a.sum()
    g2, _, _ = _sampled(brain_map, 3, "left")
    assert g2.centre_mm != g.centre_mm
    # the sampler itself is a pure function of the generator state
    again = RandomGlioma().sample(lab, aff, np.random.default_rng(0))
    assert again == g


def test_mass_effect_shrinks_the_ipsilateral_ventricle(brain_map):
    """A tumour next to the left lateral ventricle compresses it (and shifts the midline to the right)."""
    lab, aff = brain_map
    radius, gap = 12.0, 4.0
    vent = label_mask(lab, {4})
    # left WM voxel whose distance to the ventricle is radius + gap, >= 6 mm from cortex
    nz = np.argwhere(vent)
    lo = np.maximum(nz.min(0) - 30, 0)
    crop = tuple(slice(int(a), int(b)) for a, b in zip(lo, nz.max(0) + 31))
    d_vent = ndimage.distance_transform_edt(~vent[crop])
    d_cortex = ndimage.distance_transform_edt(~label_mask(lab[crop], {3, 24}))
    cand = (lab[crop] == 2) & (np.abs(d_vent - (radius + gap)) < 0.5) & (d_cortex > 6)
    pts = np.argwhere(cand) + lo
    pick = pts[np.argmin(np.linalg.norm(pts - nz.mean(0), axis=1))]
    g = Glioma(
        tuple(voxel_to_world(aff, pick)), "left", radius, 0.1, 0.5, 3.0, 10.0, 0.3, 6.0, 10.0, 11
    )
    out, _ = g.apply(lab, aff)
    vl0, vr0 = label_mask(lab, LEFT_LATERAL_VENTRICLE).sum(), label_mask(lab, RIGHT_LATERAL_VENTRICLE).sum()
    vl1, vr1 = label_mask(out, LEFT_LATERAL_VENTRICLE).sum(), label_mask(out, RIGHT_LATERAL_VENTRICLE).sum()
    shrink_l = (vl0 - vl1) / vl0
    change_r = abs(int(vr1) - int(vr0)) / vr0
    # measured on training_seg_01: -6.5 % left vs -1.8 % right
    assert shrink_l > 0.03
    assert shrink_l > 2 * change_r
    # no tumour was painted into the ventricle: the decrease is compression, not overwriting
    assert not label_mask(out, LESION_LABELS)[label_mask(g.deform(lab, aff), LEFT_LATERAL_VENTRICLE)].any()


def test_no_mass_effect_keeps_anatomy(brain_map):
    lab, aff = brain_map
    g, _, _ = _sampled(brain_map, 0)
    flat = dataclasses.replace(g, mass_effect_mm=0.0)
    out, _ = flat.apply(lab, aff)
    lesion = label_mask(out, TUMOUR)
    changed = out != lab
    assert np.array_equal(changed, lesion | (changed & (lab == 24)))  # only lesion painting + effaced sulci
    assert label_mask(lab[lesion], PARENCHYMA | {24}).all()


def test_centre_outside_the_map_is_an_input_error(phantom):
    lab, aff = phantom
    g = Glioma((500.0, 0.0, 0.0), "left", 6.0, 0.1, 0.5, 2.0, 5.0, 0.3, 2.0, 5.0, 1)
    with pytest.raises(RadsynthInputError, match="centre_mm"):
        g.apply(lab, aff)


def test_invalid_parameters():
    with pytest.raises(RadsynthInputError, match="radius_mm"):
        RandomGlioma(radius_mm=(30, 10))
    with pytest.raises(RadsynthInputError, match="hemisphere|side"):
        Glioma((0, 0, 0), "middle", 10, 0.1, 0.5, 3, 10, 0.3, 2, 10, 1)
    with pytest.raises(RadsynthInputError, match="mass_effect_mm"):
        Glioma((0, 0, 0), "left", 10, 0.1, 0.5, 3, 10, 0.3, 9.5, 10, 1)
