"""Classic MR series: geometry (RAS -> LPS), pixel scaling, synthetic marking, dciodvfy."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pydicom
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.core.records import ImageRecord
from radsynth.io.dicom_series import PRIVATE_CREATOR, PRIVATE_GROUP, mr_sequence_codes, write_mr_series

LPS = np.diag([-1.0, -1.0, 1.0])


def _write(tmp_path, image, provenance, name="s", **kw):
    args = dict(subject_id="sub-0001", study_key="ses-01", series_number=3, series_description="FLAIR synthetic")
    args.update(kw)
    return write_mr_series(
        tmp_path / name, image, provenance=provenance, patient_sex="F", patient_age_years=45, **args
    )


def _pixel_world_lps(ds) -> np.ndarray:
    """LPS position of every pixel from IPP/IOP/PixelSpacing (PS3.3 C.7.6.2.1.1)."""
    ipp = np.array([float(v) for v in ds.ImagePositionPatient])
    iop = np.array([float(v) for v in ds.ImageOrientationPatient])
    row_dir, col_dir = iop[:3], iop[3:]
    dr, dc = (float(v) for v in ds.PixelSpacing)  # between rows, between columns
    r, c = np.meshgrid(np.arange(ds.Rows), np.arange(ds.Columns), indexing="ij")
    return ipp + c[..., None] * dc * row_dir + r[..., None] * dr * col_dir


def _check_geometry_and_values(paths, image):
    """Every DICOM pixel maps (via its LPS position) back to an integer voxel of the
    RAS affine, and its rescaled value equals that voxel's value."""
    inv = np.linalg.inv(image.affine)
    seen = np.zeros(image.array.shape, bool)
    for p in paths:
        ds = pydicom.dcmread(p)
        world_ras = _pixel_world_lps(ds) @ LPS.T  # LPS -> RAS (the flip is its own inverse)
        vox = world_ras @ inv[:3, :3].T + inv[:3, 3]
        idx = np.rint(vox).astype(int)
        np.testing.assert_allclose(vox, idx, atol=1e-4)
        i, j, k = idx[..., 0], idx[..., 1], idx[..., 2]
        seen[i, j, k] = True
        values = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        np.testing.assert_allclose(values, image.array[i, j, k], atol=float(ds.RescaleSlope) / 2 + 1e-9)
    assert seen.all()


def test_series_geometry_canonical(tmp_path, mr_image, provenance):
    paths = _write(tmp_path, mr_image, provenance)
    assert [p.name for p in paths] == [f"slice_{k:04d}.dcm" for k in range(1, 5)]
    _check_geometry_and_values(paths, mr_image)
    ds = pydicom.dcmread(paths[0])
    assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
    assert [float(v) for v in ds.PixelSpacing] == [1.2, 1.0]
    assert float(ds.SliceThickness) == 3.0 and float(ds.SpacingBetweenSlices) == 3.0
    # voxel (i, j, k) = (15, 15, 0) is pixel (0, 0) of slice 1: RAS (7, 8.5, -6) -> LPS (-7, -8.5, -6)
    assert [float(v) for v in ds.ImagePositionPatient] == [-7.0, -8.5, -6.0]


def test_series_geometry_oblique_and_flipped(tmp_path, volume, provenance):
    theta = np.deg2rad(12.0)
    rot = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
    aff = np.eye(4)
    aff[:3, :3] = rot @ np.diag([-1.0, 1.2, 3.0])  # LAS-like: x axis flipped
    aff[:3, 3] = [10.0, -20.0, 5.0]
    image = ImageRecord(volume, aff, "MR", "T1w", "a.u.", {"tr_ms": 500.0, "te_ms": 10.0, "flip_deg": 90.0})
    _check_geometry_and_values(_write(tmp_path, image, provenance), image)


def test_series_deterministic_and_uids(tmp_path, mr_image, provenance):
    a = _write(tmp_path, mr_image, provenance, "a")
    b = _write(tmp_path, mr_image, provenance, "b")
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    c = _write(tmp_path, mr_image, provenance, "c", series_number=4)
    da, dc = pydicom.dcmread(a[0]), pydicom.dcmread(c[0])
    assert da.StudyInstanceUID == dc.StudyInstanceUID
    assert da.FrameOfReferenceUID == dc.FrameOfReferenceUID
    assert da.SeriesInstanceUID != dc.SeriesInstanceUID and da.SOPInstanceUID != dc.SOPInstanceUID
    sops = {pydicom.dcmread(p).SOPInstanceUID for p in a}
    assert len(sops) == 4
    other = dict(provenance, config_hash="0" * 64)
    assert pydicom.dcmread(_write(tmp_path, mr_image, other, "d")[0]).StudyInstanceUID != da.StudyInstanceUID


def _all_elements(ds):
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value:
                yield from _all_elements(item)
        else:
            yield elem


