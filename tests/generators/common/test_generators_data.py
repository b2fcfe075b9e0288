"""Class-folder scanning, readers, patient ids and the patient-aware split."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from radsynth.core.errors import RadsynthInputError
from radsynth.generators.common.data import (
    load_images,
    patient_id,
    patient_split,
    read_image,
    resize_image,
    scan_class_folder,
)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("person12_bacteria_45.jpeg", "person12"),
        ("person447_virus_921_1.jpeg", "person447"),
        ("IM-0115-0001.jpeg", "IM-0115"),
        ("IM-0429-0001-0002.jpeg", "IM-0429"),
        ("NORMAL2-IM-1427-0001.jpeg", "IM-1427"),  # merged with IM-1427 on purpose (conservative)
        ("scan_7.dcm", "scan_7"),
        ("volume.nii.gz", "volume"),
    ],
)
def test_patient_id(name: str, expected: str) -> None:
    assert patient_id(name) == expected


CXR_NAMES = [
    "person12_bacteria_45.jpeg", "person12_bacteria_46.jpeg", "person12_virus_47.jpeg",
    "person13_virus_1.jpeg", "person14_bacteria_2.jpeg", "person14_bacteria_3.jpeg",
    "IM-0115-0001.jpeg", "IM-0117-0001.jpeg", "IM-0429-0001-0001.jpeg", "IM-0429-0001-0002.jpeg",
    "NORMAL2-IM-1427-0001.jpeg", "IM-1427-0001.jpeg", "NORMAL2-IM-1430-0001.jpeg",
]


@pytest.mark.parametrize("frac", [0.1, 0.3, 0.5, 0.9])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_patient_split_keeps_patients_whole(frac: float, seed: int) -> None:
    pats = [patient_id(n) for n in CXR_NAMES]
    train, val = patient_split(pats, frac, seed)
    assert sorted(train + val) == list(range(len(pats)))
    assert val and train
    assert not {pats[i] for i in train} & {pats[i] for i in val}
    # the three person12 images and both IM-1427 images go together
    for group in ([0, 1, 2], [10, 11], [8, 9]):
        assert len({i in val for i in group}) == 1
    # deterministic and independent of the file order
    assert patient_split(pats, frac, seed) == (train, val)
    rev = pats[::-1]
    t2, v2 = patient_split(rev, frac, seed)
    assert {rev[i] for i in v2} == {pats[i] for i in val}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 30), min_size=1, max_size=80),
    st.floats(0.0, 0.95),
    st.integers(0, 10),
)
def test_patient_split_property(ids: list[int], frac: float, seed: int) -> None:
    pats = [f"person{i}" for i in ids]
    train, val = patient_split(pats, frac, seed)
    assert sorted(train + val) == list(range(len(pats)))
    assert not {pats[i] for i in train} & {pats[i] for i in val}
    assert train  # never everything in validation
    if frac > 0 and len(set(pats)) >= 2:
        assert val


def test_scan_class_folder(class_folder: Path) -> None:
    ds = scan_class_folder(class_folder, require_classes=2)
    assert ds.classes == ("BRIGHT", "DARK")
    assert ds.counts() == {"BRIGHT": 8, "DARK": 8}
    assert {it.patient for it in ds.items if it.label == "BRIGHT"} == {f"person{i}" for i in range(4)}


def test_scan_errors(tmp_path: Path, class_folder: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "NORMAL").mkdir()
    with pytest.raises(RadsynthInputError, match="no images"):
        scan_class_folder(tmp_path / "empty")
    with pytest.raises(RadsynthInputError, match="existing folder"):
        scan_class_folder(tmp_path / "missing")
    one = tmp_path / "one"
    (one / "NORMAL").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(one / "NORMAL" / "IM-0001-0001.png")
    assert scan_class_folder(one).classes == ("NORMAL",)
    with pytest.raises(RadsynthInputError, match="at least 2 class"):
        scan_class_folder(one, require_classes=2)


def test_readers(tmp_path: Path) -> None:
    a16 = np.array([[0, 65535], [32768, 1000]], np.uint16)
    Image.frombytes("I;16", (2, 2), a16.astype("<u2").tobytes()).save(tmp_path / "a.png")
    np.testing.assert_allclose(read_image(tmp_path / "a.png"), a16 / 65535.0, rtol=1e-6)
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., :] = 255
    Image.fromarray(rgb).save(tmp_path / "b.jpg", quality=100)
    assert read_image(tmp_path / "b.jpg").min() > 0.98
    vol = np.arange(4 * 5 * 3, dtype=np.float32).reshape(4, 5, 3)
    nib.save(nib.Nifti1Image(vol, np.eye(4)), str(tmp_path / "v.nii.gz"))
    sl = read_image(tmp_path / "v.nii.gz")
    assert sl.shape == (4, 5)
    np.testing.assert_allclose(sl, (vol[:, :, 1] - vol[:, :, 1].min()) / np.ptp(vol[:, :, 1]))
    (tmp_path / "bad.png").write_bytes(b"not a png at all")
    with pytest.raises(RadsynthInputError, match="bad.png") as ei:
        read_image(tmp_path / "bad.png")
    assert "\n" not in str(ei.value)


def test_read_dicom() -> None:
    from pydicom.data import get_testdata_file

    path = get_testdata_file("CT_small.dcm")
    img = read_image(path)
    assert img.shape == (128, 128) and img.dtype == np.float32
    assert img.min() == 0.0 and img.max() == 1.0


def test_resize_and_load(class_folder: Path) -> None:
    img = np.linspace(0, 1, 20 * 30, dtype=np.float32).reshape(20, 30)
    assert resize_image(img, 16).shape == (16, 16)
    ds = scan_class_folder(class_folder)
    x = load_images(ds.items, 16)
    assert x.shape == (16, 1, 16, 16) and x.dtype == np.float32
    bright = x[[i for i, it in enumerate(ds.items) if it.label == "BRIGHT"]]
    dark = x[[i for i, it in enumerate(ds.items) if it.label == "DARK"]]
    # grey 200..239 -> [0.57, 0.87] in [-1, 1]; 0..39 -> [-1, -0.69]
    assert bright.min() > 0.5 and dark.max() < -0.6


def test_real_cxr_names_and_reader(shared_data: Path) -> None:
    train = shared_data / "cxr-pneumonia" / "train"
    if not train.is_dir():
        pytest.skip("cxr-pneumonia not present")
    ds = scan_class_folder(train, require_classes=2)
    assert ds.classes == ("NORMAL", "PNEUMONIA")
    # every real file name matches a known pattern (no per-file fallback ids)
    assert all(it.patient.startswith(("person", "IM-")) for it in ds.items)
    pats = [it.patient for it in ds.items]
    tr, va = patient_split(pats, 0.05, 0)
    assert not {pats[i] for i in tr} & {pats[i] for i in va}
    img = read_image(ds.items[0].path)
    assert img.shape == (224, 224) and 0.0 <= img.min() < img.max() <= 1.0
