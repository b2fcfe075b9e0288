"""PHI scan: every seeded name/date/id is found where it was put; radsynth's own outputs are clean."""

from __future__ import annotations

import json
import shutil
import warnings

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image, PngImagePlugin
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from radsynth.core.errors import RadsynthInputError
from radsynth.privacy.phi_scan import scan_folder, scan_text


def _seed_dicom(path) -> dict[str, str]:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.7", generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientName = "Doe^John"
    ds.PatientID = "MRN8812345"
    ds.PatientBirthDate = "19800312"
    ds.StudyDate = "20210312"
    ds.StudyTime = "101530"
    ds.AccessionNumber = "A1234567"
    ds.InstitutionName = "St Mary Hospital"
    ds.ReferringPhysicianName = "Smith^Anna"
    ds.ImageComments = "seen by Dr. Jones on 2021-03-12"
    item = Dataset()
    item.PatientID = "99887766"
    ds.OtherPatientIDsSequence = [item]
    ds.private_block(0x0011, "ACME", create=True).add_new(0x01, "LO", "call 555-123-4567")
    ds.save_as(path, enforce_file_format=True)
    return {"(0010,0010) PatientName": "name", "(0010,0020) PatientID": "id", "(0010,0030) PatientBirthDate": "date",
            "(0008,0020) StudyDate": "date", "(0008,0030) StudyTime": "time", "(0008,0050) AccessionNumber": "id",
            "(0008,0080) InstitutionName": "institution", "(0008,0090) ReferringPhysicianName": "name",
            "(0020,4000) ImageComments": "name", "(0010,1002) OtherPatientIDsSequence[0].(0010,0020) PatientID": "id",
            "(0011,1001) private": "phone"}


def _seed_png(path) -> dict[str, str]:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "John Smith born 03/12/1980")
    info.add_text("Author", "Dr. Alice Brown", zip=True)
    info.add_itxt("Description", "MRN: 99887766, phone 555-123-4567")
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(path, pnginfo=info)
    return {"PNG tEXt 'Comment'": "date", "PNG zTXt 'Author'": "name", "PNG iTXt 'Description'": "id"}


def _seed_nifti(path) -> dict[str, str]:
    img = nib.Nifti1Image(np.zeros((2, 2, 2), np.int16), np.eye(4))
    img.header["descrip"] = b"Patient Jane Roe scanned 2020-01-05"
    img.header["aux_file"] = b"MRN 1234567"
    img.header["intent_name"] = b"ROE^JANE"
    img.header.extensions.append(nib.nifti1.Nifti1Extension(6, json.dumps({"PatientName": "Roe^Jane"}).encode()))
    nib.save(img, path)
    return {"NIfTI descrip": "name", "NIfTI aux_file": "id", "NIfTI intent_name": "name",
            "NIfTI extension[0] ecode 6.PatientName": "name"}


def test_seeded_folder_is_flagged_everywhere(tmp_path):
    expected = {}
    for name, fn in (("a.dcm", _seed_dicom), ("b.png", _seed_png), ("c.nii.gz", _seed_nifti)):
        expected.update({(str(tmp_path / name), loc): kind for loc, kind in fn(tmp_path / name).items()})
    (tmp_path / "c.json").write_text(json.dumps({"PatientID": "12345678", "Notes": "acquired 12 March 2021"}))
    expected[(str(tmp_path / "c.json"), "JSON $.PatientID")] = "id"
    expected[(str(tmp_path / "c.json"), "JSON $.Notes")] = "date"
    res = scan_folder(tmp_path)
    found = {(f.path, f.location): f.kind for f in res.findings}
    kinds = {}
    for (p, loc), k in found.items():
        kinds.setdefault((p, loc), set()).add(k)
    missing = [key for key in expected if key not in found]
    assert missing == [], missing
    for key, kind in expected.items():
        assert kind in {f.kind for f in res.findings if (f.path, f.location) == key}, (key, kind)
    # excerpts are redacted: the seeded values never appear in full
    text = "\n".join(f.line() for f in res.findings)
    for secret in ("Doe^John", "MRN8812345", "99887766", "Alice Brown", "Roe^Jane", "555-123-4567"):
        assert secret not in text


