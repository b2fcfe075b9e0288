"""radsynth ingest: the shared de-identification key, hostile files, PHI scan, train/evaluate on the output,
and (when ../shared/data is present) a small real chest X-ray folder."""

from __future__ import annotations

import io
import os
import shutil
import stat
import struct
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from ingest_fixtures import make_source

from radsynth.ingest import ingest

pytestmark = pytest.mark.filterwarnings("ignore")  # pydicom warns on the planted bad files


def _manifest(out: Path) -> list[dict]:
    return pq.read_table(out / "manifest.parquet").to_pylist()


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_default_key_is_the_deidentify_key(tmp_path, monkeypatch):
    """Without --key-file, ingest uses (and creates, 0600) the key of `radsynth deidentify`: same pseudonyms."""
    from radsynth.privacy.deidentify import DeidConfig, Deidentifier, default_key_path, deidentify_folder

    monkeypatch.setenv("RADSYNTH_CONFIG_DIR", str(tmp_path / "config"))
    src = make_source(tmp_path)
    res = ingest(src, tmp_path / "out", progress=False)
    kp = default_key_path()
    assert kp.is_file() and stat.S_IMODE(kp.stat().st_mode) == 0o600 and len(kp.read_bytes()) == 32
    key = kp.read_bytes()
    ct = next(r for r in _manifest(res.out) if r["source_format"] == "dicom")
    assert ct["patient"] == Deidentifier(DeidConfig(key=key)).pseudonym("1CT1")
    dicom_only = tmp_path / "dicom_only"
    dicom_only.mkdir()
    shutil.copy(src / "PNEUMONIA" / "ct_1CT1.dcm", dicom_only)
    rep = deidentify_folder(dicom_only, tmp_path / "deid", DeidConfig(key=key), progress=False)
    assert [f.name for f in (tmp_path / "deid").iterdir() if f.is_dir()] == [ct["patient"]]
    assert rep.n_files == 1
    again = ingest(src, tmp_path / "again", progress=False)  # the key is reused, not recreated
    assert kp.read_bytes() == key and _tree(again.out) == _tree(res.out)


def test_hex_and_raw_key_files_are_the_same_key(tmp_path):
    src = make_source(tmp_path)
    raw = bytes(range(32))
    (tmp_path / "raw.key").write_bytes(raw)
    (tmp_path / "hex.key").write_text(raw.hex() + "\n")
    a = ingest(src, tmp_path / "a", key_file=tmp_path / "raw.key", progress=False)
    b = ingest(src, tmp_path / "b", key_file=tmp_path / "hex.key", progress=False)
    assert _tree(a.out) == _tree(b.out)


def _dicom_without_preamble() -> bytes:
    """CT_small written as a bare implicit-VR dataset: no preamble, no file meta (old exports look like this)."""
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientID = "NOMETA-42"
    ds.preamble = None
    del ds.file_meta
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, implicit_vr=True, little_endian=True, enforce_file_format=False)
    data = buf.getvalue()
    assert data[128:132] != b"DICM"
    return data


def _dicom_unknown_vr() -> bytes:
    from pydicom.data import get_testdata_file

    data = bytearray(Path(get_testdata_file("MR_small.dcm")).read_bytes())
    i = data.index(b"\x08\x00\x16\x00UI")  # SOP Class UID
    data[i + 4:i + 6] = b"ZZ"
    return bytes(data)


def _nifti_declaring_huge_dims() -> bytes:
    import gzip

    import nibabel as nib

    img = nib.Nifti1Image(np.zeros((4, 4), np.int16), np.eye(4))
    raw = bytearray(img.to_bytes())
    raw[40:48] = struct.pack("<hhhh", 3, 32767, 32767, 32767)  # 70 TB declared in a 400-byte file
    return gzip.compress(bytes(raw), mtime=0)


