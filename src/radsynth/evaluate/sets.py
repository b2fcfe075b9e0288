"""Input sets of ``radsynth evaluate``: load real training, synthetic and real held-out 2D images.

A set is loaded from one of:

(a) a class folder ``root/<class>/**/<image>`` (PNG, JPEG, DICOM, NIfTI; hidden files skipped), as
    :func:`radsynth.generators.data.scan_class_folder`; a class sub-folder that is itself a radsynth output
    folder (``<class>/manifest.parquet`` + ``<class>/images/``) contributes the manifest's image rows only;
(b) a CSV/Parquet manifest: a ``path`` column (relative to the manifest's folder, or absolute), optionally
    ``class`` (or ``label``) and ``patient``; other columns are image attributes. Without a class column the
    set is unlabelled;
(c) a radsynth output folder, or its ``manifest.parquet`` (recognised by ``kind`` and ``format`` columns):
    rows with ``kind == "image"`` and a 2D-capable format; the class is ``attr_class``, else the one true
    ``label_<name>`` column, else none; ``attr_<name>`` columns are attributes; ``subject`` is the group id;
(d) a folder of loose images (no class sub-folders): an unlabelled set;
(f) a ``radsynth ingest`` output folder, or its ``manifest.parquet`` (recognised by ``source_format`` and
    ``sha256`` columns beside ``path``/``class``/``patient``): class, pseudonymous patient and modality from the
    manifest (``unknown``/``volume`` = not recorded); the file-description columns are not attributes.

Group ids (``patients``), used to keep a patient's images together in splits and bootstraps, come from a
``patient`` column (or a radsynth ``subject``); otherwise, for real sets, from the file name
(:func:`radsynth.generators.data.patient_id`, Kermany et al. 2018 naming), and for synthetic sets the
file's path relative to the source without its suffix (every synthetic image its own group).

Before any pixel is read, each file's header is checked (PIL size, DICOM header without pixel data, NIfTI
header shape): volumes (NIfTI with several slices, multi-frame DICOM) are refused because evaluation is 2D;
images smaller than the evaluation size are refused because upsampling would hide or invent detail
(compare the resolution caveats of Fréchet-distance evaluation, Heusel et al. 2017, arXiv:1706.08500);
the modality (DICOM (0008,0060), else the manifest ``modality`` column) must be one per set.
Pixels are read with :func:`~radsynth.generators.data.read_image` and centre-cropped and resized to a square
with :func:`~radsynth.generators.data.resize_image`.

The fingerprint is sha256 over the sorted (path relative to the source, file sha256, lower-case class name)
triples, so it identifies the data independent of the image size, the file order and class-name case.
:func:`harmonise` checks that the three sets are comparable (modality, classes, aspect ratio) and maps the
synthetic and test labels onto the real set's class order.
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from radsynth.core.errors import RadsynthInputError
from radsynth.generators.data import (
    IMAGE_SUFFIXES,
    INGEST_FILE_COLUMNS,
    MANIFEST_SUFFIXES,
    _is_image,
    is_ingest_manifest,
    patient_id,
    read_image,
    resize_image,
)
from radsynth.generators.data import _stem as _strip_suffix
from radsynth.io.atomic import sha256_file

ROLES = ("real", "synthetic", "test")
#: Radsynth manifest formats that can hold a 2D image (NIfTI/DICOM are checked per file).
FORMATS_2D = ("png", "dicom", "nifti")
#: Key of :meth:`EvalSet.counts` for an unlabelled set.
UNLABELLED = "(unlabelled)"
#: Relative difference of mean aspect ratios (width / height) above which :func:`harmonise` adds a note.
ASPECT_TOLERANCE = 0.25

_ACCEPTED = "a class folder, a radsynth output folder or a CSV/Parquet manifest with at least one 2D image"
_ACCEPTED_2D = "2D images (PNG/JPEG/DICOM single frame/NIfTI single slice)"
_FP_VERSION = "radsynth-evalset-v1"


def role_field(role: str) -> str:
    """The CLI option naming a set of this role: ``--real``, ``--synthetic`` or ``--test``."""
    if role not in ROLES:
        raise RadsynthInputError("role", role, ", ".join(ROLES))
    return f"--{role}"


@dataclass(frozen=True, eq=False)
class EvalSet:
    """One loaded input set; rows sorted by (class, path relative to the source)."""

    name: str
    source: str
    images: np.ndarray
    labels: np.ndarray | None
    classes: tuple[str, ...]
    patients: np.ndarray
    attributes: dict[str, np.ndarray]
    paths: tuple[str, ...]
    modality: str | None
    native_min_side: int
    native_shapes: dict[str, int]
    fingerprint: str
    #: (N, 2) int64 original (rows, columns) of every image
    native_hw: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64), repr=False)
    #: per image "<path relative to source>\x00<file sha256>" (fingerprint input)
    file_keys: tuple[str, ...] = field(default=(), repr=False)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def option(self) -> str:
        """The CLI option of this set (``--real``, ``--synthetic``, ``--test``)."""
        return f"--{self.name}"

    @property
    def image_size(self) -> int:  # evaluation size S
        return int(self.images.shape[-1])

    def counts(self) -> dict[str, int]:
        """Images per class, in class order (``{"(unlabelled)": N}`` for an unlabelled set)."""
        if self.labels is None:
            return {UNLABELLED: len(self)}
        bc = np.bincount(self.labels, minlength=len(self.classes))
        return {c: int(bc[i]) for i, c in enumerate(self.classes)}

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary row of the set."""
        return {
            "name": self.name,
            "source": self.source,
            "images": len(self),
            "image_size": self.image_size,
            "labelled": self.labels is not None,
            "classes": list(self.classes),
            "counts": self.counts(),
            "patients": len(set(self.patients.tolist())),
            "modality": self.modality,
            "native_min_side": int(self.native_min_side),
            "native_shapes": dict(self.native_shapes),
            "mean_aspect_ratio": mean_aspect(self),
            "attributes": sorted(self.attributes),
            "fingerprint": self.fingerprint,
        }

    def subset(self, idx: Any) -> EvalSet:
        """The rows ``idx`` (integer indices or a boolean mask), fingerprint recomputed over them."""
        ix = np.asarray(idx)
        ix = np.flatnonzero(ix) if ix.dtype == bool else ix.astype(np.int64).reshape(-1)
        labels = None if self.labels is None else self.labels[ix]
        hw = self.native_hw[ix] if len(self.native_hw) == len(self) else np.zeros((0, 2), np.int64)
        keys = tuple(self.file_keys[i] for i in ix) if len(self.file_keys) == len(self) else ()
        min_side, shapes = _native_stats(hw) if len(hw) == len(ix) else (self.native_min_side, self.native_shapes)
        fp = _fingerprint(keys, labels, self.classes) if keys or not len(ix) else (
            f"{self.fingerprint}:{hashlib.sha256(ix.tobytes()).hexdigest()[:16]}")
        return replace(
            self,
            images=self.images[ix],
            labels=labels,
            patients=self.patients[ix],
            attributes={k: v[ix] for k, v in self.attributes.items()},
            paths=tuple(self.paths[i] for i in ix),
            native_min_side=min_side,
            native_shapes=shapes,
            native_hw=hw,
            file_keys=keys,
            fingerprint=fp,
        )


