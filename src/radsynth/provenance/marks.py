"""Checks that every image file of a folder is marked synthetic, per file type (used by ``radsynth verify``).

What each writer puts in (and what is required here):

* DICOM (``.dcm``, or a file with the ``DICM`` preamble): Conversion Type (0008,0064) ``SYN`` or
  Synthetic Data (0008,001C) ``YES``, and the private block ``RADSYNTH 1.0`` in group 0011 whose
  ``provenance_json`` element (0011,1010) is JSON with ``"synthetic": true``
  (:func:`radsynth.io.dicom_series.add_synthetic_marking`).
* NIfTI (``.nii``, ``.nii.gz``): ``descrip`` starting with ``radsynth SYNTHETIC``, the ecode-6
  header extension with ``"synthetic": true``, and the JSON sidecar with ``"SyntheticData": true``.
* PNG: the ``radsynth:provenance`` text chunk (iTXt, or tEXt in older files) with ``"synthetic": true``.
* JPEG: radsynth writes none; a JPEG must carry a C2PA manifest with a ``radsynth.provenance``
  assertion saying synthetic.
* Any PNG/JPEG holding a C2PA manifest: it must validate (:func:`radsynth.provenance.c2pa_manifest.c2pa_read`;
  an unknown signer is reported only as informational, tampering as a problem).

Each problem is ``{"path", "problem", "detail"}`` with problem ``mark`` (missing/wrong marking or an
unreadable image), ``c2pa`` (invalid manifest) or ``watermark`` (see :func:`check_watermarks`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

IMAGE_KINDS = ("dicom", "nifti", "png", "jpeg")
_DICOM_MAGIC_OFFSET = 128


@dataclass
class MarkedFile:
    """One image file checked: its relative path, type, whether it is a mask/label map/SEG
    (watermarks are not expected there) and the marking found (None when unmarked)."""

    rel: str
    kind: str
    is_mask: bool = False
    marking: dict[str, Any] | None = None


def image_kind(path: Path) -> str | None:
    """``dicom``, ``nifti``, ``png``, ``jpeg`` or None (not an image radsynth checks), from name and magic."""
    low = path.name.lower()
    if low.endswith((".nii", ".nii.gz")):
        return "nifti"
    if low.endswith(".png"):
        return "png"
    if low.endswith((".jpg", ".jpeg")):
        return "jpeg"
    if low.endswith(".dcm"):
        return "dicom"
    if "." not in low:  # DICOM files are often extensionless: look for the preamble
        try:
            with open(path, "rb") as f:
                head = f.read(_DICOM_MAGIC_OFFSET + 4)
        except OSError:
            return None
        if head[_DICOM_MAGIC_OFFSET:] == b"DICM":
            return "dicom"
    return None


def _synthetic(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("synthetic") is True


def _check_dicom(path: Path, item: MarkedFile) -> list[str]:
    import pydicom
    from pydicom.errors import InvalidDicomError

    from radsynth.io.dicom_series import (
        PRIVATE_CREATOR,
        PRIVATE_ELEMENTS,
        PRIVATE_GROUP,
    )

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        modality, conversion, syn_tag = (str(ds.get(k, "")) for k in ("Modality", "ConversionType", "SyntheticData"))
    except (InvalidDicomError, Exception) as exc:  # noqa: BLE001 - pydicom's (lazy) value conversion raises
        # RuntimeError (BytesLengthException), struct.error, ValueError, ... on a corrupt file: all mean "unreadable"
        return [f"not a readable DICOM file ({type(exc).__name__})"]
    bad = []
    item.is_mask = modality == "SEG"
    if conversion != "SYN" and syn_tag != "YES":
        bad.append("neither Conversion Type (0008,0064) SYN nor Synthetic Data (0008,001C) YES")
    try:
        block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)
        raw = block[PRIVATE_ELEMENTS["provenance_json"][0]].value
        doc = json.loads(raw)
    except (KeyError, ValueError, TypeError):
        doc = None
    if not _synthetic(doc):
        bad.append(f"private block {PRIVATE_CREATOR!r} (0011,1010) provenance JSON missing or not synthetic")
    item.marking = doc if _synthetic(doc) else None
    return bad


def _check_nifti(path: Path, item: MarkedFile) -> list[str]:
    from radsynth.io.nifti import DESCRIP_PREFIX, read_nifti_marking

    try:
        info = read_nifti_marking(path)
    except (OSError, ValueError) as exc:
        return [str(exc)]
    bad = []
    item.is_mask = info["intent"] == 1002  # NIFTI_INTENT_LABEL
    if not info["descrip"].startswith(DESCRIP_PREFIX):
        bad.append(f"descrip does not start with {DESCRIP_PREFIX!r} (found {info['descrip'][:40]!r})")
    if not _synthetic(info["marking"]):
        bad.append("header extension (ecode 6) with synthetic provenance missing")
    side = info["sidecar"]
    if side is None:
        bad.append(f"JSON sidecar {info['sidecar_path'].name} missing or unreadable")
    elif side.get("SyntheticData") is not True:
        bad.append(f"JSON sidecar {info['sidecar_path'].name} lacks \"SyntheticData\": true")
    item.marking = info["marking"]
    return bad


def _c2pa_problems(path: Path) -> tuple[list[str], dict[str, Any] | None]:
    from radsynth.provenance.c2pa_manifest import PROVENANCE_LABEL, c2pa_read

    rep = c2pa_read(path)
    if not rep.present:
        return [], None
    bad = []
    if not rep.valid:
        bad.append("C2PA manifest invalid: " + "; ".join(rep.failures[:3]))
    doc = rep.assertions.get(PROVENANCE_LABEL)
    if not _synthetic(doc):
        bad.append(f"C2PA manifest has no {PROVENANCE_LABEL} assertion saying synthetic")
    return bad, doc if _synthetic(doc) else None


def check_file(root: Path, rel: str) -> tuple[MarkedFile | None, list[dict[str, str]]]:
    """Check one file's marks: (the file's info, or None when it is not an image; its problems)."""
    path = root / rel
    kind = image_kind(path)
    if kind is None:
        return None, []
    item = MarkedFile(rel, kind)
    out: list[dict[str, str]] = []

    def add(problem: str, detail: str) -> None:
        out.append({"path": rel, "problem": problem, "detail": detail})

    if kind == "dicom":
        for d in _check_dicom(path, item):
            add("mark", d)
    elif kind == "nifti":
        for d in _check_nifti(path, item):
            add("mark", d)
    elif kind == "png":
        from radsynth.io.png import PROVENANCE_KEY, read_png_marking

        try:
            info = read_png_marking(path)
        except (OSError, ValueError) as exc:
            add("mark", f"not a readable PNG ({exc})")
            return item, out
        item.is_mask = bool(info["label_mask"])
        if not _synthetic(info["marking"]):
            add("mark", f"no {PROVENANCE_KEY} text chunk saying synthetic")
        item.marking = info["marking"]
        if info["c2pa"]:
            for d in _c2pa_problems(path)[0]:
                add("c2pa", d)
    else:  # jpeg
        bad, doc = _c2pa_problems(path)
        if doc is None and not bad:
            add("mark", "JPEG without a C2PA manifest: nothing marks it synthetic")
        for d in bad:
            add("c2pa", d)
        item.marking = doc
    return item, out


def check_marks(root: str | Path, rels: list[str]) -> tuple[list[MarkedFile], list[dict[str, str]]]:
    """Check the marks of every image among ``rels`` (posix paths relative to ``root``), in order."""
    root = Path(root)
    items: list[MarkedFile] = []
    problems: list[dict[str, str]] = []
    for rel in rels:
        item, bad = check_file(root, rel)
        if item is not None:
            items.append(item)
        problems.extend(bad)
    return items, problems


def declared_watermark(marking: dict[str, Any] | None) -> dict[str, Any] | None:
    """The watermark an image's provenance declares (``watermark`` at top level or in ``provenance``), if any."""
    if not isinstance(marking, dict):
        return None
    for doc in (marking, marking.get("provenance")):
        if isinstance(doc, dict) and isinstance(doc.get("watermark"), dict):
            return doc["watermark"]
    return None


