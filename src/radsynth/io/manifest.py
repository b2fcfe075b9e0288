"""The dataset manifest: one row per output file, as Parquet with an explicit schema.

Columns, in order: :data:`MANIFEST_COLUMNS` (fixed types), then the :data:`SESSION_COLUMNS`
``session`` (BIDS session id, e.g. ``ses-t060``) and ``time_days`` (days since the subject's first
session) when any row has them (longitudinal cohorts; other manifests are unchanged), then one bool column
``label_<name>`` per subject-level label and one ``attr_<name>`` column per
attribute (float64 when every value is a number, else string), each group
sorted by name. Rows are sorted by (subject, path). A DICOM series gives one
row per slice file. Missing labels/attributes are null.

A row is a dict with the base keys, plus labels/attributes given either flat
(``label_tumour``, ``attr_age_years``) or nested (``labels={...}``,
``attributes={...}``). :func:`manifest_row` builds one from a file on disk.

Determinism: the table is built column by column with an explicit schema and
written with fixed options (zstd level 3, dictionary encoding, statistics, no
pandas metadata). Parquet's footer ``created_by`` names the pyarrow version
("parquet-cpp-arrow version X") but holds no timestamp, so bytes are stable for
a given pyarrow.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from radsynth.core.errors import RadsynthInputError
from radsynth.io.atomic import atomic_write_bytes, sha256_file

KINDS = ("image", "mask", "dicom_series", "dicom_seg", "preview", "metadata", "sidecar")
FORMATS = ("nifti", "dicom", "png", "json", "tsv")

#: Fixed leading columns and their Arrow types.
MANIFEST_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("subject", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("format", pa.string(), nullable=False),
        pa.field("modality", pa.string()),
        pa.field("sequence", pa.string()),
        pa.field("seed", pa.int64()),
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("generator", pa.string()),
        pa.field("generator_version", pa.string()),
        pa.field("config_hash", pa.string()),
        #: anatomy plausibility flags of the subject (null: generator without anatomy checks)
        pa.field("plausibility_flags", pa.int64()),
    ]
)
MANIFEST_COLUMNS: tuple[str, ...] = tuple(MANIFEST_SCHEMA.names)
#: Optional columns of longitudinal cohorts, written only when a row has a value for them.
SESSION_SCHEMA = pa.schema([pa.field("session", pa.string()), pa.field("time_days", pa.float64())])
SESSION_COLUMNS: tuple[str, ...] = tuple(SESSION_SCHEMA.names)
_REQUIRED = ("subject", "path", "kind", "format", "sha256")


def row_id(subject: str, path: str) -> str:
    """Stable 16-hex id of a file: sha256 of ``subject`` + NUL + relative path."""
    return hashlib.sha256(f"{subject}\x00{path}".encode()).hexdigest()[:16]


def manifest_row(
    root: str | os.PathLike[str],
    file: str | os.PathLike[str],
    *,
    subject: str,
    kind: str,
    format: str,
    provenance: dict[str, Any] | None = None,
    modality: str | None = None,
    sequence: str | None = None,
    labels: dict[str, bool] | None = None,
    attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A manifest row for ``file`` (hashed now), its path relative to ``root``.

    ``provenance`` (a :meth:`Provenance.to_dict`) fills seed, generator,
    generator_version and config_hash.
    """
    root_p, file_p = Path(root).resolve(), Path(file).resolve()
    try:
        rel = file_p.relative_to(root_p).as_posix()
    except ValueError:
        raise RadsynthInputError("file", str(file), f"a file under the output root {root_p}") from None
    prov = provenance or {}
    return {
        "subject": subject,
        "path": rel,
        "kind": kind,
        "format": format,
        "modality": modality,
        "sequence": sequence,
        "seed": prov.get("seed"),
        "sha256": sha256_file(file_p),
        "generator": prov.get("generator"),
        "generator_version": prov.get("generator_version"),
        "config_hash": prov.get("config_hash"),
        "labels": dict(labels or {}),
        "attributes": dict(attributes or {}),
    }


