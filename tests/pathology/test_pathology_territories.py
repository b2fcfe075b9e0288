"""Tests of radsynth.pathology.vascular_territories on a real brain label map (skip without data).

Anatomical expectations from Tatu et al., "Arterial territories of the human brain:
cerebral hemispheres", Neurology 1998: the thalamus is supplied by PCA branches,
the putamen/pallidum by the lenticulostriate (MCA) arteries, the ACA supplies a
medial parasagittal strip, the PCA the occipital lobe, and the MCA is the largest
territory (about half to two thirds of the hemisphere in the atlases derived from
it, e.g. Kim et al. 2019; Liu et al., Sci Data 2023).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.core.labels import LEFT_HEMISPHERE, PARENCHYMA, RIGHT_HEMISPHERE
from radsynth.pathology import TERRITORIES, lobe_of, territory_map, territory_mask
from radsynth.pathology.lesion_shape import label_mask, voxel_to_world

HEMI = {"left": LEFT_HEMISPHERE, "right": RIGHT_HEMISPHERE}
CEREBELLUM = {"left": {7, 8}, "right": {46, 47}}
_MAPS: dict = {}


def _maps(brain_map):
    if not _MAPS:
        lab, aff = brain_map
        for side in ("left", "right"):
            codes = territory_map(lab, aff, side)
            _MAPS[side] = {t: codes == i for i, t in enumerate(TERRITORIES, start=1)}
    return _MAPS


def test_territories_disjoint_nonempty_and_in_the_hemisphere(brain_map):
    lab, aff = brain_map
    maps = _maps(brain_map)
    for side, masks in maps.items():
        allowed = label_mask(lab, (HEMI[side] & PARENCHYMA) | CEREBELLUM[side])
        for name, m in masks.items():
            assert m.sum() > 1000, (side, name)
            assert not (m & ~allowed).any(), (side, name)
        for a, b in itertools.combinations(masks, 2):
            assert not (masks[a] & masks[b]).any(), (side, a, b)
        # the supratentorial territories tile the cerebral parenchyma of the hemisphere
        union = masks["MCA"] | masks["ACA"] | masks["PCA"]
        assert np.array_equal(union, label_mask(lab, HEMI[side] & PARENCHYMA))
    # left and right never share a voxel, and lie on their own side of the head
    for t in TERRITORIES:
        assert not (maps["left"][t] & maps["right"][t]).any()
        xl = voxel_to_world(aff, np.argwhere(maps["left"][t]))[:, 0].mean()
        xr = voxel_to_world(aff, np.argwhere(maps["right"][t]))[:, 0].mean()
        assert xl < xr - 10  # RAS+: left is -x


def test_territory_mask_matches_map(brain_map):
    lab, aff = brain_map
    maps = _maps(brain_map)
    for t in ("ACA", "CEREBELLAR"):
        assert np.array_equal(territory_mask(lab, aff, t, "right"), maps["right"][t])


def test_anatomy_follows_tatu_1998(brain_map):
    lab, aff = brain_map
    maps = _maps(brain_map)
    for side, thal, put, pal in [("left", 10, 12, 13), ("right", 49, 51, 52)]:
        m = maps[side]
        assert m["PCA"][lab == thal].all()
        assert m["MCA"][(lab == put) | (lab == pal)].all()
        vol = {t: int(m[t].sum()) for t in ("MCA", "ACA", "PCA")}
        frac_mca = vol["MCA"] / sum(vol.values())
        assert 0.45 < frac_mca < 0.8
        assert vol["ACA"] > 0.05 * sum(vol.values()) and vol["PCA"] > 0.05 * sum(vol.values())
        cen = {t: voxel_to_world(aff, np.argwhere(m[t])).mean(0) for t in ("MCA", "ACA", "PCA")}
        midline_x = 0.5 * (
            voxel_to_world(aff, np.argwhere(label_mask(lab, {2, 3}))).mean(0)[0]
            + voxel_to_world(aff, np.argwhere(label_mask(lab, {41, 42}))).mean(0)[0]
        )
        # ACA medial and superior to MCA; PCA posterior to both
        assert abs(cen["ACA"][0] - midline_x) < abs(cen["MCA"][0] - midline_x)
        assert cen["ACA"][2] > cen["MCA"][2]
        assert cen["PCA"][1] < cen["MCA"][1] - 20 and cen["PCA"][1] < cen["ACA"][1] - 20


def test_mirror_symmetry(brain_map):
    """Mirroring the map (x flipped, left/right labels swapped) mirrors the territories."""
    lab, aff = brain_map
    swap = {2: 41, 3: 42, 4: 43, 5: 44, 7: 46, 8: 47, 10: 49, 11: 50, 12: 51, 13: 52, 17: 53, 18: 54,
            26: 58, 28: 60, 30: 62, 136: 163, 137: 164}
    lut = np.arange(int(lab.max()) + 1, dtype=np.int16)
    for a, b in swap.items():
        lut[a], lut[b] = b, a
    mirrored = np.ascontiguousarray(lut[lab[::-1]])
    left = territory_map(lab, aff, "left")
    right_of_mirror = territory_map(mirrored, aff, "right")[::-1]
    assert (left != right_of_mirror).mean() < 1e-4


def test_unknown_territory_and_side_raise(brain_map):
    lab, aff = brain_map
    with pytest.raises(RadsynthInputError) as e:
        territory_mask(lab, aff, "basilar", "left")
    assert e.value.field == "territory"
    for t in ("MCA", "ACA", "PCA"):
        assert t in str(e.value)
    with pytest.raises(RadsynthInputError) as e:
        territory_mask(lab, aff, "MCA", "centre")
    assert e.value.field == "side"
    # case-insensitive names
    assert np.array_equal(territory_mask(lab, aff, "mca", "Left"), _maps(brain_map)["left"]["MCA"])


def test_lobe_of_landmarks(brain_map):
    lab, aff = brain_map
    thal = voxel_to_world(aff, np.argwhere(lab == 10).mean(0))
    assert lobe_of(lab, aff, thal, "left") == "deep"
    left = voxel_to_world(aff, np.argwhere(label_mask(lab, {2, 3})))
    front = left[np.argmax(left[:, 1])] + [0, -5, 0]
    back = left[np.argmin(left[:, 1])] + [0, 5, 0]
    assert lobe_of(lab, aff, front, "left") == "frontal"
    assert lobe_of(lab, aff, back, "left") == "occipital"
    # lateral, low, mid antero-posterior: temporal
    low = left[(left[:, 2] < np.quantile(left[:, 2], 0.1))]
    mid_y = np.median(low[:, 1])
    temporal = low[np.abs(low[:, 1] - mid_y) < 3]
    pt = temporal[np.argmin(temporal[:, 0])] + [8, 0, 0]
    assert lobe_of(lab, aff, pt, "left") == "temporal"
