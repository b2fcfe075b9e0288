"""Training data for learned generators: class folders, readers, patient ids, patient-aware split.

Layout: ``DIR/<class>/<image files>`` (one sub-folder per class, e.g.
``cxr-pneumonia/train/NORMAL`` and ``.../PNEUMONIA``); files may be PNG, JPEG,
DICOM (``.dcm``) or NIfTI (``.nii``/``.nii.gz``). Hidden files are ignored.

Patient ids come from file names (:func:`patient_id`), so that the validation
split holds whole patients (:func:`patient_split`): a patient's images never sit
on both sides. Known patterns (Kermany et al. 2018 chest X-rays,
doi:10.17632/rscbjbr9sj.2):

* ``person12_bacteria_45.jpeg`` / ``person447_virus_921_1.jpeg`` -> ``person12`` / ``person447``;
* ``IM-0115-0001.jpeg``, ``IM-0429-0001-0002.jpeg`` -> ``IM-0115`` / ``IM-0429``;
* ``NORMAL2-IM-1427-0001.jpeg`` -> ``IM-1427``: the second batch reuses the
  ``IM-NNNN`` numbers of the first; whether they are the same children is not
  documented, so they are merged (conservative: merging can never leak a patient
  across the split, splitting could).

Any other name is its own patient (the file stem up to the first ``_``/``-``
free suffix is not guessed). A class folder with a ``manifest.parquet`` holding
``path`` (relative to the folder) and ``patient`` columns, such as a
``radsynth ingest`` output, takes the patient ids from it instead. Readers return float32 2D arrays scaled to [0, 1].
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from radsynth.core.errors import RadsynthInputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm", ".dicom", ".nii", ".nii.gz")

_PATTERNS = (
    re.compile(r"^(person\d+)_", re.IGNORECASE),
    re.compile(r"^(?:NORMAL2-)?(IM-\d+)-", re.IGNORECASE),
)


def patient_id(filename: str) -> str:
    """Patient id encoded in an image file name (see module docstring); else the file's stem."""
    name = Path(filename).name
    for pat in _PATTERNS:
        m = pat.match(name)
        if m:
            return m.group(1).upper() if m.group(1).upper().startswith("IM-") else m.group(1).lower()
    return _stem(name)


def _stem(name: str) -> str:
    low = name.lower()
    for suf in sorted(IMAGE_SUFFIXES, key=len, reverse=True):
        if low.endswith(suf):
            return name[: -len(suf)]
    return name


#: Columns of a ``radsynth ingest`` manifest that describe the stored file, not the image (not attributes).
INGEST_FILE_COLUMNS = ("rows", "columns", "slices", "bits", "source_format", "sha256", "deid_changes")


def is_ingest_manifest(columns: Sequence[str]) -> bool:
    """Whether a manifest's columns are those of a ``radsynth ingest`` output (``DIR/manifest.parquet``)."""
    return {"path", "class", "patient", "source_format", "sha256"} <= set(columns)


def _manifest_patients(root: Path) -> dict[str, str]:
    """``{path relative to root: patient}`` from ``root/manifest.parquet`` when it has path and patient columns."""
    m = root / "manifest.parquet"
    if not m.is_file():
        return {}
    import pyarrow.parquet as pq

    try:
        t = pq.read_table(m)
    except Exception:  # noqa: BLE001 - an unreadable manifest: fall back to file-name patient ids
        return {}
    if "path" not in t.column_names or "patient" not in t.column_names:
        return {}
    return {str(p): str(q) for p, q in zip(t.column("path").to_pylist(), t.column("patient").to_pylist())
            if p and q not in (None, "")}


def _is_image(path: Path) -> bool:
    return path.is_file() and not path.name.startswith(".") and path.name.lower().endswith(IMAGE_SUFFIXES)


@dataclass(frozen=True)
class ImageItem:
    """One training image: path, class name, class index and patient id."""

    path: Path
    label: str
    label_index: int
    patient: str
    #: other manifest columns, ((name, value), ...) sorted by name; "" = unknown
    attributes: tuple[tuple[str, str], ...] = ()

    def attribute(self, name: str) -> str:
        return dict(self.attributes).get(name, "")


