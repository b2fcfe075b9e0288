"""2D slices of 3D volumes for ``radsynth evaluate --slices`` (and the ``--sequence`` filter's file-name rule).

Slice spec (:func:`parse_slices`), one line of text::

    ORIENTATION[:START-END[:STEP[mm]]][:full][:keep-empty][:window=LOW..HIGH]

* ``ORIENTATION``: ``axial`` (plane normal to the S axis), ``coronal`` (normal to A) or ``sagittal``
  (normal to R). It is read from the NIfTI affine, never from the array axes: the volume is first brought
  to the closest RAS+ voxel order with nibabel (``io_orientation`` + ``apply_orientation``: axis
  permutations and flips only, no interpolation), so an LPS, PIR or any other stored order gives the same
  slices. An oblique affine is taken to its closest axes.
* ``START-END``: the slab, fractions in [0, 1] of the volume's **foreground extent** along the slice
  normal, measured in the +RAS direction (axial 0 = most inferior, 1 = most superior; coronal 0 = most
  posterior; sagittal 0 = most left). The foreground extent is the range from the first to the last
  non-empty slice (see below), so ``0.3-0.7`` means the same anatomy in volumes with different fields of
  view or padding; ``:full`` uses the whole array extent instead (also used when a volume has no
  foreground). One number (``axial:0.5``) is a single position: the nearest slice. Default ``0-1``.
* ``STEP``: every STEP-th slice from the slab's first slice (a whole number, default 1), or a
  distance in mm (``5mm``: ``max(1, round(5 / slice spacing))`` slices, the spacing along the normal
  taken from the affine).
* Empty slices: a voxel is foreground when its value is above :data:`FOREGROUND_FRACTION` of the
  volume's intensity range (minimum to the 99.5th percentile); a slice is empty (all background) when
  fewer than :data:`EMPTY_FRACTION` of its voxels are foreground. Empty slices are skipped unless
  ``:keep-empty`` is given.

* ``window=header``: the display window stored in each volume's NIfTI header (``cal_min``..``cal_max``, the
  NIfTI-1 display range; radsynth's MR cohorts write one when ``realism.display_window_percentile`` is set,
  as clinical exports carry a window): values clipped and mapped linearly to [0, 1] per volume. A volume
  without a display range (cal_max <= cal_min) is an error naming the file.
* ``window=LOW..HIGH``: a fixed intensity window in the volume's stored units after header scaling (HU for
  CT, e.g. ``window=-1024..3071``): values are clipped to it and mapped linearly to [0, 1], so one HU gets one
  grey level in every volume. Without it intensities are min-max scaled per volume (below), which maps a CT
  stored from -2048 (outside the scan circle) and one stored from -1125 to different greys for the same HU.

Each slice becomes a 2D image in radiological display orientation: axial and coronal with the patient's
right on the image's left, axial with anterior at the top, coronal and sagittal with superior at the top,
sagittal with anterior on the left. Intensities are min-max scaled **per volume** (finite values), so
the slices of one volume keep their relative brightness (or mapped through ``window``). Pixels are made square before the evaluation's
centre crop and resize: the finer in-plane axis is resampled (linear, anti-aliased) to the coarser
spacing, so the pixel count reflects the information actually acquired and the ``--image-size`` guard
of :mod:`radsynth.evaluate.sets` stays honest. Same file and spec give the same slices in the same order.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from radsynth.core.errors import RadsynthInputError

ORIENTATIONS = ("axial", "coronal", "sagittal")
#: RAS+ axis normal to each plane (0 = R, 1 = A, 2 = S)
NORMAL_AXIS = {"sagittal": 0, "coronal": 1, "axial": 2}
#: foreground voxel: value > this fraction of the volume's range (minimum .. 99.5th percentile)
FOREGROUND_FRACTION = 0.1
#: empty slice: fewer than this fraction of its voxels are foreground
EMPTY_FRACTION = 0.01
FLAGS = ("full", "keep-empty")
ACCEPTED = ("ORIENTATION[:START-END[:STEP[mm]]][:full][:keep-empty][:window=LOW..HIGH|header] with ORIENTATION axial, "
            "coronal or sagittal, "
            "0 <= START <= END <= 1 (fractions of the foreground extent; one number = one position), STEP a whole "
            "number of slices or a distance such as 5mm (e.g. axial:0.3-0.7:4, coronal:0.5, sagittal:0.2-0.8:5mm)")
_NUM = r"(?:\d+(?:\.\d*)?|\.\d+)"


@dataclass(frozen=True)
class SliceSpec:
    """Which slices of a volume to use (see the module docstring)."""

    orientation: str
    start: float = 0.0
    end: float = 1.0
    step: float = 1.0
    step_unit: str = "slices"  # or "mm"
    extent: str = "foreground"  # or "full"
    keep_empty: bool = False
    #: fixed intensity window (low, high) in the volume's stored units after header scaling (e.g. HU):
    #: clipped and mapped to [0, 1] instead of the per-volume min-max; "header": each volume's NIfTI display
    #: range (cal_min..cal_max); None: per-volume min-max
    window: tuple[float, float] | str | None = None

    def __post_init__(self) -> None:
        ok = (self.orientation in ORIENTATIONS and 0.0 <= self.start <= self.end <= 1.0 and self.step > 0
              and self.step_unit in ("slices", "mm") and self.extent in ("foreground", "full")
              and (self.step_unit == "mm" or float(self.step).is_integer())
              and (self.window is None or self.window == "header" or (len(self.window) == 2 and all(math.isfinite(v) for v in self.window)
                                           and self.window[0] < self.window[1])))
        if not ok:
            raise RadsynthInputError("--slices", repr(self), ACCEPTED)

    def __str__(self) -> str:
        """Canonical text (parses back to an equal spec; part of the input fingerprints)."""
        slab = f"{self.start:.12g}" if self.start == self.end else f"{self.start:.12g}-{self.end:.12g}"
        step = f"{self.step:.12g}mm" if self.step_unit == "mm" else f"{int(self.step)}"
        flags = (":full" if self.extent == "full" else "") + (":keep-empty" if self.keep_empty else "")
        if self.window == "header":
            flags += ":window=header"
        elif self.window is not None:
            flags += f":window={self.window[0]:.12g}..{self.window[1]:.12g}"
        return f"{self.orientation}:{slab}:{step}{flags}"

    def to_dict(self) -> dict[str, Any]:
        return {"spec": str(self), "orientation": self.orientation, "slab": [self.start, self.end],
                "slab_of": "full array extent" if self.extent == "full" else "foreground extent",
                "step": self.step, "step_unit": self.step_unit, "skip_empty": not self.keep_empty,
                "intensity": "per-volume min-max" if self.window is None else
                "NIfTI header display range (cal_min..cal_max) per volume -> [0, 1]" if self.window == "header" else
                f"window {self.window[0]:.12g}..{self.window[1]:.12g} (stored units) -> [0, 1]"}

    def step_slices(self, spacing_mm: float) -> int:
        """The step in slices for a volume with this slice spacing along the normal."""
        if self.step_unit == "mm":
            return max(1, int(math.floor(self.step / max(float(spacing_mm), 1e-6) + 0.5)))
        return int(self.step)


def parse_slices(text: Any, field: str = "--slices") -> SliceSpec:
    """A :class:`SliceSpec` from text such as ``axial:0.3-0.7:4``; anything else is one RadsynthInputError."""
    if isinstance(text, SliceSpec):
        return text
    raw = text if isinstance(text, str) else str(text)
    parts = [p.strip() for p in raw.strip().lower().split(":")]

    def bad(hint: str) -> RadsynthInputError:
        return RadsynthInputError(field, raw, ACCEPTED, hint)

    if not parts[0] or parts[0] not in ORIENTATIONS:
        raise bad(f"Unknown orientation {parts[0]!r}.")
    is_flag = [p in FLAGS or p.startswith("window=") for p in parts[1:]]
    flags = [p if p in FLAGS else "window" for p, f in zip(parts[1:], is_flag) if f]
    pos = [p for p, f in zip(parts[1:], is_flag) if not f]
    window = None
    for p in parts[1:]:
        if p == "window=header":
            window = "header"
        elif p.startswith("window="):
            num = rf"-?{_NUM}(?:e[+-]?\d+)?"
            m = re.fullmatch(rf"window=({num})\.\.({num})", p)
            if not m or not float(m.group(1)) < float(m.group(2)):
                raise bad(f"The window {p!r} is not window=LOW..HIGH with LOW < HIGH (e.g. window=-1024..3071) "
                          "or window=header.")
            window = (float(m.group(1)), float(m.group(2)))
    if len(set(flags)) != len(flags):
        raise bad("A flag is given twice.")
    flag_before_field = any(f and not g for f, g in zip(is_flag, is_flag[1:]))  # a field after a flag
    if len(pos) > 2 or flag_before_field:
        raise bad("Too many fields, or a flag before the slab or step.")
    start, end = 0.0, 1.0
    if pos and pos[0]:  # an empty slab ("axial::4") is the default 0-1
        m = re.fullmatch(rf"({_NUM})(?:-({_NUM}))?", pos[0])
        if not m:
            raise bad(f"The slab {pos[0]!r} is not START-END.")
        start = float(m.group(1))
        end = float(m.group(2)) if m.group(2) is not None else start
        if not 0.0 <= start <= end <= 1.0:
            raise bad("The slab must satisfy 0 <= START <= END <= 1.")
    step, unit = 1.0, "slices"
    if len(pos) == 2 and pos[1]:  # an empty step ("axial:0.2-0.8:") is the default 1
        m = re.fullmatch(rf"({_NUM})\s*(mm)?", pos[1])
        if not m:
            raise bad(f"The step {pos[1]!r} is neither a whole number of slices nor a distance in mm.")
        step, unit = float(m.group(1)), "mm" if m.group(2) else "slices"
        if step <= 0 or (unit == "slices" and not step.is_integer()):
            raise bad("The step must be a positive whole number of slices or a positive distance in mm.")
    return SliceSpec(parts[0], start, end, step, unit, "full" if "full" in flags else "foreground",
                     "keep-empty" in flags, window)


# ---------------------------------------------------------------- geometry (header only)


@dataclass(frozen=True)
class VolumeGeometry:
    """Shape and voxel spacing (mm) of a volume in its closest RAS+ voxel order."""

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]

    def plane(self, orientation: str) -> tuple[int, int, int]:
        """(normal axis, row axis, column axis) of a slice, RAS+ axis numbers: the later in-plane axis runs
        down the rows, the earlier one along the columns, both reversed (see :func:`_to_display`)."""
        n = NORMAL_AXIS[orientation]
        c, r = (a for a in range(3) if a != n)
        return n, r, c

    def slice_hw(self, orientation: str) -> tuple[int, int]:
        """Rows, columns of a slice after the square-pixel resampling."""
        _, r, c = self.plane(orientation)
        return _square_shape(self.shape[r], self.shape[c], self.spacing[r], self.spacing[c])


def _square_shape(h: int, w: int, sr: float, sc: float) -> tuple[int, int]:
    t = max(sr, sc)
    if t <= 0 or abs(sr - sc) <= 1e-3 * t:
        return h, w
    return max(1, int(math.floor(h * sr / t + 0.5))), max(1, int(math.floor(w * sc / t + 0.5)))


def _ornt(affine: np.ndarray, path: Path, field: str) -> np.ndarray:
    from nibabel.orientations import io_orientation

    ornt = io_orientation(np.asarray(affine, np.float64)[:4, :4])
    if ornt.shape != (3, 2) or not np.all(np.isfinite(ornt)):
        raise RadsynthInputError(f"{field} file", str(path), "a NIfTI volume whose affine gives an orientation",
                                 "The affine has a zero or degenerate voxel axis; fix the header (sform/qform).")
    return ornt.astype(np.int64)


def _spatial(shape_: Any, path: Path, field: str) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in shape_)
    if len(shape) < 3 or any(s != 1 for s in shape[3:]):
        raise RadsynthInputError(f"{field} file", f"{path} (shape {shape})", "a 3D volume (one per file)",
                                 "Split 4D series into one volume per file.")
    return shape[0], shape[1], shape[2]


def volume_geometry(shape_: Any, affine: np.ndarray, path: Path, field: str = "--real") -> VolumeGeometry:
    """:class:`VolumeGeometry` of a volume of array shape ``shape_`` and voxel-to-world ``affine`` (header only)."""
    from nibabel.affines import voxel_sizes

    shape = _spatial(shape_, path, field)
    ornt = _ornt(affine, path, field)
    sizes = voxel_sizes(np.asarray(affine, np.float64))
    out_shape, out_sp = [0, 0, 0], [0.0, 0.0, 0.0]
    for i in range(3):
        out_shape[int(ornt[i, 0])], out_sp[int(ornt[i, 0])] = shape[i], float(sizes[i])
    return VolumeGeometry(tuple(out_shape), tuple(out_sp))  # type: ignore[arg-type]


# ---------------------------------------------------------------- slices


def _foreground_counts(vol: np.ndarray, axis: int) -> np.ndarray:
    """Per slice along ``axis``: fraction of foreground voxels (``vol`` min-max scaled to [0, 1])."""
    hi = float(np.percentile(vol, 99.5)) if vol.size else 0.0
    if hi <= 0.0:
        return np.zeros(vol.shape[axis])
    fg = vol > FOREGROUND_FRACTION * hi
    other = tuple(a for a in range(3) if a != axis)
    return fg.mean(axis=other)


def select_indices(fg_fraction: np.ndarray, spec: SliceSpec, spacing_mm: float) -> list[int]:
    """Indices (increasing, along the +RAS normal) of the slices ``spec`` picks, given each slice's
    foreground fraction."""
    n = int(len(fg_fraction))
    nonempty = np.flatnonzero(np.asarray(fg_fraction) >= EMPTY_FRACTION)
    lo, hi = (0, n - 1) if spec.extent == "full" or not len(nonempty) else (int(nonempty[0]), int(nonempty[-1]))
    first, last = lo + spec.start * (hi - lo), lo + spec.end * (hi - lo)
    i0, i1 = int(math.ceil(first - 1e-9)), int(math.floor(last + 1e-9))
    if i0 > i1:  # a slab thinner than one slice: its nearest slice
        i0 = i1 = int(math.floor((first + last) / 2 + 0.5))
    idx = range(i0, i1 + 1, spec.step_slices(spacing_mm))
    keep = set(nonempty.tolist())
    return [int(i) for i in idx if 0 <= i < n and (spec.keep_empty or i in keep)]


def _to_display(plane: np.ndarray) -> np.ndarray:
    """(first in-plane RAS axis, second) -> display (rows, columns): both axes reversed, transposed."""
    return np.ascontiguousarray(plane[::-1, ::-1].T)


def _square(image: np.ndarray, sr: float, sc: float) -> np.ndarray:
    h, w = image.shape
    shape = _square_shape(h, w, sr, sc)
    if shape == (h, w):
        return image.astype(np.float32, copy=False)
    from skimage.transform import resize

    out = resize(image, shape, order=1, anti_aliasing=True, preserve_range=True, mode="reflect")
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def load_volume(path: str | os.PathLike[str], field: str = "--real",
                window: tuple[float, float] | str | None = None) -> tuple[np.ndarray, VolumeGeometry]:
    """A NIfTI volume in its closest RAS+ voxel order, scaled to [0, 1] (float32), and its geometry: min-max per
    volume, or with ``window`` (low, high in stored units after header scaling, e.g. HU) clipped and mapped
    linearly, so the same value gets the same grey in every volume (CT: never guess the HU range), or with
    ``window="header"`` the file's own NIfTI display range (``cal_min``..``cal_max``).

    Read with :func:`radsynth.io.nifti.read_nifti` (header scaling applied; a header declaring more voxels than
    the file can hold is refused before allocating)."""
    from nibabel.orientations import apply_orientation

    from radsynth.generators.common.data import _minmax
    from radsynth.io.nifti import read_nifti

    p = Path(path)
    try:
        data, affine, info = read_nifti(p)
    except RadsynthInputError as exc:
        raise RadsynthInputError(f"{field} file", str(p), exc.accepted, exc.hint) from None
    geom = volume_geometry(data.shape, affine, p, field)
    data = np.asarray(data, dtype=np.float32).reshape(data.shape[:3])
    vol = np.ascontiguousarray(apply_orientation(data, _ornt(affine, p, field)), dtype=np.float32)
    if window == "header":
        window = info.get("display_range") or (0.0, 0.0)
        if not (math.isfinite(window[0]) and math.isfinite(window[1]) and window[0] < window[1]):
            raise RadsynthInputError(f"{field} file", str(p), "a NIfTI volume with a display range (cal_min < cal_max) "
                                     "for --slices ...:window=header",
                                     "This file has none: drop window=header (per-volume min-max) or give "
                                     "window=LOW..HIGH.")
    if window is not None:
        lo, hi = window
        return np.clip((vol - np.float32(lo)) / np.float32(hi - lo), 0.0, 1.0).astype(np.float32), geom
    return _minmax(vol), geom


def volume_slices(
    path: str | os.PathLike[str], spec: SliceSpec, field: str = "--real"
) -> list[tuple[int, np.ndarray]]:
    """``[(index along the +RAS normal, 2D float32 image in [0, 1] with square pixels), ...]`` in index order."""
    vol, geom = load_volume(path, field, spec.window)
    n, r, c = geom.plane(spec.orientation)
    idx = select_indices(_foreground_counts(vol, n), spec, geom.spacing[n])
    out = []
    for k in idx:
        plane = np.take(vol, k, axis=n)  # axes (column axis c, row axis r): c < r
        out.append((k, _square(_to_display(plane), geom.spacing[r], geom.spacing[c])))
    return out


# ---------------------------------------------------------------- file names


_BIDS_SUBJECT = re.compile(r"^(sub-[A-Za-z0-9]+)(?:_|$)")
_SUFFIX = re.compile(r"_([A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*)$")


def bids_subject(path: str | os.PathLike[str]) -> str | None:
    """``sub-<label>`` from a BIDS-style file or folder name in ``path`` (file name first), else None."""
    for part in reversed(Path(path).parts):
        m = _BIDS_SUBJECT.match(part)
        if m:
            return m.group(1)
    return None


def file_sequence(path: str | os.PathLike[str]) -> str | None:
    """The BIDS-style suffix of a BIDS-style file name (``sub-01_T1w.nii.gz`` -> ``T1w``), else None: only names
    that start with ``sub-<label>_`` count, so ``10_no.jpg`` or ``scan_ct.png`` record no sequence."""
    from radsynth.generators.common.data import _stem

    stem = _stem(Path(path).name)
    if not _BIDS_SUBJECT.match(stem):
        return None
    m = _SUFFIX.search(stem)
    return m.group(1) if m else None


def is_label_map(path: str | os.PathLike[str]) -> bool:
    """Whether a NIfTI file's header declares a label map (intent code 1002), header only; False otherwise."""
    if not str(path).lower().endswith((".nii", ".nii.gz")):
        return False
    try:
        import nibabel as nib

        return int(nib.load(str(path)).header.get("intent_code", 0)) == 1002
    except Exception:  # noqa: BLE001 - an unreadable file is reported later by the reader
        return False
