"""Dataset and model card sections of issue #11: intended use / limits, bias notes computed from the data,
provenance and verification, measured evaluation. The numbers are checked against hand counts."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fast_spec import FAST_SPEC

from radsynth.cohort.finalize import (
    bias_lines,
    dataset_card,
    evaluation_lines,
    find_evaluation,
    provenance_lines,
    wilson_interval,
)
from radsynth.cohort.spec import parse_spec

PROV = {"generator": "mri-brain", "generator_version": "0.1", "config_hash": "ab" * 32, "seed": 1}


def _spec(**over):
    d = copy.deepcopy(FAST_SPEC)
    d.update(over)
    return parse_spec(d)


def _metas(sexes, ages, tumours, watermark=None):
    out = []
    for i, (s, a, t) in enumerate(zip(sexes, ages, tumours)):
        prov = dict(PROV, **({"watermark": watermark} if watermark else {}))
        out.append({"subject_id": f"sub-{i + 1:04d}", "seed": i, "attributes": {"sex": s, "age_years": a},
                    "labels": {"tumour": t, "stroke": False}, "provenance": prov, "files": [], "findings": []})
    return out


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(9, 10)
    assert lo == pytest.approx(0.5958, abs=1e-3) and hi == pytest.approx(0.9821, abs=1e-3)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_bias_lines_numbers():
    metas = _metas(["F"] * 8 + ["M"] * 2, [30, 31, 40, 45, 50, 52, 60, 61, 70, 75], [True] * 9 + [False])
    lines = bias_lines(_spec(), metas)
    text = "\n".join(lines)
    sex = next(ln for ln in lines if ln.startswith("- Sex"))
    assert "F 8/10 (80%), M 2/10 (20%)" in sex and "imbalanced: `F` is 80%" in sex
    age = next(ln for ln in lines if ln.startswith("- Age"))
    assert "30-75 years, median 52" in age and "no children" in age and "no subjects aged 80" in age
    tum = next(ln for ln in lines if "`tumour`" in ln)
    assert "9/10 positive (90.0%, 95% CI 59.6-98.2%) vs 50.0% requested" in tum and "OUTSIDE" in tum
    stroke = next(ln for ln in lines if "`stroke`" in ln)  # 0/10 vs 25% requested: CI 0-27.8% holds 25%
    assert "0/10 positive" in stroke and "OUTSIDE" not in stroke
    assert "Only 10 subjects" in text and "SIX real adult brain MRI label maps" in text


def test_bias_balanced_and_single_chest_ct():
    metas = _metas(["F", "M"] * 20, list(range(5, 85, 2)), [i % 2 == 0 for i in range(40)])
    spec = _spec(generator={"name": "ct-chest", "params": {}}, labels={"nodule": 0.5})
    metas = [dict(m, labels={"nodule": m["labels"]["tumour"]}) for m in metas]
    lines = bias_lines(spec, metas)
    sex = next(ln for ln in lines if ln.startswith("- Sex"))
    assert "balanced" in sex and "imbalanced" not in sex
    age = next(ln for ln in lines if ln.startswith("- Age"))
    assert "no children" not in age and "no subjects aged 80" not in age
    assert any("ONE real adult chest CT" in ln for ln in lines)
    assert any("`nodule`: 20/40 positive (50.0%" in ln and "OUTSIDE" not in ln for ln in lines)
    assert not any("Only" in ln for ln in lines)


def test_provenance_lines_watermark_and_verify():
    wm = {"scheme": "dwt-qim", "payload": "rs-1a2b"}
    lines = provenance_lines(_metas(["F", "M"], [40, 50], [True, False], watermark=wm))
    text = "\n".join(lines)
    assert "algorithmicMedia" in text and "SHA256SUMS" in text and "`radsynth verify DIR`" in text
    assert "2/2 subjects" in text and "dwt-qim" in text and "`rs-1a2b`" in text
    assert "none recorded" in "\n".join(provenance_lines(_metas(["F"], [40], [True])))


def _metrics(source: str = "") -> dict:
    return {"radsynth_version": "0.1.0", "c2st_auc": 0.731, "c2st_auc_ci": [0.702, 0.76], "fid": 12.5,
            "kid": None, "memorised_fraction": 0.0, "memorised_fraction_ci": [0.0, 0.01],
            "status": {"fidelity": "ok", "utility": "not run"},
            "verdicts": {"fidelity": {"level": "ok", "verdict": "close to real"}, "utility": {"verdict": ""}},
            "inputs": [{"name": "synthetic", "source": source}], "sections": {}}


def test_evaluation_found_and_reported(tmp_path):
    ds = tmp_path / "cohort"
    ds.mkdir()
    assert find_evaluation(ds) is None
    assert "Not evaluated yet" in evaluation_lines(None)[0]
    ev = tmp_path / "eval-run"
    ev.mkdir()
    (ev / "metrics.json").write_text(json.dumps(_metrics(str(ds))))
    other = tmp_path / "aaa-other"
    other.mkdir()
    (other / "metrics.json").write_text(json.dumps(_metrics(str(tmp_path / "elsewhere"))))
    assert find_evaluation(ds) == ev / "metrics.json"  # sibling whose synthetic input is this folder
    (ds / "evaluation").mkdir()
    (ds / "evaluation" / "metrics.json").write_text(json.dumps(_metrics()))
    assert find_evaluation(ds) == ds / "evaluation" / "metrics.json"  # inside the folder wins
    lines = evaluation_lines(_metrics(), "evaluation/metrics.json")
    assert "- C2ST AUC, real vs synthetic (0.5: indistinguishable): 0.731 (95% CI 0.702-0.76)" in lines
    assert "- FID, synthetic vs real: 12.5" in lines
    assert not any("KID" in ln for ln in lines)  # None: not measured, not shown
    assert "- fidelity: ok: close to real" in lines and "- utility: not run" in lines


def test_dataset_card_has_all_sections(tmp_path):
    spec = _spec()
    metas = _metas(["F", "M", "F", "F"], [30, 40, 50, 60], [True, False, True, False])
    ev = tmp_path / "evaluation" / "metrics.json"
    ev.parent.mkdir()
    ev.write_text(json.dumps(_metrics()))
    rows = [{"format": "nifti", "kind": "image"}]
    card = dataset_card(spec, metas, rows, evaluation=ev)
    for head in ("## Intended use", "## Limits: read before use", "## Bias notes", "## Provenance and verification",
                 "## Measured evaluation"):
        assert head in card, head
    assert "education" in card and "safety-critical edge cases" in card and "not** a substitute" in card
    assert "F 3/4 (75%), M 1/4 (25%); imbalanced" in card
    assert "From `evaluation/metrics.json`" in card and "0.731" in card
    assert str(tmp_path) not in card  # no absolute paths: the card stays byte-stable
    assert "Not evaluated yet" in dataset_card(spec, metas, rows)


def test_model_card_sections(tmp_path):
    import torch

    from radsynth.generators.model_dir import (
        CARD_FILE,
        training_bias_lines,
        write_model_dir,
    )

    lines = training_bias_lines({"train": {"NORMAL": 80, "PNEUMONIA": 20}, "val": {}}, {"train": 25, "val": 3})
    assert "NORMAL 80/100 (80%), PNEUMONIA 20/100 (20%); imbalanced: `NORMAL` is 80%" in lines[0]
    assert "25 training patients (4.0 images per patient)" in lines[1]
    assert "imbalanced" not in training_bias_lines({"train": {"a": 50, "b": 50}}, {"train": 10})[0]
    cfg = SimpleNamespace(arch="ddpm", image_size=16, conditional=True, classes=["NORMAL", "PNEUMONIA"],
                          model_dump=lambda mode="json": {"arch": "ddpm"}, card_lines=lambda: ["- net: tiny"])
    result = SimpleNamespace(step=2, wall_s=1.0, stopped="max_steps", images_per_s=3.0, device="cpu",
                             losses=[], val_curve=[])
    write_model_dir(tmp_path / "m", cfg=cfg, ema_state={"w": torch.zeros(1)}, train_settings={"seed": 0},
                    data_root="/data", files=[], counts={"train": {"NORMAL": 80, "PNEUMONIA": 20}, "val": {}},
                    result=result)
    card = (tmp_path / "m" / CARD_FILE).read_text()
    for head in ("## Intended use", "## Limits", "## Bias notes", "## Provenance and verification"):
        assert head in card, head
    assert "education" in card and "safety-critical edge cases" in card and "`NORMAL` is 80%" in card
    assert "trainedAlgorithmicMedia" in card and "`radsynth verify DIR`" in card


def test_dataset_card_shows_the_blinded_grid_with_its_key_below(tmp_path):
    from radsynth.evaluate.detectability import blind_grid

    rng = np.random.default_rng(0)
    png, key = blind_grid(rng.random((20, 16, 16)), rng.random((30, 16, 16)) * 0.5, seed=3)
    assert sorted(key) == ["real"] * 8 + ["synthetic"] * 8 and key != sorted(key)  # shuffled
    assert blind_grid(rng.random((20, 16, 16)), rng.random((30, 16, 16)), seed=3)[1] == key  # seeded
    ds = tmp_path / "cohort"
    ds.mkdir()
    ev = tmp_path / "cohort-evaluation" / "metrics.json"
    ev.parent.mkdir()
    m = _metrics(str(ds))
    m["sections"]["detectability"] = {"metrics": {"blind_grid_key": key}}
    ev.write_text(json.dumps(m))
    (ev.parent / "blind_grid.png").write_bytes(png)
    card = dataset_card(_spec(), _metas(["F", "M"], [30, 40], [True, False]), [{"format": "nifti", "kind": "image"}],
                        evaluation=ev, card_dir=ds)
    img = card.index("![blinded grid of real and synthetic images](../cohort-evaluation/blind_grid.png)")
    k = card.index("Key (R = real, S = synthetic")
    assert img < k  # the key comes below the grid
    want = " ".join("R" if x == "real" else "S" for x in key[:4])
    assert f"- row 1: {want}" in card and str(tmp_path) not in card
