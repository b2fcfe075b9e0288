"""Where the images of an ``radsynth evaluate`` input set are: entries (file, class, group id, attributes,
modality, sequence) from a folder or manifest, before any pixel is read (the forms (a)-(f) are listed in
:mod:`radsynth.evaluate.sets`).

``--sequence`` (:func:`select_sequence`) keeps the entries of one sequence: the manifest's ``sequence``
column (radsynth cohort manifests have one; a plain CSV/Parquet manifest may), else the BIDS-style
suffix of the file name (``sub-01_T1w.nii.gz`` -> ``T1w``), compared ignoring case. Folder scans skip
NIfTI label maps (header intent code 1002, e.g. a cohort's ``masks/``): they are never images. A folder
whose sub-folders are all BIDS subjects (``sub-<label>/``) is one unlabelled set, not one class per subject.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radsynth.core.errors import RadsynthInputError
from radsynth.evaluate.slicing import file_sequence, is_label_map
from radsynth.generators.common.data import INGEST_FILE_COLUMNS, MANIFEST_SUFFIXES, _is_image, is_ingest_manifest

_BIDS_DIR = re.compile(r"^sub-[A-Za-z0-9]+$")
#: Radsynth manifest formats that can hold a 2D image (NIfTI/DICOM are checked per file).
FORMATS_2D = ("png", "dicom", "nifti")
ACCEPTED = "a class folder, a radsynth output folder or a CSV/Parquet manifest with at least one 2D image"


@dataclass
class Entry:
    path: Path
    label: str | None
    patient: str | None  # explicit group id (patient column or radsynth subject)
    attrs: dict[str, str]
    modality: str | None  # from a manifest column
    sequence: str | None = None  # from a manifest column (else the file name, see select_sequence)


# ---------------------------------------------------------------- small helpers


def _text(v: Any) -> str:
    """Manifest cell as text; "" for missing/NaN; integral floats without ".0"."""
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        if v.is_integer():
            return str(int(v))
    return str(v).strip()


def norm_modality(v: Any) -> str | None:
    t = _text(v).upper()
    return t or None


def _truthy(v: Any) -> bool:
    return v is True or (isinstance(v, str) and v.strip().lower() in ("true", "1", "yes"))


def rel_path(path: Path, base: Path) -> str:
    p = Path(os.path.abspath(path))
    try:
        return p.relative_to(os.path.abspath(base)).as_posix()
    except ValueError:
        return p.as_posix()


def _resolve(base: Path, rel: Any) -> Path:
    p = Path(str(rel))
    return p if p.is_absolute() else base / p


# ---------------------------------------------------------------- tables and sources


def _read_table(path: Path, fld: str) -> tuple[list[str], list[dict[str, Any]]]:
    """Column names and rows of a CSV or Parquet file."""
    try:
        if path.suffix.lower() == ".csv":
            with open(path, newline="") as fh:
                reader = csv.DictReader(fh)
                rows = list(reader)
                cols = list(reader.fieldnames or [])
        else:
            import pyarrow.parquet as pq

            table = pq.read_table(path)
            cols, rows = list(table.schema.names), table.to_pylist()
    except Exception as exc:  # noqa: BLE001 - any parse failure is one user error
        msg = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise RadsynthInputError(fld, str(path), "a readable CSV/Parquet manifest", f"Reader said: {msg}.") from None
    return cols, rows


def _is_radsynth(cols: list[str]) -> bool:
    return "kind" in cols and "format" in cols


def _folder_table(folder: Path, fld: str, accept: Callable[[list[str]], bool]
                  ) -> tuple[list[str], list[dict[str, Any]]] | None:
    """(columns, rows) of ``folder/manifest.parquet`` when its columns pass ``accept`` (a radsynth output
    manifest: :func:`_is_radsynth`; a ``radsynth ingest`` manifest: ``is_ingest_manifest``), else None."""
    m = folder / "manifest.parquet"
    if not m.is_file():
        return None
    cols, rows = _read_table(m, fld)
    return (cols, rows) if accept(cols) else None


def _radsynth_entries(
    cols: list[str], rows: list[dict[str, Any]], base: Path, class_name: str | None = None
) -> list[Entry]:
    """Image rows of a radsynth manifest (c); ``class_name`` set when the folder is a class sub-folder (e)."""
    img = [r for r in rows if _text(r.get("kind")) == "image" and _text(r.get("format")).lower() in FORMATS_2D]
    label_cols = sorted(c for c in cols if c.startswith("label_"))
    attr_cols = sorted(c for c in cols if c.startswith("attr_") and c != "attr_class")
    if class_name is not None:
        labels: list[str | None] = [class_name] * len(img)
    elif "attr_class" in cols and any(_text(r.get("attr_class")) for r in img):
        labels = [_text(r.get("attr_class")) or None for r in img]
    elif label_cols and img and all(sum(_truthy(r.get(c)) for c in label_cols) == 1 for r in img):
        labels = [next(c[len("label_"):] for c in label_cols if _truthy(r.get(c))) for r in img]
    else:
        labels = [None] * len(img)
    return [
        Entry(
            path=_resolve(base, r.get("path")),
            label=lab,
            patient=(_text(r.get("subject")) or None) if class_name is None else None,
            attrs={c[len("attr_"):]: _text(r.get(c)) for c in attr_cols},
            modality=norm_modality(r.get("modality")),
            sequence=_text(r.get("sequence")) or None,
        )
        for r, lab in zip(img, labels)
    ]


def _manifest_entries(cols: list[str], rows: list[dict[str, Any]], base: Path, fld: str) -> list[Entry]:
    """Rows of a plain CSV/Parquet manifest (b)."""
    if "path" not in cols:
        raise RadsynthInputError(f"{fld} columns", sorted(cols), "a path column (optional: class or label, patient, "
                                 "attribute columns)")
    cls_col = "class" if "class" in cols else ("label" if "label" in cols else None)
    attr_cols = sorted(set(cols) - {"path", "patient"} - ({cls_col} if cls_col else set()))
    out = []
    for i, row in enumerate(rows):
        rel = _text(row.get("path"))
        if not rel:
            raise RadsynthInputError(f"{fld} row {i + 1} path", row.get("path"), "a non-empty path to an image file")
        out.append(Entry(
            path=_resolve(base, rel),
            label=(_text(row.get(cls_col)) or None) if cls_col else None,
            patient=_text(row.get("patient")) or None,
            attrs={c: _text(row.get(c)) for c in attr_cols},
            modality=None,
            sequence=_text(row.get("sequence")) or None,
        ))
    return out


def _ingest_entries(cols: list[str], rows: list[dict[str, Any]], base: Path) -> list[Entry]:
    """Rows of a ``radsynth ingest`` manifest (f): class, pseudonymous patient, modality ('unknown' = none);
    the file-description columns (rows, bits, sha256, ...) are not attributes."""
    attr_cols = sorted(set(cols) - {"path", "class", "patient", "modality"} - set(INGEST_FILE_COLUMNS))
    out = []
    for r in rows:
        mod = norm_modality(r.get("modality"))
        out.append(Entry(path=_resolve(base, _text(r.get("path"))), label=_text(r.get("class")) or None,
                          patient=_text(r.get("patient")) or None, attrs={c: _text(r.get(c)) for c in attr_cols},
                          modality=None if mod in ("UNKNOWN", "VOLUME") else mod))
    return out


def _image_file(p: Path) -> bool:
    return _is_image(p) and not is_label_map(p)


def _visible(p: Path, root: Path) -> bool:
    return not any(part.startswith(".") for part in p.relative_to(root).parts)


def _folder_entries(root: Path, fld: str) -> list[Entry]:
    """Class sub-folders (a, e), else loose images (d); NIfTI label maps are skipped. A BIDS-style folder
    (every sub-folder named ``sub-<label>``) is an unlabelled set of all its images: subjects are not classes."""
    out: list[Entry] = []
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if subdirs and all(_BIDS_DIR.match(d.name) for d in subdirs):
        return [Entry(path=p, label=None, patient=None, attrs={}, modality=None)
                for d in subdirs for p in sorted(d.rglob("*")) if _image_file(p) and _visible(p, d)]
    for d in subdirs:
        table = _folder_table(d, fld, _is_radsynth)
        if table is not None:
            out += _radsynth_entries(*table, d, class_name=d.name)
            continue
        for p in d.rglob("*"):
            if _image_file(p) and _visible(p, d):
                out.append(Entry(path=p, label=d.name, patient=None, attrs={}, modality=None))
    if not out:
        out = [Entry(path=p, label=None, patient=None, attrs={}, modality=None)
               for p in root.iterdir() if _image_file(p)]
    return out


def collect(src: Path, fld: str) -> tuple[Path, list[Entry]]:
    """(base folder for relative paths, entries) of a source."""
    if not src.exists():
        raise RadsynthInputError(fld, str(src), "an existing class folder, radsynth output folder or CSV/Parquet "
                                 "manifest", "Check the path.")
    if src.is_file():
        if not src.name.lower().endswith(MANIFEST_SUFFIXES):
            raise RadsynthInputError(fld, str(src), ACCEPTED, "Pass the folder holding the images or a manifest.")
        cols, rows = _read_table(src, fld)
        base = src.parent
        if is_ingest_manifest(cols):
            return base, _ingest_entries(cols, rows, base)
        return base, (_radsynth_entries(cols, rows, base) if _is_radsynth(cols) else
                      _manifest_entries(cols, rows, base, fld))
    ingested = _folder_table(src, fld, is_ingest_manifest)
    if ingested is not None:
        return src, _ingest_entries(*ingested, src)
    table = _folder_table(src, fld, _is_radsynth)
    if table is not None:
        return src, _radsynth_entries(*table, src)
    return src, _folder_entries(src, fld)


def entry_sequence(e: Entry) -> str | None:
    """The sequence of an entry: manifest column, else the BIDS-style file-name suffix."""
    return e.sequence or file_sequence(e.path)


def select_sequence(entries: list[Entry], sequence: str | None, fld: str) -> tuple[list[Entry], bool]:
    """``(entries of sequence, applied)``: the entries of ``sequence`` (ignoring case). A set that records no
    sequence at all (e.g. real clinical slices: no manifest column, no BIDS-style names) is kept whole and
    ``applied`` is False, so one simulated sequence can be compared with such a set; a set that records
    sequences but not this one is an error. ``sequence`` None: all entries, not applied."""
    if sequence is None:
        return entries, False
    want = str(sequence).strip()
    if not want:
        raise RadsynthInputError("--sequence", sequence, "a sequence name such as T1w, T2w or FLAIR")
    found = [entry_sequence(e) for e in entries]
    if not any(found):
        return entries, False
    keep = [e for e, q in zip(entries, found) if q and q.lower() == want.lower()]
    if not keep:
        known = sorted({q for q in found if q}, key=str.lower)
        raise RadsynthInputError(f"{fld} --sequence", want, f"a sequence of {fld}: {', '.join(known)}" if known else
                                 "a sequence recorded in a manifest sequence column or a BIDS-style file name "
                                 "(sub-01_T1w.nii.gz)", f"No image of {fld} has sequence {want!r}.")
    return keep, True
