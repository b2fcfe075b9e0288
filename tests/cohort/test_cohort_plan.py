"""Plans are pure functions of (spec, index) and meet prevalences exactly."""

from __future__ import annotations

from radsynth.cohort.plan import plan_cohort, plan_subject
from radsynth.cohort.spec import parse_spec

SPEC = {
    "name": "p",
    "seed": 7,
    "n_subjects": 40,
    "generator": {"name": "mri-brain"},
    "labels": {"tumour": 0.3, "stroke": 0.15},
    "attributes": {
        "age_years": {"distribution": "uniform", "low": 20, "high": 85, "integer": True},
        "sex": {"distribution": "categorical", "values": {"F": 0.5, "M": 0.5}},
    },
    "outputs": {"formats": ["nifti", "dicom"], "dicom_subjects": 5},
}


def test_prevalence_exact_and_attributes_in_range():
    spec = parse_spec(SPEC)
    plans = plan_cohort(spec)
    assert sum(p.labels["tumour"] for p in plans) == 12
    assert sum(p.labels["stroke"] for p in plans) == 6
    assert sum("dicom" in p.formats for p in plans) == 5
    ages = [p.attributes["age_years"] for p in plans]
    assert all(20 <= a < 85 and isinstance(a, int) for a in ages)
    assert {p.attributes["sex"] for p in plans} == {"F", "M"}
    assert len({p.seed for p in plans}) == 40
    assert len({p.subject_id for p in plans}) == 40


def test_subject_is_pure_function_of_spec_and_index():
    spec = parse_spec(SPEC)
    forward = [plan_subject(spec, i) for i in range(40)]
    backward = [plan_subject(spec, i) for i in reversed(range(40))][::-1]
    assert forward == backward
    other = parse_spec({**SPEC, "seed": 8})
    assert [p.seed for p in plan_cohort(other)] != [p.seed for p in forward]


def test_exclusive_labels_never_co_occur_and_keep_prevalence():
    spec = parse_spec({**SPEC, "labels": {"tumour": 0.5, "stroke": 0.4}, "exclusive_labels": [["tumour", "stroke"]]})
    plans = plan_cohort(spec)
    assert sum(p.labels["tumour"] for p in plans) == 20
    assert sum(p.labels["stroke"] for p in plans) == 16
    assert not any(p.labels["tumour"] and p.labels["stroke"] for p in plans)


def test_exclusive_labels_over_one_is_rejected():
    import pytest

    from radsynth.core.errors import RadsynthInputError

    with pytest.raises(RadsynthInputError) as ei:
        parse_spec({**SPEC, "labels": {"tumour": 0.7, "stroke": 0.4}, "exclusive_labels": [["tumour", "stroke"]]})
    assert ei.value.field == "exclusive_labels[0]"