def test_text_rules_and_non_phi():
    kinds = {k for k, _ in scan_text("j.doe@x.org 123-45-6789 +1 555 123 4567 Dr. Who 2021-03-12 MRN: 123456")}
    assert kinds == {"email", "ssn", "phone", "name", "date", "id"}
    for safe in ("SYNTHETIC^sub-0001", "P-0123456789ab", "radsynth 0.1.0", "2.25.123456789012345678901234567",
                 "config sha256 9f2c4a1b5e6d7c8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f", "seed 11"):
        assert scan_text(safe) == [], safe


def _radsynth_outputs(folder):
    """Every output format of radsynth's subject writer: NIfTI + sidecars, PNG, DICOM CT series, DX, SEG."""
    from radsynth.cohort.generator import SubjectPlan
    from radsynth.cohort.writer import write_subject
    from radsynth.core.records import ImageRecord, MaskRecord, Provenance, SubjectRecord
    from radsynth.generators.cohort_generator import projection_affine

    prov = Provenance(generator="ct-chest", generator_version="0.1", config={"n": 1}, seed=5, radsynth_version="x")
    formats = ("nifti", "png", "dicom")
    rng = np.random.default_rng(3)
    aff = np.diag([1.5, 1.5, 3.0, 1.0])
    full = rng.normal(0, 200, (16, 16, 5)).astype(np.float32)
    nod = np.zeros(full.shape, np.uint8)
    nod[5:9, 6:10, 1:4] = 1
    ct = SubjectRecord("sub-0001", 0, aff, [ImageRecord(full, aff, "CT", "full_dose", "HU", {"kvp": 120, "mas": 200})],
                       [MaskRecord("lung_nodule", nod)], {"nodule": True}, {"sex": "F"}, prov)
    write_subject(ct, SubjectPlan(0, "sub-0001", 5, {"nodule": True}, {"sex": "F"}, formats), folder / "ct")
    aff2 = projection_affine(0.8)
    m2 = np.zeros((20, 24), np.uint8)
    m2[3:8, 12:16] = 1
    dx = SubjectRecord("sub-0002", 1, aff2, [ImageRecord(rng.random((20, 24)).astype(np.float32), aff2, "DX", "", "a.u.",
                                                         {"view": "PA", "sid_mm": 1800, "sod_mm": 1600, "kvp": 125,
                                                          "mas": 2})],
                       [MaskRecord("lung_nodule", m2)], {"nodule": True}, {"sex": "M"}, prov)
    write_subject(dx, SubjectPlan(1, "sub-0002", 6, {"nodule": True}, {"sex": "M"}, formats), folder / "dx")


def test_radsynth_outputs_are_clean(tmp_path):
    _radsynth_outputs(tmp_path)
    res = scan_folder(tmp_path)
    suffixes = {p.name.split(".", 1)[-1] for p in tmp_path.rglob("*") if p.is_file()}
    assert {"dcm", "png", "json"} <= suffixes and any(s.startswith("nii") for s in suffixes)
    assert res.n_scanned >= 6
    assert res.findings == [], [f.line() for f in res.findings]


def test_deidentified_test_data_is_clean_of_original_names_and_ids(tmp_path):
    from radsynth.privacy.deidentify import DeidConfig, deidentify_folder

    src = tmp_path / "src"
    src.mkdir()
    names = ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "test-SR.dcm", "JPEG2000.dcm", "693_UNCR.dcm"]
    for n in names:
        f = get_testdata_file(n)
        if f:
            shutil.copy(f, src / n)
    before = scan_folder(src)
    assert {f.kind for f in before.findings} >= {"name", "id", "date"}  # the originals do hold PHI
    deidentify_folder(src, tmp_path / "out", DeidConfig(key=b"k" * 32), progress=False)
    after = scan_folder(tmp_path / "out")
    assert after.findings == [], [f.line() for f in after.findings]
    originals = set()
    warnings.simplefilter("ignore")
    for p in src.iterdir():
        ds = pydicom.dcmread(p)
        originals |= {str(e.value) for e in ds.iterall() if e.VR == "PN" and str(e.value)}
        originals |= {str(ds.get(k, "")) for k in ("PatientID", "AccessionNumber") if str(ds.get(k, ""))}
    blob = b"".join(p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert not [o for o in originals if len(o) > 3 and o.encode() in blob]


def test_not_a_folder(tmp_path):
    with pytest.raises(RadsynthInputError, match="DIR"):
        scan_folder(tmp_path / "nope")
