"""PS3.15 basic-profile de-identification on real test files (pydicom + pydicom-data subset)."""

from __future__ import annotations

import re
import shutil
import subprocess
import warnings

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from radsynth.core.errors import RadsynthInputError
from radsynth.privacy.deid_profile import load_table, rule_for, surviving_values
from radsynth.privacy.deidentify import (
    REPORT_FILE,
    DeidConfig,
    Deidentifier,
    deidentify_file,
    deidentify_folder,
    load_key,
    read_dicom,
)

KEY = b"test-key-0123456789abcdef"
# representative: CT/MR/RT/SR/US, compressed (JPEG 2000, JPEG-LS, RLE), overlays, DICOMDIR, big endian
SUBSET = ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "test-SR.dcm", "JPEG2000.dcm", "MR_small_jpeg_ls_lossless.dcm",
          "MR_small_RLE.dcm", "MR-SIEMENS-DICOM-WithOverlays.dcm", "US1_UNCR.dcm", "SC_rgb.dcm", "ExplVR_BigEnd.dcm",
          "DICOMDIR", "nested_priv_SQ.dcm", "ExplVR_LitEndNoMeta.dcm"]


def _file(name: str) -> str:
    f = get_testdata_file(name)
    if f is None:
        pytest.skip(f"{name} not in pydicom's test data / pydicom-data")
    return f


def _dciodvfy_errors(path) -> set[str]:
    r = subprocess.run(["dciodvfy", "-new", str(path)], capture_output=True, text=True, errors="replace", timeout=60)
    return {re.sub(r"=\s*<[^>]*>", "= <>", ln) for ln in (r.stdout + r.stderr).splitlines() if ln.startswith("Error")}


def test_table_is_the_full_basic_profile():
    exact, masked = load_table()
    assert len(exact) > 600 and len(masked) == 3
    assert rule_for(0x00100010).action == "Z" and rule_for(0x00100020).action == "Z/D"
    assert rule_for(0x00080018).action == "U" and rule_for(0x00081140).action == "X/Z/U*"
    assert rule_for(0x60023000).action == "X" and rule_for(0x00280010) is None  # Rows: not listed


@pytest.mark.parametrize("name", SUBSET)
def test_no_basic_profile_value_survives_and_pixels_unchanged(name, tmp_path):
    src = _file(name)
    warnings.simplefilter("ignore")
    orig = read_dicom(src)
    d = Deidentifier(DeidConfig(key=KEY))
    rep = deidentify_file(src, tmp_path / "out.dcm", d)
    out = read_dicom(tmp_path / "out.dcm")
    assert surviving_values(orig, out) == []
    assert out.PatientIdentityRemoved == "YES"
    assert [c.CodeValue for c in out.DeidentificationMethodCodeSequence][:2] == ["113100", "113107"]
    assert not any(e.tag.is_private for e in out.iterall())
    assert not any(0x6000 <= e.tag.group <= 0x60FF for e in out)
    if "PixelData" in orig:
        assert out.PixelData == orig.PixelData
        try:
            a = orig.pixel_array
        except Exception:
            a = None
        if a is not None:
            assert np.array_equal(a, out.pixel_array)
    if "PatientID" in orig:
        assert out.PatientID == rep.patient_pseudonym
    assert rep.removed or rep.emptied or rep.replaced or rep.private_removed
    if shutil.which("dciodvfy") and name not in ("nested_priv_SQ.dcm",):  # no IOD at all: dciodvfy guesses
        assert _dciodvfy_errors(tmp_path / "out.dcm") - _dciodvfy_errors(src) == set()


def test_the_check_can_fail():
    orig = pydicom.dcmread(_file("CT_small.dcm"))
    assert surviving_values(orig, orig)  # an untouched file keeps its names/ids/dates


def test_consistent_uids_dates_and_pseudonyms_across_files():
    d = Deidentifier(DeidConfig(key=KEY, max_date_shift_days=30))
    a, b = pydicom.dcmread(_file("CT_small.dcm")), pydicom.dcmread(_file("CT_small.dcm"))
    b.SOPInstanceUID = b.SOPInstanceUID + ".1"
    study, sop_class, date = a.StudyInstanceUID, a.SOPClassUID, a.StudyDate
    ra, rb = d.deidentify(a), d.deidentify(b)
    assert a.StudyInstanceUID == b.StudyInstanceUID == d.uid(study) != study
    assert a.SOPInstanceUID != b.SOPInstanceUID and a.file_meta.MediaStorageSOPInstanceUID == a.SOPInstanceUID
    assert a.SOPClassUID == sop_class and a.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert ra.patient_pseudonym == rb.patient_pseudonym == a.PatientName == a.PatientID
    import datetime as dt

    shift = d.date_shift_days(str(pydicom.dcmread(_file("CT_small.dcm")).PatientID))
    got = (dt.datetime.strptime(a.StudyDate, "%Y%m%d") - dt.datetime.strptime(date, "%Y%m%d")).days
    assert got == shift and 1 <= abs(shift) <= 30
    assert a.LongitudinalTemporalInformationModified == "MODIFIED"


