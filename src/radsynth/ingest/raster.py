"""PNG/JPEG -> a clean PNG: pixels only, every text chunk, EXIF, XMP, ICC profile and comment dropped.

Pixels are decoded as stored (no EXIF orientation applied, no colour management). Bit depth is kept:
8-bit grey (``L``), 16-bit grey (``I;16``) and 8-bit RGB(A). An RGB image whose three channels are equal
everywhere (a grey JPEG saved as colour) is stored as 8-bit grey; an alpha channel that is fully opaque is
dropped; palette and 1-bit images are expanded to grey (or RGB when the palette has colour). The PNG is
written by Pillow from a bare array (no ``pnginfo``, fixed ``compress_level``), so it holds no metadata and
the same pixels give the same bytes.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import numpy as np

PNG_COMPRESS_LEVEL = 6


@dataclass(frozen=True)
class RasterResult:
    """A re-encoded image: PNG bytes, the pixel array written and the metadata items dropped."""

    png: bytes
    pixels: np.ndarray
    bits: int
    dropped: int  # metadata entries of the source (text chunks, EXIF, ICC, comment, ...)


def _grey_or_colour(rgb: np.ndarray) -> np.ndarray:
    if rgb.ndim == 3 and np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
        return np.ascontiguousarray(rgb[..., 0])
    return rgb


def decode(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """(pixel array: (H, W) uint8/uint16 or (H, W, 3|4) uint8, number of metadata entries) of a PNG/JPEG."""
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        dropped = sum(1 for k in im.info if k not in ("dpi", "aspect", "jfif", "jfif_version", "jfif_unit",
                                                      "jfif_density", "progressive", "progression"))
        mode = im.mode
        if mode in ("I;16", "I;16B", "I;16L"):
            return np.asarray(im, dtype=np.uint16).copy(), dropped
        if mode == "I":  # 16-bit PNG on some Pillow versions; 32-bit ints otherwise
            a = np.asarray(im)
            if a.size and (a.min() < 0 or a.max() > 65535):
                raise ValueError("32-bit integer image: only 8/16-bit images are supported")
            return a.astype(np.uint16), dropped
        if mode == "F":
            raise ValueError("floating-point image: only 8/16-bit images are supported")
        if mode in ("L",):
            return np.asarray(im, dtype=np.uint8).copy(), dropped
        if mode == "1":
            return np.asarray(im.convert("L"), dtype=np.uint8).copy(), dropped
        if mode == "LA":
            a = np.asarray(im, dtype=np.uint8)
            return (np.ascontiguousarray(a[..., 0]) if (a[..., 1] == 255).all() else a.copy()), dropped
        if mode in ("P", "PA"):
            im2 = im.convert("RGBA")
        elif mode in ("RGB", "RGBA"):
            im2 = im
        else:  # CMYK, YCbCr, LAB, ...: decoded to RGB by Pillow
            im2 = im.convert("RGB")
        a = np.asarray(im2, dtype=np.uint8)
        if a.shape[-1] == 4:
            if (a[..., 3] == 255).all():
                a = a[..., :3]
            else:
                return a.copy(), dropped
        return _grey_or_colour(np.ascontiguousarray(a)), dropped


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of a bare array (no metadata)."""
    from PIL import Image

    im = Image.fromarray(np.ascontiguousarray(pixels))  # (H, W) u8 -> L, u16 -> I;16; (H, W, 2|3|4) u8 -> LA/RGB/RGBA
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL, optimize=False)
    return buf.getvalue()


def convert_raster(path: str | os.PathLike[str]) -> RasterResult:
    """Decode a PNG/JPEG and re-encode it as a metadata-free PNG (see the module docstring)."""
    pixels, dropped = decode(path)
    if pixels.ndim < 2 or min(pixels.shape[:2]) < 1:
        raise ValueError(f"empty image of shape {pixels.shape}")
    bits = 16 if pixels.dtype == np.uint16 else 8
    return RasterResult(png=encode_png(pixels), pixels=pixels, bits=bits, dropped=dropped)