@dataclass
class _Entry:
    path: Path
    label: str | None
    patient: str | None  # explicit group id (patient column or radsynth subject)
    attrs: dict[str, str]
    modality: str | None  # from a manifest column


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


def _norm_modality(v: Any) -> str | None:
    t = _text(v).upper()
    return t or None


def _truthy(v: Any) -> bool:
    return v is True or (isinstance(v, str) and v.strip().lower() in ("true", "1", "yes"))


def _rel(path: Path, base: Path) -> str:
    p = Path(os.path.abspath(path))
    try:
        return p.relative_to(os.path.abspath(base)).as_posix()
    except ValueError:
        return p.as_posix()


def _resolve(base: Path, rel: Any) -> Path:
    p = Path(str(rel))
    return p if p.is_absolute() else base / p


def _native_stats(hw: np.ndarray) -> tuple[int, dict[str, int]]:
    if not len(hw):
        return 0, {"min_h": 0, "max_h": 0, "min_w": 0, "max_w": 0}
    h, w = hw[:, 0], hw[:, 1]
    shapes = {"min_h": int(h.min()), "max_h": int(h.max()), "min_w": int(w.min()), "max_w": int(w.max())}
    return int(hw.min()), shapes


def _fingerprint(keys: tuple[str, ...], labels: np.ndarray | None, classes: tuple[str, ...]) -> str:
    names = [classes[int(i)].lower() for i in labels] if labels is not None else [""] * len(keys)
    h = hashlib.sha256(_FP_VERSION.encode())
    for line in sorted(f"{k}\x00{c}" for k, c in zip(keys, names)):
        h.update(line.encode() + b"\n")
    return h.hexdigest()


