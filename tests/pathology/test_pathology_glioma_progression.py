"""Tests of radsynth.pathology.glioma_progression on a real brain label map at 2 mm (fast)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.core.labels import TUMOUR_ENHANCING, TUMOUR_NECROSIS, TUMOUR_OEDEMA
from radsynth.pathology import Glioma
from radsynth.pathology.glioma_progression import (
    GliomaProgression,
    RandomGliomaProgression,
    sphere_radius_mm,
    ventricle_mass_effect,
)
from radsynth.pathology.lesion_shape import label_mask, voxel_volume_ml
from radsynth.pathology.tumour_growth import RandomTumourGrowth

DAYS = (0.0, 60.0, 120.0, 180.0)
CORE = (TUMOUR_NECROSIS, TUMOUR_ENHANCING)
_CACHE: dict = {}


@pytest.fixture(scope="module")
def map_2mm(brain_map):
    lab, aff = brain_map
    aff2 = aff.copy()
    aff2[:3, :3] = aff[:3, :3] * 2
    return np.ascontiguousarray(lab[::2, ::2, ::2]), aff2


def _series(map_2mm, seed):
    if seed not in _CACHE:
        lab, aff = map_2mm
        prog = RandomGliomaProgression().sample(lab, aff, np.random.default_rng(seed), last_day=DAYS[-1])
        out, radius = [], 1.0
        for t in DAYS:
            painted, finding = prog.at(lab, aff, t, min_radius_mm=radius)
            radius = finding["progression"]["radius_mm"]
            effect = ventricle_mass_effect(lab, painted, aff, Glioma.from_dict(finding["params"]))
            out.append((painted, finding, effect))
        _CACHE[seed] = (prog, out)
    return _CACHE[seed]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_core_volume_follows_growth_model_within_tolerance(map_2mm, seed):
    lab, aff = map_2mm
    prog, series = _series(map_2mm, seed)
    for t, (painted, finding, _) in zip(DAYS, series):
        target = prog.growth.volume_ml(t)
        measured = float(label_mask(painted, CORE).sum()) * voxel_volume_ml(aff)
        assert measured == pytest.approx(finding["progression"]["core_volume_ml"], rel=1e-12)
        assert abs(measured - target) / target <= 0.05  # acceptance
        assert abs(measured - target) / target <= prog.volume_tolerance + 1e-9  # what the solver promises
        assert finding["progression"]["target_core_volume_ml"] == pytest.approx(target, rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tumour_grows_in_place_and_mass_effect_and_oedema_grow_with_it(map_2mm, seed):
    prog, series = _series(map_2mm, seed)
    p = [f["progression"] for _, f, _ in series]
    for key in ("radius_mm", "mass_effect_mm", "oedema_extent_mm"):
        assert all(b[key] > a[key] for a, b in zip(p, p[1:])), key
    disp = [e["ventricle_displacement_mm"] for _, _, e in series]
    mean_disp = [e["ventricle_mean_displacement_mm"] for _, _, e in series]
    assert all(b >= a for a, b in zip(disp, disp[1:])) and disp[-1] > disp[0] > 0
    assert all(b >= a for a, b in zip(mean_disp, mean_disp[1:]))
    assert series[-1][2]["ventricle_wall_shift_mm"] > series[0][2]["ventricle_wall_shift_mm"]
    for (a, fa, _), (b, fb, _) in zip(series, series[1:]):
        assert fa["params"]["shape_seed"] == fb["params"]["shape_seed"] == prog.shape_seed
        assert fa["params"]["centre_mm"] == fb["params"]["centre_mm"]
        core_a, core_b = label_mask(a, CORE), label_mask(b, CORE)
        assert (core_a & core_b).sum() / core_a.sum() > 0.9  # the same tumour, grown (not re-drawn)
        assert (b == TUMOUR_OEDEMA).sum() > 0


def test_mass_effect_is_the_documented_fraction_of_the_radius(map_2mm):
    prog, series = _series(map_2mm, 0)
    for _, finding, _ in series:
        q = finding["progression"]
        assert q["mass_effect_mm"] == pytest.approx(prog.expansive_fraction * q["radius_mm"])
        assert q["oedema_extent_mm"] == pytest.approx(min(60.0, prog.oedema_ratio * q["radius_mm"]))


def test_twin_round_trip_and_replay(map_2mm):
    lab, aff = map_2mm
    prog, series = _series(map_2mm, 1)
    again = GliomaProgression.from_dict(json.loads(json.dumps(prog.to_dict())))
    assert again == prog
    painted, finding = again.at(lab, aff, DAYS[2], min_radius_mm=series[1][1]["progression"]["radius_mm"])
    assert np.array_equal(painted, series[2][0])
    assert finding == series[2][1] | {"progression": finding["progression"]}
    assert RandomGliomaProgression().sample(lab, aff, np.random.default_rng(1), last_day=180.0) == prog


def test_solver_first_guess_is_the_sphere_radius(map_2mm):
    assert sphere_radius_mm(4.0 * np.pi / 3.0 * 8.0) == pytest.approx(20.0)  # 8/1000 * 4/3 pi 20^3 mm^3 -> mL
    lab, aff = map_2mm
    prog, _ = _series(map_2mm, 2)
    solved = prog.solve_radius(lab, aff, 20.0)
    assert abs(solved["core_volume_ml"] - 20.0) / 20.0 <= prog.volume_tolerance
    assert solved["steps"] <= 10


def test_unreachable_volume_and_bad_parameters_are_refused(map_2mm):
    lab, aff = map_2mm
    prog, _ = _series(map_2mm, 0)
    with pytest.raises(RadsynthInputError, match="progression target volume"):
        prog.solve_radius(lab, aff, 5000.0)
    d = prog.to_dict()
    for field, value in [("expansive_fraction", 0.8), ("oedema_ratio", -1.0), ("volume_tolerance", 0.2),
                         ("irregularity", 0.9), ("hemisphere", "middle")]:
        with pytest.raises(RadsynthInputError) as e:
            GliomaProgression.from_dict({**d, field: value})
        assert e.value.field == field
    with pytest.raises(RadsynthInputError) as e:
        RandomGliomaProgression(expansive_fraction=(0.1, 0.9))
    assert e.value.field == "expansive_fraction"
    with pytest.raises(RadsynthInputError) as e:
        RandomGliomaProgression(growth=RandomTumourGrowth(model="cubic"))
    assert e.value.field == "model"
