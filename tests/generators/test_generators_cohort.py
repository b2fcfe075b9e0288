"""`ddpm-2d`: a tiny trained DDPM as a cohort generator (determinism, labels -> classes, 2D outputs, errors)."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from gen_fixtures import make_class_folder
from PIL import Image
from typer.testing import CliRunner

from radsynth.cli.main import app


def cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def tree_hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from radsynth.generators.cli import train_command

    root = tmp_path_factory.mktemp("cohortgen")
    out = root / "tiny-ddpm"
    train_command(data=make_class_folder(root / "data"), out=out, image_size=16, channels="8,16", batch_size=4,
                  max_steps=2, precision="fp32", progress=False, echo=lambda *a: None)
    return out


def spec_dict(model: Path, **params) -> dict:
    return {
        "name": "cxr-tiny",
        "seed": 7,
        "n_subjects": 4,
        "generator": {"name": "ddpm-2d", "params": {"model": str(model), "image_size": 16, "steps": 3, **params}},
        "labels": {"bright": 0.5},
        "outputs": {"formats": ["png", "nifti"]},
    }


def write(tmp: Path, spec: dict, name: str = "spec.yaml") -> Path:
    p = tmp / name
    p.write_text(yaml.safe_dump(spec))
    return p


@pytest.fixture(scope="module")
def reference(tiny_model: Path, tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("ref")
    spec = write(tmp, spec_dict(tiny_model))
    res = cli("cohort", "build", spec, "--out", tmp / "out", "--no-progress")
    assert res.exit_code == 0, (res.output, res.exception)
    return spec, tmp / "out"


def test_build_writes_2d_images_and_labels_map_to_classes(reference) -> None:
    _, out = reference
    rows = pq.read_table(out / "manifest.parquet").to_pylist()
    meta = [r for r in rows if r["kind"] == "metadata"]
    assert len(meta) == 4 and sum(r["label_bright"] for r in meta) == 2  # round(0.5 * 4) positives
    for r in meta:  # positive label -> its class (by name), negative -> the other class
        assert r["attr_class"] == ("BRIGHT" if r["label_bright"] else "DARK")
    images = [r for r in rows if r["kind"] == "image"]
    assert sorted({r["format"] for r in images}) == ["nifti", "png"] and len(images) == 8
    assert {r["modality"] for r in images} == {"DX"}
    files = {p.relative_to(out).as_posix() for p in out.glob("subjects/**/*") if p.is_file()}
    assert {r["path"] for r in rows} == files
    sj = json.loads((out / "subjects/sub-0001/subject.json").read_text())
    cfg = sj["provenance"]["config"]
    tiny = Path(cfg["params"]["model"])
    assert cfg["model_weights_sha256"] == hashlib.sha256((tiny / "weights.safetensors").read_bytes()).hexdigest()
    assert sj["images"][0]["shape"] == [16, 16] and sj["masks"] == []


def test_png_is_whole_image_in_display_order(reference) -> None:
    from radsynth.io.nifti import read_nifti
    from radsynth.io.png import projection_for_display

    _, out = reference
    arr, aff, info = read_nifti(out / "subjects/sub-0002/anat/sub-0002_dx.nii.gz")
    # the header slope is float32: read-back may exceed 1 by float32 rounding (~1e-7)
    assert arr.shape == (16, 16) and info["synthetic"] and 0.0 <= arr.min() and arr.max() <= 1.0 + 1e-6
    png = np.asarray(Image.open(out / "subjects/sub-0002/png/sub-0002_dx.png"))
    # window [0, 1] -> [0, 65535]; NIfTI stores int16 with slope max/32000, i.e. within 1/32000 of max
    expect = projection_for_display(arr) * 65535.0
    assert png.dtype == np.uint16 and np.abs(png - expect).max() <= 65535.0 / 32000 + 1


def test_rebuild_and_two_workers_byte_identical(reference, tmp_path: Path) -> None:
    from radsynth.cohort.runner import build_cohort
    from radsynth.cohort.spec import load_spec

    spec, out = reference
    ref = tree_hashes(out)
    s = load_spec(spec)
    build_cohort(s, tmp_path / "again", progress=False)
    assert tree_hashes(tmp_path / "again") == ref
    build_cohort(s, tmp_path / "two", workers=2, progress=False)
    assert tree_hashes(tmp_path / "two") == ref


def test_generate_does_not_depend_on_caller_threads(reference) -> None:
    """generate() pins one torch thread: same bytes whatever torch.get_num_threads() the caller set."""
    import torch

    from radsynth.cohort.plan import plan_subject
    from radsynth.cohort.spec import load_spec, validate_generator

    spec, _ = reference
    s = load_spec(spec)
    cls, config = validate_generator(s)
    gen = cls(config)
    plan = plan_subject(s, 0)
    n = torch.get_num_threads()
    try:
        a = gen.generate(plan).images[0].array
        torch.set_num_threads(2)
        b = gen.generate(plan).images[0].array
        assert torch.get_num_threads() == 2  # restored
    finally:
        torch.set_num_threads(n)
    assert a.dtype == np.float32 and a.tobytes() == b.tobytes()
    other = gen.generate(plan_subject(s, 1)).images[0].array
    assert not np.array_equal(a, other)  # each subject has its own seed


def test_class_label_map_and_negative_class(tiny_model: Path) -> None:
    from radsynth.cohort.spec import parse_spec, validate_generator

    d = spec_dict(tiny_model, class_label_map={"finding": "dark"}, negative_class="BRIGHT")
    d["labels"] = {"finding": 0.25}
    s = parse_spec(d)
    cls, config = validate_generator(s)
    assert cls(config).label_classes(["finding"]) == ({"finding": "DARK"}, "BRIGHT")


def test_build_with_dicom_writes_a_valid_dx(tiny_model: Path, tmp_path: Path) -> None:
    """formats [png, dicom]: each subject also gets a DX For Presentation with the PNG's pixels, marked synthetic."""
    import shutil
    import subprocess

    import pydicom

    d = spec_dict(tiny_model)
    d.update(n_subjects=2, outputs={"formats": ["png", "dicom"]})
    res = cli("cohort", "build", write(tmp_path, d), "--out", tmp_path / "out", "--no-progress")
    assert res.exit_code == 0, (res.output, res.exception)
    rows = pq.read_table(tmp_path / "out" / "manifest.parquet").to_pylist()
    dx = [r for r in rows if r["format"] == "dicom"]
    assert len(dx) == 2 and {r["kind"] for r in dx} == {"image"} and {r["modality"] for r in dx} == {"DX"}
    path = tmp_path / "out" / "subjects/sub-0001/dicom/dx/image.dcm"
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.1.1" and ds.Modality == "DX"
    assert ds.ConversionType == "SYN" and str(ds.PatientName) == "SYNTHETIC^sub-0001"
    assert ds.private_block(0x0011, "RADSYNTH 1.0")[0x01].value == "ddpm-2d"
    assert list(ds.PatientOrientation) == ["L", "F"] and [float(v) for v in ds.ImagerPixelSpacing] == [1.0, 1.0]
    assert "ViewPosition" not in ds and "KVP" not in ds  # unknown for a learned model: left out
    png = np.asarray(Image.open(tmp_path / "out" / "subjects/sub-0001/png/sub-0001_dx.png"))
    assert np.array_equal(ds.pixel_array, png)  # same [0, 1] -> 0..65535 scale, same display orientation
    if shutil.which("dciodvfy"):
        out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
        assert [ln for ln in (out.stdout + out.stderr).splitlines() if ln.startswith("Error")] == []


