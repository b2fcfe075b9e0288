"""Find the source images of ``radsynth ingest`` and their classes (class folders or a labels CSV).

Layout without ``--labels``: ``SRC/<class>/**/<file>``, as
:func:`radsynth.generators.common.data.scan_class_folder` (images directly in ``SRC`` form one class named after
``SRC`` when there are no class folders; beside class folders they are skipped). With ``--labels``: a CSV
with columns ``path`` (relative to ``SRC``) and ``class``, optional ``patient`` and ``modality``; every other
column is an image attribute; files of ``SRC`` not listed are skipped.

Every non-hidden file is a candidate. Its format comes from the suffix (PNG, JPEG, DICOM ``.dcm``/``.dicom``,
NIfTI ``.nii``/``.nii.gz``); a file without a known suffix is DICOM when it carries the Part 10 preamble
(``DICM`` at byte 128, PS3.10 section 7.1), as DICOM exports often have no suffix. Anything else is skipped
as "not an image". Hidden files and folders (a part starting with ``.``) are ignored.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from radsynth.core.errors import RadsynthInputError

#: Manifest columns written by ingest; a labels-CSV attribute may not reuse these names.
RESERVED_COLUMNS = ("path", "class", "patient", "modality", "rows", "columns", "slices", "bits",
                    "source_format", "sha256", "deid_changes")
_SUFFIX_FORMATS = ((".nii.gz", "nifti"), (".nii", "nifti"), (".dcm", "dicom"), (".dicom", "dicom"),
                   (".png", "png"), (".jpg", "jpeg"), (".jpeg", "jpeg"))


@dataclass(frozen=True)
class SourceFile:
    """One candidate file: ``rel`` (posix, relative to SRC), format, class and the labels-CSV fields."""

    rel: str
    format: str  # png | jpeg | dicom | nifti
    label: str
    csv_patient: str = ""
    csv_modality: str = ""
    attributes: tuple[tuple[str, str], ...] = field(default=())


@dataclass(frozen=True)
class Skipped:
    """A file left out, with the reason (the path is reported on stderr only: it may hold a name)."""

    rel: str
    reason: str  # category, written into DIR (no path)
    detail: str = ""  # the reader's message (may quote the source path): stderr only


def file_format(path: Path) -> str | None:
    """png/jpeg/dicom/nifti from the suffix, else 'dicom' when the file has the DICM preamble, else None."""
    low = path.name.lower()
    for suf, fmt in _SUFFIX_FORMATS:
        if low.endswith(suf):
            return fmt
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return None
    return "dicom" if len(head) == 132 and head[128:132] == b"DICM" else None


def _all_files(root: Path) -> list[str]:
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        base = Path(dirpath)
        for name in filenames:
            if not name.startswith("."):
                out.append((base / name).relative_to(root).as_posix())
    return sorted(out)


def check_class_name(name: str, field_name: str) -> str:
    name = name.strip()
    if not name or name.startswith(".") or "/" in name or "\\" in name or name in (".", ".."):
        raise RadsynthInputError(field_name, name, "a class name without '/' or '\\\\', not starting with '.'")
    return name


def _read_labels(labels: Path, src: Path, files: set[str]) -> dict[str, SourceFile | None]:
    """rel path -> SourceFile (format filled in later); raises on a bad CSV."""
    fld = "--labels"
    if not labels.is_file():
        raise RadsynthInputError(fld, str(labels), "an existing CSV file with columns path, class[, patient, ...]")
    try:
        with open(labels, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            cols = [c.strip() for c in (reader.fieldnames or [])]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise RadsynthInputError(fld, str(labels), "a readable UTF-8 CSV file", str(exc).splitlines()[0][:120]) from None
    missing = [c for c in ("path", "class") if c not in cols]
    if missing:
        raise RadsynthInputError(f"{fld} columns", cols, "at least the columns path and class "
                                 "(optional: patient, modality, attribute columns)", f"Missing: {', '.join(missing)}.")
    if len(set(cols)) != len(cols):
        raise RadsynthInputError(f"{fld} columns", cols, "distinct column names")
    attr_cols = sorted(set(cols) - {"path", "class", "patient", "modality"})
    clash = [c for c in attr_cols if c.lower() in RESERVED_COLUMNS or not c]
    if clash:
        raise RadsynthInputError(f"{fld} columns", clash, f"attribute names other than {', '.join(RESERVED_COLUMNS)}",
                                 "Rename these columns.")
    out: dict[str, SourceFile | None] = {}
    for i, raw in enumerate(rows):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        rel_raw = row.get("path", "")
        rel = PurePosixPath(rel_raw.replace("\\", "/"))
        if not rel_raw or rel.is_absolute() or ".." in rel.parts:
            raise RadsynthInputError(f"{fld} row {i + 1} path", rel_raw, "a path relative to SRC inside SRC")
        key = rel.as_posix()
        if key not in files:
            raise RadsynthInputError(f"{fld} row {i + 1} path", rel_raw, f"a file inside SRC ({src})",
                                     "Fix the path or restore the file.")
        if key in out:
            raise RadsynthInputError(f"{fld} row {i + 1} path", rel_raw, "each file listed once")
        if not row.get("class"):
            raise RadsynthInputError(f"{fld} row {i + 1} class", "", "a non-empty class name")
        out[key] = SourceFile(
            rel=key, format="", label=check_class_name(row["class"], f"{fld} row {i + 1} class"),
            csv_patient=row.get("patient", ""), csv_modality=row.get("modality", "").upper(),
            attributes=tuple((c, row.get(c, "")) for c in attr_cols),
        )
    if not out:
        raise RadsynthInputError(fld, str(labels), "a CSV with at least one row")
    return out


def scan_source(src: str | os.PathLike[str], labels: str | os.PathLike[str] | None = None
                ) -> tuple[list[SourceFile], list[Skipped]]:
    """(candidate images sorted by rel path, skipped files); one-line RadsynthInputError when unusable."""
    root = Path(src)
    if not root.exists():
        raise RadsynthInputError("SRC", str(src), "an existing folder of DICOM/NIfTI/PNG/JPEG images")
    if not root.is_dir():
        raise RadsynthInputError("SRC", str(src), "a folder (SRC/<class>/... or with --labels)", "It is a file.")
    rels = _all_files(root)
    skipped: list[Skipped] = []
    chosen: list[SourceFile] = []
    if labels is not None:
        table = _read_labels(Path(labels), root, set(rels))
        for rel in rels:
            item = table.get(rel)
            if item is None:
                skipped.append(Skipped(rel, "not listed in --labels"))
                continue
            fmt = file_format(root / rel)
            if fmt is None:
                skipped.append(Skipped(rel, "not an image (unknown format)"))
                continue
            chosen.append(SourceFile(item.rel, fmt, item.label, item.csv_patient, item.csv_modality, item.attributes))
    else:
        fmts = {rel: file_format(root / rel) for rel in rels}
        nested = [r for r in rels if "/" in r]
        has_classes = any(fmts[r] for r in nested)
        for rel in rels:
            fmt = fmts[rel]
            if fmt is None:
                skipped.append(Skipped(rel, "not an image (unknown format)"))
            elif "/" in rel:
                chosen.append(SourceFile(rel, fmt, check_class_name(rel.split("/")[0], "SRC class folder")))
            elif has_classes:
                skipped.append(Skipped(rel, "outside the class folders"))
            else:
                chosen.append(SourceFile(rel, fmt, check_class_name(root.resolve().name, "SRC folder name")))
    if not chosen:
        raise RadsynthInputError("SRC", str(src), "a folder with DICOM/NIfTI/PNG/JPEG images (SRC/<class>/...)",
                                 f"No images found ({len(rels)} other files).")
    classes = sorted({c.label for c in chosen})
    if len({c.lower() for c in classes}) != len(classes):
        raise RadsynthInputError("classes", classes, "class names distinct ignoring case")
    return chosen, skipped