@dataclass(frozen=True)
class ClassFolder:
    """A scanned class-folder dataset; ``items`` sorted by (class, file name)."""

    root: Path
    classes: tuple[str, ...]
    items: tuple[ImageItem, ...]

    def counts(self) -> dict[str, int]:
        out = {c: 0 for c in self.classes}
        for it in self.items:
            out[it.label] += 1
        return out


def scan_class_folder(root: str | os.PathLike[str], *, require_classes: int = 1) -> ClassFolder:
    """Scan ``root/<class>/*`` for images; one-line RadsynthInputError if unusable.

    ``require_classes`` is the minimum number of non-empty classes (2 for
    class-conditional training). Images directly in ``root`` (no class folder)
    form one class named after ``root``.
    """
    r = Path(root)
    if not r.is_dir():
        raise RadsynthInputError("--data", str(root), "an existing folder with one sub-folder per class")
    subdirs = sorted(p for p in r.iterdir() if p.is_dir() and not p.name.startswith("."))
    groups: list[tuple[str, list[Path]]] = []
    for d in subdirs:
        files = sorted((p for p in d.rglob("*") if _is_image(p)), key=lambda p: p.relative_to(d).as_posix())
        if files:
            groups.append((d.name, files))
    loose = sorted(p for p in r.iterdir() if _is_image(p))
    if loose and not groups:
        groups.append((r.name, loose))
    if not groups:
        raise RadsynthInputError(
            "--data", str(root), f"a folder with one sub-folder per class holding images ({', '.join(IMAGE_SUFFIXES)})",
            "The folder has no images.",
        )
    if len(groups) < require_classes:
        raise RadsynthInputError(
            "--data", str(root), f"at least {require_classes} class sub-folders with images for --condition class",
            f"Found only {[g[0] for g in groups]}; use --condition none for an unconditional model.",
        )
    classes = tuple(g[0] for g in groups)
    if len({c.lower() for c in classes}) != len(classes):
        raise RadsynthInputError("--data classes", list(classes), "class folder names distinct ignoring case")
    known = _manifest_patients(r)  # e.g. a `radsynth ingest` output: pseudonymous file names, real grouping
    items = tuple(
        ImageItem(path=p, label=c, label_index=i,
                  patient=known.get(p.relative_to(r).as_posix()) or patient_id(p.name))
        for i, (c, files) in enumerate(groups)
        for p in files
    )
    return ClassFolder(root=r, classes=classes, items=items)


MANIFEST_SUFFIXES = (".csv", ".parquet")