def check_watermarks(root: str | Path, items: list[MarkedFile]) -> list[dict[str, str]]:
    """Watermark problems of ``items`` (:mod:`radsynth.provenance.watermark`).

    Masks, label maps and SEG are skipped, and so are images whose provenance declares no
    watermark (older outputs, or generators run without one) and images too small for their mark
    to be found reliably (:func:`radsynth.provenance.watermark.verifiable`). For the others the mark of the declared payload must
    be found at the default threshold: a PNG as one image, a NIfTI volume as its stack of axial
    display slices, a DICOM series (the files of one folder) as one stack of frames, a 2D
    DICOM or NIfTI image in display orientation.
    """
    from radsynth.provenance import watermark as wm

    root = Path(root)
    out: list[dict[str, str]] = []
    series: dict[str, list[MarkedFile]] = {}
    for item in items:
        decl = declared_watermark(item.marking)
        if item.is_mask or decl is None:
            continue
        if item.kind == "dicom":
            series.setdefault(str(Path(item.rel).parent), []).append(item)
            continue
        if item.kind not in ("png", "nifti"):
            continue
        out += _watermark_problem(wm, [item], decl, lambda it=item: _load_for_watermark(root / it.rel, it.kind))
    for group in series.values():
        decl = declared_watermark(group[0].marking)
        out += _watermark_problem(wm, group, decl, lambda g=group: _load_dicom_stack(root, g))
    return out