def mean_aspect(s: EvalSet) -> float | None:
    """Mean native width / height of a set's images (None without native sizes)."""
    if not len(s.native_hw):
        return None
    hw = s.native_hw.astype(np.float64)
    return float(np.mean(hw[:, 1] / np.maximum(hw[:, 0], 1.0)))


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


def _radsynth_folder_table(folder: Path, fld: str) -> tuple[list[str], list[dict[str, Any]]] | None:
    """(columns, rows) of ``folder/manifest.parquet`` when it is a radsynth output manifest, else None."""
    m = folder / "manifest.parquet"
    if not m.is_file():
        return None
    cols, rows = _read_table(m, fld)
    return (cols, rows) if _is_radsynth(cols) else None


def _radsynth_entries(
    cols: list[str], rows: list[dict[str, Any]], base: Path, class_name: str | None = None
) -> list[_Entry]:
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
        _Entry(
            path=_resolve(base, r.get("path")),
            label=lab,
            patient=(_text(r.get("subject")) or None) if class_name is None else None,
            attrs={c[len("attr_"):]: _text(r.get(c)) for c in attr_cols},
            modality=_norm_modality(r.get("modality")),
        )
        for r, lab in zip(img, labels)
    ]


def _manifest_entries(cols: list[str], rows: list[dict[str, Any]], base: Path, fld: str) -> list[_Entry]:
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
        out.append(_Entry(
            path=_resolve(base, rel),
            label=(_text(row.get(cls_col)) or None) if cls_col else None,
            patient=_text(row.get("patient")) or None,
            attrs={c: _text(row.get(c)) for c in attr_cols},
            modality=None,
        ))
    return out


def _ingest_entries(cols: list[str], rows: list[dict[str, Any]], base: Path) -> list[_Entry]:
    """Rows of a ``radsynth ingest`` manifest (f): class, pseudonymous patient, modality ('unknown' = none);
    the file-description columns (rows, bits, sha256, ...) are not attributes."""
    attr_cols = sorted(set(cols) - {"path", "class", "patient", "modality"} - set(INGEST_FILE_COLUMNS))
    out = []
    for r in rows:
        mod = _norm_modality(r.get("modality"))
        out.append(_Entry(path=_resolve(base, _text(r.get("path"))), label=_text(r.get("class")) or None,
                          patient=_text(r.get("patient")) or None, attrs={c: _text(r.get(c)) for c in attr_cols},
                          modality=None if mod in ("UNKNOWN", "VOLUME") else mod))
    return out


def _ingest_folder_table(folder: Path, fld: str) -> tuple[list[str], list[dict[str, Any]]] | None:
    """(columns, rows) of ``folder/manifest.parquet`` when it is a ``radsynth ingest`` manifest, else None."""
    m = folder / "manifest.parquet"
    if not m.is_file():
        return None
    cols, rows = _read_table(m, fld)
    return (cols, rows) if is_ingest_manifest(cols) else None


def _folder_entries(root: Path, fld: str) -> list[_Entry]:
    """Class sub-folders (a, e), else loose images (d)."""
    out: list[_Entry] = []
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        table = _radsynth_folder_table(d, fld)
        if table is not None:
            out += _radsynth_entries(*table, d, class_name=d.name)
            continue
        for p in d.rglob("*"):
            if _is_image(p) and not any(part.startswith(".") for part in p.relative_to(d).parts):
                out.append(_Entry(path=p, label=d.name, patient=None, attrs={}, modality=None))
    if not out:
        out = [_Entry(path=p, label=None, patient=None, attrs={}, modality=None)
               for p in root.iterdir() if _is_image(p)]
    return out


