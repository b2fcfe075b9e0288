"""The ingest manifest (``manifest.parquet`` + ``manifest.csv``) and ``ingest_report.json``, written deterministically.

Manifest columns, in order: ``path`` (relative to DIR), ``class``, ``patient`` (pseudonym), ``modality``,
``rows``, ``columns``, ``slices`` (null for 2D), ``bits``, ``source_format`` (png/jpeg/dicom/nifti),
``sha256`` (of the output file), ``deid_changes`` (attributes / metadata items changed or removed), then the
labels-CSV attribute columns (text) sorted by name. Rows are sorted by path. Parquet is written with an
explicit schema and fixed options (as :func:`radsynth.io.manifest.write_manifest`), CSV with ``\\n`` line
ends; JSON with sorted keys: no timestamps anywhere, so the same input gives the same bytes.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from radsynth.io.atomic import atomic_write_bytes

MANIFEST_FILE = "manifest.parquet"
MANIFEST_CSV = "manifest.csv"
REPORT_FILE = "ingest_report.json"

_BASE = (("path", "string"), ("class", "string"), ("patient", "string"), ("modality", "string"),
         ("rows", "int64"), ("columns", "int64"), ("slices", "int64"), ("bits", "int64"),
         ("source_format", "string"), ("sha256", "string"), ("deid_changes", "int64"))
BASE_COLUMNS: tuple[str, ...] = tuple(n for n, _ in _BASE)


def _columns(rows: Sequence[dict[str, Any]], attr_names: Sequence[str]) -> list[str]:
    return list(BASE_COLUMNS) + sorted(attr_names)


def write_manifest(folder: Path, rows: Sequence[dict[str, Any]], attr_names: Sequence[str]) -> list[Path]:
    """Write ``manifest.parquet`` and ``manifest.csv`` into ``folder``; returns both paths."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = sorted(rows, key=lambda r: r["path"])
    cols = _columns(rows, attr_names)
    types = dict(_BASE)
    arrays, fields = [], []
    for c in cols:
        t = pa.int64() if types.get(c) == "int64" else pa.string()
        vals = [r.get(c) for r in rows]
        vals = [None if v is None else (int(v) if t == pa.int64() else str(v)) for v in vals]
        arrays.append(pa.array(vals, type=t))
        fields.append(pa.field(c, t, nullable=c in ("slices",) or c not in types))
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd", compression_level=3, use_dictionary=True,
                   write_statistics=True, store_schema=True)
    pq_path = atomic_write_bytes(folder / MANIFEST_FILE, sink.getvalue().to_pybytes())
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        w.writerow(["" if r.get(c) is None else r.get(c) for c in cols])
    csv_path = atomic_write_bytes(folder / MANIFEST_CSV, buf.getvalue().encode("utf-8"))
    return [pq_path, csv_path]


def write_report(folder: Path, report: dict[str, Any]) -> Path:
    return atomic_write_bytes(folder / REPORT_FILE, (json.dumps(report, indent=2, sort_keys=True) + "\n").encode())


def read_report(folder: Path) -> dict[str, Any] | None:
    """The ``ingest_report.json`` of an earlier ingest, or None when absent/unreadable."""
    try:
        data = json.loads((folder / REPORT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
