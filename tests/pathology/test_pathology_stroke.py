"""Tests of radsynth.pathology.ischaemic_stroke on a real brain label map (skip without data)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from scipy import ndimage

from radsynth.core.errors import RadsynthInputError
from radsynth.core.labels import INFARCT
from radsynth.pathology import IschaemicStroke, RandomIschaemicStroke, territory_mask
from radsynth.pathology.lesion_shape import voxel_to_world, voxel_volume_ml

_RESULTS: dict = {}


def _stroke(brain_map, territory, side, fraction, seed):
    key = (territory, side, fraction, seed)
    if key not in _RESULTS:
        lab, aff = brain_map
        s = IschaemicStroke(territory, side, fraction, 1.0, seed)
        _RESULTS[key] = (s, *s.apply(lab, aff))
    return _RESULTS[key]


CASES = [("MCA", "left", 0.3, 1), ("ACA", "right", 0.5, 2), ("PCA", "left", 0.15, 3), ("CEREBELLAR", "right", 0.2, 4)]


@pytest.mark.parametrize("territory,side,fraction,seed", CASES)
def test_infarct_inside_declared_territory_and_contiguous(brain_map, territory, side, fraction, seed):
    lab, aff = brain_map
    s, out, finding = _stroke(brain_map, territory, side, fraction, seed)
    inf = out == INFARCT
    terr = territory_mask(lab, aff, territory, side)
    assert inf.any()
    assert terr[inf].all()  # entirely inside the declared territory (and side)
    assert np.array_equal(out[~inf], lab[~inf])  # nothing else changed
    _, n = ndimage.label(inf, structure=np.ones((3, 3, 3), dtype=bool))
    assert n == 1
    # requested fraction of the territory (less only if the territory is fragmented)
    assert inf.sum() <= int(round(fraction * terr.sum())) + 0
    assert inf.sum() >= 0.5 * fraction * terr.sum()
    # finding
    vv = voxel_volume_ml(aff)
    assert finding["volume_ml"] == pytest.approx(int(inf.sum()) * vv, rel=1e-12)
    assert finding["type"] == "stroke" and finding["territory"] == territory and finding["side"] == side
    np.testing.assert_allclose(finding["centre_mm"], voxel_to_world(aff, np.argwhere(inf).mean(0)))
    assert finding["params"] == s.to_dict()
    json.dumps(finding)


def test_twin_replay_and_seed_dependence(brain_map):
    lab, aff = brain_map
    s, out, finding = _stroke(brain_map, *CASES[0])
    twin = IschaemicStroke.from_dict(json.loads(json.dumps(s.to_dict())))
    out2, finding2 = twin.apply(lab, aff)
    assert out2.tobytes() == out.tobytes() and finding2 == finding
    other, _ = dataclasses.replace(s, seed=s.seed + 1).apply(lab, aff)
    a, b = out == INFARCT, other == INFARCT
    assert (a ^ b).sum() > 0.2 * a.sum()


def test_random_sampler_draws_within_ranges(brain_map):
    lab, aff = brain_map
    sampler = RandomIschaemicStroke(territories=("MCA", "PCA"), volume_fraction=(0.1, 0.2))
    rng = np.random.default_rng(7)
    draws = [sampler.sample(lab, aff, rng) for _ in range(40)]
    assert {d.territory for d in draws} == {"MCA", "PCA"}
    assert {d.side for d in draws} == {"left", "right"}
    assert all(0.1 <= d.volume_fraction <= 0.2 for d in draws)
    # same generator state, same draw
    again = [sampler.sample(lab, aff, np.random.default_rng(7)) for _ in range(1)]
    assert again[0] == draws[0]


def test_invalid_parameters():
    with pytest.raises(RadsynthInputError) as e:
        RandomIschaemicStroke(territories=("MCA", "vertebral"))
    assert e.value.field == "territory" and "ACA" in str(e.value)
    with pytest.raises(RadsynthInputError, match="volume_fraction"):
        RandomIschaemicStroke(volume_fraction=(0.0, 0.5))
    with pytest.raises(RadsynthInputError, match="volume_fraction"):
        IschaemicStroke("MCA", "left", 1.5, 1.0, 0)
    with pytest.raises(RadsynthInputError, match="side"):
        IschaemicStroke("MCA", "both", 0.5, 1.0, 0)
