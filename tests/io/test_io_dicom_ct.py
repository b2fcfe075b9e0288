"""CT Image Storage series: HU round trip, geometry (RAS -> LPS), CT tags, marking, SEG over CT, dciodvfy."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pydicom
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.core.records import ImageRecord, MaskRecord
from radsynth.io.dicom_ct import CT_IMAGE_STORAGE, write_ct_series
from radsynth.io.dicom_seg import write_seg
from radsynth.io.dicom_series import PRIVATE_CREATOR, PRIVATE_GROUP, write_mr_series

LPS = np.diag([-1.0, -1.0, 1.0])
ACQ = {"kvp": 120, "mas": 100.0, "tube_current_ma": 200.0, "exposure_time_ms": 500.0, "kernel": "shepp-logan",
       "ctdi_vol_mgy": 6.54, "slice_thickness_mm": 3.0, "body_part": "chest"}  # fmt: skip
needs_dciodvfy = pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools dciodvfy not installed")


@pytest.fixture
def hu_volume() -> np.ndarray:
    rng = np.random.default_rng(20240602)
    vol = rng.normal(40.0, 300.0, (16, 16, 4)).astype(np.float32)
    vol[:2] = -1000.4  # air, below -1000 as FBP noise gives
    vol[5, 5, 1] = 3071.6  # bone / metal
    return vol


@pytest.fixture
def ct_image(hu_volume, affine) -> ImageRecord:
    return ImageRecord(hu_volume, affine, "CT", "full_dose", "HU", dict(ACQ))


def _write(tmp_path, image, provenance, name="ct", **kw):
    args = dict(subject_id="sub-0001", study_key="ses-01", series_number=2, series_description="SYNTHETIC CT")
    args.update(kw)
    return write_ct_series(tmp_path / name, image, provenance=provenance, patient_sex="M", patient_age_years=61, **args)


def _pixel_world_lps(ds) -> np.ndarray:
    """LPS position of every pixel from IPP/IOP/PixelSpacing (PS3.3 C.7.6.2.1.1)."""
    ipp = np.array([float(v) for v in ds.ImagePositionPatient])
    iop = np.array([float(v) for v in ds.ImageOrientationPatient])
    dr, dc = (float(v) for v in ds.PixelSpacing)
    r, c = np.meshgrid(np.arange(ds.Rows), np.arange(ds.Columns), indexing="ij")
    return ipp + c[..., None] * dc * iop[:3] + r[..., None] * dr * iop[3:]


def _check_geometry_and_hu(paths, image):
    """Every pixel maps back (via its LPS position) to an integer voxel; its HU is within 0.5 of that voxel's."""
    inv = np.linalg.inv(image.affine)
    seen = np.zeros(image.array.shape, bool)
    for p in paths:
        ds = pydicom.dcmread(p)
        vox = (_pixel_world_lps(ds) @ LPS.T) @ inv[:3, :3].T + inv[:3, 3]
        idx = np.rint(vox).astype(int)
        np.testing.assert_allclose(vox, idx, atol=1e-4)
        i, j, k = idx[..., 0], idx[..., 1], idx[..., 2]
        seen[i, j, k] = True
        hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        assert np.abs(hu - image.array[i, j, k]).max() <= 0.5
    assert seen.all()


def test_ct_hu_round_trip_and_geometry(tmp_path, ct_image, provenance):
    paths = _write(tmp_path, ct_image, provenance)
    assert [p.name for p in paths] == [f"slice_{k:04d}.dcm" for k in range(1, 5)]
    _check_geometry_and_hu(paths, ct_image)
    ds = pydicom.dcmread(paths[0])
    assert ds.PixelRepresentation == 1 and ds.RescaleSlope == 1 and ds.RescaleIntercept == 0
    assert ds.pixel_array.dtype == np.int16 and ds.pixel_array.min() == -1000  # -1000.4 HU kept, not clipped to -1000+
    assert [float(v) for v in ds.ImagePositionPatient] == [-7.0, -8.5, -6.0]  # as the MR writer (same helpers)


