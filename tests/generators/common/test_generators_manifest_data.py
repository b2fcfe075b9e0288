"""Training from a CSV/Parquet manifest, held-out guards, model-default guidance, card sections."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from gen_fixtures import make_class_folder
from typer.testing import CliRunner

from radsynth.cli.main import app
from radsynth.core.errors import RadsynthInputError
from radsynth.generators.common.data import scan_data, scan_manifest
from radsynth.generators.model_dir import add_card_section

TINY_ARGS = ["--image-size", "16", "--channels", "8,16", "--batch-size", "4", "--precision", "fp32", "--no-progress"]


def cli(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def _write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def _manifest_for(folder: Path, out: Path, patient: bool = True) -> Path:
    rows = []
    for p in sorted(folder.rglob("*.png")):
        row = {"path": p.relative_to(out.parent).as_posix(), "class": p.parent.name.lower()}
        if patient:
            row["patient"] = "P" + p.stem.split("_")[0]
        rows.append(row)
    return _write_csv(out, rows)


def test_manifest_matches_class_folder(tmp_path: Path) -> None:
    data = make_class_folder(tmp_path / "data")
    m = _manifest_for(data, tmp_path / "train.csv", patient=False)
    a, b = scan_data(data, require_classes=2), scan_data(m, require_classes=2)
    assert [c.lower() for c in a.classes] == list(b.classes) == ["bright", "dark"]
    assert [it.path.resolve() for it in a.items] == [it.path.resolve() for it in b.items]
    assert [it.patient for it in a.items] == [it.patient for it in b.items]  # patient ids from file names


def test_manifest_parquet_and_patient_column(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = make_class_folder(tmp_path / "data", n_per_class=2)
    files = sorted(data.rglob("*.png"))
    pq.write_table(pa.table({"path": [str(p) for p in files], "label": ["x", "x", "y", "y"],
                             "patient": ["a", "a", "b", "c"]}), tmp_path / "m.parquet")
    ds = scan_manifest(tmp_path / "m.parquet", require_classes=2)
    assert ds.classes == ("x", "y") and sorted(it.patient for it in ds.items) == ["a", "a", "b", "c"]


@pytest.mark.parametrize(
    "rows, needle",
    [
        ([{"file": "a.png", "class": "x"}], "columns"),
        ([{"path": "missing.png", "class": "x"}], "row 1 path"),
        ([{"path": "", "class": "x"}], "row 1"),
    ],
)
def test_manifest_bad_input(tmp_path: Path, rows: list[dict], needle: str) -> None:
    with pytest.raises(RadsynthInputError, match=needle):
        scan_manifest(_write_csv(tmp_path / "m.csv", rows))


def test_train_from_manifest_and_refuse_held_out_rows(tmp_path: Path) -> None:
    data = make_class_folder(tmp_path / "data")
    m = _manifest_for(data, tmp_path / "train.csv")
    res = cli("train", "--data", m, "--out", tmp_path / "model", "--max-steps", "2", *TINY_ARGS)
    assert res.exit_code == 0, (res.output, res.exception)
    files = json.loads((tmp_path / "model" / "training_files.json").read_text())
    assert len(files) == 16 and {f["patient"][0] for f in files} == {"P"}
    # a manifest pointing into a held-out test split is refused before anything is written
    shutil.copytree(data, tmp_path / "cxr" / "test")
    bad = _manifest_for(tmp_path / "cxr" / "test", tmp_path / "bad.csv")
    res = cli("train", "--data", bad, "--out", tmp_path / "m2", "--max-steps", "2", *TINY_ARGS)
    assert res.exit_code == 2 and "held-out" in res.stderr and not (tmp_path / "m2").exists()


def test_sample_uses_model_default_guidance_and_card_section(tmp_path: Path) -> None:
    data = make_class_folder(tmp_path / "data")
    model = tmp_path / "model"
    assert cli("train", "--data", data, "--out", model, "--max-steps", "2", *TINY_ARGS).exit_code == 0
    add_card_section(model, "Class fidelity (measured)", ["| w | rate |", "|---|---|", "| 2 | 0.9 |"], {"rate": 0.9})
    add_card_section(model, "Class fidelity (measured)", ["replaced"], {"rate": 0.8})
    card = (model / "model_card.md").read_text()
    assert card.count("## Class fidelity (measured)") == 1 and "replaced" in card and "| 2 | 0.9 |" not in card
    doc = json.loads((model / "config.json").read_text())
    assert doc["metrics"]["Class fidelity (measured)"] == {"rate": 0.8}
    doc["sampling_defaults"] = {"guidance": 2.5}
    (model / "config.json").write_text(json.dumps(doc))
    out = tmp_path / "s"
    res = cli("sample", "--model", model, "--n", "2", "--steps", "2", "--out", out, "--no-progress")
    assert res.exit_code == 0, (res.output, res.exception)
    assert json.loads((out / "sampling.json").read_text())["guidance"] == 2.5
    res = cli("sample", "--model", model, "--n", "2", "--steps", "2", "--guidance", "1", "--out", tmp_path / "s1",
              "--no-progress")
    assert json.loads((tmp_path / "s1" / "sampling.json").read_text())["guidance"] == 1.0
