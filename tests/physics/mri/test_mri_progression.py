"""Longitudinal mri-brain subjects (generator.params.progression) through the Python API, tiny and seeded.

Acceptance (issue #13 item 5): the tumour-core volume follows the documented growth model within 5 % at
every timepoint, the ventricle displacement grows monotonically, every timepoint carries its own masks.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from radsynth.cohort.generator import SubjectPlan
from radsynth.cohort.spec import parse_spec
from radsynth.core import labels as L
from radsynth.core.errors import RadsynthInputError
from radsynth.pathology.glioma_progression import GliomaProgression
from radsynth.pathology.tumour_growth import TumourGrowth
from radsynth.physics.mri.brain_generator import BrainMRIConfig, BrainMRIGenerator
from radsynth.physics.mri.brain_progression import ProgressionParams

DAYS = [0, 60, 120]
PROGRESSION = {"timepoints_days": DAYS, "initial_volume_ml": [8.0, 12.0], "expansive_fraction": [0.3, 0.45]}


def _config(**progression) -> BrainMRIConfig:
    return BrainMRIConfig(sequences=["T1w"], add_t1c_for_tumour=False, work_resolution_mm=2,
                          voxel_size_mm=(2.0, 2.0, 2.0), progression={**PROGRESSION, **progression})


def _plan(seed=5, tumour=True):
    return SubjectPlan(index=0, subject_id="sub-0001", seed=seed, labels={"tumour": tumour},
                       attributes={"age_years": 60, "sex": "M"}, formats=("nifti",))


@pytest.fixture(scope="module")
def subject():
    return BrainMRIGenerator(_config()).generate(_plan())


def test_one_session_per_timepoint_each_with_its_own_images_and_masks(subject):
    assert [s.label for s in subject.sessions] == ["t000", "t060", "t120"]
    assert [s.time_days for s in subject.sessions] == [0.0, 60.0, 120.0]
    assert subject.images == [] and subject.masks == [] and subject.findings == []
    ids = set()
    for ses in subject.sessions:
        assert [im.sequence for im in ses.images] == ["T1w"]
        names = [m.name for m in ses.masks]
        assert names == ["labels", "tumour_whole", "tumour_core", "tumour_enhancing"]
        lab = ses.masks[0].array
        for m in ses.masks:
            assert m.array.shape == ses.images[0].array.shape
        core = next(m for m in ses.masks if m.name == "tumour_core").array.astype(bool)
        whole = next(m for m in ses.masks if m.name == "tumour_whole").array.astype(bool)
        assert np.array_equal(core, np.isin(lab, [L.TUMOUR_NECROSIS, L.TUMOUR_ENHANCING]))
        assert np.array_equal(whole, np.isin(lab, [L.TUMOUR_NECROSIS, L.TUMOUR_ENHANCING, L.TUMOUR_OEDEMA]))
        assert ses.findings[0]["session"] == ses.session_id and ses.findings[0]["time_days"] == ses.time_days
        ids.add(id(lab))
    assert len(ids) == 3  # separate arrays, not one mask shared by every session


def test_core_volume_follows_the_growth_model_within_5_percent(subject):
    growth = TumourGrowth.from_dict(subject.provenance.sampled["progression"]["glioma_progression"]["growth"])
    errors = []
    for ses in subject.sessions:
        core = next(m for m in ses.masks if m.name == "tumour_core").array
        voxel_ml = abs(np.linalg.det(ses.affine[:3, :3])) / 1000.0
        measured = float(np.count_nonzero(core)) * voxel_ml
        target = growth.volume_ml(ses.time_days)
        errors.append(100.0 * (measured - target) / target)
        assert ses.measurements["target_core_volume_ml"] == pytest.approx(target, rel=1e-12)
        assert ses.measurements["core_volume_output_grid_ml"] == pytest.approx(measured, rel=1e-9)
    assert max(abs(e) for e in errors) <= 5.0, errors
    volumes = [s.measurements["core_volume_ml"] for s in subject.sessions]
    assert volumes == sorted(volumes) and volumes[-1] > 1.5 * volumes[0]


def test_ventricle_displacement_grows_monotonically(subject):
    disp = [s.measurements["ventricle_displacement_mm"] for s in subject.sessions]
    mean = [s.measurements["ventricle_mean_displacement_mm"] for s in subject.sessions]
    assert all(b >= a for a, b in zip(disp, disp[1:])) and disp[-1] > disp[0] > 0, disp
    assert all(b >= a for a, b in zip(mean, mean[1:])), mean
    wall = [s.measurements["ventricle_wall_shift_mm"] for s in subject.sessions]
    assert wall[-1] > wall[0]  # measured on the label maps: the wall ends further from the tumour


def test_same_head_at_every_timepoint_and_new_scan_noise(subject):
    prog = GliomaProgression.from_dict(subject.provenance.sampled["progression"]["glioma_progression"])
    last = subject.sessions[-1].findings[0]["params"]
    reach = last["radius_mm"] * 2 + 4 * last["mass_effect_decay_mm"] + last["oedema_extent_mm"] + 6.0
    a = subject.sessions[0]
    ijk = np.indices(a.masks[0].array.shape).reshape(3, -1).T
    xyz = ijk @ a.affine[:3, :3].T + a.affine[:3, 3]
    far = (np.linalg.norm(xyz - np.asarray(prog.centre_mm), axis=1) > reach).reshape(a.masks[0].array.shape)
    assert far.sum() > 0.5 * far.size
    for b in subject.sessions[1:]:
        assert np.array_equal(a.masks[0].array[far], b.masks[0].array[far])  # anatomy away from the tumour
        assert not np.array_equal(a.images[0].array[far], b.images[0].array[far])  # each session a new scan
    assert set(a.sampled) == {"acquisition", "sequences"}  # scan-level draws are recorded per session


def test_deterministic_and_replayable(subject):
    again = BrainMRIGenerator(_config()).generate(_plan())
    for s1, s2 in zip(subject.sessions, again.sessions):
        assert np.array_equal(s1.images[0].array, s2.images[0].array)
        assert np.array_equal(s1.masks[0].array, s2.masks[0].array)
        assert s1.measurements == s2.measurements
    assert subject.provenance.sampled == again.provenance.sampled


def test_exponential_model_and_doubling_time_option():
    cfg = _config(model="exponential", doubling_time_days=[40.0, 60.0], timepoints_days=[0, 50])
    s = BrainMRIGenerator(cfg).generate(_plan(seed=8))
    g = TumourGrowth.from_dict(s.provenance.sampled["progression"]["glioma_progression"]["growth"])
    assert g.model == "exponential" and 40.0 <= g.doubling_time_days <= 60.0
    for ses in s.sessions:
        assert abs(ses.measurements["core_volume_error_pct"]) <= 5.0


def test_config_without_progression_hashes_as_before():
    d = BrainMRIGenerator(BrainMRIConfig()).config_dict()
    assert "progression" not in d
    assert "progression" in BrainMRIGenerator(_config()).config_dict()


def test_plan_without_tumour_is_refused():
    with pytest.raises(RadsynthInputError) as e:
        BrainMRIGenerator(_config()).generate(_plan(tumour=False))
    assert e.value.field == "labels.tumour"


SPEC = {"name": "p", "seed": 1, "n_subjects": 1,
        "generator": {"name": "mri-brain", "params": {"work_resolution_mm": 2, "progression": dict(PROGRESSION)}},
        "labels": {"tumour": 1.0}}


@pytest.mark.parametrize(
    "change,field,accepted",
    [
        ({"timepoints_days": [0, 60, 30]}, "generator.params.progression.timepoints_days", "strictly increasing"),
        ({"timepoints_days": [0]}, "generator.params.progression.timepoints_days", "at least 2"),
        ({"model": "exponential", "timepoints_days": [0, 365]}, "generator.params.progression.timepoints_days",
         "150 mL"),
        ({"model": "logistic"}, "generator.params.progression.model", "gompertz"),
        ({"max_volume_ml": [10.0, 50.0]}, "generator.params.progression.max_volume_ml", "initial_volume_ml"),
        ({"specific_growth_rate_per_day": [0.01, 0.02], "doubling_time_days": [30, 60]},
         "generator.params.progression.doubling_time_days", "not both"),
        ({"expansive_fraction": [0.1, 0.9]}, "generator.params.progression.expansive_fraction", "0.6"),
        ({"volume_tolerance": 0.1}, "generator.params.progression.volume_tolerance", "0.04"),
        ({"growth": "fast"}, "generator.params.progression.growth", "no such field"),
    ],
)
def test_spec_errors_name_field_value_and_accepted(change, field, accepted):
    spec = copy.deepcopy(SPEC)
    spec["generator"]["params"]["progression"].update(change)
    with pytest.raises(RadsynthInputError) as e:
        parse_spec(spec)
    assert e.value.field == field, str(e.value)
    assert accepted in e.value.accepted, str(e.value)


@pytest.mark.parametrize("labels,field", [({"tumour": 0.5}, "labels.tumour"), ({"tumour": 1.0, "stroke": 0.2}, "labels.stroke")])
def test_spec_labels_must_fit_a_progression_cohort(labels, field):
    spec = copy.deepcopy(SPEC)
    spec["labels"] = labels
    with pytest.raises(RadsynthInputError) as e:
        parse_spec(spec)
    assert e.value.field == field


def test_session_labels_are_zero_padded_days():
    p = ProgressionParams(timepoints_days=[0, 7, 1000], model="exponential", initial_volume_ml=[2, 3],
                          specific_growth_rate_per_day=[0.001, 0.002])
    assert p.session_labels() == ["t0000", "t0007", "t1000"]
