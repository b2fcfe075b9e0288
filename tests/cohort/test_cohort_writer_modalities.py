"""Subject writer: DICOM by modality (CT series, DX) with SEG, and 2D masks in NIfTI / PNG / SEG."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pydicom
import pytest
from PIL import Image

from radsynth.cohort.generator import SubjectPlan
from radsynth.cohort.writer import write_subject
from radsynth.core.errors import RadsynthInputError
from radsynth.core.records import ImageRecord, MaskRecord, Provenance, SubjectRecord
from radsynth.generators.cohort_generator import projection_affine
from radsynth.io.png import projection_for_display

FORMATS = ("nifti", "png", "dicom")


def _prov() -> Provenance:
    return Provenance(generator="ct-chest", generator_version="0.1", config={"n": 1}, seed=5, radsynth_version="x")


def _plan() -> SubjectPlan:
    return SubjectPlan(index=0, subject_id="sub-0001", seed=5, labels={"nodule": True}, attributes={"sex": "F"},
                       formats=FORMATS)  # fmt: skip


def _ct_subject() -> SubjectRecord:
    rng = np.random.default_rng(3)
    aff = np.diag([1.5, 1.5, 3.0, 1.0])
    aff[:3, 3] = [-12.0, -12.0, -6.0]
    full = rng.normal(0, 200, (16, 16, 5)).astype(np.float32)
    low = full + rng.normal(0, 60, full.shape).astype(np.float32)
    acq = {"kvp": 120, "mas": 200, "kernel": "ramp", "body_part": "CHEST"}
    images = [ImageRecord(full, aff, "CT", "full_dose", "HU", acq),
              ImageRecord(low, aff, "CT", "low_dose", "HU", dict(acq, mas=25))]  # fmt: skip
    nodule = np.zeros(full.shape, np.uint8)
    nodule[5:9, 6:10, 1:4] = 1
    return SubjectRecord("sub-0001", 0, aff, images, [MaskRecord("lung_nodule", nodule)], {"nodule": True},
                         {"sex": "F"}, _prov())  # fmt: skip


def _dx_subject() -> SubjectRecord:
    rng = np.random.default_rng(4)
    aff = projection_affine(0.8)
    image = ImageRecord(rng.random((20, 24)).astype(np.float32), aff, "DX", "", "a.u.",
                        {"view": "PA", "sid_mm": 1800, "sod_mm": 1600, "kvp": 125, "mas": 2})  # fmt: skip
    nodule = np.zeros((20, 24), np.uint8)
    nodule[3:8, 12:16] = 1
    return SubjectRecord("sub-0001", 0, aff, [image], [MaskRecord("lung_nodule", nodule)], {"nodule": True},
                         {"sex": "F"}, _prov())  # fmt: skip


def _errors(path) -> list[str]:
    out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    return [ln for ln in (out.stdout + out.stderr).splitlines() if ln.startswith("Error")]


def test_ct_subject_writes_ct_series_and_seg(tmp_path):
    meta = write_subject(_ct_subject(), _plan(), tmp_path)
    paths = {f["path"] for f in meta["files"]}
    assert {"dicom/full_dose/slice_0001.dcm", "dicom/low_dose/slice_0005.dcm", "dicom/seg/seg.dcm"} <= paths
    full = pydicom.dcmread(tmp_path / "dicom/full_dose/slice_0001.dcm")
    low = pydicom.dcmread(tmp_path / "dicom/low_dose/slice_0001.dcm")
    assert full.Modality == low.Modality == "CT" and (full.SeriesNumber, low.SeriesNumber) == (1, 2)
    assert full.Exposure == 200 and low.Exposure == 25 and full.StudyInstanceUID == low.StudyInstanceUID
    seg = pydicom.dcmread(tmp_path / "dicom/seg/seg.dcm")
    ref = seg.ReferencedSeriesSequence[0].SeriesInstanceUID
    assert ref == full.SeriesInstanceUID and seg.SeriesNumber == 3
    kinds = {f["path"]: f["kind"] for f in meta["files"]}
    assert kinds["dicom/full_dose/slice_0001.dcm"] == "dicom_series" and kinds["dicom/seg/seg.dcm"] == "dicom_seg"
    if shutil.which("dciodvfy"):
        assert _errors(tmp_path / "dicom/low_dose/slice_0003.dcm") == []
        assert _errors(tmp_path / "dicom/seg/seg.dcm") == []


def test_dx_subject_with_2d_mask_in_every_format(tmp_path):
    from radsynth.io.nifti import read_nifti

    subject = _dx_subject()
    meta = write_subject(subject, _plan(), tmp_path)
    rows = {f["path"]: f for f in meta["files"]}
    assert rows["dicom/dx/image.dcm"]["kind"] == "image" and rows["dicom/dx/image.dcm"]["modality"] == "DX"
    assert rows["png/sub-0001_lung_nodule.png"]["kind"] == "mask"
    mask = subject.masks[0].array
    arr, _, _ = read_nifti(tmp_path / "masks/sub-0001_lung_nodule.nii.gz")
    assert np.array_equal(arr, mask)  # 2D mask written whole
    png = np.asarray(Image.open(tmp_path / "png/sub-0001_lung_nodule.png"))
    assert np.array_equal(png > 0, projection_for_display(mask) > 0)  # same orientation as png/sub-0001_dx.png
    dx = pydicom.dcmread(tmp_path / "dicom/dx/image.dcm")
    seg = pydicom.dcmread(tmp_path / "dicom/seg/seg.dcm")
    assert np.array_equal(seg.pixel_array.astype(bool), png > 0)
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == dx.SeriesInstanceUID
    if shutil.which("dciodvfy"):
        assert _errors(tmp_path / "dicom/dx/image.dcm") == [] and _errors(tmp_path / "dicom/seg/seg.dcm") == []


def test_mask_on_no_image_grid_is_an_input_error(tmp_path):
    subject = _dx_subject()
    subject.masks = [MaskRecord("lung_nodule", np.ones((5, 5), np.uint8))]
    with pytest.raises(RadsynthInputError, match="shape"):
        write_subject(subject, SubjectPlan(0, "sub-0001", 5, {}, {}, ("dicom",)), tmp_path)


def test_two_views_each_get_their_own_seg(tmp_path):
    """Masks named <view>_<lesion> go with that view's radiograph, even when both views share the grid."""
    pa = _dx_subject()
    lat_affine = np.zeros((4, 4))
    lat_affine[1, 0], lat_affine[2, 1], lat_affine[0, 2], lat_affine[3, 3] = 0.8, 0.8, 1.0, 1.0  # i anterior, j up
    images = [ImageRecord(pa.images[0].array, pa.affine, "DX", "PA", "a.u.", {"view_position": "PA"}),
              ImageRecord(pa.images[0].array[::-1].copy(), lat_affine, "DX", "LAT", "a.u.", {"view": "LAT"})]
    masks = [MaskRecord("PA_lung_nodule", pa.masks[0].array),
             MaskRecord("LAT_lung_nodule", pa.masks[0].array[::-1].copy())]  # fmt: skip
    subject = SubjectRecord("sub-0001", 0, pa.affine, images, masks, {}, {}, _prov())
    write_subject(subject, SubjectPlan(0, "sub-0001", 5, {}, {}, ("dicom",)), tmp_path)
    dx_pa, dx_lat = (pydicom.dcmread(tmp_path / f"dicom/{v}/image.dcm") for v in ("PA", "LAT"))
    assert dx_pa.ViewPosition == "PA" and dx_lat.ViewPosition == "LL"
    assert list(dx_lat.PatientOrientation) == ["P", "F"]  # anterior on image left
    for seg_name, dx, mask in (("seg.dcm", dx_pa, masks[0]), ("seg_LAT.dcm", dx_lat, masks[1])):
        seg = pydicom.dcmread(tmp_path / "dicom/seg" / seg_name)
        assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == dx.SeriesInstanceUID
        assert seg.SegmentSequence[0].SegmentLabel == mask.name
        assert np.array_equal(seg.pixel_array.astype(bool), projection_for_display(mask.array) > 0)
