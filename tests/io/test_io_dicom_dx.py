"""DX For Presentation: display orientation, pixel scale, DX tags, marking, single-frame SEG, dciodvfy."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pydicom
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.core.records import ImageRecord, MaskRecord
from radsynth.io.dicom_dx import DX_IMAGE_STORAGE_PRESENTATION, display_geometry, orientation_letters, write_dx
from radsynth.io.dicom_seg import write_seg
from radsynth.io.dicom_series import PRIVATE_CREATOR, PRIVATE_GROUP
from radsynth.io.png import projection_for_display

PA = {"view": "PA", "sid_mm": 1800.0, "sod_mm": 1600.0, "pixel_mm": 0.4, "kvp": 125, "mas": 2.5,
      "body_part": "chest", "detector_type": "scintillator"}  # fmt: skip


def projection_affine(spacing_mm: float) -> np.ndarray:
    """Frontal projection (as radsynth.generators.cohort_generator.projection_affine): i along +x, j along +z."""
    a = np.zeros((4, 4))
    a[0, 0] = a[2, 1] = spacing_mm
    a[1, 2] = a[3, 3] = 1.0
    return a


needs_dciodvfy = pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools dciodvfy not installed")


@pytest.fixture
def xz() -> np.ndarray:
    """A (x=20, z=24) [0, 1] image with a marker at the patient's right (x high), head end (z high)."""
    rng = np.random.default_rng(20240603)
    a = rng.random((20, 24)).astype(np.float32) * 0.5
    a[-1, -1] = 1.0
    return a


def _dx(array, acq, spacing=0.4):
    return ImageRecord(array, projection_affine(spacing), "DX", "", "a.u.", dict(acq))


def _write(tmp_path, image, provenance, name="dx.dcm", **kw):
    args = dict(subject_id="sub-0001", study_key="ses-01", series_number=1)
    args.update(kw)
    return write_dx(tmp_path / name, image, provenance=provenance, patient_sex="F", patient_age_years=30, **args)


def test_dx_pixels_are_the_display_frame(tmp_path, xz, provenance):
    ds = pydicom.dcmread(_write(tmp_path, _dx(xz, PA), provenance))
    expect = np.rint(projection_for_display(xz).astype(np.float64) * 65535).astype(np.uint16)
    assert ds.Rows == 24 and ds.Columns == 20
    assert np.array_equal(ds.pixel_array, expect)
    assert ds.pixel_array[0, 0] == 65535  # patient's right on image left, head at top (radiological PA display)
    assert list(ds.PatientOrientation) == ["L", "F"]  # PS3.3 C.7.6.1.1.1: row direction, column direction
    # outside [0, 1]: min -> 0, max -> 65535, said in Derivation Description
    wide = xz * 4.0 - 1.0
    wide[0, 0] = -1.0
    ds2 = pydicom.dcmread(_write(tmp_path, _dx(wide, PA), provenance, "b.dcm"))
    assert ds2.pixel_array.min() == 0 and ds2.pixel_array.max() == 65535 and "[-1, 3]" in ds2.DerivationDescription


def test_orientation_letters_from_affine():
    assert orientation_letters(np.array([-1.0, 0, 0])) == "L" and orientation_letters(np.array([0, 0, -1.0])) == "F"
    assert orientation_letters(np.array([-0.9, 0.0, 0.3])) == "LH"
    lat = np.zeros((4, 4))
    lat[1, 0], lat[2, 1], lat[0, 2], lat[3, 3] = -0.5, 0.5, 1.0, 1.0  # i towards posterior, j towards head
    assert display_geometry(lat) == (["A", "F"], (0.5, 0.5))  # anterior to the right of the image


