"""NIfTI -> a NIfTI with a clean header: free-text fields and extensions removed, data and geometry kept.

Cleared: ``descrip`` (80 bytes of free text, often the scanner/protocol or a name), ``aux_file``,
``intent_name`` and, in NIfTI-1, the unused Analyze ``db_name``; every header extension is dropped (DICOM
header extensions, code 2, may carry the whole source header; AFNI/XML ones free text). Kept: dimensions,
voxel sizes, datatype, scaling (``scl_slope``/``scl_inter``), units, intent code, qform/sform (the affine).

The header is parsed and written with nibabel; the voxel bytes are copied unscaled and unchanged (as
stored: same dtype, byte order, Fortran order) rather than re-written through nibabel's array writer,
which would recompute the scaling. Output is gzip with ``mtime=0`` and no stored file name, so the same
input gives the same bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
from dataclasses import dataclass

import numpy as np

_TEXT_FIELDS = ("descrip", "aux_file", "intent_name", "db_name")


@dataclass(frozen=True)
class NiftiResult:
    """A cleaned NIfTI: gzip bytes, shape, bits per voxel, fields changed and the sha256 of the voxel data."""

    data: bytes
    shape: tuple[int, ...]
    bits: int
    dropped: int
    pixel_sha256: str


def clean_nifti(path: str | os.PathLike[str]) -> NiftiResult:
    """Read a ``.nii``/``.nii.gz`` and return its cleaned ``.nii.gz`` bytes (see the module docstring)."""
    import nibabel as nib

    name = os.fspath(path)
    img = nib.load(name)
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)) or not img.header.is_single:
        raise ValueError("not a single-file NIfTI-1/NIfTI-2 image")
    # refuse a header declaring more voxel bytes than the file can hold before anything is allocated
    # (deflate expands at most ~1032:1)
    size = os.path.getsize(name)
    limit = size * 1032 + 4096 if name.lower().endswith(".gz") else size
    declared = int(np.prod([int(s) for s in img.shape], dtype=object)) * img.header.get_data_dtype().itemsize
    if declared + int(img.header.get_data_offset()) > limit:
        raise ValueError(f"the header declares {declared} bytes of voxels, the file holds at most {limit}")
    hdr = img.header.copy()
    dropped = 0
    for name in _TEXT_FIELDS:
        if name in hdr:
            if bytes(np.asarray(hdr[name]).tobytes()).strip(b"\x00 "):
                dropped += 1
            hdr[name] = b""
    dropped += len(hdr.extensions)
    hdr.extensions.clear()
    hdr["vox_offset"] = 0  # nibabel sets the minimum offset (352 / 544 bytes) when writing
    proxy = img.dataobj
    if hasattr(proxy, "slope"):  # nibabel moves the on-disk scaling into the proxy when loading
        slope, inter = float(proxy.slope), float(proxy.inter)
        hdr.set_slope_inter(None if (slope, inter) == (1.0, 0.0) else slope, None if (slope, inter) == (1.0, 0.0) else inter)
    raw = np.asarray(proxy.get_unscaled()) if hasattr(proxy, "get_unscaled") else np.asarray(proxy)
    raw = raw.astype(hdr.get_data_dtype(), copy=False)
    voxels = raw.tobytes(order="F")
    body = io.BytesIO()
    hdr.write_to(body)
    body.write(b"\x00" * max(0, int(hdr["vox_offset"]) - body.tell()))
    body.write(voxels)
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=6) as gz:
        gz.write(body.getvalue())
    shape = tuple(int(s) for s in raw.shape)
    digest = hashlib.sha256(f"{raw.dtype.str}{shape}".encode() + voxels).hexdigest()
    return NiftiResult(data=out.getvalue(), shape=shape, bits=int(raw.dtype.itemsize * 8), dropped=dropped,
                       pixel_sha256=digest)
