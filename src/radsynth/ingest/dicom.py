"""DICOM -> a de-identified DICOM file via :mod:`radsynth.privacy.deidentify` (pixel data byte-identical).

The patient id is the file's PatientID (0010,0020); a file without one gets the fallback id (labels CSV /
file name) written into PatientID *before* de-identification, so the de-identifier replaces it by the same
pseudonym as the manifest's. The pixel hash is the sha256 of the raw (possibly compressed) Pixel Data
element plus rows/columns/frames: duplicates are found without decoding, and the de-identifier is checked
not to have changed it. A file without pixel data (DICOMDIR, SR, presentation state) is "not an image".
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from typing import Any

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


class NotAnImageError(ValueError):
    """A readable file that holds no image (reported as 'not an image')."""


class DeidFailedError(RuntimeError):
    """The de-identifier refused or failed on this file: it is skipped, never written as is."""


@dataclass(frozen=True)
class DicomResult:
    data: bytes
    patient: str  # pseudonym
    modality: str
    rows: int
    columns: int
    frames: int
    bits: int
    changed: int
    pixel_sha256: str


def report_changes(report: Any) -> int:
    """Number of attributes a DeidReport says were changed (removed, replaced, emptied, UIDs, dates, private)."""
    n = 0
    for name in ("removed", "replaced", "emptied", "dates_shifted"):
        n += len(getattr(report, name, ()) or ())
    for name in ("uids_remapped", "private_removed"):
        n += int(getattr(report, name, 0) or 0)
    return n


def decode_all(ds: Any) -> None:
    """Convert every element of ``ds`` (file meta and nested sequences too) from its raw bytes now.

    pydicom reads lazily and raises on first access (``NotImplementedError`` for an unknown VR, ValueError or
    struct errors for bad lengths and values). Decoding everything up front makes such a file "unreadable"
    here, with one line, instead of failing part-way through the de-identifier (whose own NotImplementedError
    stays fatal).
    """
    try:
        meta = getattr(ds, "file_meta", None)
        for part in (meta, ds):
            if part is not None:
                for _ in part.iterall():
                    pass
    except Exception as exc:  # noqa: BLE001 - pydicom's decoders raise many types for bad bytes
        msg = str(exc).splitlines()[0][:160] if str(exc).strip() else ""
        raise ValueError(f"undecodable DICOM element ({type(exc).__name__}: {msg})") from None


def convert_dicom(path: str | os.PathLike[str], deidentifier: Any, fallback_patient: str) -> DicomResult:
    """De-identify one DICOM file in memory; returns the bytes to write and its manifest fields."""
    from radsynth.privacy.deidentify import read_dicom

    ds = read_dicom(os.fspath(path))  # also DICOM without preamble / file meta
    if ds is None:
        raise ValueError("not a readable DICOM file")
    decode_all(ds)
    kw = next((k for k in _PIXEL_KEYWORDS if k in ds), None)
    if kw is None:
        raise NotAnImageError("DICOM file without pixel data")
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if rows < 1 or cols < 1:
        raise ValueError(f"DICOM image with Rows={rows}, Columns={cols}")
    raw = bytes(ds[kw].value)
    pixel_sha = hashlib.sha256(f"dicom{rows}x{cols}x{frames}".encode() + raw).hexdigest()
    real = str(ds.get("PatientID", "") or "").strip() or fallback_patient
    ds.PatientID = real
    modality = str(ds.get("Modality", "") or "").strip().upper()
    bits = int(ds.get("BitsAllocated", 0) or 0)
    try:
        report = deidentifier.deidentify(ds)
    except (NotImplementedError, ImportError):
        raise  # the de-identifier itself is unusable: fatal, not a per-file problem
    except Exception as exc:  # noqa: BLE001 - a file the de-identifier cannot handle is skipped
        raise DeidFailedError(f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}") from None
    pseudonym = deidentifier.pseudonym(real)
    if str(ds.get("PatientID", "")) != pseudonym:  # keep file and manifest in agreement
        ds.PatientID = pseudonym
    if kw not in ds or bytes(ds[kw].value) != raw:
        raise RuntimeError("de-identification changed the pixel data")
    try:
        buf = io.BytesIO()
        try:
            ds.save_as(buf, enforce_file_format=True)
        except Exception:  # noqa: BLE001 - a dataset without full file meta: write it as read
            buf = io.BytesIO()
            ds.save_as(buf)
    except Exception as exc:  # noqa: BLE001 - values pydicom read but cannot encode: skipped, never half-written
        msg = str(exc).splitlines()[0][:160] if str(exc).strip() else ""
        raise ValueError(f"de-identified DICOM cannot be encoded ({type(exc).__name__}: {msg})") from None
    return DicomResult(data=buf.getvalue(), patient=pseudonym, modality=modality, rows=rows, columns=cols,
                       frames=frames, bits=bits, changed=report_changes(report), pixel_sha256=pixel_sha)
