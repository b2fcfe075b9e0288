"""radsynth ingest: layout, pseudonyms, de-identification, loaders, signature, determinism, resume."""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from ingest_fixtures import SECRETS, make_source

from radsynth.ingest import ingest

KEY_HEX = "00112233445566778899aabbccddeeff0123456789abcdef0123456789abcdef"


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _deid():
    from radsynth.privacy.deidentify import DeidConfig, Deidentifier

    return Deidentifier(DeidConfig(key=bytes.fromhex(KEY_HEX)))


def _manifest(out: Path) -> list[dict]:
    return pq.read_table(out / "manifest.parquet").to_pylist()


def test_layout_manifest_and_pseudonyms(built):
    out, d = built["out"], _deid()
    rows = _manifest(out)
    assert [r["path"] for r in rows] == sorted(r["path"] for r in rows)
    assert list(rows[0])[:11] == ["path", "class", "patient", "modality", "rows", "columns", "slices", "bits",
                                  "source_format", "sha256", "deid_changes"]
    by_fmt = {}
    for r in rows:
        by_fmt.setdefault(r["source_format"], []).append(r)
        assert (out / r["path"]).is_file()
        assert hashlib.sha256((out / r["path"]).read_bytes()).hexdigest() == r["sha256"]
        assert r["path"] == f"{r['class']}/{r['patient']}_{r['path'].rsplit('_', 1)[1]}"
    assert {k: len(v) for k, v in by_fmt.items()} == {"jpeg": 2, "png": 3, "dicom": 1, "nifti": 1}
    assert built["res"].counts == {"NORMAL": 4, "PNEUMONIA": 3}
    # patients: DICOM PatientID, else file-name patterns, else the file's stem; all pseudonymised with the key
    assert {r["patient"] for r in by_fmt["jpeg"]} == {d.pseudonym("person12")}
    assert {r["patient"] for r in by_fmt["png"]} == {d.pseudonym("IM-0115")}
    assert by_fmt["dicom"][0]["patient"] == d.pseudonym("1CT1")
    assert by_fmt["dicom"][0]["modality"] == "CT" and by_fmt["dicom"][0]["bits"] == 16
    assert by_fmt["nifti"][0]["patient"] == d.pseudonym("smith_john_mrn998877")
    assert by_fmt["nifti"][0]["modality"] == "unknown" and by_fmt["nifti"][0]["slices"] is None
    assert sorted(r["bits"] for r in by_fmt["png"]) == [8, 8, 16]
    assert all(r["deid_changes"] >= 1 for r in by_fmt["jpeg"][:1] + by_fmt["nifti"] + by_fmt["dicom"])
    rep = __import__("json").loads((out / "ingest_report.json").read_text())
    assert rep["skipped_by_reason"] == {"duplicate by pixel hash": 1, "not an image (unknown format)": 1,
                                        "unreadable (UnidentifiedImageError)": 1}
    assert rep["classes"] == {"NORMAL": 4, "PNEUMONIA": 3} and rep["patients"] == 4
    assert rep["modalities"] == {"CT": 1, "unknown": 6}
    dup = next(s for s in rep["skipped"] if s["reason"] == "duplicate by pixel hash")
    assert dup["duplicate_of"].startswith("PNEUMONIA/") and (out / dup["duplicate_of"]).is_file()


def test_no_identifier_anywhere_in_output(built):
    out, src = built["out"], built["src"]
    names = {p.name for p in src.rglob("*") if p.is_file()}
    needles = set(SECRETS) | names | {Path(n).stem for n in names if len(Path(n).stem) >= 6}
    needles.discard(".DS_Store")
    for p in out.rglob("*"):
        if not p.is_file():
            continue
        data = p.read_bytes()
        if p.name.endswith(".gz"):
            data += gzip.decompress(data)
        for s in needles:
            assert s.encode() not in data, f"{s!r} found in {p.relative_to(out)}"
            assert s not in p.relative_to(out).as_posix()
    assert not list(out.parent.glob(".out.ingest-partial*"))


