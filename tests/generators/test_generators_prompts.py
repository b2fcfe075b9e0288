"""Attribute prompts (issue #13): prompt strings -> the conditions a model takes, or one error line naming
what the model can condition on; `radsynth sample --prompt` and the Python API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from radsynth.cli.main import app
from radsynth.core.errors import RadsynthInputError
from radsynth.generators.prompts import (
    ModelCapabilities,
    SamplingConditions,
    age_bin,
    conditions_from_prompt,
    max_edits,
    parse_prompt,
    resolve_conditions,
)
from radsynth.generators.zoo import resolve_model

SHIPPED = "cxr-ddpm-64"
#: what the shipped model conditions on, in every error about it
CAN = "cxr-ddpm-64 conditions on: class (normal, pneumonia); it makes DX CHEST images"


@pytest.fixture(scope="module")
def cxr() -> ModelCapabilities:
    entry = resolve_model(SHIPPED, generator=True)
    return ModelCapabilities.from_config(entry.config, entry.name)


def resolve(prompt: str, caps: ModelCapabilities) -> SamplingConditions:
    return resolve_conditions(parse_prompt(prompt, caps, field="--prompt"), caps, field="--prompt")


# (prompt, expected label or None, expected corrections) or (prompt, error substrings)
SHIPPED_TABLE = [
    ("chest x-ray, pneumonia", "PNEUMONIA", ()),
    ("Chest X-Ray, NORMAL", "NORMAL", ()),
    ("cxr pneumonia", "PNEUMONIA", ()),
    ("chest radiograph, no finding", "NORMAL", ()),
    ("healthy chest film", "NORMAL", ()),
    ("pnuemonia", "PNEUMONIA", (("pnuemonia", "pneumonia"),)),  # transposition
    ("chset xrya, pneumona", "PNEUMONIA", (("chset", "chest"), ("xrya", "xray"), ("pneumona", "pneumonia"))),
    ("chest x-ray", None, ()),  # no class asked: the classes take turns
    ("chest x-ray, pneumonia, 65-year-old male, AP",
     ["--prompt age, sex, view: got '65 year old, male, ap'", CAN, "Leave them out"]),
    ("brain MRI, T1w, axial", ["--prompt modality, body part, sequence, orientation", CAN]),
    ("chest CT", ["--prompt modality: got 'ct'", CAN]),
    ("knee x-ray", ["--prompt body part: got 'knee'", CAN]),
    ("chest x-ray, pleural effusion", ["--prompt finding: got 'pleural effusion'", CAN]),
    ("pneumonia, femal", ["--prompt sex: got 'female'", CAN]),  # misspelt and unsupported
    ("chest x-ray, banana", ["--prompt: got 'banana'", "words naming modality, body part, finding", CAN]),
    ("pneumonia, normal", ["--prompt finding: got 'pneumonia and normal'; accepted: one finding", CAN]),
    ("age 200, pneumonia", ["--prompt age: got 'age 200'; accepted: 0 to 130 years"]),
    ("65, pneumonia", ["--prompt: got '65'; accepted: an age with a unit"]),
    ("no pneumonia", ["--prompt: got 'no pneumonia'; accepted: 'no finding' (normal)"]),
    ("", ["--prompt: got ''; accepted: a prompt such as"]),
]


def test_table_has_twenty_prompts() -> None:
    assert len(SHIPPED_TABLE) == 20 and len({row[0] for row in SHIPPED_TABLE}) == 20


@pytest.mark.parametrize("row", SHIPPED_TABLE, ids=[r[0] or "empty" for r in SHIPPED_TABLE])
def test_shipped_model_prompt_table(cxr: ModelCapabilities, row: tuple) -> None:
    prompt, *expected = row
    if isinstance(expected[0], list):
        with pytest.raises(RadsynthInputError) as err:
            resolve(prompt, cxr)
        msg = str(err.value)
        assert "\n" not in msg
        for needle in expected[0]:
            assert needle in msg, msg
    else:
        got = resolve(prompt, cxr)
        assert (got.label, got.attributes, got.corrections) == (expected[0], (), expected[1])


#: a chest model conditioned on attributes too (as `radsynth train --attributes sex,view,age_group,pathogen`)
RICH = ModelCapabilities(
    name="cxr-attr", classes=("NORMAL", "PNEUMONIA"), modality="DX", body_part="CHEST",
    attributes=(("sex", ("F", "M")), ("view", ("AP", "PA")), ("age_group", ("0-17", "18-64", "65+")),
                ("pathogen", ("bacteria", "virus"))))
BRAIN = ModelCapabilities(name="brain-2d", classes=("healthy", "glioma"),
                          attributes=(("sequence", ("T1w", "T2w", "FLAIR")), ("plane", ("axial", "coronal"))))


@pytest.mark.parametrize("caps,prompt,expected", [
    (RICH, "chest x-ray, pneumonia, 65-year-old male, AP",
     ("PNEUMONIA", (("sex", "M"), ("view", "AP"), ("age_group", "65+")))),
    (RICH, "viral pneumonia, 40yo F, P.A.",
     ("PNEUMONIA", (("sex", "F"), ("view", "PA"), ("age_group", "18-64"), ("pathogen", "virus")))),
    (RICH, "6-month-old girl, bacterial pneumonia",
     ("PNEUMONIA", (("sex", "F"), ("age_group", "0-17"), ("pathogen", "bacteria")))),
    (RICH, "normal, age 17.5 y", ("NORMAL", (("age_group", "0-17"),))),  # 0-17: ages 0 to under 18
    (RICH, "pathogen=virus, age_group=65+", (None, (("age_group", "65+"), ("pathogen", "virus")))),
    (RICH, "pneumonia, 70M, lateral", ["--prompt view: got 'lateral'", "view (AP, PA)"]),
    (RICH, "pathogen=fungus", ["--prompt pathogen: got 'pathogen=fungus'; accepted: pathogen bacteria, virus"]),
    (RICH, "male, sex=F", ["--prompt sex"]),
    (BRAIN, "glioma, T1-weighted, axial", ("glioma", (("sequence", "T1w"), ("plane", "axial")))),
    (BRAIN, "healthy flair coronal", ("healthy", (("sequence", "FLAIR"), ("plane", "coronal")))),
    (BRAIN, "brain MRI, glioma", ["--prompt modality, body part", "records no modality or body part"]),
    (BRAIN, "t1c glioma", ["--prompt sequence: got 't1c'", "sequence (T1w, T2w, FLAIR)"]),
])
def test_attribute_models(caps: ModelCapabilities, prompt: str, expected) -> None:
    if isinstance(expected, list):
        with pytest.raises(RadsynthInputError) as err:
            resolve(prompt, caps)
        for needle in expected:
            assert needle in str(err.value), str(err.value)
    else:
        got = resolve(prompt, caps)
        assert (got.label, got.attributes) == expected


@pytest.mark.parametrize("prompt,years,sex", [
    ("65-year-old", 65.0, None), ("65 y", 65.0, None), ("65yo", 65.0, None), ("65 y/o", 65.0, None),
    ("age 65", 65.0, None), ("aged 65 years", 65.0, None), ("65M", 65.0, "M"), ("65 yo f", 65.0, "F"),
    ("18 months", 1.5, None), ("6-month-old", 0.5, None), ("3 weeks old", round(21 / 365.25, 4), None),
    ("10 days", round(10 / 365.25, 4), None), ("6.5 years", 6.5, None),
])
def test_ages_in_years(prompt: str, years: float, sex: str | None) -> None:
    got = parse_prompt(prompt)
    assert (got.age_years, got.sex) == (years, sex)


def test_misspelling_bounds() -> None:
    assert [max_edits(w) for w in ("ap", "xyz", "lung", "chest", "female", "pneumonia")] == [0, 0, 1, 1, 2, 2]
    assert parse_prompt("pneumoniaaa").finding == "pneumonia"  # 2 edits, 11 letters
    for bad in ("pneuxxxia", "aq", "ptx"):  # 3 edits; words under 4 letters must be exact
        with pytest.raises(RadsynthInputError, match=f"got '{bad}'"):
            parse_prompt(bad)


def test_parse_without_a_model_and_structured_fields() -> None:
    got = parse_prompt("MRI brain, FLAIR, sagittal, stroke, 70-year-old woman")
    assert (got.modality, got.body_part, got.sequence, got.orientation, got.finding, got.age_years, got.sex) == \
        ("MR", "BRAIN", "FLAIR", "sagittal", "stroke", 70.0, "F")
    assert dict(got.words)["finding"] == "stroke"


def test_age_bins() -> None:
    vals = ("<1", "1-17", "18-64", ">=65")
    assert [age_bin(vals, y) for y in (0.5, 1.0, 17.9, 18.0, 64.99, 65.0, 101)] == \
        ["<1", "1-17", "1-17", "18-64", "18-64", ">=65", ">=65"]
    assert age_bin(("adult", "child"), 40) is None


def test_python_api_on_the_shipped_model() -> None:
    got = conditions_from_prompt("cxr, pnuemonia", SHIPPED)
    assert got.label == "PNEUMONIA" and got.attribute_options() == [] and got.corrections == (("pnuemonia", "pneumonia"),)
    with pytest.raises(RadsynthInputError, match=r"^prompt view: got 'lateral'"):
        conditions_from_prompt("lateral chest x-ray", SHIPPED)


def _cli(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_sample_with_prompt(tmp_path: Path) -> None:
    out = tmp_path / "s"
    res = _cli("sample", "--model", SHIPPED, "--n", "2", "--steps", "1", "--prompt", "chest x-ray, pnuemonia",
               "--no-watermark", "--no-progress", "--threads", "1", "--out", out)
    assert res.exit_code == 0, (res.output, res.exception)
    assert "read 'pnuemonia' as 'pneumonia'" in res.output
    run = json.loads((out / "sampling.json").read_text())
    assert run["label"] == "PNEUMONIA" and run["prompt"] == "chest x-ray, pnuemonia"
    from radsynth.io.manifest import read_manifest

    rows = read_manifest(out / "manifest.parquet").to_pylist()
    assert len(rows) == 2 and all(r["label_pneumonia"] and not r["label_normal"] for r in rows)


@pytest.mark.parametrize("args,needles", [
    (["--prompt", "chest x-ray, pneumonia, 65-year-old male, AP"], ["--prompt age, sex, view", CAN]),
    (["--prompt", "chest x-ray, bananna"], ["--prompt: got 'bananna'", CAN]),
    (["--prompt", "pneumonia", "--label", "normal"], ["--prompt", "either --prompt or --label / --attribute"]),
])
def test_cli_prompt_errors_are_one_line_exit_2(tmp_path: Path, args: list[str], needles: list[str]) -> None:
    out = tmp_path / "s"
    res = _cli("sample", "--model", SHIPPED, "--n", "2", "--no-progress", "--out", out, *args)
    assert res.exit_code == 2, (res.output, res.exception)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    assert not out.exists()
