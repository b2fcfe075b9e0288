"""Whole-head label maps: loading onto the 1 mm RAS working grid, shipped assets, caching.

A label map is any NIfTI volume of integer FreeSurfer/SynthSeg label ids (stored as
integers or as integral floats, as in the SynthSeg training maps). Loading

1. reorients to RAS+ canonical (``nibabel.as_closest_canonical``),
2. resamples to 1 mm with nearest neighbour, only if the voxels are not already 1 mm,
3. crops/pads to :data:`WORK_SHAPE`: centred on the brain in x (left-right) and y
   (posterior-anterior); in z the window's top sits :data:`VERTEX_MARGIN_MM` above the
   top of the brain so that skull and scalp at the vertex are kept and the neck is cut,
4. returns int16 labels and the voxel->world affine of the cropped grid, so every voxel
   keeps its world (scanner) coordinate.

Six real SynthSeg training maps (Billot et al., Medical Image Analysis 2023; Apache-2.0)
ship in ``radsynth/data/brain`` already on the working grid (see its README.md).
"""

from __future__ import annotations

import functools
import gzip
from importlib import resources
from pathlib import Path

import nibabel as nib
import numpy as np

from radsynth.core.errors import RadsynthInputError
from radsynth.core.labels import PARENCHYMA, VENTRICLES

#: Working grid (x, y, z) at 1 mm isotropic, RAS+. Fits brain, skull and scalp of all 20
#: SynthSeg training heads (brain extent at most ~150 x 175 x 150 mm); the nose tip and
#: the neck below the foramen magnum region are cut.
WORK_SHAPE: tuple[int, int, int] = (176, 208, 176)

#: Space kept above the top of the brain (mm): CSF + skull (~7 mm) + scalp (~6 mm) with a
#: margin. Measured on the 20 SynthSeg maps: scalp surface 14-21 mm above the brain top.
VERTEX_MARGIN_MM = 24.0

#: Labels whose extent defines "the brain" for centring (CSF 24 excluded: in whole-head
#: maps it runs down the spinal canal and would drag the centre into the neck).
_CENTRE_LABELS = np.array(sorted(PARENCHYMA | VENTRICLES), dtype=np.int16)

#: Quantile of voxel coordinates used as a robust brain extent (ignores stray voxels).
_EXTENT_QUANTILE = 1e-4

_SUFFIXES = (".nii", ".nii.gz")


def shipped_labelmap_dir() -> Path:
    """Folder of the label maps shipped with radsynth (``radsynth/data/brain``)."""
    return Path(str(resources.files("radsynth").joinpath("data", "brain")))


def _is_nifti(p: Path) -> bool:
    return p.is_file() and p.name.lower().endswith(_SUFFIXES)


def available_labelmaps(directory: str | Path | None = None) -> list[Path]:
    """Sorted label-map files: the shipped ones when ``directory`` is None, else every
    ``*.nii`` / ``*.nii.gz`` in ``directory`` (not recursive).

    Raises RadsynthInputError (field ``labelmap_dir``) if the folder is missing or has
    no NIfTI file.
    """
    folder = shipped_labelmap_dir() if directory is None else Path(directory).expanduser()
    if not folder.is_dir():
        raise RadsynthInputError(
            "labelmap_dir", str(folder), "an existing folder of .nii/.nii.gz label maps",
            "Check the path, or leave labelmap_dir unset to use the shipped brain label maps.",
        )
    found = sorted(p for p in folder.iterdir() if _is_nifti(p))
    if not found:
        raise RadsynthInputError(
            "labelmap_dir", str(folder), "a folder holding at least one .nii or .nii.gz label map",
            "Put FreeSurfer/SynthSeg label maps there, or leave labelmap_dir unset.",
        )
    return found


def _check_shape(shape) -> tuple[int, int, int]:
    try:
        out = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        out = ()
    if len(out) != 3 or min(out) < 1:
        raise RadsynthInputError("shape", shape, "three positive integers (x, y, z voxels at 1 mm)")
    return out  # type: ignore[return-value]


def _to_1mm(img: nib.Nifti1Image) -> nib.Nifti1Image:
    """Nearest-neighbour resampling to 1 mm isotropic, only if needed (world coords kept)."""
    zooms = np.asarray(img.header.get_zooms()[:3], dtype=float)
    if np.allclose(zooms, 1.0, atol=1e-3):
        return img
    from nibabel.processing import resample_to_output  # imports scipy lazily

    out = resample_to_output(img, voxel_sizes=(1.0, 1.0, 1.0), order=0, mode="constant", cval=0)
    return nib.as_closest_canonical(out)


def _integer_labels(data: np.ndarray, path: Path) -> np.ndarray:
    if np.issubdtype(data.dtype, np.integer):
        lab = data
    else:
        rounded = np.rint(data)
        if not np.array_equal(rounded, data):
            raise RadsynthInputError(
                "labelmap", str(path), "a NIfTI of integer label ids (integral floats are fine)",
                "This file holds non-integer values: is it an intensity image rather than a label map?",
            )
        lab = rounded
    lo, hi = (int(lab.min()), int(lab.max())) if lab.size else (0, 0)
    if lo < np.iinfo(np.int16).min or hi > np.iinfo(np.int16).max:
        raise RadsynthInputError("labelmap", str(path), "label ids within int16 range (-32768..32767)")
    return lab.astype(np.int16)


