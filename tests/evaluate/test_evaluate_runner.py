"""`radsynth evaluate` end to end on tiny seeded class folders (quick preset, 32 px).

The fixture has a real training set, a held-out set and a "synthetic" set whose classes
differ by a bright blob (class 1) so that utility/shortcut have signal; the synthetic set
contains exact copies of a few training images so the memorisation audit must flag them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from radsynth.cli.main import app
from radsynth.core.errors import RadsynthInputError
from radsynth.evaluate.config import SECTIONS, EvaluateConfig
from radsynth.evaluate.runner import evaluate

SIZE = 48


def _image(rng: np.random.Generator, label: int, brightness: float = 0.0) -> np.ndarray:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    base = 0.35 + 0.25 * np.exp(-((xx - 0.5) ** 2 + (yy - 0.5) ** 2) / 0.08) + brightness
    if label:
        cy, cx = rng.uniform(0.35, 0.65, 2)
        base = base + 0.3 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 0.01)
    img = base + rng.normal(0, 0.05, base.shape)
    return np.clip(img, 0, 1)


def _write(folder: Path, images: dict[str, list[np.ndarray]], prefix: str) -> list[Path]:
    paths = []
    for k, (cls, imgs) in enumerate(images.items()):
        (folder / cls).mkdir(parents=True, exist_ok=True)
        for i, im in enumerate(imgs):
            # Kermany-style names: the patient id is the "personN_" prefix (two images per patient)
            p = folder / cls / f"person{prefix}{k}{i // 2:03d}_{cls.lower()}_{i}.png"
            Image.fromarray((im * 255).astype(np.uint8)).save(p)
            paths.append(p)
    return paths


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("eval")
    train = {c: [_image(rng, k) for _ in range(40)] for k, c in enumerate(("NORMAL", "PNEUMONIA"))}
    test = {c: [_image(rng, k) for _ in range(20)] for k, c in enumerate(("NORMAL", "PNEUMONIA"))}
    syn = {c.lower(): [_image(rng, k, 0.05) for _ in range(30)] for k, c in enumerate(("NORMAL", "PNEUMONIA"))}
    syn["normal"][:3] = [train["NORMAL"][i] for i in (0, 5, 9)]  # planted copies
    _write(root / "train", train, "1")
    _write(root / "test", test, "2")
    for cls, imgs in syn.items():
        (root / "syn" / cls).mkdir(parents=True)
        for i, im in enumerate(imgs):
            Image.fromarray((im * 255).astype(np.uint8)).save(root / "syn" / cls / f"sample-{i:05d}.png")
    return {"real": root / "train", "test": root / "test", "synthetic": root / "syn", "root": root}


def _cfg(**kw) -> EvaluateConfig:
    return EvaluateConfig.preset("quick", image_size=32, encoder="pixel", threads=1, **kw)


@pytest.fixture(scope="module")
def result(sets):
    out = sets["root"] / "report"
    return evaluate(sets["real"], sets["synthetic"], sets["test"], out, config=_cfg(), log=None, progress=False)


def test_every_section_reported_with_a_verdict(result):
    assert [s.name for s in result.sections] == list(SECTIONS)
    by = {s.name: s for s in result.sections}
    for name in ("fidelity", "detectability", "utility", "shortcut", "memorisation"):
        assert by[name].status == "ok", (name, by[name].reason)
        assert by[name].verdict
    # class folders carry no attribute column: fairness says so instead of inventing groups
    assert by["fairness"].status == "not run"
    assert "attribute" in by["fairness"].reason


def test_metrics_json_has_c2st_auc_and_every_section(result):
    m = json.loads((result.out / "metrics.json").read_text())
    assert 0.0 <= m["c2st_auc"] <= 1.0
    assert m["c2st_auc"] == m["sections"]["detectability"]["metrics"]["auc"]
    assert set(m["sections"]) == set(SECTIONS)
    assert m["status"]["fairness"] == "not run"
    assert m["config"]["seed"] == 0 and len(m["inputs"]) == 3


def test_fidelity_reports_excess_grain_against_its_reference(result):
    m = result.section("fidelity").metrics
    syn, ref = m["synthetic_vs_real"]["excess_grain"], m["heldout_vs_real"]["excess_grain"]
    # all three fixture sets carry the same pixel noise (sigma 0.05): none is grainier than real training images
    assert syn["n_excess"] <= 0.1 * m["synthetic_vs_real"]["n_b"] and ref["rate"] <= 0.1
    assert syn["ci"][0] <= syn["rate"] <= syn["ci"][1] and syn["quantile"] == 0.99


def test_planted_copies_are_flagged(result):
    mem = result.section("memorisation").metrics["pixel"]
    flagged_idx = {c["synthetic_index"] for c in mem["closest"] if c["memorised"]}
    # the synthetic set is sorted by class then file name: normal/sample-00000..2 are the copies
    assert {0, 1, 2} <= flagged_idx
    # the fixture's images are near-identical smooth blobs and the threshold comes from only 40 held-out images,
    # so a few chance flags are expected; most non-copies must stay unflagged
    assert mem["n_memorised"] - 3 <= 0.15 * (mem["n_synthetic"] - 3)


def test_report_is_self_contained(result):
    html = (result.out / "report.html").read_text()
    for s in result.sections:
        assert s.title in html
    assert "data:image/png;base64," in html
    assert "http://" not in html and "https://" not in html
    assert "attribute column" in html  # the not-run reason is in the page


def test_resume_reuses_sections_and_gives_same_metrics(sets, result, tmp_path):
    # a second run with --resume in the same folder reuses every cached section
    logs: list[str] = []
    before = (result.out / "metrics.json").read_text()
    evaluate(sets["real"], sets["synthetic"], sets["test"], result.out, config=_cfg(), resume=True,
             log=logs.append, progress=False)
    assert sum("reused" in line for line in logs) == len(SECTIONS)
    assert (result.out / "metrics.json").read_text() == before


def test_out_folder_must_be_new_or_resumed(sets, result):
    with pytest.raises(RadsynthInputError, match="--out"):
        evaluate(sets["real"], sets["synthetic"], sets["test"], result.out, config=_cfg(), log=None, progress=False)


def test_without_test_set_sections_say_why(sets, tmp_path):
    res = evaluate(sets["real"], sets["synthetic"], None, tmp_path / "r", log=None, progress=False,
                   config=_cfg(sections=("fidelity", "utility", "memorisation", "fairness")))
    by = {s.name: s for s in res.sections}
    assert by["fidelity"].status == "ok" and by["fidelity"].level == "info"
    for name in ("utility", "memorisation", "fairness"):
        assert by[name].status == "not run" and "--test" in by[name].reason
    assert by["detectability"].reason == "not requested (--sections)"


def test_cli_bad_input_exits_2_and_writes_nothing(sets, tmp_path):
    runner = CliRunner()
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "out"
    r = runner.invoke(app, ["evaluate", "--real", str(sets["real"]), "--synthetic", str(empty), "--test",
                            str(sets["test"]), "--out", str(out), "--preset", "quick", "--image-size", "32",
                            "--no-progress"])
    assert r.exit_code == 2, r.output
    assert "--synthetic" in r.output
    assert not out.exists()
    r = runner.invoke(app, ["evaluate", "--real", str(sets["real"]), "--synthetic", str(sets["synthetic"]),
                            "--out", str(out), "--sections", "fidelity,nonsense", "--no-progress"])
    assert r.exit_code == 2 and "sections" in r.output
    assert not out.exists()


def test_cli_quick_run(sets, tmp_path):
    out = tmp_path / "cli"
    r = CliRunner().invoke(app, ["evaluate", "--real", str(sets["real"]), "--synthetic", str(sets["synthetic"]),
                                 "--test", str(sets["test"]), "--out", str(out), "--preset", "quick",
                                 "--sections", "fidelity,detectability", "--image-size", "32", "--encoder", "pixel",
                                 "--threads", "1", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "c2st_auc" in r.output
    assert (out / "report.html").is_file() and (out / "metrics.json").is_file()


def test_unlabelled_synthetic_set_runs_label_free_sections_only(sets, tmp_path):
    loose = tmp_path / "loose"
    loose.mkdir()
    for p in sorted((sets["synthetic"] / "pneumonia").glob("*.png"))[:20]:
        (loose / p.name).write_bytes(p.read_bytes())
    res = evaluate(sets["real"], loose, sets["test"], tmp_path / "r", log=None, progress=False,
                   config=_cfg(sections=("fidelity", "utility", "shortcut")))
    by = {s.name: s for s in res.sections}
    assert by["fidelity"].status == "ok"
    for name in ("utility", "shortcut"):
        assert by[name].status == "not run" and "no class labels" in by[name].reason
    html = (res.out / "report.html").read_text()
    assert "no class labels" in html


def test_synthetic_class_unknown_to_real_is_refused(sets, tmp_path):
    odd = tmp_path / "odd" / "COVID"
    odd.mkdir(parents=True)
    for p in sorted((sets["synthetic"] / "pneumonia").glob("*.png"))[:5]:
        (odd / p.name).write_bytes(p.read_bytes())
    with pytest.raises(RadsynthInputError, match="--synthetic classes"):
        evaluate(sets["real"], odd.parent, sets["test"], tmp_path / "r", log=None, progress=False, config=_cfg())
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("extra, field", [(["--encoder", "no-such-encoder"], "--encoder"),
                                          (["--image-size", "40"], "--image-size"),
                                          (["--preset", "fast"], "--preset")])
def test_cli_bad_settings_name_the_option(sets, tmp_path, extra, field):
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["evaluate", "--real", str(sets["real"]), "--synthetic", str(sets["synthetic"]),
                                 "--out", str(out), "--no-progress", *extra])
    assert r.exit_code == 2, r.output
    assert r.output.startswith(f"error: {field}") and len(r.output.strip().splitlines()) == 1
    assert not out.exists()