def test_series_synthetic_marking_and_no_person_data(tmp_path, mr_image, provenance):
    ds = pydicom.dcmread(_write(tmp_path, mr_image, provenance)[0])
    assert str(ds.PatientName).startswith("SYNTHETIC^") and ds.PatientID == "sub-0001"
    assert ds.ConversionType == "SYN"
    assert list(ds.ImageType)[:2] == ["DERIVED", "SECONDARY"]
    assert ds.PatientIdentityRemoved == "YES" and "synthetic" in ds.DeidentificationMethod
    assert ds.BurnedInAnnotation == "NO"
    assert ds.PatientSex == "F" and ds.PatientAge == "045Y"
    assert ds.Manufacturer == "radsynth" and ds.ManufacturerModelName == "radsynth physics_mri"
    assert all(uid.startswith("2.25.") for uid in (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID))
    for elem in _all_elements(ds):  # no dates or times anywhere
        if elem.VR in ("DA", "DT", "TM"):
            assert elem.value in ("", None), elem
    block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)
    assert block[0x01].value == "physics_mri"
    assert block[0x03].value == provenance["config_hash"]
    assert block[0x04].value == str(provenance["seed"])
    assert '"synthetic":true' in block[0x10].value
    # MR Image module from the acquisition parameters (FLAIR = IR-prepared SE)
    assert list(ds.ScanningSequence) == ["SE", "IR"]
    assert float(ds.RepetitionTime) == 9000 and float(ds.EchoTime) == 120 and float(ds.InversionTime) == 2500
    assert float(ds.MagneticFieldStrength) == 3.0
    # 42.577478518 MHz/T (CODATA 2018) x 3 T
    assert float(ds.ImagingFrequency) == pytest.approx(127.732436, abs=1e-6)


def test_sequence_codes():
    assert mr_sequence_codes("T1w", {"tr_ms": 2000, "ti_ms": 900, "flip_deg": 8, "sequence_type": "mprage"}) == (
        ["GR", "IR"],
        ["SP", "MP"],
    )
    assert mr_sequence_codes("T2w", {"tr_ms": 4000, "te_ms": 90}) == (["SE"], ["NONE"])
    assert mr_sequence_codes("x", {"flip_deg": 15}) == (["GR"], ["SP"])


def test_series_rejects_bad_input(tmp_path, mr_image, provenance):
    with pytest.raises(RadsynthInputError):
        _write(tmp_path, mr_image, provenance, subject_id="Jöhn")
    ct = ImageRecord(mr_image.array, mr_image.affine, "CT", "", "HU")
    with pytest.raises(RadsynthInputError):
        _write(tmp_path, ct, provenance)


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools dciodvfy not installed")
def test_series_passes_dciodvfy(tmp_path, mr_image, provenance):
    paths = _write(tmp_path, mr_image, provenance)
    out = subprocess.run(["dciodvfy", str(paths[1])], capture_output=True, text=True, timeout=60)
    lines = (out.stdout + out.stderr).splitlines()
    assert any("MRImage" in line for line in lines)
    errors = [line for line in lines if line.startswith("Error")]
    assert errors == []


def test_series_optional_synthetic_data_tag(tmp_path, mr_image, provenance):
    on = pydicom.dcmread(_write(tmp_path, mr_image, provenance, "on", synthetic_data_tag=True)[0])
    off = pydicom.dcmread(_write(tmp_path, mr_image, provenance, "off")[0])
    assert on.SyntheticData == "YES" and "SyntheticData" not in off


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools dciodvfy not installed")
def test_series_gre_with_contrast_passes_dciodvfy(tmp_path, volume, affine, provenance):
    # acquisition dict as written by radsynth.physics.mri (sequence_type, ti_ms None, agent dict)
    acq = {"sequence_type": "GRE", "tr_ms": 20.0, "te_ms": 4.0, "ti_ms": None, "flip_deg": 25.0,
           "field_strength_t": 1.5, "slice_thickness_mm": 3.0,
           "contrast_agent": {"name": "gadobutrol", "r1_per_mM_s": 5.2, "r2_per_mM_s": 6.1}}  # fmt: skip
    image = ImageRecord(volume, affine, "MR", "T1w_ce", "a.u.", acq)
    path = _write(tmp_path, image, provenance)[0]
    ds = pydicom.dcmread(path)
    assert ds.ScanningSequence == "GR" and ds.SequenceVariant == "SP" and "InversionTime" not in ds
    assert ds.ContrastBolusAgent == "gadobutrol"
    out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    assert [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")] == []


def test_thick_slice_2d_series_carries_its_display_window(tmp_path, volume, affine, provenance):
    """A clinical-protocol image (2D multi-slice, slice gap, display window from radsynth.physics.mri):
    SliceThickness < SpacingBetweenSlices, MRAcquisitionType 2D, VOI LUT window = the recorded window."""
    aff = np.array(affine, dtype=float)
    aff[:3, 2] *= 6.0 / np.linalg.norm(aff[:3, 2])  # 6 mm spacing: 5 mm slices + 1 mm gap
    acq = {"tr_ms": 600.0, "te_ms": 10.0, "flip_deg": 90.0, "field_strength_t": 3.0, "slice_thickness_mm": 5.0,
           "mr_acquisition_type": "2D", "display_window": [0.0, 412.5]}
    path = _write(tmp_path, ImageRecord(volume, aff, "MR", "T1w", "a.u.", acq), provenance)[0]
    ds = pydicom.dcmread(path)
    assert float(ds.SliceThickness) == 5.0 and float(ds.SpacingBetweenSlices) == pytest.approx(6.0)
    assert ds.MRAcquisitionType == "2D"
    assert float(ds.WindowCenter) == pytest.approx(206.25) and float(ds.WindowWidth) == pytest.approx(412.5)
    if shutil.which("dciodvfy"):
        out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
        assert [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")] == []
