"""Deterministic 16-bit greyscale PNG writer and display-oriented previews.

PNG files are written with Pillow (mode ``"I;16"`` -> IHDR bit depth 16, colour
type 0; label previews mode ``"L"``, 8 bit), a fixed zlib level and no ``tIME``
chunk, so the bytes depend on the pixels and text only. Every file marks itself
synthetic with, in this order:

* tEXt ``Software`` (``radsynth <version>``), ``Description`` and ``Comment``
  (:data:`radsynth.io.SYNTHETIC_NOTE`): the standard PNG keywords most viewers show
  (an iTXt chunk instead when a value is not Latin-1);
* iTXt ``radsynth:provenance``: canonical JSON of :func:`radsynth.io.synthetic_marking`,
  UTF-8 (iTXt, the international text chunk: tEXt is Latin-1 only), uncompressed;
* iTXt ``XML:com.adobe.xmp``: an XMP packet (the PNG keyword the XMP specification
  part 3 defines) with the IPTC ``Iptc4xmpExt:DigitalSourceType``
  (:func:`radsynth.io.digital_source_type`: ``trainedAlgorithmicMedia`` for learned
  generators, ``algorithmicMedia`` for physics simulation), ``xmp:CreatorTool`` and
  ``dc:description``. No dates or random ids, so the packet is deterministic.

:func:`read_png_marking` reads all of it back (and whether a C2PA ``caBX`` chunk is present).

Display convention (radiological), for RAS+ canonical volumes
(axis0 = x left->right, axis1 = y posterior->anterior, axis2 = z inferior->superior):

* axial ``volume[:, :, k]``: patient's right on image left, anterior at top;
* coronal ``volume[:, j, :]``: patient's right on image left, superior at top;
* sagittal ``volume[i, :, :]``: anterior on image left, superior at top.

These match the default DICOM orientations (axial/coronal/sagittal Image
Orientation (Patient) 1\\0\\0\\0\\1\\0, 1\\0\\0\\0\\0\\-1, 0\\1\\0\\0\\0\\-1 in LPS).
Pixels are shown square; anisotropic voxels are not resampled.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import numpy as np
from PIL import Image, PngImagePlugin

from radsynth.core.errors import RadsynthInputError
from radsynth.core.records import canonical_json
from radsynth.io import (
    RADSYNTH_VERSION,
    DERIVED_NOTE,
    SYNTHETIC_NOTE,
    derived_from_real,
    digital_source_type,
    synthetic_marking,
)
from radsynth.io.atomic import atomic_path

PLANES = ("axial", "coronal", "sagittal")
#: zlib level for PNG (fixed for byte-identical output).
PNG_COMPRESS_LEVEL = 6
#: Percentiles of the non-zero voxels used by ``window="auto"``.
AUTO_WINDOW_PERCENTILES = (0.5, 99.5)

_PLANE_AXIS = {"sagittal": 0, "coronal": 1, "axial": 2}
#: iTXt keyword of the provenance JSON.
PROVENANCE_KEY = "radsynth:provenance"
#: iTXt keyword of an XMP packet in PNG (XMP specification part 3, 1.1.5).
XMP_KEY = "XML:com.adobe.xmp"
#: PNG chunk type that holds a C2PA manifest store (C2PA specification, embedding in PNG).
C2PA_CHUNK = b"caBX"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _to_display(s2d: np.ndarray) -> np.ndarray:
    # s2d[a, b] with a and b increasing towards patient left->right / posterior->anterior
    # / inferior->superior; display rows run from the high end of b (top) and
    # columns from the high end of a (left): D[r, c] = s2d[A-1-c, B-1-r].
    return np.ascontiguousarray(s2d.T[::-1, ::-1])


def slice_for_display(volume: np.ndarray, plane: str = "axial", index: int | None = None) -> np.ndarray:
    """2D display array (rows, columns) of one plane of a RAS+ volume.

    ``index`` defaults to the middle slice (``shape // 2``) of that plane.
    """
    if plane not in _PLANE_AXIS:
        raise RadsynthInputError("plane", plane, ", ".join(PLANES))
    volume = np.asarray(volume)
    if volume.ndim != 3:
        raise RadsynthInputError("volume.shape", volume.shape, "a 3D (x, y, z) RAS+ volume")
    axis = _PLANE_AXIS[plane]
    n = volume.shape[axis]
    idx = n // 2 if index is None else int(index)
    if not 0 <= idx < n:
        raise RadsynthInputError(f"{plane} index", idx, f"0..{n - 1}")
    return _to_display(np.take(volume, idx, axis=axis))


def projection_for_display(image2d: np.ndarray) -> np.ndarray:
    """2D display array of a 2D (x, z) image such as a frontal projection.

    Same convention as the coronal plane: patient's right on image left, superior at top.
    """
    a = np.asarray(image2d)
    if a.ndim != 2:
        raise RadsynthInputError("image2d.shape", a.shape, "a 2D (x, z) image")
    return _to_display(a)


def display_to_xz(display: np.ndarray) -> np.ndarray:
    """Inverse of :func:`projection_for_display`: display D[r, c] -> (x, z) image a[x, z]."""
    return np.ascontiguousarray(np.asarray(display)[::-1, ::-1].T)


def axial_display_stack(volume: np.ndarray) -> np.ndarray:
    """(z, rows, columns) view of a RAS+ volume: every axial slice in display orientation (a view, no copy)."""
    v = np.asarray(volume)
    if v.ndim != 3:
        raise RadsynthInputError("volume.shape", v.shape, "a 3D (x, y, z) volume")
    return v.transpose(2, 1, 0)[:, ::-1, ::-1]


def axial_display_unstack(stack: np.ndarray) -> np.ndarray:
    """Inverse of :func:`axial_display_stack`: (z, rows, columns) -> (x, y, z) volume."""
    return np.ascontiguousarray(np.asarray(stack)[:, ::-1, ::-1].transpose(2, 1, 0))


def axial_slice_for_display(volume: np.ndarray, k: int | None = None) -> np.ndarray:
    """``volume[:, :, k]`` with patient's right on image left and anterior at top."""
    return slice_for_display(volume, "axial", k)


def coronal_slice_for_display(volume: np.ndarray, j: int | None = None) -> np.ndarray:
    """``volume[:, j, :]`` with patient's right on image left and superior at top."""
    return slice_for_display(volume, "coronal", j)


def sagittal_slice_for_display(volume: np.ndarray, i: int | None = None) -> np.ndarray:
    """``volume[i, :, :]`` with anterior on image left and superior at top."""
    return slice_for_display(volume, "sagittal", i)


def auto_window(volume: np.ndarray) -> tuple[float, float]:
    """(0.5th, 99.5th) percentile of the finite non-zero voxels; (0, 1) if there are none."""
    v = np.asarray(volume)
    nz = v[(v != 0) & np.isfinite(v)]
    if nz.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(nz.astype(np.float64), AUTO_WINDOW_PERCENTILES)
    lo, hi = float(lo), float(hi)
    if hi <= lo:
        hi = lo + 1.0
    return lo, hi


def xmp_packet(provenance: dict[str, Any] | None, description: str) -> str:
    """Deterministic XMP packet: IPTC digital source type, creator tool, description."""
    dst = digital_source_type(provenance)
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        '    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"\n'
        '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
        '    xmlns:dc="http://purl.org/dc/elements/1.1/"\n'
        f'    Iptc4xmpExt:DigitalSourceType={quoteattr(dst)}\n'
        f'    xmp:CreatorTool={quoteattr(f"radsynth {RADSYNTH_VERSION}")}>\n'
        f'   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">{escape(description)}</rdf:li></rdf:Alt>'
        '</dc:description>\n'
        '  </rdf:Description>\n'
        ' </rdf:RDF>\n'
        '</x:xmpmeta>\n'
        '<?xpacket end="r"?>'
    )