def test_dx_tags(tmp_path, xz, provenance):
    ds = pydicom.dcmread(_write(tmp_path, _dx(xz, PA), provenance))
    assert ds.SOPClassUID == DX_IMAGE_STORAGE_PRESENTATION == ds.file_meta.MediaStorageSOPClassUID
    assert ds.Modality == "DX" and ds.PresentationIntentType == "FOR PRESENTATION"
    assert ds.PhotometricInterpretation == "MONOCHROME2" and ds.BitsStored == 16 and ds.PixelRepresentation == 0
    assert ds.RescaleSlope == 1 and ds.RescaleIntercept == 0 and ds.RescaleType == "US"
    assert ds.PresentationLUTShape == "IDENTITY" and ds.PixelIntensityRelationship == "LOG"
    assert ds.PixelIntensityRelationshipSign == -1
    assert ds.ViewPosition == "PA" and ds.ViewCodeSequence[0].CodeValue == "272479007"  # SCT postero-anterior
    assert [float(v) for v in ds.ImagerPixelSpacing] == [0.4, 0.4]
    assert float(ds.DistanceSourceToDetector) == 1800 and float(ds.DistanceSourceToPatient) == 1600
    assert float(ds.EstimatedRadiographicMagnificationFactor) == pytest.approx(1.125)
    assert float(ds.KVP) == 125 and ds.Exposure == 2 and ds.ExposureInuAs == 2500  # Exposure is IS (mAs)
    assert ds.BodyPartExamined == "CHEST" and ds.AnatomicRegionSequence[0].CodeMeaning == "Chest"
    assert ds.ImageLaterality == "U" and ds.DetectorType == "SCINTILLATOR"
    assert float(ds.WindowCenter) == 32767.5 and float(ds.WindowWidth) == 65536
    assert "FrameOfReferenceUID" not in ds and "ImagePositionPatient" not in ds


def test_dx_reads_the_radiograph_simulator_keys(tmp_path, xz, provenance):
    """The key names of radsynth.physics.xray.radiograph.Radiograph.acquisition() (copied here)."""
    acq = {"view": "LAT", "view_position": "LL", "kvp": 125.0, "mas": 4.0, "exposure_uas": 4000,
           "source_to_image_mm": 1800.0, "source_to_object_mm": 1600.0, "object_to_image_mm": 200.0,
           "magnification": 1.125, "imager_pixel_spacing_mm": 0.5, "pixel_spacing_at_isocentre_mm": 0.444,
           "detector": "energy-integrating", "body_part": "CHEST", "processing": {"gamma": 1.0}}  # fmt: skip
    ds = pydicom.dcmread(_write(tmp_path, _dx(xz, acq, spacing=0.444), provenance))
    assert ds.ViewPosition == "LL" and ds.ViewCodeSequence[0].CodeMeaning == "left lateral"
    assert float(ds.DistanceSourceToDetector) == 1800 and float(ds.DistanceSourceToPatient) == 1600
    assert float(ds.EstimatedRadiographicMagnificationFactor) == 1.125 and ds.ExposureInuAs == 4000
    assert [float(v) for v in ds.ImagerPixelSpacing] == [0.5, 0.5]  # the detector pitch, not the isocentre spacing
    assert ds.DetectorType in ("", None)  # energy-integrating says nothing about direct vs scintillator


def test_dx_learned_image_gets_only_what_is_known(tmp_path, xz, provenance):
    acq = {"pixel_spacing_mm": 1.0, "architecture": "ddpm", "sampler": "ddim", "steps": 3, "guidance": 1.0}
    ds = pydicom.dcmread(_write(tmp_path, _dx(xz, acq, spacing=1.0), provenance))
    for kw in ("ViewPosition", "KVP", "Exposure", "DistanceSourceToDetector", "BodyPartExamined"):
        assert kw not in ds, kw
    assert [float(v) for v in ds.ImagerPixelSpacing] == [1.0, 1.0]  # nominal, from the generator
    assert ds.DetectorType in ("", None) and list(ds.AnatomicRegionSequence) == []  # Type 2: present, empty