def test_hostile_and_unusual_files_are_skipped_or_read(tmp_path, key_file):
    """A DICOM without preamble/meta is read; an unknown VR, a NIfTI bomb header and a truncated gzip are
    skipped as unreadable (one line on the terminal), never crash the ingest, never reach DIR."""
    from radsynth.privacy.deidentify import DeidConfig, Deidentifier

    src = tmp_path / "src" / "A"
    src.mkdir(parents=True)
    (src / "nometa.dcm").write_bytes(_dicom_without_preamble())
    (src / "unknown_vr.dcm").write_bytes(_dicom_unknown_vr())
    (src / "bomb.nii.gz").write_bytes(_nifti_declaring_huge_dims())
    (src / "cut.nii.gz").write_bytes(_nifti_declaring_huge_dims()[:40])
    said: list[str] = []
    res = ingest(src.parent, tmp_path / "out", key_file=key_file, progress=False, echo=said.append)
    rows = _manifest(res.out)
    assert len(rows) == 1 and rows[0]["source_format"] == "dicom" and rows[0]["modality"] == "CT"
    key = bytes.fromhex(key_file.read_text().strip())
    assert rows[0]["patient"] == Deidentifier(DeidConfig(key=key)).pseudonym("NOMETA-42")
    import pydicom

    out_ds = pydicom.dcmread(res.out / rows[0]["path"])  # written as a Part 10 file with meta
    assert out_ds.PatientID == rows[0]["patient"] and out_ds.file_meta.TransferSyntaxUID
    assert sorted(s.rel for s in res.skipped) == ["A/bomb.nii.gz", "A/cut.nii.gz", "A/unknown_vr.dcm"]
    assert all(s.reason.startswith("unreadable") for s in res.skipped)
    assert any("undecodable DICOM element" in s.detail for s in res.skipped)
    assert any("declares" in s.detail for s in res.skipped)
    assert len(said) == 3 and all("\n" not in m for m in said)


def test_phi_scan_of_the_output_is_clean(built):
    from radsynth.privacy.phi_scan import scan_folder

    assert scan_folder(built["src"]).findings  # the scan can find something: the source has PHI
    res = scan_folder(built["out"])
    assert res.findings == [] and res.n_scanned >= 7


def test_train_and_evaluate_accept_the_output(built, tmp_path):
    """`radsynth train` (class folder and manifest) and `radsynth evaluate` read DIR like a class folder."""
    from typer.testing import CliRunner

    from radsynth.cli.main import app

    out = built["out"]
    for i, data in enumerate((out, out / "manifest.parquet")):
        r = CliRunner().invoke(app, ["train", "--data", str(data), "--arch", "vae", "--image-size", "16",
                                     "--max-steps", "2", "--batch-size", "4", "--out", str(tmp_path / f"m{i}"),
                                     "--no-progress", "--threads", "1", "--val-fraction", "0.25"])
        assert r.exit_code == 0, r.output
        assert (tmp_path / f"m{i}" / "config.json").is_file()
    from radsynth.evaluate.sets import load_eval_set

    es = load_eval_set(out / "manifest.parquet", "real", image_size=16)
    assert es.counts() == {"NORMAL": 4, "PNEUMONIA": 3} and len(set(es.patients.tolist())) == 4


def test_real_chest_xrays_from_shared_data(shared_data, tmp_path, key_file):
    """~16 real CXR JPEGs (train split only) in class folders: patients from the file names, pseudonymised
    consistently, no source name in DIR, PHI scan clean, byte-identical on repeat."""
    from radsynth.generators.common.data import patient_id
    from radsynth.privacy.deidentify import DeidConfig, Deidentifier
    from radsynth.privacy.phi_scan import scan_folder

    train = shared_data / "cxr-pneumonia" / "train"
    if not train.is_dir():
        pytest.skip(f"{train} not found")
    src = tmp_path / "src"
    names: dict[str, list[str]] = {}
    for cls in ("NORMAL", "PNEUMONIA"):
        files = sorted(p for p in (train / cls).iterdir() if p.suffix.lower() in (".jpeg", ".jpg", ".png"))[:8]
        (src / cls).mkdir(parents=True)
        for p in files:
            shutil.copy(p, src / cls / p.name)
        names[cls] = [p.name for p in files]
    res = ingest(src, tmp_path / "out", key_file=key_file, progress=False)
    d = Deidentifier(DeidConfig(key=bytes.fromhex(key_file.read_text().strip())))
    rows = _manifest(res.out)
    for cls in names:
        want = sorted(d.pseudonym(patient_id(n)) for n in names[cls])
        got = sorted(r["patient"] for r in rows if r["class"] == cls)
        skipped_dups = [s for s in res.skipped if s.rel.startswith(cls + "/") and s.reason.startswith("duplicate")]
        assert len(got) + len(skipped_dups) == len(want)
        assert set(got) <= set(want)
    blobs = b"".join(p.read_bytes() for p in res.out.rglob("*") if p.is_file())
    for cls in names:
        for n in names[cls]:
            stem = Path(n).stem
            assert stem.encode() not in blobs and patient_id(n).encode() not in blobs, n
            assert not any(patient_id(n) in p.as_posix() for p in res.out.rglob("*"))
    assert scan_folder(res.out).findings == []
    again = ingest(src, tmp_path / "again", key_file=key_file, progress=False)
    assert _tree(again.out) == _tree(res.out)
    assert os.listdir(tmp_path) and not list(tmp_path.glob(".*ingest-partial"))