def test_ct_oblique_flipped_geometry(tmp_path, hu_volume, provenance):
    theta = np.deg2rad(-9.0)
    rot = np.array([[1, 0, 0], [0, np.cos(theta), -np.sin(theta)], [0, np.sin(theta), np.cos(theta)]])
    aff = np.eye(4)
    aff[:3, :3] = rot @ np.diag([0.7, -0.7, 2.5])  # y axis flipped, tilted about x
    aff[:3, 3] = [3.0, 40.0, -100.0]
    image = ImageRecord(hu_volume, aff, "CT", "", "HU", {})
    _check_geometry_and_hu(_write(tmp_path, image, provenance), image)


def test_ct_image_module_tags(tmp_path, ct_image, provenance):
    ds = pydicom.dcmread(_write(tmp_path, ct_image, provenance)[1])
    assert ds.SOPClassUID == CT_IMAGE_STORAGE == ds.file_meta.MediaStorageSOPClassUID and ds.Modality == "CT"
    assert list(ds.ImageType) == ["DERIVED", "SECONDARY", "AXIAL"]
    assert ds.RescaleType == "HU" and ds.PhotometricInterpretation == "MONOCHROME2" and ds.SamplesPerPixel == 1
    assert ds.BitsAllocated == 16 and ds.BitsStored == 16 and ds.HighBit == 15
    assert float(ds.KVP) == 120 and ds.Exposure == 100 and ds.ExposureInuAs == 100000
    assert ds.XRayTubeCurrent == 200 and ds.ExposureTime == 500 and ds.ConvolutionKernel == "shepp-logan"
    assert ds.CTDIvol == pytest.approx(6.54)
    assert ds.CTDIPhantomTypeCodeSequence[0].CodeValue == "113691"  # IEC body phantom (32 cm) for a chest
    assert float(ds.SliceThickness) == 3.0 and float(ds.GantryDetectorTilt) == 0 and ds.PatientPosition == "HFS"
    assert float(ds.ReconstructionDiameter) == 16 * 1.0  # columns x column spacing
    assert ds.BodyPartExamined == "CHEST"
    assert [float(v) for v in ds.WindowCenter] == [40, -600] and [float(v) for v in ds.WindowWidth] == [400, 1500]
    assert list(ds.WindowCenterWidthExplanation) == ["MEDIASTINUM", "LUNG"]
    assert ds.ProtocolName == "radsynth full_dose"


def test_ct_missing_acquisition_values_are_left_out(tmp_path, hu_volume, affine, provenance):
    ds = pydicom.dcmread(_write(tmp_path, ImageRecord(hu_volume, affine, "CT", "", "HU", {}), provenance)[0])
    assert "KVP" in ds and ds.KVP in ("", None)  # Type 2: present, empty
    for kw in ("Exposure", "XRayTubeCurrent", "ExposureTime", "ConvolutionKernel", "CTDIvol", "BodyPartExamined"):
        assert kw not in ds, kw
    assert float(ds.SliceThickness) == 3.0  # the slice step
    assert ds.WindowCenterWidthExplanation == "AUTO"
    head = dict(window_center_hu=[40, 80], window_width_hu=[80, 200], window_explanation=["BRAIN", "SUBDURAL"])
    ds = pydicom.dcmread(_write(tmp_path, ImageRecord(hu_volume, affine, "CT", "", "HU", head), provenance, "h")[0])
    assert [float(v) for v in ds.WindowWidth] == [80, 200] and list(ds.WindowCenterWidthExplanation)[1] == "SUBDURAL"