BAD = {
    "label not a class": (lambda d: d.update(labels={"pneumonia": 0.5}), "labels.pneumonia", "BRIGHT"),
    "map to unknown class": (lambda d: d["generator"]["params"].update(class_label_map={"bright": "PNEUMONIA"}),
                             "generator.params.class_label_map.bright", "PNEUMONIA"),
    "image size": (lambda d: d["generator"]["params"].update(image_size=32), "generator.params.image_size", "16"),
    "unknown model": (lambda d: d["generator"]["params"].update(model="no-such-model"), "generator.params.model",
                      "no-such-model"),
    "classifier model": (lambda d: d["generator"]["params"].update(model="cxr-classifier-64"),
                         "generator.params.model", "generator model"),
    "two labels not exclusive": (lambda d: d.update(labels={"bright": 0.25, "dark": 0.25}), "exclusive_labels", "[]"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_spec_exit_2_before_writing(tiny_model: Path, tmp_path: Path, case: str) -> None:
    mutate, field, needle = BAD[case]
    d = copy.deepcopy(spec_dict(tiny_model))
    mutate(d)
    spec = write(tmp_path, d)
    out = tmp_path / "out"
    for cmd in (["cohort", "validate", spec], ["cohort", "build", spec, "--out", out, "--no-progress"]):
        res = cli(*cmd)
        assert res.exit_code == 2, (case, res.output, res.exception)
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith(f"error: {field}:"), lines
        assert needle in lines[0], lines[0]
    assert not out.exists()
