"""Input sets of ``radsynth evaluate``: load real training, synthetic and real held-out 2D images.

A set is loaded from one of (entries found by :mod:`radsynth.evaluate.sources`):

(a) a class folder ``root/<class>/**/<image>`` (PNG, JPEG, DICOM, NIfTI; hidden files skipped), as
    :func:`radsynth.generators.common.data.scan_class_folder`; a class sub-folder that is itself a radsynth output
    folder (``<class>/manifest.parquet`` + ``<class>/images/``) contributes the manifest's image rows only;
(b) a CSV/Parquet manifest: a ``path`` column (relative to the manifest's folder, or absolute), optionally
    ``class`` (or ``label``) and ``patient``; other columns are image attributes. Without a class column the
    set is unlabelled;
(c) a radsynth output folder, or its ``manifest.parquet`` (recognised by ``kind`` and ``format`` columns):
    rows with ``kind == "image"`` and a 2D-capable format; the class is ``attr_class``, else the one true
    ``label_<name>`` column, else none; ``attr_<name>`` columns are attributes; ``subject`` is the group id;
(d) a folder of loose images (no class sub-folders), or a BIDS-style folder (``sub-<label>/**``): an
    unlabelled set;
(f) a ``radsynth ingest`` output folder, or its ``manifest.parquet`` (recognised by ``source_format`` and
    ``sha256`` columns beside ``path``/``class``/``patient``): class, pseudonymous patient and modality from the
    manifest (``unknown``/``volume`` = not recorded); the file-description columns are not attributes.

Group ids (``patients``), used to keep a patient's images together in splits and bootstraps, come from a
``patient`` column (or a radsynth ``subject``); otherwise, for real sets, from the file name
(:func:`radsynth.generators.common.data.patient_id`, Kermany et al. 2018 naming), and for synthetic sets the
file's path relative to the source without its suffix (every synthetic image its own group).
Byte-identical files (same sha256) share one group whatever their names say (:func:`merge_duplicate_groups`).

With ``slices`` (``--slices``, :mod:`radsynth.evaluate.slicing`) every NIfTI volume is expanded into the 2D
slices the spec picks (2D images of the same set are used as they are); a slice's group id is its volume's:
the ``patient``/``subject`` column, else a BIDS ``sub-<label>`` in the path, else the rules above applied to
the volume file, so C2ST folds, bootstraps and the memorisation audit keep a subject's slices together.
``sequence`` (``--sequence``) keeps the images of one sequence (manifest ``sequence`` column, else the
BIDS-style file-name suffix). A radsynth cohort folder contributes its ``kind == "image"`` rows only,
never masks; folder scans skip NIfTI label maps.

Before any pixel is read, each file's header is checked (PIL size, DICOM header without pixel data, NIfTI
header shape and affine): volumes are refused without ``slices`` because evaluation is 2D (multi-frame DICOM
always: convert it to NIfTI); images (slices) smaller than the evaluation size are refused because
upsampling would hide or invent detail (compare the resolution caveats of Fréchet-distance evaluation,
Heusel et al. 2017, arXiv:1706.08500);
the modality (DICOM (0008,0060), else the manifest ``modality`` column) must be one per set.
Pixels are read with :func:`~radsynth.generators.common.data.read_image` (volumes: per-volume scaling, see
:mod:`radsynth.evaluate.slicing`) and centre-cropped and resized to a square with
:func:`~radsynth.generators.common.data.resize_image`.

The fingerprint is sha256 over the sorted (path relative to the source, for a slice followed by the
canonical slice spec and slice index, file sha256, lower-case class name) triples, so it identifies the data
independent of the image size, the file order and class-name case.
:func:`harmonise` checks that the three sets are comparable (modality, classes, aspect ratio) and maps the
synthetic and test labels onto the real set's class order.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from radsynth.core.errors import RadsynthInputError
from radsynth.evaluate.slicing import SliceSpec, VolumeGeometry, bids_subject, parse_slices, volume_geometry
from radsynth.evaluate.slicing import volume_slices
from radsynth.evaluate.sources import ACCEPTED as _ACCEPTED
from radsynth.evaluate.sources import FORMATS_2D, Entry, collect, norm_modality, rel_path, select_sequence
from radsynth.generators.common.data import IMAGE_SUFFIXES, _is_image, patient_id, read_image, resize_image
from radsynth.generators.common.data import _stem as _strip_suffix
from radsynth.io.atomic import sha256_file

ROLES = ("real", "synthetic", "test")
__all__ = ["ASPECT_TOLERANCE", "FORMATS_2D", "ROLES", "UNLABELLED", "EvalSet", "harmonise", "load_eval_set",
           "mean_aspect", "role_field"]
#: Key of :meth:`EvalSet.counts` for an unlabelled set.
UNLABELLED = "(unlabelled)"
#: Relative difference of mean aspect ratios (width / height) above which :func:`harmonise` adds a note.
ASPECT_TOLERANCE = 0.25

_ACCEPTED_2D = "2D images (PNG/JPEG/DICOM single frame/NIfTI single slice), or NIfTI volumes with --slices"
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
    #: per image "<path relative to source>[#<slice spec>@<slice index>]\x00<file sha256>" (fingerprint input)
    file_keys: tuple[str, ...] = field(default=(), repr=False)
    #: how volumes were sliced (spec, sequence, volumes, slices, 2D images); None without --slices/--sequence
    slicing: dict[str, Any] | None = None
    #: files byte-identical to another file of the set (they share its group id, see :func:`merge_duplicate_groups`)
    duplicate_files: int = 0

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
        """A JSON-able summary row of the set (``slicing`` only for sets loaded with --slices/--sequence)."""
        d: dict[str, Any] = {
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
            "duplicate_files": int(self.duplicate_files),
        }
        if self.slicing is not None:
            d["slicing"] = dict(self.slicing)
        return d

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


# ---------------------------------------------------------------- headers


_Probe = tuple[int, int, str | None, VolumeGeometry | None]


def _probe(path: Path, fld: str, spec: SliceSpec | None) -> _Probe:
    """(rows, columns, DICOM modality, volume geometry) from the header: a NIfTI volume gives the size of its
    slices under ``spec`` (without ``spec`` it raises, as does a multi-frame DICOM); unreadable -> read_image's
    error."""
    low = path.name.lower()
    try:
        if low.endswith((".nii", ".nii.gz")):
            import nibabel as nib

            img = nib.load(str(path))
            shape = tuple(int(s) for s in img.shape)
            dims = [s for s in shape if s > 1]
            if len(dims) > 2:
                if spec is None:
                    raise _volume_error(path, shape, fld)
                geom = volume_geometry(img.shape, img.affine, path, fld)
                return (*geom.slice_hw(spec.orientation), None, geom)
            if len(dims) == 2:
                return dims[0], dims[1], None, None
            raise ValueError(f"shape {shape}")
        if low.endswith((".dcm", ".dicom")):
            import pydicom

            ds = pydicom.dcmread(path, stop_before_pixels=True)
            frames = int(ds.get("NumberOfFrames", 1) or 1)
            rows, cols = int(ds.Rows), int(ds.Columns)
            if frames > 1:
                raise _volume_error(path, (frames, rows, cols), fld, dicom=True)
            return rows, cols, norm_modality(ds.get("Modality")), None
        from PIL import Image

        with Image.open(path) as im:
            w, h = im.size
        return int(h), int(w), None, None
    except RadsynthInputError:
        raise
    except Exception:  # noqa: BLE001 - let the pixel reader give its one-line error naming the file
        a = read_image(path)
        return int(a.shape[0]), int(a.shape[1]), None, None


def _volume_error(path: Path, shape: tuple[int, ...], fld: str, dicom: bool = False) -> RadsynthInputError:
    if dicom:
        return RadsynthInputError(fld, str(path), _ACCEPTED_2D, f"This file is a multi-frame DICOM of shape {shape}; "
                                  "evaluation is 2D and --slices reads NIfTI volumes: convert the series to NIfTI "
                                  "(e.g. dcm2niix) and pass --slices, or extract 2D slices first.")
    return RadsynthInputError(fld, str(path), _ACCEPTED_2D, f"This file is a volume of shape {shape}; evaluation is "
                              "2D: pass --slices to sample 2D slices of the volumes (e.g. --slices axial:0.3-0.7:4), "
                              "or extract 2D slices first.")


def _size_error(fld: str, path: Path | str, h: int, w: int, image_size: int, min_side: int) -> RadsynthInputError:
    return RadsynthInputError(f"{fld} image size", f"{h}x{w} pixels ({path})",
                              f"images at least {image_size} pixels on the short side for --image-size {image_size}",
                              f"The smallest image of {fld} is {min_side} pixels: use --image-size <= {min_side} "
                              "(upsampling would hide or invent detail).")


def _set_modality(entries: list[Entry], header_mods: list[str | None], fld: str, asserted: str | None) -> str | None:
    per_file = [hm or e.modality for e, hm in zip(entries, header_mods)]
    known = sorted({m for m in per_file if m})
    if len(known) > 1:
        n = {m: per_file.count(m) for m in known}
        raise RadsynthInputError(f"{fld} modality", known, "one modality per set",
                                 f"{fld} mixes modalities ({n}); evaluate each modality separately.")
    found = known[0] if known else None
    want = norm_modality(asserted)
    if want and found and want != found:
        raise RadsynthInputError(f"{fld} modality", found, f"the asserted modality {want}",
                                 f"The files of {fld} record {found}; drop the modality option or pass another set.")
    return found or want


def _classes(entries: list[Entry], fld: str) -> tuple[str, ...] | None:
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
    slices: SliceSpec | str | None = None,
    sequence: str | None = None,
) -> EvalSet:
    """Load one input set (see the module docstring); errors name ``--real``/``--synthetic``/``--test``.

    ``modality`` is the user's assertion: used when the files record none, an error when they record another.
    ``slices`` (a :class:`~radsynth.evaluate.slicing.SliceSpec` or its text) expands NIfTI volumes into 2D
    slices; ``sequence`` keeps the images of one sequence (:func:`radsynth.evaluate.sources.select_sequence`).
    """
    fld = role_field(role)
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 1:
        raise RadsynthInputError("--image-size", image_size, "a positive integer")
    spec = None if slices is None else parse_slices(slices)
    src = Path(source)
    base, entries = collect(src, fld)
    if not entries:
        raise RadsynthInputError(fld, str(source), _ACCEPTED, "No images were found there.")
    entries, sequence_applied = select_sequence(entries, sequence, fld)
    for e in entries:
        if not _is_image(e.path):
            raise RadsynthInputError(f"{fld} file", str(e.path), f"an existing image file ({', '.join(IMAGE_SUFFIXES)}"
                                     ")", "Fix the manifest's path column or restore the file.")
    classes = _classes(entries, fld)
    index = {c: i for i, c in enumerate(classes or ())}
    rels = [rel_path(e.path, base) for e in entries]
    order = sorted(range(len(entries)), key=lambda i: (index.get(entries[i].label or "", -1), rels[i]))
    entries, rels = [entries[i] for i in order], [rels[i] for i in order]

    probes = [_probe(e.path, fld, spec) for e in entries]  # headers only: 3D, size and modality before pixels
    set_modality = _set_modality(entries, [p[2] for p in probes], fld, modality)
    hw0 = np.array([(p[0], p[1]) for p in probes], np.int64)
    i_min = int(np.argmin(hw0.min(axis=1)))
    min_side = int(hw0[i_min].min())
    if min_side < image_size:
        what = f"{entries[i_min].path}, {spec.orientation} slices" if probes[i_min][3] and spec else entries[i_min].path
        raise _size_error(fld, what, int(hw0[i_min, 0]), int(hw0[i_min, 1]), image_size, min_side)

    from tqdm.auto import tqdm

    image_size = int(image_size)
    rows: list[tuple[int, np.ndarray, str, tuple[int, int], str]] = []  # entry, image, key, native hw, path
    n_vol, n_vol_empty = 0, 0
    digests: list[str] = []
    for i, e in enumerate(tqdm(entries, desc=f"reading {fld} images", unit="img", disable=not progress, leave=False)):
        digest = sha256_file(e.path)
        digests.append(digest)
        if probes[i][3] is None:
            images_2d = [("", read_image(e.path))]
        else:
            n_vol += 1
            images_2d = [(f"#{spec}@{k}", a) for k, a in volume_slices(e.path, spec, fld)]  # type: ignore[arg-type]
            n_vol_empty += not images_2d
        for tag, a in images_2d:
            h, w = int(a.shape[0]), int(a.shape[1])
            if min(h, w) < image_size:  # header and pixels disagree: trust the pixels
                raise _size_error(fld, e.path, h, w, image_size, min(h, w))
            rows.append((i, resize_image(a, image_size), f"{rels[i]}{tag}\x00{digest}", (h, w), f"{e.path}{tag}"))
    if not rows:
        raise RadsynthInputError(f"{fld} --slices", str(spec), "a slab with at least one non-empty slice",
                                 f"Every slice {spec} picks in the {n_vol} volumes of {fld} is empty (all "
                                 "background): widen the slab or add :keep-empty.")

    ent = np.array([r[0] for r in rows], np.int64)
    keys = tuple(r[2] for r in rows)
    hw = np.array([r[3] for r in rows], np.int64).reshape(-1, 2)
    labels = None if classes is None else np.array([index[str(entries[i].label)] for i in ent], np.int64)
    groups = [e.patient or (bids_subject(r) if p[3] is not None else None)
              or (_strip_suffix(r) if role == "synthetic" else patient_id(e.path.name))
              for e, r, p in zip(entries, rels, probes)]
    groups, n_dup = merge_duplicate_groups(groups, digests)
    attr_names = sorted({k for e in entries for k in e.attrs})
    attributes = {k: np.array([entries[i].attrs.get(k, "") for i in ent], dtype=object) for k in attr_names}
    slicing = None if spec is None and sequence is None else {
        "spec": None if spec is None else str(spec), "sequence": sequence if sequence_applied else None,
        "sequence_not_recorded": sequence is not None and not sequence_applied, "volumes": n_vol,
        "slices": len(rows) - (len(entries) - n_vol), "images_2d": len(entries) - n_vol,
        "volumes_without_slices": n_vol_empty}
    min_side, shapes = _native_stats(hw)
    return EvalSet(
        name=role,
        source=os.fspath(source),
        images=np.stack([r[1] for r in rows]).astype(np.float32, copy=False),
        labels=labels,
        classes=classes or (),
        patients=np.array([groups[i] for i in ent], dtype=object),
        attributes=attributes,
        paths=tuple(r[4] for r in rows),
        modality=set_modality,
        native_min_side=min_side,
        native_shapes=shapes,
        fingerprint=_fingerprint(keys, labels, classes or ()),
        native_hw=hw,
        file_keys=keys,
        slicing=slicing,
        duplicate_files=n_dup,
    )


def merge_duplicate_groups(groups: list[str], digests: list[str]) -> tuple[list[str], int]:
    """Group ids with byte-identical files (same sha256) in one group, and how many files repeat an earlier one.

    Real sets hold exact copies under other names (``brain-mri-real``: 22 groups, ``cxr-pneumonia``: 30); as
    separate groups, one copy can land in a C2ST training fold and another in its test fold, or one be the
    "nearest neighbour" of the other in the memorisation audit. Groups joined by a shared file are merged
    (union-find) and named by their smallest id, so the result does not depend on the file order.
    """
    parent: dict[str, str] = {g: g for g in groups}

    def find(g: str) -> str:
        while parent[g] != g:
            parent[g] = parent[parent[g]]
            g = parent[g]
        return g

    first: dict[str, str] = {}
    n_dup = 0
    for g, d in zip(groups, digests):
        if d in first:
            n_dup += 1
            a, b = find(first[d]), find(g)
            if a != b:
                parent[max(a, b)] = min(a, b)
        else:
            first[d] = g
    return [find(g) for g in groups], n_dup


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