def scan_manifest(manifest: str | os.PathLike[str], *, require_classes: int = 1) -> ClassFolder:
    """Read a training manifest: a CSV or Parquet table with one row per image.

    Columns: ``path`` (relative to the manifest's folder, or absolute), ``class``
    (or ``label``) and optionally ``patient`` (default: :func:`patient_id` of the
    file name). Any other column is an image attribute (text; empty = unknown) that
    ``radsynth train --attributes`` can condition on. Classes are ordered by name,
    rows by (class, path), as for a class folder.
    """
    m = Path(manifest)
    field = "--data"
    if not m.is_file():
        raise RadsynthInputError(field, str(m), "a class folder or an existing .csv/.parquet manifest")
    try:
        if m.suffix.lower() == ".csv":
            import csv

            with open(m, newline="") as fh:
                rows = list(csv.DictReader(fh))
        else:
            import pyarrow.parquet as pq

            rows = pq.read_table(m).to_pylist()
    except Exception as exc:  # noqa: BLE001 - any parse failure is one user error
        raise RadsynthInputError(field, str(m), "a readable CSV/Parquet manifest", str(exc)[:120]) from None
    cols = set(rows[0]) if rows else set()
    cls_col = "class" if "class" in cols else ("label" if "label" in cols else None)
    if not rows or "path" not in cols or cls_col is None:
        raise RadsynthInputError(f"{field} columns", sorted(cols), "at least one row with columns path and class (or label)")
    entries: dict[str, list[tuple[Path, str, tuple[tuple[str, str], ...]]]] = {}
    file_cols = set(INGEST_FILE_COLUMNS) if is_ingest_manifest(cols) else set()
    attr_cols = sorted(cols - {"path", cls_col, "patient"} - file_cols)
    for i, row in enumerate(rows):
        rel, cls = row.get("path"), row.get(cls_col)
        if not rel or cls in (None, ""):
            raise RadsynthInputError(f"{field} row {i + 1}", {"path": rel, cls_col: cls}, "a path and a class")
        p = Path(str(rel))
        p = p if p.is_absolute() else m.parent / p
        if not _is_image(p):
            raise RadsynthInputError(f"{field} row {i + 1} path", str(rel),
                                     f"an existing image file ({', '.join(IMAGE_SUFFIXES)})")
        pat = row.get("patient")
        attrs = tuple((c, "" if row.get(c) is None else str(row.get(c)).strip()) for c in attr_cols)
        entries.setdefault(str(cls), []).append((p, str(pat) if pat not in (None, "") else patient_id(p.name), attrs))
    classes = tuple(sorted(entries))
    if len({c.lower() for c in classes}) != len(classes):
        raise RadsynthInputError("--data classes", list(classes), "class names distinct ignoring case")
    if len(classes) < require_classes:
        raise RadsynthInputError(field, str(m), f"at least {require_classes} classes for --condition class",
                                 f"Found only {list(classes)}; use --condition none for an unconditional model.")
    items = tuple(
        ImageItem(path=p, label=c, label_index=i, patient=pat, attributes=attrs)
        for i, c in enumerate(classes)
        for p, pat, attrs in sorted(entries[c], key=lambda e: e[0].as_posix())
    )
    return ClassFolder(root=m.parent, classes=classes, items=items)


def scan_data(data: str | os.PathLike[str], *, require_classes: int = 1) -> ClassFolder:
    """A class folder (:func:`scan_class_folder`) or a CSV/Parquet manifest (:func:`scan_manifest`)."""
    d = Path(data)
    if d.is_file() and d.name.lower().endswith(MANIFEST_SUFFIXES):
        return scan_manifest(d, require_classes=require_classes)
    return scan_class_folder(d, require_classes=require_classes)


def _rank(patient: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}\x00{patient}".encode()).hexdigest()