def test_ct_deterministic_synthetic_and_shares_study(tmp_path, ct_image, mr_image, provenance):
    a = _write(tmp_path, ct_image, provenance, "a")
    b = _write(tmp_path, ct_image, provenance, "b")
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    ds = pydicom.dcmread(a[0])
    assert ds.ConversionType == "SYN" and ds.PatientIdentityRemoved == "YES" and ds.BurnedInAnnotation == "NO"
    assert str(ds.PatientName) == "SYNTHETIC^sub-0001" and ds.StudyDate == "" and ds.PatientBirthDate == ""
    block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)
    assert block[0x03].value == provenance["config_hash"] and '"synthetic":true' in block[0x10].value
    mr = write_mr_series(tmp_path / "mr", mr_image, subject_id="sub-0001", study_key="ses-01", series_number=1,
                         series_description="MR", provenance=provenance)  # fmt: skip
    dm = pydicom.dcmread(mr[0])
    assert dm.StudyInstanceUID == ds.StudyInstanceUID and dm.SeriesInstanceUID != ds.SeriesInstanceUID


def test_ct_rejects_bad_input(tmp_path, ct_image, mr_image, provenance):
    with pytest.raises(RadsynthInputError, match="image.modality"):
        _write(tmp_path, mr_image, provenance)
    with pytest.raises(RadsynthInputError, match="image.units"):
        _write(tmp_path, ImageRecord(ct_image.array, ct_image.affine, "CT", "", "mu_per_mm"), provenance)
    with pytest.raises(RadsynthInputError, match="acquisition.kvp"):
        _write(tmp_path, ImageRecord(ct_image.array, ct_image.affine, "CT", "", "HU", {"kvp": -1}), provenance)
    with pytest.raises(RadsynthInputError, match="ctdi_phantom"):
        acq = {"ctdi_vol_mgy": 5, "ctdi_phantom": "pediatric"}
        _write(tmp_path, ImageRecord(ct_image.array, ct_image.affine, "CT", "", "HU", acq), provenance)


def test_seg_over_ct_series(tmp_path, ct_image, affine, provenance):
    paths = _write(tmp_path, ct_image, provenance)
    nodule = np.zeros(ct_image.array.shape, np.uint8)
    nodule[4:8, 5:9, 1:3] = 1
    seg = write_seg(tmp_path / "seg.dcm", paths, [MaskRecord("lung_nodule", nodule)], affine=affine,
                    series_number=10, provenance=provenance)  # fmt: skip
    ds = pydicom.dcmread(seg)
    src = pydicom.dcmread(paths[0])
    assert ds.FrameOfReferenceUID == src.FrameOfReferenceUID and ds.StudyInstanceUID == src.StudyInstanceUID
    assert ds.SegmentSequence[0].SegmentedPropertyTypeCodeSequence[0].CodeValue == "27925004"  # SNOMED Nodule
    assert int(ds.NumberOfFrames) == 2  # empty slices omitted
    refs = {item.ReferencedSOPInstanceUID for fg in ds.PerFrameFunctionalGroupsSequence
            for item in fg.DerivationImageSequence[0].SourceImageSequence}  # fmt: skip
    assert refs == {pydicom.dcmread(p).SOPInstanceUID for p in paths[1:3]}


@needs_dciodvfy
def test_ct_and_seg_pass_dciodvfy(tmp_path, ct_image, hu_volume, affine, provenance):
    paths = _write(tmp_path, ct_image, provenance)
    minimal = _write(tmp_path, ImageRecord(hu_volume, affine, "CT", "", "HU", {}), provenance, "min")
    mask = np.zeros(hu_volume.shape, np.uint8)
    mask[4:8, 5:9, 1:3] = 1
    seg = write_seg(tmp_path / "seg.dcm", paths, [MaskRecord("pleural_effusion", mask)], affine=affine,
                    series_number=10, provenance=provenance)  # fmt: skip
    for path, iod in ((paths[1], "CTImage"), (minimal[0], "CTImage"), (seg, "Segmentation")):
        out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
        lines = (out.stdout + out.stderr).splitlines()
        assert iod in lines
        assert [ln for ln in lines if ln.startswith("Error")] == []