def _collect(src: Path, fld: str) -> tuple[Path, list[_Entry]]:
    """(base folder for relative paths, entries) of a source."""
    if not src.exists():
        raise RadsynthInputError(fld, str(src), "an existing class folder, radsynth output folder or CSV/Parquet "
                                 "manifest", "Check the path.")
    if src.is_file():
        if not src.name.lower().endswith(MANIFEST_SUFFIXES):
            raise RadsynthInputError(fld, str(src), _ACCEPTED, "Pass the folder holding the images or a manifest.")
        cols, rows = _read_table(src, fld)
        base = src.parent
        if is_ingest_manifest(cols):
            return base, _ingest_entries(cols, rows, base)
        return base, (_radsynth_entries(cols, rows, base) if _is_radsynth(cols) else
                      _manifest_entries(cols, rows, base, fld))
    ingested = _ingest_folder_table(src, fld)
    if ingested is not None:
        return src, _ingest_entries(*ingested, src)
    table = _radsynth_folder_table(src, fld)
    if table is not None:
        return src, _radsynth_entries(*table, src)
    return src, _folder_entries(src, fld)


# ---------------------------------------------------------------- headers


def _probe(path: Path, fld: str) -> tuple[int, int, str | None]:
    """(rows, columns, DICOM modality) from the header; 3D files raise; unreadable -> read_image's error."""
    low = path.name.lower()
    try:
        if low.endswith((".nii", ".nii.gz")):
            import nibabel as nib

            shape = tuple(int(s) for s in nib.load(str(path)).shape)
            dims = [s for s in shape if s > 1]
            if len(dims) > 2:
                raise _volume_error(path, shape, fld)
            if len(dims) == 2:
                return dims[0], dims[1], None
            raise ValueError(f"shape {shape}")
        if low.endswith((".dcm", ".dicom")):
            import pydicom

            ds = pydicom.dcmread(path, stop_before_pixels=True)
            frames = int(ds.get("NumberOfFrames", 1) or 1)
            rows, cols = int(ds.Rows), int(ds.Columns)
            if frames > 1:
                raise _volume_error(path, (frames, rows, cols), fld)
            return rows, cols, _norm_modality(ds.get("Modality"))
        from PIL import Image

        with Image.open(path) as im:
            w, h = im.size
        return int(h), int(w), None
    except RadsynthInputError:
        raise
    except Exception:  # noqa: BLE001 - let the pixel reader give its one-line error naming the file
        a = read_image(path)
        return int(a.shape[0]), int(a.shape[1]), None


def _volume_error(path: Path, shape: tuple[int, ...], fld: str) -> RadsynthInputError:
    return RadsynthInputError(fld, str(path), _ACCEPTED_2D, f"This file is a volume of shape {shape}; evaluation is "
                              "2D: extract 2D slices first (e.g. one PNG per slice) and pass the folder of slices.")


def _size_error(fld: str, path: Path, h: int, w: int, image_size: int, min_side: int) -> RadsynthInputError:
    return RadsynthInputError(f"{fld} image size", f"{h}x{w} pixels ({path})",
                              f"images at least {image_size} pixels on the short side for --image-size {image_size}",
                              f"The smallest image of {fld} is {min_side} pixels: use --image-size <= {min_side} "
                              "(upsampling would hide or invent detail).")


def _set_modality(entries: list[_Entry], header_mods: list[str | None], fld: str, asserted: str | None) -> str | None:
    per_file = [hm or e.modality for e, hm in zip(entries, header_mods)]
    known = sorted({m for m in per_file if m})
    if len(known) > 1:
        n = {m: per_file.count(m) for m in known}
        raise RadsynthInputError(f"{fld} modality", known, "one modality per set",
                                 f"{fld} mixes modalities ({n}); evaluate each modality separately.")
    found = known[0] if known else None
    want = _norm_modality(asserted)
    if want and found and want != found:
        raise RadsynthInputError(f"{fld} modality", found, f"the asserted modality {want}",
                                 f"The files of {fld} record {found}; drop the modality option or pass another set.")
    return found or want


