"""Spec validation: one clear error naming field, value and what is accepted."""

from __future__ import annotations

import copy

import pytest

from radsynth.cohort.spec import parse_spec
from radsynth.core.errors import RadsynthInputError

BASE = {
    "name": "t",
    "seed": 1,
    "n_subjects": 4,
    "generator": {"name": "mri-brain", "params": {"sequences": ["T1w", "T2w"]}},
    "labels": {"tumour": 0.5},
    "attributes": {"age_years": {"distribution": "uniform", "low": 20, "high": 80}},
}


def _with(path: str, value):
    d = copy.deepcopy(BASE)
    cur = d
    keys = path.split(".")
    for k in keys[:-1]:
        cur = cur[k]
    cur[keys[-1]] = value
    return d


def test_valid_spec_parses_and_hash_is_stable():
    a, b = parse_spec(copy.deepcopy(BASE)), parse_spec(copy.deepcopy(BASE))
    assert a.hash == b.hash and len(a.hash) == 64
    assert parse_spec(_with("seed", 2)).hash != a.hash


@pytest.mark.parametrize(
    "path,value,field,needle",
    [
        ("generator.name", "nope", "generator.name", "mri-brain"),
        ("n_subjects", -3, "n_subjects", "greater than or equal to 1"),
        ("labels", {"tumour": 1.5}, "labels.tumour", "less than or equal to 1"),
        ("labels", {"unicorn": 0.1}, "labels.unicorn", "tumour"),
        ("generator.params", {"sequences": ["T1w", "T7x"]}, "generator.params.sequences[1]", "FLAIR"),
        ("seed", "abc", "seed", "integer"),
        ("attributes", {"age_years": {"distribution": "uniform", "low": 50, "high": 10}}, "attributes.age_years", "high"),
    ],
)
def test_bad_fields_give_one_line_naming_field_value_accepted(path, value, field, needle):
    with pytest.raises(RadsynthInputError) as ei:
        parse_spec(_with(path, value))
    msg = str(ei.value)
    assert "\n" not in msg
    assert ei.value.field == field, msg
    assert needle in msg
    assert "got" in msg and "accepted" in msg
