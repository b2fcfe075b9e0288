"""Longitudinal cohort through the CLI: one subject, BIDS sessions, masks per timepoint, byte-identical rebuilds."""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from radsynth.core import labels as L
from radsynth.pathology.tumour_growth import TumourGrowth

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "brain-mri-progression.yaml"
RADSYNTH = [sys.executable, "-m", "radsynth.cli.main"]
CORE = [L.TUMOUR_NECROSIS, L.TUMOUR_ENHANCING]


def _small_spec(folder: Path) -> Path:
    spec = yaml.safe_load(EXAMPLE.read_text())
    spec = copy.deepcopy(spec)
    spec["generator"]["params"]["sequences"] = ["T1w"]
    spec["generator"]["params"]["progression"]["timepoints_days"] = [0, 90, 180]
    spec["outputs"] = {"formats": ["nifti", "png", "dicom"]}
    p = folder / "spec.yaml"
    p.write_text(yaml.safe_dump(spec))
    return p


def _build(spec: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(RADSYNTH + ["cohort", "build", str(spec), "--out", str(out), "--no-progress"],
                          capture_output=True, text=True, timeout=600)


def _hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("progression")
    spec = _small_spec(tmp)
    outs = []
    for name in ("a", "b"):
        r = _build(spec, tmp / name)
        assert r.returncode == 0, r.stderr
        outs.append(tmp / name)
    return outs


def test_two_builds_are_byte_identical(builds):
    a, b = builds
    ha, hb = _hashes(a), _hashes(b)
    assert ha == hb and len(ha) > 50


def test_one_subject_with_a_session_folder_per_timepoint(builds):
    sub = builds[0] / "subjects" / "sub-0001"
    assert sorted(p.name for p in sub.iterdir()) == ["ses-t000", "ses-t090", "ses-t180", "sub-0001_sessions.tsv",
                                                     "subject.json"]
    for ses in ("ses-t000", "ses-t090", "ses-t180"):
        assert (sub / ses / "anat" / f"sub-0001_{ses}_T1w.nii.gz").is_file()
        assert (sub / ses / "anat" / f"sub-0001_{ses}_T1c.nii.gz").is_file()
        assert (sub / ses / "png" / f"sub-0001_{ses}_T1w_axial.png").is_file()
        assert (sub / ses / "dicom" / "seg" / "seg.dcm").is_file()
        for mask in ("labels", "tumour_whole", "tumour_core", "tumour_enhancing"):
            assert (sub / ses / "masks" / f"sub-0001_{ses}_{mask}.nii.gz").is_file()
    tsv = (sub / "sub-0001_sessions.tsv").read_text().splitlines()
    assert tsv[0].split("\t")[:3] == ["session_id", "time_days", "target_core_volume_ml"]
    assert [line.split("\t")[:2] for line in tsv[1:]] == [["ses-t000", "0"], ["ses-t090", "90"], ["ses-t180", "180"]]


def test_written_masks_match_label_maps_and_follow_the_growth_model(builds):
    sub = builds[0] / "subjects" / "sub-0001"
    meta = json.loads((sub / "subject.json").read_text())
    growth = TumourGrowth.from_dict(meta["provenance"]["sampled"]["progression"]["glioma_progression"]["growth"])
    disp, cores = [], []
    for ses in meta["sessions"]:
        sid = ses["session"]
        lab_img = nib.load(sub / sid / "masks" / f"sub-0001_{sid}_labels.nii.gz")
        lab = np.asarray(lab_img.dataobj)
        core = np.asarray(nib.load(sub / sid / "masks" / f"sub-0001_{sid}_tumour_core.nii.gz").dataobj).astype(bool)
        assert np.array_equal(core, np.isin(lab, CORE))
        enh = np.asarray(nib.load(sub / sid / "masks" / f"sub-0001_{sid}_tumour_enhancing.nii.gz").dataobj)
        assert np.array_equal(enh.astype(bool), lab == L.TUMOUR_ENHANCING)
        voxel_ml = abs(np.linalg.det(lab_img.affine[:3, :3])) / 1000.0
        measured = float(core.sum()) * voxel_ml
        target = growth.volume_ml(ses["time_days"])
        assert abs(measured - target) / target <= 0.05, (sid, measured, target)
        disp.append(ses["measurements"]["ventricle_displacement_mm"])
        cores.append(core)
    assert all(b >= a for a, b in zip(disp, disp[1:])) and disp[-1] > disp[0]
    assert not np.array_equal(cores[0], cores[1])  # each timepoint its own mask


def test_manifest_rows_carry_subject_session_and_time(builds):
    out = builds[0]
    rows = pq.read_table(out / "manifest.parquet").to_pylist()
    files = {p.relative_to(out).as_posix() for p in out.glob("subjects/**/*") if p.is_file()}
    assert {r["path"] for r in rows} == files
    for r in rows:
        assert r["subject"] == "sub-0001"
        if "/ses-" in r["path"]:
            ses = r["path"].split("/")[2]
            assert r["session"] == ses and r["time_days"] == float(int(ses.removeprefix("ses-t")))
        else:
            assert r["session"] is None and r["time_days"] is None
    images = [r for r in rows if r["kind"] == "image" and r["format"] == "nifti"]
    assert sorted((r["session"], r["sequence"]) for r in images) == [
        (s, q) for s in ("ses-t000", "ses-t090", "ses-t180") for q in ("T1c", "T1w")]
    assert any(r["format"] == "tsv" for r in rows)


def test_provenance_records_model_targets_and_sessions(builds):
    sub = builds[0] / "subjects" / "sub-0001"
    side = json.loads((sub / "ses-t090" / "anat" / "sub-0001_ses-t090_T1w.json").read_text())
    assert side["Session"] == "ses-t090" and side["TimeDays"] == 90.0
    assert side["Measurements"]["target_core_volume_ml"] > 0 and "core_volume_ml" in side["Measurements"]
    from radsynth.io.nifti import read_nifti_marking

    header = json.dumps(read_nifti_marking(sub / "ses-t090" / "anat" / "sub-0001_ses-t090_T1w.nii.gz")["marking"])
    assert '"ses-t090"' in header and "glioma_progression" in header and "specific_growth_rate_per_day" in header
    meta = json.loads((sub / "subject.json").read_text())
    tps = meta["provenance"]["sampled"]["progression"]["timepoints"]
    assert [t["session"] for t in tps] == ["ses-t000", "ses-t090", "ses-t180"]
    card = (builds[0] / "dataset_card.md").read_text()
    assert "## Progression" in card and "Gompertz" in card.replace("gompertz", "Gompertz")


def test_each_session_is_its_own_dicom_study_of_the_same_patient(builds):
    import pydicom

    sub = builds[0] / "subjects" / "sub-0001"
    studies, patients = set(), set()
    for ses in ("ses-t000", "ses-t090", "ses-t180"):
        first = sorted((sub / ses / "dicom" / "T1w").glob("*.dcm"))[0]
        ds = pydicom.dcmread(first, stop_before_pixels=True)
        studies.add(ds.StudyInstanceUID)
        patients.add(ds.PatientID)
        assert ses in ds.SeriesDescription
    assert len(studies) == 3 and patients == {"sub-0001"}


def test_signed_folder_verifies(builds):
    r = subprocess.run(RADSYNTH + ["verify", str(builds[0])], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr


def test_example_spec_validates_and_bad_spec_exits_2(tmp_path):
    r = subprocess.run(RADSYNTH + ["cohort", "validate", str(EXAMPLE)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    spec = yaml.safe_load(EXAMPLE.read_text())
    spec["generator"]["params"]["progression"]["timepoints_days"] = [60, 0]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(spec))
    r = subprocess.run(RADSYNTH + ["cohort", "build", str(bad), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "generator.params.progression.timepoints_days" in r.stderr and "[60, 0]" in r.stderr
    assert "strictly increasing" in r.stderr
    assert not (tmp_path / "o").exists()