def _text_chunks(provenance: dict[str, Any] | None, description: str) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    base = DERIVED_NOTE if derived_from_real(provenance) else SYNTHETIC_NOTE  # a real image edited by a model
    note = base if not description else f"{base}. {description}"
    for key, value in (("Software", f"radsynth {RADSYNTH_VERSION}"), ("Description", note), ("Comment", base)):
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            info.add_itxt(key, value)
        else:
            info.add_text(key, value)
    info.add_itxt(PROVENANCE_KEY, canonical_json(synthetic_marking(provenance)))
    info.add_itxt(XMP_KEY, xmp_packet(provenance, note))
    return info


def png_chunks(path: str | os.PathLike[str]) -> list[tuple[bytes, bytes]]:
    """``[(chunk type, data), ...]`` of a PNG file, in file order (no CRC check).

    Hand-written walk over the chunk layout (length, type, data, CRC): Pillow drops the
    ancillary chunks it does not know (``caBX``), and we need to know which text chunk type
    carries a key. Raises ValueError for a file that is not a PNG or is truncated.
    """
    data = Path(path).read_bytes()
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("not a PNG file (bad signature)")
    out: list[tuple[bytes, bytes]] = []
    pos = len(_PNG_SIGNATURE)
    while pos < len(data):
        if pos + 8 > len(data):
            raise ValueError("truncated PNG chunk header")
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        ctype = data[pos + 4:pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise ValueError(f"truncated PNG chunk {ctype!r}")
        out.append((ctype, data[pos + 8:pos + 8 + length]))
        pos = end
        if ctype == b"IEND":
            break
    return out


def _text_of(ctype: bytes, data: bytes) -> tuple[str, str] | None:
    """(keyword, text) of an uncompressed tEXt/iTXt chunk (compressed iTXt via zlib)."""
    try:
        if ctype == b"tEXt":
            key, _, value = data.partition(b"\x00")
            return key.decode("latin-1"), value.decode("latin-1")
        if ctype == b"iTXt":
            key, _, rest = data.partition(b"\x00")
            flag, method, rest = rest[0], rest[1], rest[2:]
            _lang, _, rest = rest.partition(b"\x00")
            _tkey, _, value = rest.partition(b"\x00")
            if flag:
                import zlib

                if method != 0:
                    return None
                value = zlib.decompress(value)
            return key.decode("latin-1"), value.decode("utf-8")
    except (IndexError, UnicodeDecodeError, ValueError):
        return None
    return None


def read_png_marking(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The synthetic marking of a PNG file.

    Returns ``{"marking": parsed radsynth:provenance JSON (or None), "marking_chunk": "iTXt" |
    "tEXt" | None, "digital_source_type": from the XMP packet (or None), "software",
    "description", "comment" (str or None), "c2pa": True when a caBX chunk is present,
    "label_mask": True for a radsynth label-mask preview}``. Raises ValueError for a file
    that is not a readable PNG.
    """
    res: dict[str, Any] = {"marking": None, "marking_chunk": None, "digital_source_type": None, "software": None,
                           "description": None, "comment": None, "c2pa": False, "label_mask": False}
    for ctype, data in png_chunks(path):
        if ctype == C2PA_CHUNK:
            res["c2pa"] = True
            continue
        kv = _text_of(ctype, data)
        if kv is None:
            continue
        key, value = kv
        if key == PROVENANCE_KEY and res["marking"] is None:
            try:
                parsed = json.loads(value)
            except ValueError:
                continue
            if isinstance(parsed, dict):
                res["marking"], res["marking_chunk"] = parsed, ctype.decode("ascii")
        elif key == XMP_KEY:
            marker = "Iptc4xmpExt:DigitalSourceType="
            i = value.find(marker)
            if i >= 0:
                q = value[i + len(marker):i + len(marker) + 1]
                j = value.find(q, i + len(marker) + 1)
                res["digital_source_type"] = value[i + len(marker) + 1:j] if q in "\"'" and j > 0 else None
        elif key in ("Software", "Description", "Comment"):
            res[key.lower()] = value
    res["label_mask"] = bool(res["description"] and any(f"{n}. label mask" in res["description"]
                                                          for n in (SYNTHETIC_NOTE, DERIVED_NOTE)))
    return res


def _save(
    path: str | os.PathLike[str], pixels: np.ndarray, provenance: dict[str, Any] | None, description: str
) -> Path:
    h, w = pixels.shape
    if pixels.dtype == np.uint16:
        im = Image.frombytes("I;16", (w, h), np.ascontiguousarray(pixels, dtype="<u2").tobytes())
    elif pixels.dtype == np.uint8:
        im = Image.frombytes("L", (w, h), np.ascontiguousarray(pixels).tobytes())
    else:  # pragma: no cover - internal use only
        raise TypeError(pixels.dtype)
    with atomic_path(path) as tmp:
        im.save(tmp, format="PNG", pnginfo=_text_chunks(provenance, description), compress_level=PNG_COMPRESS_LEVEL)
    return Path(path)


def _windowed_uint16(image2d: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    lo, hi = float(window[0]), float(window[1])
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise RadsynthInputError("window", window, "(lo, hi) with finite lo < hi")
    x = (np.asarray(image2d, dtype=np.float64) - lo) * (65535.0 / (hi - lo))
    x = np.nan_to_num(x, nan=0.0)
    return np.clip(np.rint(x), 0, 65535).astype(np.uint16)


def write_png16(
    path: str | os.PathLike[str],
    image2d: np.ndarray,
    window: tuple[float, float] | None = None,
    *,
    provenance: dict[str, Any] | None = None,
    description: str = "",
) -> Path:
    """Write a 2D array (rows, columns, as displayed) as a 16-bit greyscale PNG.

    ``window=(lo, hi)`` maps lo -> 0 and hi -> 65535 linearly (clipped). With
    ``window=None`` integer/bool data in [0, 65535] is written unchanged (bool
    -> 0/65535) and float data is stretched from its min to its max.
    """
    a = np.asarray(image2d)
    if a.ndim != 2:
        raise RadsynthInputError("image2d.shape", a.shape, "a 2D (rows, columns) array")
    if window is not None:
        pixels = _windowed_uint16(a, window)
    elif a.dtype.kind == "b":
        pixels = a.astype(np.uint16) * np.uint16(65535)
    elif a.dtype.kind in "iu":
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise RadsynthInputError("image2d", f"range [{a.min()}, {a.max()}]", "integers in [0, 65535] or a window")
        pixels = a.astype(np.uint16)
    else:
        finite = a[np.isfinite(a)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        pixels = _windowed_uint16(a, (lo, hi if hi > lo else lo + 1.0))
    return _save(path, pixels, provenance, description)


def write_preview(
    path: str | os.PathLike[str],
    volume: np.ndarray,
    plane: str = "axial",
    index: int | None = None,
    window: str | tuple[float, float] | None = "auto",
    *,
    provenance: dict[str, Any] | None = None,
) -> Path:
    """16-bit PNG of one display-oriented slice of a RAS+ image volume.

    ``window="auto"`` uses :func:`auto_window` of the *whole volume* (so slices
    of one volume share a grey scale); ``(lo, hi)`` is used as given; ``None``
    stretches the volume's min..max.
    """
    two_d = slice_for_display(volume, plane, index)
    if isinstance(window, str):
        if window != "auto":
            raise RadsynthInputError("window", window, "'auto', (lo, hi) or None")
        win: tuple[float, float] = auto_window(volume)
    elif window is None:
        v = np.asarray(volume, dtype=np.float64)
        v = v[np.isfinite(v)]
        lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 1.0)
        win = (lo, hi if hi > lo else lo + 1.0)
    else:
        win = (float(window[0]), float(window[1]))
    idx = np.asarray(volume).shape[_PLANE_AXIS[plane]] // 2 if index is None else int(index)
    desc = f"{plane} slice {idx}, window [{win[0]:.6g}, {win[1]:.6g}]"
    return write_png16(path, two_d, win, provenance=provenance, description=desc)


def write_mask_preview(
    path: str | os.PathLike[str],
    mask: np.ndarray,
    plane: str = "axial",
    index: int | None = None,
    *,
    provenance: dict[str, Any] | None = None,
) -> Path:
    """PNG of one display-oriented slice of a binary mask or label map.

    The distinct non-zero labels of the *whole volume*, sorted, get ranks
    1..n mapped evenly onto 1..255 (8-bit, n <= 255) or 1..65535 (16-bit), so
    every label is visible and keeps its grey level in every plane; 0 stays black.
    """
    m = np.asarray(mask)
    if m.dtype.kind not in "biu":
        raise RadsynthInputError("mask.dtype", str(m.dtype), "bool or integer label arrays")
    labels = np.unique(m)
    labels = labels[labels != 0]
    two_d = slice_for_display(m, plane, index)
    n = int(labels.size)
    top = 255 if n <= 255 else 65535
    out_dtype = np.uint8 if n <= 255 else np.uint16
    pixels = np.zeros(two_d.shape, dtype=out_dtype)
    if n:
        rank = np.searchsorted(labels, two_d) + 1  # 1..n for labels present
        grey = np.rint(rank * (top / n)).astype(out_dtype)
        pixels = np.where(two_d != 0, grey, 0).astype(out_dtype)
    idx = m.shape[_PLANE_AXIS[plane]] // 2 if index is None else int(index)
    desc = f"label mask, {plane} slice {idx}, {n} labels: " + ",".join(str(int(v)) for v in labels[:64])
    return _save(path, pixels, provenance, desc)
