"""Datasets under a folder: what the gallery of ``radsynth serve`` browses.

A dataset is a folder holding a ``manifest.parquet`` (a cohort build, a ``radsynth sample`` run,
a service job) or, for reader studies, any folder of images. :func:`find_datasets` lists them with
their labels (``label_*`` manifest columns) and attributes (``attr_*``); :func:`dataset_items`
gives one displayable image per subject and sequence (a NIfTI volume where there is one, so its
window/level can be set, else a PNG), filtered by label and attribute.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radsynth.core.errors import RadsynthInputError

MANIFEST = "manifest.parquet"
CARD = "dataset_card.md"
REPORT = "report.html"
#: folders never searched for datasets
SKIP_DIRS = frozenset({"subjects", "images", "anat", "png", "dicom", "masks", "logs", ".cache", "__pycache__"})


@dataclass
class DatasetInfo:
    path: str  # relative to the searched root, POSIX; "" for the root itself
    name: str
    n_subjects: int
    n_images: int
    modalities: list[str]
    generator: str
    labels: list[str]
    attributes: dict[str, list[str]] = field(default_factory=dict)  # name -> distinct values (first 50)
    card: bool = False
    report: bool = False


@dataclass
class Item:
    subject: str
    path: str  # relative to the dataset folder
    modality: str
    sequence: str
    labels: dict[str, bool]
    attributes: dict[str, str]


def _rows(folder: Path) -> list[dict[str, Any]]:
    from radsynth.io.manifest import read_manifest

    try:
        return read_manifest(folder / MANIFEST).to_pylist()
    except Exception as exc:  # noqa: BLE001 - a broken manifest makes the folder "not a dataset"
        raise RadsynthInputError("manifest", str(folder / MANIFEST), "a readable manifest.parquet", str(exc)[:120]) from None


def _name(folder: Path) -> str:
    for meta in ("build.json", "sampling.json"):
        try:
            doc = json.loads((folder / meta).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and isinstance(doc.get("name"), str):
            return doc["name"]
    return folder.name


def describe(folder: Path, rel: str) -> DatasetInfo:
    rows = _rows(folder)
    images = [r for r in rows if r.get("kind") == "image"]
    cols = set().union(*(r.keys() for r in rows)) if rows else set()
    labels = sorted(c[len("label_"):] for c in cols if c.startswith("label_"))
    attrs: dict[str, list[str]] = {}
    for c in sorted(c for c in cols if c.startswith("attr_")):
        vals = sorted({str(r[c]) for r in images if r.get(c) is not None})
        attrs[c[len("attr_"):]] = vals[:50]
    return DatasetInfo(
        path=rel, name=_name(folder), n_subjects=len({r.get("subject") for r in images}),
        n_images=len(items_of(rows)), modalities=sorted({str(r.get("modality") or "") for r in images} - {""}),
        generator=str(next((r.get("generator") for r in images if r.get("generator")), "")),
        labels=labels, attributes=attrs, card=(folder / CARD).is_file(), report=(folder / REPORT).is_file())


def find_datasets(root: str | os.PathLike[str], *, max_depth: int = 4) -> list[DatasetInfo]:
    """Every dataset folder under ``root`` (itself included), by path; links are not followed."""
    base = Path(root)
    out: list[DatasetInfo] = []
    if not base.is_dir():
        return out
    for folder, dirs, files in os.walk(base, followlinks=False):
        here = Path(folder)
        rel = here.relative_to(base).as_posix()
        rel = "" if rel == "." else rel
        depth = 0 if not rel else rel.count("/") + 1
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith(".") and depth < max_depth)
        if MANIFEST in files or REPORT in files:
            try:
                out.append(describe(here, rel) if MANIFEST in files else
                           DatasetInfo(rel, here.name, 0, 0, [], "", [], {}, (here / CARD).is_file(), True))
            except RadsynthInputError:
                continue
    return sorted(out, key=lambda d: d.path)


def items_of(rows: list[dict[str, Any]]) -> list[Item]:
    """One displayable image per (subject, sequence, modality): NIfTI preferred (windowable), else PNG."""
    best: dict[tuple[str, str, str], dict[str, Any]] = {}
    rank = {"nifti": 0, "png": 1}
    for r in rows:
        if r.get("kind") != "image" or r.get("format") not in rank:
            continue
        key = (str(r.get("subject") or r["path"]), str(r.get("sequence") or ""), str(r.get("modality") or ""))
        if key not in best or rank[r["format"]] < rank[best[key]["format"]]:
            best[key] = r
    out = []
    for (subject, sequence, modality), r in sorted(best.items()):
        labels = {k[len("label_"):]: bool(v) for k, v in r.items() if k.startswith("label_") and v is not None}
        attrs = {k[len("attr_"):]: str(v) for k, v in r.items() if k.startswith("attr_") and v is not None}
        out.append(Item(subject, str(r["path"]), modality, sequence, labels, attrs))
    return out


def dataset_items(folder: str | os.PathLike[str], *, label: str | None = None,
                  attributes: dict[str, str] | None = None) -> list[Item]:
    """Images of a dataset folder: with a manifest, one per subject and sequence, filtered by ``label`` (a
    positive ``label_<name>``) and ``attributes`` (``attr_<name> == value``); without one, its image files."""
    from radsynth.io.thumbnail import is_image_file

    base = Path(folder)
    if (base / MANIFEST).is_file():
        items = items_of(_rows(base))
    else:
        items = [Item(p.relative_to(base).as_posix(), p.relative_to(base).as_posix(), "", "", {}, {})
                 for p in sorted(base.rglob("*")) if p.is_file() and not p.is_symlink() and is_image_file(p)]
    if label:
        items = [i for i in items if i.labels.get(label)]
    for k, v in (attributes or {}).items():
        items = [i for i in items if i.attributes.get(k) == v]
    return items
