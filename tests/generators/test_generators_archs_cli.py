"""Every architecture through the same CLI and cohort paths: train -> model folder -> sample -> cohort build."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from gen_fixtures import make_class_folder
from typer.testing import CliRunner

from radsynth.cli.main import app
from radsynth.generators.archs import ARCHITECTURES, GENERATOR_FORMATS, config_class, model_format

# the smallest configs each architecture accepts at 32 px (--channels per arch)
TINY = {"gan": "8,8,8", "vae": "8,8", "ddpm": "8,16", "ldm": "8,16"}
EXTRA = {"ldm": ["--ae-steps", "2"]}


def cli(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_registry_names_every_arch() -> None:
    assert set(ARCHITECTURES) == {"ddpm", "ldm", "gan", "vae"}
    for a in ARCHITECTURES:
        assert config_class(a).model_fields["arch"].default == a and model_format(a) in GENERATOR_FORMATS


@pytest.fixture(scope="module", params=sorted(TINY))
def trained(request, tmp_path_factory) -> tuple[str, Path]:
    arch = request.param
    root = tmp_path_factory.mktemp(f"arch-{arch}")
    data = make_class_folder(root / "data", size=32)
    res = cli("train", "--data", data, "--arch", arch, "--image-size", "32", "--channels", TINY[arch], "--out",
              root / "m", "--max-steps", "3", "--batch-size", "4", "--precision", "fp32", "--no-progress", *EXTRA.get(arch, []))
    assert res.exit_code == 0, (res.output, res.exception)
    return arch, root / "m"


def test_model_folder_and_sampling_repeat_bytes(trained, tmp_path: Path) -> None:
    arch, model = trained
    doc = json.loads((model / "config.json").read_text())
    assert doc["format"] == model_format(arch) and doc["model"]["arch"] == arch
    assert "## Intended use" in (model / "model_card.md").read_text()
    extra = ["--steps", "2"] if arch in ("ddpm", "ldm") else []
    outs = []
    for k in range(2):
        res = cli("sample", "--model", model, "--n", "3", "--label", "dark", *extra, "--out", tmp_path / f"s{k}",
                  "--no-progress")
        assert res.exit_code == 0, (res.output, res.exception)
        outs.append({p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / f"s{k}/images").glob("*.png")})
    assert len(outs[0]) == 3 and outs[0] == outs[1]
    rows = pq.read_table(tmp_path / "s0" / "manifest.parquet").to_pylist()
    assert {r["attr_class"] for r in rows} == {"DARK"}
    res = cli("sample", "--model", model, "--n", "1", "--label", "grey", "--out", tmp_path / "bad", "--no-progress")
    assert res.exit_code == 2 and "--label" in res.stderr and not (tmp_path / "bad").exists()


def test_single_pass_models_refuse_sampler_options(trained, tmp_path: Path) -> None:
    arch, model = trained
    if arch in ("ddpm", "ldm"):
        pytest.skip("diffusion models take --steps/--guidance")
    for opt in (["--steps", "5"], ["--guidance", "3"]):
        res = cli("sample", "--model", model, "--n", "1", *opt, "--out", tmp_path / "x", "--no-progress")
        assert res.exit_code == 2 and opt[0] in res.stderr


def test_learned_2d_cohort_generator(trained, tmp_path: Path) -> None:
    arch, model = trained
    spec = {"name": "t", "seed": 3, "n_subjects": 2,
            "generator": {"name": "learned-2d", "params": {"model": str(model), "image_size": 32,
                                                           **({"steps": 2} if arch in ("ddpm", "ldm") else {})}},
            "labels": {"bright": 0.5}, "outputs": {"formats": ["png"]}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    res = cli("cohort", "build", tmp_path / "s.yaml", "--out", tmp_path / "out", "--no-progress")
    assert res.exit_code == 0, (res.output, res.exception)
    sj = json.loads((tmp_path / "out/subjects/sub-0001/subject.json").read_text())
    assert sj["provenance"]["config"]["model"]["arch"] == arch
    if arch not in ("ddpm", "ldm"):  # ddpm-2d takes diffusion models only
        spec["generator"]["name"] = "ddpm-2d"
        (tmp_path / "s2.yaml").write_text(yaml.safe_dump(spec))
        res = cli("cohort", "validate", tmp_path / "s2.yaml")
        assert res.exit_code == 2 and "learned-2d" in res.stderr
