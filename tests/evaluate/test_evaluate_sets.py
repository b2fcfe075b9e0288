"""Input-set loader of ``radsynth evaluate``: sources, group ids, modality, 2D/size guards, fingerprint, harmonise."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from radsynth.core.errors import RadsynthInputError
from radsynth.evaluate.sets import EvalSet, harmonise, load_eval_set
from radsynth.generators.common.data import read_image, resize_image

S = 16  # evaluation size used in most tests


def _png(path: Path, h: int, w: int, seed: int, bits: int = 8) -> Path:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    if bits == 16:
        Image.fromarray(rng.integers(0, 65536, (h, w)).astype(np.uint16)).save(path)
    else:
        Image.fromarray(rng.integers(0, 256, (h, w)).astype(np.uint8), mode="L").save(path)
    return path


def _class_folder(root: Path, classes=("NORMAL", "PNEUMONIA"), n: int = 2, size=(40, 48), seed: int = 0) -> Path:
    for ci, c in enumerate(classes):
        for i in range(n):
            name = f"person{ci * 10 + i}_bacteria_{i}.png" if c != "NORMAL" else f"IM-{i:04d}-0001.png"
            _png(root / c / name, size[0] + i, size[1], seed + 100 * ci + i, bits=16 if i % 2 else 8)
    return root


def _write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def _radsynth_output(out: Path, classes: list[str | None], seed: int = 0, size: int = 32,
                     modality: str | None = None) -> Path:
    """A folder as `radsynth sample` writes it: images/sample-NNNNN.png + manifest.parquet."""
    from radsynth.io.manifest import manifest_row, write_manifest
    from radsynth.io.png import write_png16

    rng = np.random.default_rng(seed)
    names = sorted({c for c in classes if c})
    rows = []
    for i, cls in enumerate(classes):
        subject = f"sample-{i:05d}"
        path = write_png16(out / "images" / f"{subject}.png", rng.random((size, size)).astype(np.float32), (0.0, 1.0))
        rows.append(manifest_row(out, path, subject=subject, kind="image", format="png", modality=modality,
                                 labels={c.lower(): c == cls for c in names},
                                 attributes={"class": cls, "sampler": "ddim", "steps": 50, "guidance": 2.0}))
    (out / "sampling.json").write_text(json.dumps({"n": len(classes)}))
    write_manifest(out / "manifest.parquet", rows)
    return out


def _dicom(path: Path, modality: str, rows: int = 32, cols: int = 32, frames: int = 1, seed: int = 0) -> Path:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[str(path)])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, cols, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    if frames > 1:
        ds.NumberOfFrames = frames
    px = np.random.default_rng(seed).integers(0, 4096, (frames, rows, cols) if frames > 1 else (rows, cols))
    ds.PixelData = px.astype(np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def _raises(field: str, fn, *args, **kw) -> str:
    with pytest.raises(RadsynthInputError) as ei:
        fn(*args, **kw)
    assert field in str(ei.value)
    return str(ei.value)


# ---------------------------------------------------------------- sources


def test_class_folder_8_and_16_bit(tmp_path: Path) -> None:
    s = load_eval_set(_class_folder(tmp_path / "train"), "real", image_size=S)
    assert isinstance(s, EvalSet) and s.name == "real"
    assert s.images.shape == (4, S, S) and s.images.dtype == np.float32
    assert 0.0 <= s.images.min() and s.images.max() <= 1.0
    for i, path in enumerate(s.paths):  # read_image + resize_image, rows in (class, path) order
        np.testing.assert_array_equal(s.images[i], resize_image(read_image(path), S))
    with Image.open(s.paths[1]) as im:
        assert im.mode.startswith("I")  # a 16-bit file is among them
    assert s.classes == ("NORMAL", "PNEUMONIA") and s.labels.tolist() == [0, 0, 1, 1]
    assert s.counts() == {"NORMAL": 2, "PNEUMONIA": 2}
    # Kermany names encode the patient
    assert s.patients.tolist() == ["IM-0000", "IM-0001", "person10", "person11"]
    assert s.native_min_side == 40 and s.native_shapes == {"min_h": 40, "max_h": 41, "min_w": 48, "max_w": 48}
    assert s.modality is None and s.attributes == {}
    d = s.describe()
    assert json.loads(json.dumps(d)) == d
    assert d["images"] == 4 and d["patients"] == 4 and d["counts"] == {"NORMAL": 2, "PNEUMONIA": 2}


def test_csv_manifest_with_patient_and_attribute(tmp_path: Path) -> None:
    data = _class_folder(tmp_path / "d")
    files = sorted(data.rglob("*.png"))
    rows = [{"path": p.relative_to(tmp_path).as_posix(), "class": p.parent.name.lower(), "patient": f"P{i // 2}",
             "sex": "F" if i % 2 else ""} for i, p in enumerate(files)]
    s = load_eval_set(_write_csv(tmp_path / "m.csv", rows), "real", image_size=S)
    assert s.classes == ("normal", "pneumonia") and s.labels.tolist() == [0, 0, 1, 1]
    assert s.patients.tolist() == ["P0", "P0", "P1", "P1"]
    assert list(s.attributes) == ["sex"] and s.attributes["sex"].tolist() == ["", "F", "", "F"]


def test_manifest_without_class_is_unlabelled(tmp_path: Path) -> None:
    files = sorted(_class_folder(tmp_path / "d").rglob("*.png"))
    m = _write_csv(tmp_path / "u.csv", [{"path": str(p)} for p in files])
    s = load_eval_set(m, "synthetic", image_size=S)
    assert s.labels is None and s.classes == () and s.counts() == {"(unlabelled)": 4}
    assert len(set(s.patients.tolist())) == 4


def test_partial_class_column_is_an_error(tmp_path: Path) -> None:
    files = sorted(_class_folder(tmp_path / "d").rglob("*.png"))
    m = _write_csv(tmp_path / "p.csv", [{"path": str(p), "class": "a" if i else ""} for i, p in enumerate(files)])
    _raises("--test classes", load_eval_set, m, "test", image_size=S)


def test_loose_images_are_unlabelled(tmp_path: Path) -> None:
    for i in range(3):
        _png(tmp_path / "loose" / f"img{i}.png", 32, 32, i)
    s = load_eval_set(tmp_path / "loose", "synthetic", image_size=S)
    assert s.labels is None and len(s) == 3 and s.patients.tolist() == ["img0", "img1", "img2"]


def test_radsynth_output_folder_and_manifest(tmp_path: Path) -> None:
    out = _radsynth_output(tmp_path / "samp", ["NORMAL", "PNEUMONIA", "NORMAL"], modality="DX")
    a = load_eval_set(out, "synthetic", image_size=S)
    b = load_eval_set(out / "manifest.parquet", "synthetic", image_size=S)
    assert a.classes == ("NORMAL", "PNEUMONIA") and a.labels.tolist() == [0, 0, 1]
    assert a.patients.tolist() == ["sample-00000", "sample-00002", "sample-00001"]
    assert a.modality == "DX" and set(a.attributes) == {"sampler", "steps", "guidance"}
    assert a.attributes["steps"].tolist() == ["50"] * 3 and a.attributes["guidance"].tolist() == ["2"] * 3
    assert a.fingerprint == b.fingerprint and np.array_equal(a.images, b.images)


def test_radsynth_output_labels_from_label_columns_or_none(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    out = _radsynth_output(tmp_path / "s", ["A", "B"])
    t = pq.read_table(out / "manifest.parquet")
    pq.write_table(t.drop(["attr_class"]), out / "manifest.parquet")
    s = load_eval_set(out, "synthetic", image_size=S)
    assert s.classes == ("a", "b") and s.labels.tolist() == [0, 1]
    u = load_eval_set(_radsynth_output(tmp_path / "u", [None, None]), "synthetic", image_size=S)
    assert u.labels is None and len(u) == 2


def test_class_folders_of_sample_outputs_have_unique_groups(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    _radsynth_output(root / "NORMAL", ["NORMAL", "NORMAL"], seed=1)
    _radsynth_output(root / "PNEUMONIA", ["PNEUMONIA"], seed=2)
    s = load_eval_set(root, "synthetic", image_size=S)
    assert s.classes == ("NORMAL", "PNEUMONIA") and s.labels.tolist() == [0, 0, 1]
    assert s.patients.tolist() == ["NORMAL/images/sample-00000", "NORMAL/images/sample-00001",
                                   "PNEUMONIA/images/sample-00000"]
    assert len(set(s.patients.tolist())) == 3
    (root / "NORMAL" / "manifest.parquet").unlink()  # plain rglob of the class folder gives the same set
    t = load_eval_set(root, "synthetic", image_size=S)
    assert t.patients.tolist() == s.patients.tolist() and t.fingerprint == s.fingerprint


# ---------------------------------------------------------------- modality, 2D and size guards


def test_dicom_modality_checks(tmp_path: Path) -> None:
    _dicom(tmp_path / "mr" / "a.dcm", "MR", seed=1)
    _dicom(tmp_path / "mr" / "b.dcm", "MR", seed=2)
    s = load_eval_set(tmp_path / "mr", "real", image_size=S)
    assert s.modality == "MR" and s.images.shape == (2, S, S)
    assert load_eval_set(tmp_path / "mr", "real", image_size=S, modality="mr").modality == "MR"
    _raises("--real modality", load_eval_set, tmp_path / "mr", "real", image_size=S, modality="CT")
    _dicom(tmp_path / "mr" / "c.dcm", "CT", seed=3)
    msg = _raises("--real modality", load_eval_set, tmp_path / "mr", "real", image_size=S)
    assert "CT" in msg and "MR" in msg
    # files without a modality take the asserted one
    _png(tmp_path / "png" / "x.png", 32, 32, 0)
    assert load_eval_set(tmp_path / "png", "test", image_size=S, modality="CR").modality == "CR"


def test_volumes_are_refused(tmp_path: Path) -> None:
    import nibabel as nib

    vol = np.random.default_rng(0).random((32, 32, 5)).astype(np.float32)
    (tmp_path / "v").mkdir()
    nib.save(nib.Nifti1Image(vol, np.eye(4)), tmp_path / "v" / "vol.nii.gz")
    msg = _raises("--synthetic", load_eval_set, tmp_path / "v", "synthetic", image_size=S)
    assert "2D images" in msg and "slices" in msg
    _dicom(tmp_path / "mf" / "multi.dcm", "MR", frames=3)
    _raises("--real", load_eval_set, tmp_path / "mf", "real", image_size=S)
    # a single-slice NIfTI is a 2D image
    (tmp_path / "one").mkdir()
    nib.save(nib.Nifti1Image(vol[:, :, :1], np.eye(4)), tmp_path / "one" / "slice.nii.gz")
    assert load_eval_set(tmp_path / "one", "real", image_size=S).images.shape == (1, S, S)


def test_too_small_images_are_refused(tmp_path: Path) -> None:
    _class_folder(tmp_path / "d", size=(40, 48))
    _png(tmp_path / "d" / "NORMAL" / "tiny.png", 20, 36, 9)
    msg = _raises("--real", load_eval_set, tmp_path / "d", "real", image_size=32)
    assert "--image-size <= 20" in msg and "tiny.png" in msg
    assert load_eval_set(tmp_path / "d", "real", image_size=20).native_min_side == 20


def test_empty_missing_and_unreadable(tmp_path: Path) -> None:
    (tmp_path / "empty" / "NORMAL").mkdir(parents=True)
    _raises("--test", load_eval_set, tmp_path / "empty", "test", image_size=S)
    _raises("--real", load_eval_set, tmp_path / "nope", "real", image_size=S)
    _raises("--synthetic", load_eval_set, _png(tmp_path / "x.png", 32, 32, 0), "synthetic", image_size=S)
    bad = tmp_path / "bad" / "A" / "broken.png"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a png")
    _raises("broken.png", load_eval_set, tmp_path / "bad", "real", image_size=S)
    m = _write_csv(tmp_path / "gone.csv", [{"path": "missing.png", "class": "a"}])
    _raises("--real file", load_eval_set, m, "real", image_size=S)


# ---------------------------------------------------------------- fingerprint and subset


def test_fingerprint_stable_and_sensitive(tmp_path: Path) -> None:
    root = _class_folder(tmp_path / "d")
    a = load_eval_set(root, "real", image_size=S)
    b = load_eval_set(root, "real", image_size=24)
    assert a.fingerprint == b.fingerprint and len(a.fingerprint) == 64
    _png(root / "NORMAL" / "IM-0000-0001.png", 40, 48, seed=999)
    assert load_eval_set(root, "real", image_size=S).fingerprint != a.fingerprint


def test_subset(tmp_path: Path) -> None:
    s = load_eval_set(_class_folder(tmp_path / "d"), "real", image_size=S)
    sub = s.subset([2, 0])
    assert sub.labels.tolist() == [1, 0] and sub.paths == (s.paths[2], s.paths[0])
    assert np.array_equal(sub.images[1], s.images[0]) and sub.native_min_side == 40
    assert sub.fingerprint != s.fingerprint and sub.fingerprint == s.subset([0, 2]).fingerprint
    assert s.subset(np.ones(len(s), bool)).fingerprint == s.fingerprint


# ---------------------------------------------------------------- harmonise


def test_harmonise_maps_classes_case_insensitively(tmp_path: Path) -> None:
    real = load_eval_set(_class_folder(tmp_path / "train"), "real", image_size=S)
    test = load_eval_set(_class_folder(tmp_path / "test", classes=("normal", "pneumonia"), seed=5), "test",
                         image_size=S)
    syn = load_eval_set(_radsynth_output(tmp_path / "syn", ["pneumonia", "pneumonia", "normal"]), "synthetic",
                        image_size=S)
    assert syn.classes == ("normal", "pneumonia") and syn.labels.tolist() == [0, 1, 1]
    r2, s2, t2, notes = harmonise(real, syn, test)
    assert r2 is real and s2.classes == t2.classes == ("NORMAL", "PNEUMONIA")
    assert s2.labels.tolist() == [0, 1, 1] and s2.counts() == {"NORMAL": 1, "PNEUMONIA": 2}
    assert t2.labels.tolist() == [0, 0, 1, 1] and s2.fingerprint == syn.fingerprint
    assert any("Modality could not be checked" in n for n in notes)


def test_harmonise_reorders_indices_onto_real_order(tmp_path: Path) -> None:
    real = load_eval_set(_class_folder(tmp_path / "r", classes=("B", "C")), "real", image_size=S)
    syn = load_eval_set(_class_folder(tmp_path / "s", classes=("c",), n=2), "synthetic", image_size=S)
    _, s2, _, notes = harmonise(real, syn, None)
    assert s2.labels.tolist() == [1, 1] and s2.classes == ("B", "C")
    assert any("no images of class B" in n for n in notes)


def test_harmonise_class_mismatches(tmp_path: Path) -> None:
    real = load_eval_set(_class_folder(tmp_path / "r"), "real", image_size=S)
    odd = load_eval_set(_class_folder(tmp_path / "o", classes=("NORMAL", "COVID")), "test", image_size=S)
    msg = _raises("--test classes", harmonise, real, real, odd)
    assert "NORMAL, PNEUMONIA" in msg
    syn_odd = load_eval_set(_class_folder(tmp_path / "s", classes=("COVID",)), "synthetic", image_size=S)
    _raises("--synthetic classes", harmonise, real, syn_odd, None)
    part = load_eval_set(_class_folder(tmp_path / "p", classes=("NORMAL",)), "test", image_size=S)
    _raises("--test classes", harmonise, real, real, part)
    for i in range(2):
        _png(tmp_path / "loose" / f"t{i}.png", 32, 32, i)
    loose = load_eval_set(tmp_path / "loose", "test", image_size=S)
    _, _, t2, notes = harmonise(real, real, loose)
    assert t2 is loose and any("--test has no class labels" in n for n in notes)


def test_harmonise_modality_and_unlabelled_and_aspect(tmp_path: Path) -> None:
    _dicom(tmp_path / "mr" / "A" / "a.dcm", "MR")
    _dicom(tmp_path / "ct" / "A" / "a.dcm", "CT")
    mr = load_eval_set(tmp_path / "mr", "real", image_size=S)
    ct_syn = load_eval_set(tmp_path / "ct", "synthetic", image_size=S)
    ct_test = load_eval_set(tmp_path / "ct", "test", image_size=S)
    msg = _raises("--synthetic modality", harmonise, mr, ct_syn, None)
    assert "the modality of --real (MR)" in msg
    _raises("--test modality", harmonise, mr, mr, ct_test)
    # unlabelled synthetic and a wide aspect ratio -> notes, nothing changed
    for i in range(2):
        _png(tmp_path / "wide" / f"w{i}.png", 32, 80, i)
    wide = load_eval_set(tmp_path / "wide", "synthetic", image_size=S)
    _, s2, _, notes = harmonise(mr, wide, None)
    assert s2 is wide
    assert any("--synthetic has no class labels" in n for n in notes)
    assert any("aspect ratio" in n and "--synthetic" in n for n in notes)
    assert any("--synthetic" in n and "Modality" in n for n in notes)
    # unlabelled real: labels missing note, sets unchanged
    _, s3, _, notes3 = harmonise(wide, mr, None)
    assert s3 is mr and any("--real has no class labels" in n for n in notes3)


def test_progress_bar_only_when_asked(tmp_path: Path, capsys) -> None:
    root = _class_folder(tmp_path / "d")
    load_eval_set(root, "test", image_size=S)
    assert "reading --test images" not in capsys.readouterr().err
    assert len(load_eval_set(root, "test", image_size=S, progress=True)) == 4
    assert "reading --test images" in capsys.readouterr().err


def test_byte_identical_copies_share_one_group(tmp_path: Path) -> None:
    import shutil

    from radsynth.evaluate.sets import merge_duplicate_groups

    root = _class_folder(tmp_path / "real", n=3)  # IM-style names: one patient per file
    files = sorted((root / "NORMAL").iterdir())
    shutil.copy(files[0], root / "NORMAL" / "IM-0999-0001.png")  # an exact copy under another patient's name
    shutil.copy(files[0], root / "PNEUMONIA" / "person77_bacteria_1.png")  # and in the other class
    s = load_eval_set(root, "real", image_size=S)
    by_path = {Path(p).name: g for p, g in zip(s.paths, s.patients)}
    copies = {by_path[files[0].name], by_path["IM-0999-0001.png"], by_path["person77_bacteria_1.png"]}
    assert len(copies) == 1 and s.duplicate_files == 2 and s.describe()["duplicate_files"] == 2
    others = [g for n, g in by_path.items() if n not in (files[0].name, "IM-0999-0001.png", "person77_bacteria_1.png")]
    assert copies.isdisjoint(others) and len(set(others)) == len(others)  # the rest keep their own groups
    # union-find: groups chained by copies merge; the name is the smallest id, whatever the order
    assert merge_duplicate_groups(["b", "a", "c", "d"], ["x", "y", "x", "y"]) == (["b", "a", "b", "a"], 2)
    assert merge_duplicate_groups(["c", "b", "a"], ["x", "x", "z"]) == (["b", "b", "a"], 1)
    assert merge_duplicate_groups(["p", "q", "q", "r"], ["1", "2", "1", "2"])[0] == ["p", "p", "p", "p"]