def test_pixels_and_clean_headers(built):
    import nibabel as nib
    import pydicom
    from PIL import Image

    out, src = built["out"], built["src"]
    rows = {(r["source_format"], r["bits"], r["rows"]): r for r in _manifest(out)}
    with Image.open(src / "NORMAL/IM-0115-0002.png") as a, Image.open(out / rows[("png", 16, 36)]["path"]) as b:
        assert b.mode == "I;16" and b.info == {} and np.array_equal(np.asarray(a), np.asarray(b))
    with Image.open(src / "NORMAL/IM-0115-0001.png") as a, Image.open(out / rows[("png", 8, 40)]["path"]) as b:
        assert a.info and b.info == {} and np.array_equal(np.asarray(a), np.asarray(b))
    for r in (r for r in _manifest(out) if r["source_format"] == "jpeg"):
        with Image.open(out / r["path"]) as b:
            assert b.mode == "L" and b.info == {}  # the RGB JPEG with equal channels is stored as grey
    with Image.open(src / "NORMAL/person12_virus_46.jpeg") as a:
        assert a.mode == "RGB"
        decoded = np.asarray(a)[..., 0]
    grey = [r for r in _manifest(out) if r["source_format"] == "jpeg"]
    assert any(np.array_equal(np.asarray(Image.open(out / r["path"])), decoded) for r in grey)
    nii = next(r for r in _manifest(out) if r["source_format"] == "nifti")
    a, b = nib.load(str(src / "PNEUMONIA/smith_john_mrn998877.nii.gz")), nib.load(str(out / nii["path"]))
    assert np.array_equal(np.asarray(a.dataobj), np.asarray(b.dataobj)) and np.allclose(a.affine, b.affine)
    assert b.header["descrip"].tobytes().strip(b"\0") == b"" and len(b.header.extensions) == 0
    assert nii["deid_changes"] == 3  # descrip, aux_file, one extension
    dcm = next(r for r in _manifest(out) if r["source_format"] == "dicom")
    s, o = pydicom.dcmread(src / "PNEUMONIA/ct_1CT1.dcm"), pydicom.dcmread(out / dcm["path"])
    assert o.PixelData == s.PixelData and o.PatientID == dcm["patient"] != s.PatientID
    assert str(o.get("PatientName", "")) != str(s.PatientName) and dcm["deid_changes"] >= 2


def test_loaders_read_the_output_with_patient_groups(built):
    from radsynth.evaluate.sets import load_eval_set
    from radsynth.generators.common.data import patient_split, scan_data

    out = built["out"]
    rows = {r["path"]: r["patient"] for r in _manifest(out)}
    for source in (out, out / "manifest.parquet"):
        es = load_eval_set(source, "real", image_size=32)
        assert es.counts() == {"NORMAL": 4, "PNEUMONIA": 3}
        assert sorted(es.patients.tolist()) == sorted(rows.values())
        assert len(set(es.patients.tolist())) == 4 and es.modality == "CT"
        assert es.attributes == {}  # file-description columns are not attributes
        cf = scan_data(source, require_classes=2)
        assert cf.counts() == {"NORMAL": 4, "PNEUMONIA": 3}
        got = {it.path.relative_to(out).as_posix(): it.patient for it in cf.items}
        assert got == rows  # from the manifest, not guessed from the pseudonymous file names
        train, val = patient_split([it.patient for it in cf.items], 0.3, seed=1)
        assert train and val and not {cf.items[i].patient for i in train} & {cf.items[i].patient for i in val}


def test_signed_audited_deterministic_and_resume_noop(built, tmp_path):
    from radsynth.provenance.audit import AuditLog
    from radsynth.provenance.signing import verify_dataset

    out, src, key = built["out"], built["src"], built["key"]
    assert list(verify_dataset(out)) == []
    rep = __import__("json").loads((out / "ingest_report.json").read_text())
    srcs = sorted(hashlib.sha256(p.read_bytes()).hexdigest() for p in src.rglob("*")
                  if p.is_file() and not p.name.startswith(".") and p.suffix != ".txt")
    assert rep["input_fingerprint"] == hashlib.sha256("".join(h + "\n" for h in srcs).encode()).hexdigest()
    with AuditLog() as log:
        recs = [r for r in log.records() if r["action"] == "ingest" and r["config_hash"] == rep["run_id"]]
    assert recs and recs[-1]["inputs"]["input_fingerprint"] == rep["input_fingerprint"]
    assert recs[-1]["outputs"][str(out / "SHA256SUMS")] == hashlib.sha256((out / "SHA256SUMS").read_bytes()).hexdigest()
    before = _tree(out)
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    res = ingest(src, out, key_file=key, resume=True, progress=False)
    assert res.up_to_date and res.n_written == 0
    assert _tree(out) == before and {p: p.stat().st_mtime_ns for p in out.rglob("*")} == mtimes
    again = ingest(src, tmp_path / "again", key_file=key, workers=2, progress=False)
    assert _tree(again.out) == before  # same SRC + key -> byte-identical DIR (also with worker processes)


def test_other_key_other_pseudonyms_and_resume_refused(built, tmp_path):
    from radsynth.core.errors import RadsynthInputError

    k2 = tmp_path / "k2.key"
    k2.write_bytes(os.urandom(32))
    res = ingest(built["src"], tmp_path / "o2", key_file=k2, progress=False)
    a = {r["patient"] for r in _manifest(built["out"])}
    b = {r["patient"] for r in _manifest(res.out)}
    assert len(a) == len(b) == 4 and not a & b
    with pytest.raises(RadsynthInputError, match="--out"):
        ingest(built["src"], built["out"], key_file=k2, resume=True, progress=False)


