"""Model zoo: `radsynth models list/show/export` on a tiny model trained here, plus the shipped classifier."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from gen_fixtures import make_class_folder
from typer.testing import CliRunner

from radsynth.cli.main import app
from radsynth.core.errors import RadsynthInputError
from radsynth.generators import zoo


def cli(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


def one_line_error(res, *needles: str) -> str:
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from radsynth.generators.cli import train_command

    root = tmp_path_factory.mktemp("zoo")
    data = make_class_folder(root / "data")
    out = root / "models" / "tiny-ddpm"
    train_command(data=data, out=out, image_size=16, channels="8,16", batch_size=4, max_steps=2, precision="fp32",
                  progress=False, echo=lambda *a: None)
    assert (out / "checkpoint").is_dir()
    return out


def test_list_finds_env_models_and_shipped_classifier(tiny_model: Path, monkeypatch) -> None:
    monkeypatch.setenv(zoo.ENV_VAR, str(tiny_model.parent))
    entries = {m.name: m for m in zoo.list_models()}
    tiny, clf = entries["tiny-ddpm"], entries["cxr-classifier-64"]
    assert tiny.kind == "generator" and tiny.is_generator and tiny.source == "$RADSYNTH_MODELS"
    assert tiny.image_size == 16 and tiny.classes == ("BRIGHT", "DARK")
    doc = json.loads((tiny_model / "config.json").read_text())
    assert tiny.data_fingerprint == doc["data"]["fingerprint_sha256"]
    # parameter count read from the safetensors header == the torch model's count
    from radsynth.generators.common.config_base import count_parameters
    from radsynth.generators.model_dir import load_model

    _, net, _ = load_model(tiny_model)
    assert tiny.params == count_parameters(net)
    assert clf.kind == "classifier" and clf.source == "shipped" and clf.classes == ("NORMAL", "PNEUMONIA")
    # the card's training-list fingerprint, not the held-out test list's
    assert clf.data_fingerprint and clf.data_fingerprint.startswith("329763f6056f")
    res = cli("models", "list", env={zoo.ENV_VAR: str(tiny_model.parent)})
    assert res.exit_code == 0, res.output
    row = next(ln for ln in res.stdout.splitlines() if ln.startswith("tiny-ddpm"))
    for s in ("generator/ddpm", "16x16", "BRIGHT,DARK", f"{tiny.params:,}", tiny.data_fingerprint[:12]):
        assert s in row, row
    # a folder that is itself a model also works as a $RADSYNTH_MODELS entry
    monkeypatch.setenv(zoo.ENV_VAR, str(tiny_model))
    assert "tiny-ddpm" in {m.name for m in zoo.list_models()}


def test_show_prints_summary_and_card(tiny_model: Path) -> None:
    res = cli("models", "show", tiny_model)
    assert res.exit_code == 0, res.output
    doc = json.loads((tiny_model / "config.json").read_text())
    assert "generator" in res.stdout and doc["weights_sha256"] in res.stdout
    assert "# Model card" in res.stdout and doc["data"]["fingerprint_sha256"] in res.stdout
    res = cli("models", "show", "cxr-classifier-64")
    assert res.exit_code == 0 and "reference chest X-ray classifier" in res.stdout


def test_unknown_model_exit_2_lists_known(tiny_model: Path) -> None:
    for cmd in (["show", "no-such-model"], ["export", "no-such-model", "--out", str(tiny_model.parent / "x")]):
        line = one_line_error(cli("models", *cmd), "error: model:", "no-such-model", "cxr-classifier-64")
        assert "accepted" in line
    assert not (tiny_model.parent / "x").exists()


def test_generator_required_for_sampling() -> None:
    with pytest.raises(RadsynthInputError, match="generator model") as exc:
        zoo.resolve_model("cxr-classifier-64", "generator.params.model", generator=True)
    assert exc.value.field == "generator.params.model"


def test_export_copies_files_without_checkpoint(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "exp"
    res = cli("models", "export", tiny_model, "--out", out)
    assert res.exit_code == 0, res.output
    names = {p.name for p in out.iterdir()}
    assert names == {"config.json", "weights.safetensors", "model_card.md", "training_files.json", "EXPORT.json"}
    doc = json.loads((out / "EXPORT.json").read_text())
    assert set(doc["files"]) == names - {"EXPORT.json"}
    for n, sha in doc["files"].items():
        assert hashlib.sha256((out / n).read_bytes()).hexdigest() == sha
        assert (out / n).read_bytes() == (tiny_model / n).read_bytes()
    assert not list(tmp_path.glob(".*tmp-*"))  # no temp folder left behind
    # same model exported again: identical bytes; the export is itself a usable model folder
    out2 = tmp_path / "exp2"
    zoo.export_model(str(tiny_model), out2)
    assert (out2 / "EXPORT.json").read_bytes() == (out / "EXPORT.json").read_bytes()
    zoo.export_model(str(out), tmp_path / "exp3")  # an export re-exports (its EXPORT.json is not copied)
    assert json.loads((tmp_path / "exp3" / "EXPORT.json").read_text())["files"] == doc["files"]
    assert zoo.resolve_model(str(out2), generator=True).classes == ("BRIGHT", "DARK")
    # refuses a non-empty destination, exit 2
    one_line_error(cli("models", "export", tiny_model, "--out", out), "error: --out:")