def _flatten(row: dict[str, Any], index: int) -> dict[str, Any]:
    flat = {k: v for k, v in row.items() if k not in ("labels", "attributes")}
    for name, value in (row.get("labels") or {}).items():
        flat[f"label_{name}"] = value
    for name, value in (row.get("attributes") or {}).items():
        flat[f"attr_{name}"] = value
    for key in _REQUIRED:
        if flat.get(key) in (None, ""):
            raise RadsynthInputError(f"rows[{index}].{key}", flat.get(key), "a non-empty value")
    if flat["kind"] not in KINDS:
        raise RadsynthInputError(f"rows[{index}].kind", flat["kind"], ", ".join(KINDS))
    if flat["format"] not in FORMATS:
        raise RadsynthInputError(f"rows[{index}].format", flat["format"], ", ".join(FORMATS))
    path = str(flat["path"])
    pp = PurePosixPath(path)
    if "\\" in path or pp.is_absolute() or ".." in pp.parts:
        raise RadsynthInputError(f"rows[{index}].path", path, "a relative POSIX path inside the output folder")
    flat["path"] = pp.as_posix()
    flat.setdefault("id", row_id(str(flat["subject"]), flat["path"]))
    known = MANIFEST_COLUMNS + SESSION_COLUMNS
    unknown = [k for k in flat if k not in known and not k.startswith(("label_", "attr_"))]
    if unknown:
        raise RadsynthInputError(
            f"rows[{index}] keys", sorted(unknown), f"{', '.join(known)}, label_<name>, attr_<name>"
        )
    return flat


def _is_number(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return True
    return hasattr(v, "dtype") and v.dtype.kind in "iuf"


def _attr_column(name: str, values: list[Any]) -> pa.Array:
    present = [v for v in values if v is not None]
    if all(_is_number(v) for v in present):
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    out = []
    for v in values:
        if v is None:
            out.append(None)
        elif isinstance(v, float) and math.isnan(v):
            out.append(None)
        else:
            out.append(str(v))
    return pa.array(out, type=pa.string())


def manifest_table(rows: Sequence[dict[str, Any]]) -> pa.Table:
    """The manifest as an Arrow table (validated, sorted, explicit schema)."""
    flat = [_flatten(r, i) for i, r in enumerate(rows)]
    flat.sort(key=lambda r: (str(r["subject"]), r["path"]))
    seen: set[tuple[str, str]] = set()
    for r in flat:
        key = (str(r["subject"]), r["path"])
        if key in seen:
            raise RadsynthInputError("rows", f"{key[0]}/{key[1]}", "one row per (subject, path)")
        seen.add(key)
    label_cols = sorted({k for r in flat for k in r if k.startswith("label_")})
    attr_cols = sorted({k for r in flat for k in r if k.startswith("attr_")})
    arrays: list[pa.Array] = []
    fields: list[pa.Field] = []
    for field in MANIFEST_SCHEMA:
        values = [r.get(field.name) for r in flat]
        if field.type == pa.int64():
            values = [None if v is None else int(v) for v in values]
        else:
            values = [None if v is None else str(v) for v in values]
        arrays.append(pa.array(values, type=field.type))
        fields.append(field)
    for field in SESSION_SCHEMA:
        values = [r.get(field.name) for r in flat]
        if all(v is None for v in values):
            continue
        values = [None if v is None else (float(v) if field.type == pa.float64() else str(v)) for v in values]
        arrays.append(pa.array(values, type=field.type))
        fields.append(field)
    for name in label_cols:
        values = [r.get(name) for r in flat]
        for v in values:
            if v is not None and not isinstance(v, bool) and not (hasattr(v, "dtype") and v.dtype.kind == "b"):
                raise RadsynthInputError(name, v, "True, False or None")
        arrays.append(pa.array([None if v is None else bool(v) for v in values], type=pa.bool_()))
        fields.append(pa.field(name, pa.bool_()))
    for name in attr_cols:
        col = _attr_column(name, [r.get(name) for r in flat])
        arrays.append(col)
        fields.append(pa.field(name, col.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def write_manifest(path: str | os.PathLike[str], rows: Sequence[dict[str, Any]]) -> Path:
    """Write the manifest Parquet file atomically and deterministically; returns its path."""
    table = manifest_table(rows)
    sink = pa.BufferOutputStream()
    pq.write_table(
        table,
        sink,
        compression="zstd",
        compression_level=3,
        use_dictionary=True,
        write_statistics=True,
        store_schema=True,
    )
    return atomic_write_bytes(path, sink.getvalue().to_pybytes())


def read_manifest(path: str | os.PathLike[str]) -> pa.Table:
    """Read a manifest written by :func:`write_manifest`."""
    return pq.read_table(os.fspath(path))