def _watermark_problem(wm: Any, group: list[MarkedFile], decl: dict[str, Any] | None, load: Any) -> list[dict[str, str]]:
    if decl is None:
        return []
    rel = group[0].rel if len(group) == 1 else str(Path(group[0].rel).parent) + "/"
    try:
        array = load()
        if array is None or not wm.verifiable(array.shape):
            return []
        payload = str(decl.get("payload", "")) or None
        res = wm.detect_volume(array, axis=0, payload=payload) if array.ndim == 3 else wm.detect_watermark(array, payload=payload)
    except Exception as exc:  # noqa: BLE001 - a detector or reader error is reported, never raised
        return [{"path": rel, "problem": "watermark", "detail": f"watermark check failed: {type(exc).__name__}: {exc}"[:200]}]
    if not res.found:
        return [{"path": rel, "problem": "watermark",
                 "detail": f"declared watermark (payload {decl.get('payload')}) not found (p = {res.p_value:.3g}, "
                           f"threshold {res.threshold:g})"}]
    return []


def _load_for_watermark(path: Path, kind: str) -> Any:
    import numpy as np

    if kind == "png":
        from PIL import Image

        with Image.open(path) as im:
            return np.asarray(im)
    from radsynth.io.nifti import read_nifti
    from radsynth.io.png import axial_display_stack, projection_for_display

    array, _, _ = read_nifti(path)
    array = np.squeeze(np.asarray(array))
    if array.ndim == 3:
        return axial_display_stack(array)
    return projection_for_display(array) if array.ndim == 2 else None


def _load_dicom_stack(root: Path, group: list[MarkedFile]) -> Any:
    import numpy as np
    import pydicom

    frames = []
    for item in group:
        ds = pydicom.dcmread(root / item.rel)
        frames.append((int(ds.get("InstanceNumber", 0) or 0), np.asarray(ds.pixel_array, dtype=np.float64)))
    frames.sort(key=lambda f: f[0])
    shapes = {f[1].shape for f in frames}
    if len(shapes) != 1:
        return None
    stack = np.stack([f[1] for f in frames])
    return stack[0] if stack.shape[0] == 1 else stack