def test_interrupted_build_resumes(tmp_path, key_file, monkeypatch):
    from radsynth.provenance import signing

    src = make_source(tmp_path)
    real_sign = signing.sign_dataset

    def boom(folder, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(signing, "sign_dataset", boom)
    with pytest.raises(KeyboardInterrupt):
        ingest(src, tmp_path / "out", key_file=key_file, progress=False)
    assert not (tmp_path / "out").exists() and (tmp_path / ".out.ingest-partial").is_dir()
    monkeypatch.setattr(signing, "sign_dataset", real_sign)
    res = ingest(src, tmp_path / "out", key_file=key_file, resume=True, progress=False)
    fresh = ingest(src, tmp_path / "fresh", key_file=key_file, progress=False)
    assert res.n_written == 7 and _tree(res.out) == _tree(fresh.out)
    assert not (tmp_path / ".out.ingest-partial").exists()


def test_labels_csv_volume_and_sniffed_dicom(tmp_path, key_file):
    src = make_source(tmp_path, volume=True)
    lab = tmp_path / "labels.csv"
    lab.write_text("path,class,patient,sex,modality\n"
                   "NORMAL/person12_bacteria_45.jpeg,a,pat-7,F,DX\n"
                   "NORMAL/IM-0115-0001.png,b,pat-7,F,\n"
                   "PNEUMONIA/mr_scan,b,,M,\n"
                   "PNEUMONIA/smith_john_mrn998877.nii.gz,a,pat-9,,\n")
    res = ingest(src, tmp_path / "out", labels=lab, key_file=key_file, progress=False)
    rows = {r["source_format"]: r for r in _manifest(res.out)}
    d = _deid()
    assert res.counts == {"a": 2, "b": 2}
    assert rows["jpeg"]["patient"] == rows["png"]["patient"] == d.pseudonym("pat-7")
    assert rows["jpeg"]["modality"] == "DX" and rows["jpeg"]["sex"] == "F"
    assert rows["dicom"]["patient"] == d.pseudonym("4MR1") and rows["dicom"]["modality"] == "MR"
    assert rows["dicom"]["path"].endswith(".dcm")
    assert rows["nifti"]["modality"] == "volume" and rows["nifti"]["slices"] == 3
    assert (rows["nifti"]["rows"], rows["nifti"]["columns"]) == (20, 24)
    rep = __import__("json").loads((res.out / "ingest_report.json").read_text())
    assert rep["skipped_by_reason"]["not listed in --labels"] == 7
    from radsynth.generators.common.data import load_images, scan_data

    cf = scan_data(res.out / "manifest.parquet")
    assert [a for a, _ in cf.items[0].attributes] == ["modality", "sex"]
    assert load_images(cf.items, 16).shape == (4, 1, 16, 16)


BAD = {
    "src_missing": lambda t, s: {"src": t / "nope"},
    "src_file": lambda t, s: {"src": s / "NORMAL" / "notes.txt"},
    "src_no_images": lambda t, s: {"src": (t / "empty").mkdir() or t / "empty"},
    "out_inside_src": lambda t, s: {"out": s / "NORMAL" / "out"},
    "out_not_empty": lambda t, s: {"out": ((t / "full").mkdir(), (t / "full" / "x").write_text("x"))
                                       and t / "full"},
    "labels_missing_column": lambda t, s: {"labels": (t / "l.csv").write_text("path,label\n") and t / "l.csv"},
    "labels_unknown_file": lambda t, s: {"labels": (t / "l.csv").write_text("path,class\nNORMAL/x.png,a\n")
                                             and t / "l.csv"},
    "key_missing": lambda t, s: {"key_file": t / "nokey"},
    "key_short": lambda t, s: {"key_file": (t / "k").write_bytes(b"short") and t / "k"},
    "workers": lambda t, s: {"workers": 0},
}
FIELD = {"src_missing": "SRC", "src_file": "SRC", "src_no_images": "SRC", "out_inside_src": "--out",
         "out_not_empty": "--out", "labels_missing_column": "--labels columns",
         "labels_unknown_file": "--labels row 1 path", "key_missing": "--key-file", "key_short": "--key-file",
         "workers": "--workers"}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_one_line_nothing_written(tmp_path, case):
    from radsynth.core.errors import RadsynthInputError

    src = make_source(tmp_path) if case != "src_no_images" else tmp_path / "unused"
    kf = tmp_path / "good.key"
    kf.write_text(KEY_HEX)
    kw = {"src": src, "out": tmp_path / "out", "key_file": kf, "progress": False}
    kw.update(BAD[case](tmp_path, src if src.exists() else tmp_path))
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(RadsynthInputError) as ei:
        ingest(kw.pop("src"), kw.pop("out"), **kw)
    assert str(ei.value).startswith(FIELD[case] + ":") and "\n" not in str(ei.value)
    assert "accepted:" in str(ei.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no DIR, no partial folder