def patient_split(patients: Sequence[str], val_fraction: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """Indices (train, val) with every patient wholly on one side.

    Patients are ordered by sha256(seed, id) and the first
    ``ceil(val_fraction * n_patients)`` go to validation (at least one when there
    are two or more patients and ``val_fraction > 0``; never all of them).
    Deterministic, independent of file order.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise RadsynthInputError("--val-fraction", val_fraction, "a number in [0, 1)")
    uniq = sorted(set(patients), key=lambda p: (_rank(p, seed), p))
    n_val = 0
    if val_fraction > 0 and len(uniq) >= 2:
        n_val = min(max(1, math.ceil(val_fraction * len(uniq))), len(uniq) - 1)
    val_p = set(uniq[:n_val])
    train = [i for i, p in enumerate(patients) if p not in val_p]
    val = [i for i, p in enumerate(patients) if p in val_p]
    return train, val


# ---------------------------------------------------------------- readers


def _scale_integer(a: np.ndarray) -> np.ndarray:
    info = np.iinfo(a.dtype)
    return (a.astype(np.float32) - info.min) / float(info.max - info.min)


def _minmax(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float32)
    finite = np.isfinite(a)
    if not finite.any():
        return np.zeros(a.shape, np.float32)
    lo, hi = float(a[finite].min()), float(a[finite].max())
    out = (np.where(finite, a, lo) - lo) / (hi - lo if hi > lo else 1.0)
    return out.astype(np.float32)


def _read_pil(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        if im.mode in ("I;16", "I;16B", "I;16L"):
            return _scale_integer(np.asarray(im, dtype=np.uint16))
        if im.mode in ("I", "F"):
            return _minmax(np.asarray(im))
        return _scale_integer(np.asarray(im.convert("L"), dtype=np.uint8))


def _read_dicom(path: Path) -> np.ndarray:
    import pydicom

    ds = pydicom.dcmread(path)
    a = ds.pixel_array.astype(np.float32)
    if a.ndim == 3:  # multi-frame or RGB: first frame / mean of colour planes
        a = a.mean(axis=-1) if a.shape[-1] in (3, 4) and ds.get("SamplesPerPixel", 1) > 1 else a[0]
    a = a * float(ds.get("RescaleSlope", 1) or 1) + float(ds.get("RescaleIntercept", 0) or 0)
    out = _minmax(a)
    if str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        out = 1.0 - out
    return out


def _read_nifti(path: Path) -> np.ndarray:
    import nibabel as nib

    a = np.asarray(nib.load(str(path)).dataobj, dtype=np.float32)
    a = np.squeeze(a)
    if a.ndim == 3:  # a volume: its middle slice along the last axis
        a = a[:, :, a.shape[2] // 2]
    if a.ndim != 2:
        raise ValueError(f"expected a 2D image or 3D volume, got shape {a.shape}")
    return _minmax(a)


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """A 2D float32 image in [0, 1] (rows, columns) from PNG/JPEG/DICOM/NIfTI.

    8/16-bit PNG/JPEG are divided by 255/65535 (RGB -> luminance); DICOM
    (rescale applied, MONOCHROME1 inverted) and NIfTI (middle slice of a volume)
    are min-max scaled per image. Unreadable files raise RadsynthInputError.
    """
    p = Path(path)
    low = p.name.lower()
    try:
        if low.endswith((".nii", ".nii.gz")):
            return _read_nifti(p)
        if low.endswith((".dcm", ".dicom")):
            return _read_dicom(p)
        return _read_pil(p)
    except RadsynthInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad input file
        msg = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise RadsynthInputError(
            "image file", str(p), "a readable PNG, JPEG, DICOM or NIfTI image", f"Reader said: {msg}. Remove or fix it."
        ) from None


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """Square ``size`` x ``size`` float32 image: centre crop to square, then anti-aliased resize (scikit-image)."""
    from skimage.transform import resize

    h, w = image.shape
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    sq = image[top : top + s, left : left + s]
    if s == size:
        return np.ascontiguousarray(sq, dtype=np.float32)
    out = resize(sq, (size, size), order=1, anti_aliasing=s > size, preserve_range=True, mode="reflect")
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def load_images(items: Sequence[ImageItem], size: int, *, progress: bool = False) -> np.ndarray:
    """Stack of images as float32 ``(n, 1, size, size)`` in [-1, 1] (the diffusion model's range)."""
    out = np.empty((len(items), 1, size, size), np.float32)
    it = items
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(items, desc="reading images", unit="img", leave=False)
    for i, item in enumerate(it):
        out[i, 0] = resize_image(read_image(item.path), size) * 2.0 - 1.0
    return out


def shared_data_dir() -> Path:
    """The development data folder: ``$RADSYNTH_SHARED_DATA``, else ``../shared/data`` beside the repository."""
    env = os.environ.get("RADSYNTH_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[4].parent / "shared" / "data"


def load_class_arrays(
    root: str | os.PathLike[str], size: int
) -> tuple[np.ndarray, np.ndarray, list[str], list[str], tuple[str, ...]]:
    """A two-class folder as arrays: images ``(N, size, size)`` in [0, 1], class indices, patient ids,
    ``"<class>/<file name>"`` names and class names (used by the scripts that train shipped models)."""
    cf = scan_class_folder(root, require_classes=2)
    x = np.stack([resize_image(read_image(it.path), size) for it in cf.items]).astype(np.float32)
    y = np.array([it.label_index for it in cf.items], dtype=np.int64)
    return x, y, [it.patient for it in cf.items], [f"{it.label}/{it.path.name}" for it in cf.items], cf.classes

