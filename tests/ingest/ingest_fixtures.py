"""Tiny seeded source folders for the ingest tests (PNG, JPEG, DICOM test files, NIfTI)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

#: Identifying strings planted in the fixture (names, MRNs) that must never reach DIR.
SECRETS = ("1CT1", "CompressedSamples", "4MR1", "person12", "person12_bacteria_45", "IM-0115", "IM-0115-0001",
           "Jane^Roe", "MRN998877", "smith_john_mrn998877", "secret-note-4711")


def _png(path: Path, arr: np.ndarray, text: dict[str, str] | None = None) -> None:
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    for k, v in (text or {}).items():
        info.add_text(k, v)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, pnginfo=info)


def _jpeg(path: Path, arr: np.ndarray, comment: bytes = b"") -> None:
    from PIL import Image

    im = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x010E] = "Jane^Roe MRN998877"  # ImageDescription
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, quality=95, exif=exif.tobytes(), comment=comment)


def _nifti(path: Path, arr: np.ndarray) -> None:
    import nibabel as nib

    aff = np.diag([0.8, 0.8, 2.0, 1.0])
    aff[:3, 3] = [-10.0, 5.0, 3.0]
    img = nib.Nifti1Image(arr, aff)
    img.header["descrip"] = b"Jane^Roe MRN998877"
    img.header["aux_file"] = b"secret-note-4711"
    img.header.extensions.append(nib.nifti1.Nifti1Extension(6, b"patient Jane^Roe MRN998877"))
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, str(path))


def make_source(root: Path, seed: int = 0, *, volume: bool = False) -> Path:
    """SRC/NORMAL + SRC/PNEUMONIA with 9 images of 6 patients (+ 1 duplicate, 1 corrupt, 1 text file).

    Patients: person12 (2 JPEG, one RGB-grey), IM-0115 (PNG 8-bit + PNG 16-bit), 1CT1 (CT DICOM, PatientID),
    4MR1 (MR DICOM) -- only with ``volume`` -- and the NIfTI (own patient, identifying file name).
    """
    from pydicom.data import get_testdata_file

    rng = np.random.default_rng(seed)
    src = root / "src"
    n, p = src / "NORMAL", src / "PNEUMONIA"
    g8 = lambda: rng.integers(0, 256, (40, 48), dtype=np.uint8)
    _jpeg(n / "person12_bacteria_45.jpeg", g8(), comment=b"secret-note-4711")
    grey = g8()
    _jpeg(n / "person12_virus_46.jpeg", np.stack([grey] * 3, axis=-1))
    _png(n / "IM-0115-0001.png", g8(), {"Author": "Jane^Roe", "Comment": "MRN998877"})
    _png(n / "IM-0115-0002.png", rng.integers(0, 65536, (36, 44), dtype=np.uint16))
    p.mkdir(parents=True, exist_ok=True)
    shutil.copy(get_testdata_file("CT_small.dcm"), p / "ct_1CT1.dcm")
    if volume:
        shutil.copy(get_testdata_file("MR_small.dcm"), p / "mr_scan")  # no suffix: found by the DICM preamble
        _nifti(p / "smith_john_mrn998877.nii.gz", rng.integers(0, 1000, (20, 24, 3)).astype(np.int16))
    else:
        _nifti(p / "smith_john_mrn998877.nii.gz", rng.integers(0, 1000, (40, 44)).astype(np.int16))
    _png(p / "IM-0115-0001-copy.png", np.zeros((33, 33), np.uint8))
    shutil.copy(p / "IM-0115-0001-copy.png", p / "IM-0115-0001-dup.png")  # duplicate pixels
    (p / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    (n / "notes.txt").write_text("Jane^Roe MRN998877\n")
    (n / ".DS_Store").write_bytes(b"\0")
    return src