def _classes(entries: list[_Entry], fld: str) -> tuple[str, ...] | None:
    given = [e.label for e in entries]
    missing = sum(lab is None for lab in given)
    if missing == len(given):
        return None
    if missing:
        raise RadsynthInputError(f"{fld} classes", f"{missing} of {len(given)} images without a class",
                                 "a class for every image or for none",
                                 "Fill in the class (or label) column, or leave it empty everywhere.")
    classes = tuple(sorted({str(lab) for lab in given}))
    if len({c.lower() for c in classes}) != len(classes):
        raise RadsynthInputError(f"{fld} classes", list(classes), "class names distinct ignoring case")
    return classes


# ---------------------------------------------------------------- loader


def load_eval_set(
    source: str | os.PathLike[str],
    role: str,
    *,
    image_size: int = 64,
    modality: str | None = None,
    progress: bool = False,
) -> EvalSet:
    """Load one input set (see the module docstring); errors name ``--real``/``--synthetic``/``--test``.

    ``modality`` is the user's assertion: used when the files record none, an error when they record another.
    """
    fld = role_field(role)
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 1:
        raise RadsynthInputError("--image-size", image_size, "a positive integer")
    src = Path(source)
    base, entries = _collect(src, fld)
    if not entries:
        raise RadsynthInputError(fld, str(source), _ACCEPTED, "No images were found there.")
    for e in entries:
        if not _is_image(e.path):
            raise RadsynthInputError(f"{fld} file", str(e.path), f"an existing image file ({', '.join(IMAGE_SUFFIXES)}"
                                     ")", "Fix the manifest's path column or restore the file.")
    classes = _classes(entries, fld)
    index = {c: i for i, c in enumerate(classes or ())}
    rels = [_rel(e.path, base) for e in entries]
    order = sorted(range(len(entries)), key=lambda i: (index.get(entries[i].label or "", -1), rels[i]))
    entries, rels = [entries[i] for i in order], [rels[i] for i in order]

    probes = [_probe(e.path, fld) for e in entries]  # headers only: 3D, size and modality before pixels
    set_modality = _set_modality(entries, [p[2] for p in probes], fld, modality)
    hw = np.array([(p[0], p[1]) for p in probes], np.int64)
    i_min = int(np.argmin(hw.min(axis=1)))
    min_side = int(hw[i_min].min())
    if min_side < image_size:
        raise _size_error(fld, entries[i_min].path, int(hw[i_min, 0]), int(hw[i_min, 1]), image_size, min_side)

    from tqdm.auto import tqdm

    image_size = int(image_size)
    images = np.empty((len(entries), image_size, image_size), np.float32)
    keys: list[str] = []
    for i, e in enumerate(tqdm(entries, desc=f"reading {fld} images", unit="img", disable=not progress, leave=False)):
        a = read_image(e.path)
        h, w = int(a.shape[0]), int(a.shape[1])
        if min(h, w) < image_size:  # header and pixels disagree: trust the pixels
            raise _size_error(fld, e.path, h, w, image_size, min(h, w))
        hw[i] = (h, w)
        images[i] = resize_image(a, image_size)
        keys.append(f"{rels[i]}\x00{sha256_file(e.path)}")

    labels = None if classes is None else np.array([index[str(e.label)] for e in entries], np.int64)
    patients = np.array(
        [e.patient or (_strip_suffix(r) if role == "synthetic" else patient_id(e.path.name))
         for e, r in zip(entries, rels)],
        dtype=object,
    )
    attr_names = sorted({k for e in entries for k in e.attrs})
    attributes = {k: np.array([e.attrs.get(k, "") for e in entries], dtype=object) for k in attr_names}
    min_side, shapes = _native_stats(hw)
    return EvalSet(
        name=role,
        source=os.fspath(source),
        images=images,
        labels=labels,
        classes=classes or (),
        patients=patients,
        attributes=attributes,
        paths=tuple(str(e.path) for e in entries),
        modality=set_modality,
        native_min_side=min_side,
        native_shapes=shapes,
        fingerprint=_fingerprint(tuple(keys), labels, classes or ()),
        native_hw=hw,
        file_keys=tuple(keys),
    )