def crop_window(labels: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Start voxel index (may be negative or beyond the volume: padding) of the crop window.

    x, y: window centred on the robust brain extent; z: window top VERTEX_MARGIN_MM above
    the brain top (1 mm voxels assumed). Raises RadsynthInputError if no brain label found.
    """
    idx = np.nonzero(np.isin(labels, _CENTRE_LABELS))
    if idx[0].size == 0:
        raise RadsynthInputError(
            "labelmap", "no brain labels", "a FreeSurfer/SynthSeg label map with brain labels "
            f"(e.g. {sorted(PARENCHYMA)[:6]}...)",
            "radsynth needs cerebral white/grey matter labels to place the brain in the working grid.",
        )
    start = np.empty(3, dtype=np.int64)
    for ax in range(3):
        lo, hi = np.quantile(idx[ax], [_EXTENT_QUANTILE, 1.0 - _EXTENT_QUANTILE], method="nearest")
        if ax < 2:
            centre = 0.5 * (int(lo) + int(hi))
            start[ax] = int(np.floor(centre - (shape[ax] - 1) / 2.0 + 0.5))
        else:
            top = int(hi) + int(round(VERTEX_MARGIN_MM))
            start[ax] = top - shape[ax] + 1
    return start


def crop_or_pad(labels: np.ndarray, start: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Window ``labels[start : start+shape]`` with zero padding outside the volume."""
    out = np.zeros(shape, dtype=labels.dtype)
    src = tuple(slice(max(s, 0), min(s + n, dim)) for s, n, dim in zip(start, shape, labels.shape))
    dst = tuple(slice(sl.start - s, sl.stop - s) for sl, s in zip(src, start))
    if all(sl.stop > sl.start for sl in src):
        out[dst] = labels[src]
    return out


def load_labelmap(path: str | Path, shape: tuple[int, int, int] = WORK_SHAPE) -> tuple[np.ndarray, np.ndarray]:
    """Read a NIfTI label map onto the 1 mm RAS+ working grid.

    Returns ``(labels, affine)``: int16 array of ``shape`` and the 4x4 voxel->world affine
    (mm) of the cropped grid; world coordinates of every kept voxel equal the source's.
    """
    shape = _check_shape(shape)
    p = Path(path).expanduser()
    if not _is_nifti(p):
        raise RadsynthInputError(
            "labelmap", str(p), "an existing .nii or .nii.gz file",
            "Check the path; available_labelmaps() lists the shipped maps.",
        )
    try:
        img = nib.load(str(p))
    except Exception as exc:  # noqa: BLE001 - turn any reader failure into a one-line error
        raise RadsynthInputError("labelmap", str(p), "a readable NIfTI-1/2 file", f"nibabel said: {exc}") from None
    if len(img.shape) != 3 and not (len(img.shape) == 4 and img.shape[3] == 1):
        raise RadsynthInputError("labelmap", f"{p} with shape {img.shape}", "a 3D label volume")
    if len(img.shape) == 4:
        img = img.slicer[..., 0]
    img = _to_1mm(nib.as_closest_canonical(img))
    labels = _integer_labels(np.asarray(img.dataobj), p)
    start = crop_window(labels, shape)
    out = crop_or_pad(labels, start, shape)
    shift = np.eye(4)
    shift[:3, 3] = start
    affine = np.asarray(img.affine, dtype=np.float64) @ shift
    return out, affine


@functools.lru_cache(maxsize=8)
def _cached(path: str, shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    labels, affine = load_labelmap(path, shape)
    labels.setflags(write=False)
    affine.setflags(write=False)
    return labels, affine


def load_labelmap_cached(path: str | Path, shape: tuple[int, int, int] = WORK_SHAPE) -> tuple[np.ndarray, np.ndarray]:
    """:func:`load_labelmap` memoised on (resolved path, shape) for up to 8 maps
    (~13 MB each on the working grid). The arrays are READ-ONLY: callers must copy
    (``labels.copy()``) before changing them."""
    return _cached(str(Path(path).expanduser().resolve()), _check_shape(shape))


def save_labelmap(path: str | Path, labels: np.ndarray, affine: np.ndarray, compresslevel: int = 9) -> Path:
    """Write an int16 label map as NIfTI-1 (qform = sform = ``affine``, code 1 'scanner').

    ``.nii.gz`` output is byte-deterministic: gzip header with mtime 0 and no file name.
    """
    p = Path(path)
    aff = np.asarray(affine, dtype=np.float64)
    img = nib.Nifti1Image(np.asarray(labels, dtype=np.int16), aff)
    img.header.set_data_dtype(np.int16)
    img.set_qform(aff, code=1)
    img.set_sform(aff, code=1)
    img.header["descrip"] = b"radsynth label map"
    img.header.set_xyzt_units("mm")
    raw = img.to_bytes()
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.name.lower().endswith(".gz"):
        with open(p, "wb") as fh, gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0,
                                                compresslevel=compresslevel) as gz:
            gz.write(raw)
    else:
        p.write_bytes(raw)
    return p