def test_api_properties():
    d, e = Deidentifier(DeidConfig(key=KEY)), Deidentifier(DeidConfig(key=KEY[::-1]))
    assert re.fullmatch(r"P-[0-9a-f]{12}", d.pseudonym("123")) and d.pseudonym("123") == d.pseudonym("123")
    assert d.pseudonym("123") != e.pseudonym("123") and d.pseudonym("123") != d.pseudonym("124")
    shifts = {d.date_shift_days(str(i)) for i in range(300)}
    assert 0 not in shifts and min(shifts) >= -365 and max(shifts) <= 365 and min(shifts) < 0 < max(shifts)
    for u in ("1.2.3", "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"):
        new = d.uid(u)
        assert re.fullmatch(r"2\.25\.(0|[1-9]\d*)", new) and len(new) <= 64 and d.uid(u) == new
    assert d.keeps_uid("1.2.840.10008.5.1.4.1.1.2") and not d.keeps_uid("1.2.3")
    cfg = DeidConfig(key=KEY, allow_private_creators=("ACME 1",))
    js = cfg.to_json()
    assert "key" not in js and js["key_id"] == cfg.key_id and KEY.hex() not in str(js)
    assert DeidConfig.from_json(js, KEY) == cfg
    with pytest.raises(RadsynthInputError):
        DeidConfig.from_json(js, KEY[::-1])
    with pytest.raises(RadsynthInputError):
        DeidConfig(key=b"short")
    with pytest.raises(RadsynthInputError):
        DeidConfig(key=KEY, max_date_shift_days=0)


def _dataset_with_privates() -> Dataset:
    ds = pydicom.dcmread(_file("CT_small.dcm"))
    ds.private_block(0x0009, "ACME 1", create=True).add_new(0x01, "LO", "keep me")
    ds.private_block(0x0011, "OTHER", create=True).add_new(0x01, "LO", "Jane Doe")
    item = Dataset()
    item.PatientName = "Doe^Jane"
    item.ReferencedSOPInstanceUID = "1.2.3.4.5"
    item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SourceImageSequence = [item]
    ds.add_new(0x60000010, "US", 8)
    ds.add_new(0x60003000, "OW", b"\0" * 8)
    ds.BurnedInAnnotation = "YES"
    return ds


def test_private_allow_list_sequences_overlays_and_burned_in():
    ds = _dataset_with_privates()
    rep = Deidentifier(DeidConfig(key=KEY, allow_private_creators=("ACME 1",))).deidentify(ds)
    assert ds.private_block(0x0009, "ACME 1")[0x01].value == "keep me" and rep.private_kept
    assert not any(e.tag.group == 0x0011 for e in ds) and rep.private_removed > 0
    assert "113111" in [c.CodeValue for c in ds.DeidentificationMethodCodeSequence]
    item = ds.SourceImageSequence[0]
    assert item.PatientName == "" and item.ReferencedSOPInstanceUID.startswith("2.25.")
    assert item.ReferencedSOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
    assert 0x60000010 not in ds and 0x60003000 not in ds
    assert rep.burned_in_annotation == "YES"


def test_folder_report_audit_determinism_and_key_not_in_outputs(tmp_path):
    from radsynth.provenance.audit import AuditLog

    src = tmp_path / "src"
    src.mkdir()
    for n in ("CT_small.dcm", "MR_small.dcm"):
        shutil.copy(_file(n), src / n)
    (src / "notes.txt").write_text("not dicom")
    ds = _dataset_with_privates()
    ds.save_as(src / "burned.dcm")
    cfg = DeidConfig(key=KEY)
    with AuditLog() as log:
        before = log.head()[0]
    res = deidentify_folder(src, tmp_path / "out", cfg, progress=False)
    assert res.n_files == 3 and res.n_skipped == 1 and len(res.burned_in) == 1
    report = (tmp_path / "out" / REPORT_FILE).read_text()
    assert '"burned_in_annotation_yes"' in report and "CT_small" not in report
    with AuditLog() as log:
        rec = log.records(last=1)[0]
        assert log.head()[0] == before + 1 and rec["action"] == "deidentify" and rec["config_hash"] == cfg.hash
    files = sorted(p for p in (tmp_path / "out").rglob("*") if p.is_file())
    for p in files:
        assert KEY not in p.read_bytes() and KEY.hex().encode() not in p.read_bytes()
    res2 = deidentify_folder(src, tmp_path / "out2", cfg, progress=False)
    files2 = sorted(p for p in (tmp_path / "out2").rglob("*") if p.is_file())
    assert [p.relative_to(tmp_path / "out") for p in files] == [p.relative_to(tmp_path / "out2") for p in files2]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(files, files2))
    assert res2.n_files == 3


def test_folder_bad_inputs_write_nothing(tmp_path):
    cfg = DeidConfig(key=KEY)
    with pytest.raises(RadsynthInputError, match="SRC"):
        deidentify_folder(tmp_path / "missing", tmp_path / "out", cfg, progress=False)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "a.txt").write_text("hello")
    with pytest.raises(RadsynthInputError, match="DICOM"):
        deidentify_folder(tmp_path / "empty", tmp_path / "out", cfg, progress=False)
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(RadsynthInputError, match="--out"):
        deidentify_folder(tmp_path / "empty", tmp_path / "full", cfg, progress=False)


def test_key_files(tmp_path):
    (tmp_path / "k").write_bytes(b"\1" * 32)
    assert load_key(tmp_path / "k") == b"\1" * 32
    (tmp_path / "h").write_text("ab" * 20 + "\n")
    assert load_key(tmp_path / "h") == bytes.fromhex("ab" * 20)
    (tmp_path / "s").write_bytes(b"\1" * 8)
    with pytest.raises(RadsynthInputError, match="key-file"):
        load_key(tmp_path / "s")
    with pytest.raises(RadsynthInputError, match="key-file"):
        load_key(tmp_path / "nope")
