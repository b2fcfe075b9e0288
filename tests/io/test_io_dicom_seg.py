"""DICOM SEG of lesion masks: geometry against the RAS masks, determinism, marking, dciodvfy."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pydicom
import pytest

from radsynth.core.records import MaskRecord
from radsynth.io.dicom_seg import SEG_CONTENT_DATE, SEG_CONTENT_TIME, write_seg
from radsynth.io.dicom_series import write_mr_series

LPS = np.diag([-1.0, -1.0, 1.0])


@pytest.fixture
def series(tmp_path, mr_image, provenance):
    return write_mr_series(
        tmp_path / "mr",
        mr_image,
        subject_id="sub-0001",
        study_key="ses-01",
        series_number=3,
        series_description="FLAIR synthetic",
        provenance=provenance,
        patient_sex="M",
        patient_age_years=61,
    )


def _seg(tmp_path, series, masks, affine, provenance, name="seg.dcm"):
    return write_seg(tmp_path / name, series, masks, affine=affine, series_number=100, provenance=provenance)


def test_seg_geometry_matches_masks(tmp_path, series, lesion_masks, affine, provenance):
    label_map = MaskRecord("labels", lesion_masks[0].array.astype(np.uint16), label_names={1: "x"})
    path = _seg(tmp_path, series, [*lesion_masks, label_map], affine, provenance)
    ds = pydicom.dcmread(path)
    assert ds.SegmentationType == "BINARY"
    assert [s.SegmentLabel for s in ds.SegmentSequence] == ["tumour", "infarct"]  # label map skipped
    types = [s.SegmentedPropertyTypeCodeSequence[0].CodeValue for s in ds.SegmentSequence]
    assert types == ["108369006", "55641003"]  # SNOMED CT Neoplasm, Infarct
    shared = ds.SharedFunctionalGroupsSequence[0]
    iop = np.array([float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient])
    dr, dc = (float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing)
    inv = np.linalg.inv(affine)
    found = [np.zeros(m.array.shape, bool) for m in lesion_masks]
    frames = ds.pixel_array.reshape(-1, ds.Rows, ds.Columns)
    for f, frame in enumerate(frames):
        fg = ds.PerFrameFunctionalGroupsSequence[f]
        seg_no = int(fg.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        ipp = np.array([float(v) for v in fg.PlanePositionSequence[0].ImagePositionPatient])
        r, c = np.nonzero(frame)
        lps = ipp + c[:, None] * dc * iop[:3] + r[:, None] * dr * iop[3:]
        vox = np.rint((lps @ LPS.T) @ inv[:3, :3].T + inv[:3, 3]).astype(int)
        found[seg_no - 1][vox[:, 0], vox[:, 1], vox[:, 2]] = True
    for m, f in zip(lesion_masks, found):
        assert np.array_equal(f, m.array.astype(bool))


def test_seg_deterministic_and_synthetic(tmp_path, series, lesion_masks, affine, provenance):
    a = _seg(tmp_path, series, lesion_masks, affine, provenance, "a.dcm")
    b = _seg(tmp_path, series, lesion_masks, affine, provenance, "b.dcm")
    assert a.read_bytes() == b.read_bytes()
    ds = pydicom.dcmread(a)
    src = pydicom.dcmread(series[0])
    assert ds.StudyInstanceUID == src.StudyInstanceUID and ds.FrameOfReferenceUID == src.FrameOfReferenceUID
    assert ds.SeriesInstanceUID.startswith("2.25.") and ds.SOPInstanceUID.startswith("2.25.")
    assert str(ds.PatientName).startswith("SYNTHETIC^")
    assert ds.PatientIdentityRemoved == "YES" and ds.ConversionType == "SYN"
    assert ds.ContentDate == SEG_CONTENT_DATE and ds.ContentTime == SEG_CONTENT_TIME
    assert "InstanceCreationDate" not in ds
    assert all("ContributionDateTime" not in item for item in ds.ContributingEquipmentSequence)
    assert ds.StudyDate == "" and ds.PatientBirthDate == ""
    assert ds.private_block(0x0011, "RADSYNTH 1.0")[0x03].value == provenance["config_hash"]


def test_seg_empty_masks_write_nothing(tmp_path, series, affine, provenance):
    empty = MaskRecord("tumour", np.zeros((16, 16, 4), np.uint8))
    assert _seg(tmp_path, series, [empty], affine, provenance) is None
    assert not (tmp_path / "seg.dcm").exists()


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools dciodvfy not installed")
def test_seg_passes_dciodvfy(tmp_path, series, lesion_masks, affine, provenance):
    path = _seg(tmp_path, series, lesion_masks, affine, provenance)
    out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    lines = (out.stdout + out.stderr).splitlines()
    assert any("Segmentation" in line for line in lines)
    assert [line for line in lines if line.startswith("Error")] == []


def test_seg_refuses_wrong_affine(tmp_path, series, lesion_masks, affine, provenance):
    from radsynth.core.errors import RadsynthInputError

    shifted = affine.copy()
    shifted[0, 3] += 5.0
    with pytest.raises(RadsynthInputError):
        _seg(tmp_path, series, lesion_masks, shifted, provenance)