# ---------------------------------------------------------------- harmonise


def _check_modality(sets: list[EvalSet], notes: list[str]) -> None:
    known = [s for s in sets if s.modality]
    ref = known[0] if known else None
    for s in known[1:]:
        if s.modality != ref.modality:  # type: ignore[union-attr]
            raise RadsynthInputError(f"{s.option} modality", s.modality,
                                     f"the modality of {ref.option} ({ref.modality})", "Compare one modality only.")
    unknown = [s.option for s in sets if not s.modality]
    if unknown:
        notes.append(f"Modality could not be checked for {', '.join(unknown)}: not recorded in the files "
                     "(DICOM header or manifest modality column).")


def _remap(s: EvalSet, real: EvalSet) -> EvalSet:
    """Labels of ``s`` as indices into ``real.classes`` (names matched ignoring case); fingerprint unchanged."""
    idx = {c.lower(): i for i, c in enumerate(real.classes)}
    mapping = np.array([idx[c.lower()] for c in s.classes], np.int64)
    return replace(s, labels=mapping[s.labels], classes=real.classes)


def _align_classes(
    real: EvalSet, synthetic: EvalSet, test: EvalSet | None, notes: list[str]
) -> tuple[EvalSet, EvalSet | None]:
    if real.labels is None:
        notes.append("--real has no class labels: sections that need labels are skipped.")
        return synthetic, test
    real_low = {c.lower() for c in real.classes}
    accepted = ", ".join(real.classes)
    if test is not None:
        if test.labels is None:
            notes.append("--test has no class labels: sections that need labelled held-out data are skipped.")
        elif {c.lower() for c in test.classes} != real_low:
            raise RadsynthInputError("--test classes", list(test.classes), f"the classes of --real: {accepted}",
                                     "The held-out set must have the same classes as the training set "
                                     "(names compared ignoring case).")
        else:
            test = _remap(test, real)
    if synthetic.labels is None:
        notes.append("--synthetic has no class labels: sections that need labelled synthetic images are skipped.")
        return synthetic, test
    extra = [c for c in synthetic.classes if c.lower() not in real_low]
    if extra:
        raise RadsynthInputError("--synthetic classes", list(synthetic.classes),
                                 f"a subset of the classes of --real: {accepted}",
                                 f"{extra} are not classes of --real (names compared ignoring case).")
    synthetic = _remap(synthetic, real)
    absent = [c for c, n in synthetic.counts().items() if n == 0]
    if absent:
        notes.append(f"--synthetic has no images of class {', '.join(absent)}; per-class results for it are empty.")
    return synthetic, test


def _aspect_notes(real: EvalSet, others: list[EvalSet], notes: list[str]) -> None:
    ar = mean_aspect(real)
    if ar is None:
        return
    for s in others:
        a = mean_aspect(s)
        if a is not None and abs(a / ar - 1.0) > ASPECT_TOLERANCE:
            notes.append(f"Mean aspect ratio (width/height) of {s.option} is {a:.2f} against {ar:.2f} for --real; "
                         "images are centre-cropped to squares, so the sets show different parts of the field of view.")


def harmonise(
    real: EvalSet, synthetic: EvalSet, test: EvalSet | None
) -> tuple[EvalSet, EvalSet, EvalSet | None, list[str]]:
    """Check that the sets are comparable and map labels onto ``real``'s classes; returns the sets and notes.

    Modality: two known, different modalities raise. Classes (compared ignoring case): a labelled ``test``
    must have exactly the real classes, a labelled ``synthetic`` a subset of them; both are re-indexed onto the
    real class order and names. An unlabelled set is returned unchanged, with a note. A mean native aspect ratio
    differing from the real one by more than :data:`ASPECT_TOLERANCE` gives a note.
    """
    notes: list[str] = []
    _check_modality([s for s in (real, synthetic, test) if s is not None], notes)
    synthetic, test = _align_classes(real, synthetic, test, notes)
    _aspect_notes(real, [s for s in (synthetic, test) if s is not None], notes)
    return real, synthetic, test, notes