def test_dx_deterministic_and_synthetic(tmp_path, xz, provenance):
    a = _write(tmp_path, _dx(xz, PA), provenance, "a.dcm")
    b = _write(tmp_path, _dx(xz, PA), provenance, "b.dcm")
    assert a.read_bytes() == b.read_bytes()
    ds = pydicom.dcmread(a)
    assert ds.ConversionType == "SYN" and ds.PatientIdentityRemoved == "YES" and ds.BurnedInAnnotation == "NO"
    assert list(ds.ImageType) == ["DERIVED", "SECONDARY"] and str(ds.PatientName) == "SYNTHETIC^sub-0001"
    assert ds.StudyDate == "" and ds.PatientBirthDate == "" and "ContentDate" not in ds
    assert ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)[0x04].value == str(provenance["seed"])
    other = pydicom.dcmread(_write(tmp_path, _dx(xz, PA), provenance, "c.dcm", series_number=2))
    assert other.StudyInstanceUID == ds.StudyInstanceUID and other.SOPInstanceUID != ds.SOPInstanceUID


def test_dx_rejects_bad_input(tmp_path, xz, provenance, mr_image):
    with pytest.raises(RadsynthInputError, match="image.modality"):
        _write(tmp_path, mr_image, provenance)
    with pytest.raises(RadsynthInputError, match="image.array.shape"):
        _write(tmp_path, ImageRecord(np.zeros((4, 4, 2), np.float32), np.eye(4), "DX", "", "a.u."), provenance)
    with pytest.raises(RadsynthInputError, match="acquisition.view"):
        _write(tmp_path, _dx(xz, {"view": "oblique"}), provenance)
    with pytest.raises(RadsynthInputError, match="acquisition.sod_mm"):
        _write(tmp_path, _dx(xz, {"sid_mm": 1000, "sod_mm": 1200}), provenance)


def _nodule_mask(shape) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    m[12:17, 3:9] = 1  # patient's right lung field, lower half
    return m


def test_seg_over_dx_is_single_frame_in_display_orientation(tmp_path, xz, provenance):
    dx = _write(tmp_path, _dx(xz, PA), provenance)
    mask = _nodule_mask(xz.shape)
    seg = write_seg(tmp_path / "seg.dcm", [dx], [MaskRecord("lung_nodule", mask)], affine=projection_affine(0.4),
                    series_number=2, provenance=provenance)  # fmt: skip
    ds, src = pydicom.dcmread(seg), pydicom.dcmread(dx)
    assert int(ds.NumberOfFrames) == 1 and (ds.Rows, ds.Columns) == (src.Rows, src.Columns)
    assert np.array_equal(ds.pixel_array.astype(bool), projection_for_display(mask).astype(bool))
    ref = ds.PerFrameFunctionalGroupsSequence[0].DerivationImageSequence[0].SourceImageSequence[0]
    assert ref.ReferencedSOPInstanceUID == src.SOPInstanceUID
    assert ds.StudyInstanceUID == src.StudyInstanceUID and list(ds.PatientOrientation) == ["L", "F"]
    with pytest.raises(RadsynthInputError, match="masks shape"):
        write_seg(tmp_path / "bad.dcm", [dx], [MaskRecord("n", _nodule_mask((24, 20)))],
                  affine=projection_affine(0.4), series_number=2, provenance=provenance)  # fmt: skip


@needs_dciodvfy
def test_dx_and_seg_pass_dciodvfy(tmp_path, xz, provenance):
    full = _write(tmp_path, _dx(xz, PA), provenance)
    learned = _write(tmp_path, _dx(xz, {"pixel_spacing_mm": 1.0}, 1.0), provenance, "l.dcm")
    lateral = _write(tmp_path, _dx(xz, {**PA, "view": "lateral"}), provenance, "ll.dcm")
    seg = write_seg(tmp_path / "seg.dcm", [full], [MaskRecord("lung_nodule", _nodule_mask(xz.shape))],
                    affine=projection_affine(0.4), series_number=2, provenance=provenance)  # fmt: skip
    for path, iod in ((full, "DXImageForPresentation"), (learned, "DXImageForPresentation"),
                      (lateral, "DXImageForPresentation"), (seg, "Segmentation")):  # fmt: skip
        out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
        lines = (out.stdout + out.stderr).splitlines()
        assert iod in lines
        assert [ln for ln in lines if ln.startswith("Error")] == []
