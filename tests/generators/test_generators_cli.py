"""`radsynth train` / `radsynth sample` end to end on a tiny dataset, and one-line bad-input errors (exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from gen_fixtures import make_class_folder
from PIL import Image
from typer.testing import CliRunner

from radsynth.cli.main import app
from radsynth.io.manifest import read_manifest

TINY_ARGS = ["--image-size", "16", "--channels", "8,16", "--batch-size", "4", "--precision", "fp32", "--no-progress"]


def cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_user_error(res, *needles: str) -> None:
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("gen")
    data = make_class_folder(root / "data")
    model = root / "model"
    res = cli("train", "--data", data, "--out", model, "--max-steps", "4", *TINY_ARGS)
    assert res.exit_code == 0, (res.output, res.exception)
    return data, model


def test_train_writes_model_folder(trained: tuple[Path, Path]) -> None:
    data, model = trained
    doc = json.loads((model / "config.json").read_text())
    assert doc["model"]["classes"] == ["BRIGHT", "DARK"] and doc["training"]["steps"] == 4
    files = json.loads((model / "training_files.json").read_text())
    assert len(files) == 16
    tr = {f["patient"] for f in files if f["split"] == "train"}
    va = {f["patient"] for f in files if f["split"] == "val"}
    assert va and not tr & va
    card = (model / "model_card.md").read_text()
    assert doc["data"]["fingerprint_sha256"] in card and "BRIGHT" in card and "hardware" in card
    assert (model / "weights.safetensors").is_file() and (model / "checkpoint" / "state.safetensors").is_file()


def test_resume_through_cli(trained: tuple[Path, Path], tmp_path: Path) -> None:
    data, model = trained
    res = cli("train", "--data", data, "--out", model, "--max-steps", "4", *TINY_ARGS)
    assert_user_error(res, "--out", "--resume")
    import shutil

    m2 = tmp_path / "m2"
    shutil.copytree(model, m2)
    res = cli("train", "--data", data, "--out", m2, "--max-steps", "6", "--lr-decay-steps", "2", "--resume", *TINY_ARGS)
    assert res.exit_code == 0, res.output
    doc = json.loads((m2 / "config.json").read_text())["training"]
    assert doc["steps"] == 6 and doc["lr_decay_steps"] == 2


def test_sample_is_byte_identical(trained: tuple[Path, Path], tmp_path: Path) -> None:
    _, model = trained
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        res = cli("sample", "--model", model, "--n", "3", "--label", "bright", "--guidance", "2", "--steps", "4",
                  "--sampler", "dpm++", "--seed", "5", "--out", out, "--no-progress")
        assert res.exit_code == 0, (res.output, res.exception)
        outs.append(out)
    files = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*") if p.is_file())
    assert len(files) == 8  # 3 PNG + manifest + sampling.json + SHA256SUMS, its Ed25519 signature, public key
    from radsynth.provenance.signing import verify_dataset

    assert list(verify_dataset(outs[0])) == []
    for rel in files:
        assert (outs[0] / rel).read_bytes() == (outs[1] / rel).read_bytes(), rel
    with Image.open(outs[0] / "images" / "sample-00000.png") as im:
        assert im.mode in ("I;16", "I") and im.size == (16, 16)
        assert "SYNTHETIC" in im.text["Description"]
    t = read_manifest(outs[0] / "manifest.parquet").to_pylist()
    assert [r["kind"] for r in t] == ["image"] * 3 and {r["format"] for r in t} == {"png"}
    assert all(r["label_bright"] and not r["label_dark"] for r in t) and {r["seed"] for r in t} == {5}


def test_sample_uses_the_models_measured_sampler_defaults(trained: tuple[Path, Path], tmp_path: Path) -> None:
    import shutil

    _, model = trained
    m = tmp_path / "m"
    shutil.copytree(model, m, ignore=shutil.ignore_patterns("checkpoint"))
    doc = json.loads((m / "config.json").read_text())
    doc["sampling_defaults"] = {"sampler": "dpm++sde", "steps": 3, "guidance": 2.0}
    (m / "config.json").write_text(json.dumps(doc))
    res = cli("sample", "--model", m, "--n", "2", "--out", tmp_path / "a", "--no-progress")
    assert res.exit_code == 0, (res.output, res.exception)
    run = json.loads((tmp_path / "a" / "sampling.json").read_text())
    assert (run["sampler"], run["steps"], run["guidance"]) == ("dpm++sde", 3, 2.0)
    res = cli("sample", "--model", m, "--n", "2", "--sampler", "ddim", "--out", tmp_path / "b", "--no-progress")
    assert res.exit_code == 0, (res.output, res.exception)
    run = json.loads((tmp_path / "b" / "sampling.json").read_text())
    assert (run["sampler"], run["steps"], run["guidance"]) == ("ddim", 50, 2.0)  # ddim's own step default


def test_sample_errors(trained: tuple[Path, Path], tmp_path: Path) -> None:
    _, model = trained
    assert_user_error(cli("sample", "--model", model, "--n", "2", "--label", "covid", "--out", tmp_path / "x"),
                      "--label", "'covid'", "bright, dark")
    assert_user_error(cli("sample", "--model", tmp_path, "--n", "2", "--out", tmp_path / "x"), "--model")
    assert_user_error(cli("sample", "--model", model, "--n", "2", "--sampler", "euler", "--out", tmp_path / "x"),
                      "--sampler")
    assert_user_error(cli("sample", "--model", model, "--n", "0", "--out", tmp_path / "x"), "--n")


def test_train_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    (empty / "NORMAL").mkdir(parents=True)
    assert_user_error(cli("train", "--data", empty, "--out", tmp_path / "o1", *TINY_ARGS), "--data", "no images")
    one = tmp_path / "one"
    (one / "NORMAL").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(one / "NORMAL" / "IM-0001-0001.png")
    assert_user_error(cli("train", "--data", one, "--out", tmp_path / "o2", *TINY_ARGS), "at least 2 class")
    bad = make_class_folder(tmp_path / "bad", n_per_class=2)
    (bad / "DARK" / "IM-0099-0001.png").write_bytes(b"\x89PNG broken")
    assert_user_error(cli("train", "--data", bad, "--out", tmp_path / "o3", *TINY_ARGS), "IM-0099-0001.png")
    good = make_class_folder(tmp_path / "good", n_per_class=2)
    res = cli("train", "--data", good, "--out", tmp_path / "o4", *TINY_ARGS[2:], "--image-size", "30",
              "--channels", "8,16,16")
    assert_user_error(res, "--image-size", "30", "multiple of 4")
    assert_user_error(cli("train", "--data", good, "--out", tmp_path / "o5", "--arch", "stylegan9", *TINY_ARGS), "--arch")
    assert_user_error(cli("train", "--data", good, "--out", tmp_path / "o6", "--resume", *TINY_ARGS), "--resume")
    heldout = make_class_folder(tmp_path / "cxr" / "test", n_per_class=2)
    assert_user_error(cli("train", "--data", heldout, "--out", tmp_path / "o7", *TINY_ARGS), "--data", "test")
    res = cli("train", "--data", good, "--out", tmp_path / "o8", "--max-steps", "10", "--lr-decay-steps", "11", *TINY_ARGS)
    assert_user_error(res, "--lr-decay-steps", "11", "0..10")
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 9))


def test_cli_exit_code_in_a_real_process(tmp_path: Path) -> None:
    """The installed entry point maps the error to exit 2 and one stderr line (no traceback)."""
    (tmp_path / "d").mkdir()
    p = subprocess.run([sys.executable, "-m", "radsynth.cli.main", "train", "--data", str(tmp_path / "d"),
                        "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and "no images" in p.stderr


def test_unconditional_model(tmp_path: Path) -> None:
    one = tmp_path / "one"
    (one / "NORMAL").mkdir(parents=True)
    for i in range(4):
        Image.fromarray(np.full((16, 16), 40 * i, np.uint8)).save(one / "NORMAL" / f"IM-{i:04d}-0001.png")
    res = cli("train", "--data", one, "--out", tmp_path / "m", "--condition", "none", "--max-steps", "2", *TINY_ARGS)
    assert res.exit_code == 0, (res.output, res.exception)
    assert json.loads((tmp_path / "m" / "config.json").read_text())["model"]["classes"] == []
    assert_user_error(cli("sample", "--model", tmp_path / "m", "--n", "1", "--label", "normal", "--out",
                          tmp_path / "s"), "--label", "unconditional")
    res = cli("sample", "--model", tmp_path / "m", "--n", "2", "--steps", "2", "--out", tmp_path / "s",
              "--no-progress")
    assert res.exit_code == 0, (res.output, res.exception)
    assert len(list((tmp_path / "s" / "images").glob("*.png"))) == 2
