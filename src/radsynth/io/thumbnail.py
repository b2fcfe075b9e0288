"""Display thumbnails: one windowed slice of a NIfTI volume (or a PNG image) as an 8-bit PNG in memory.

For viewing only (the gallery and reader-study pages of ``radsynth serve``): the PNG carries no
metadata at all, so a blinded reader cannot learn from the file whether an image is synthetic, and
every image is resized to the same longest side so size gives nothing away either.

Window/level: ``window=(center, width)`` in the image's own units (HU for CT), as on a radiology
workstation; ``None`` uses :func:`radsynth.io.png.auto_window` (0.5-99.5th percentile of the
non-zero voxels) for volumes and the full value range for PNGs.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from radsynth.core.errors import RadsynthInputError

#: named window/level presets per modality: (center, width)
WINDOW_PRESETS: dict[str, dict[str, tuple[float, float]]] = {
    "CT": {"lung": (-600.0, 1500.0), "mediastinum": (40.0, 400.0), "bone": (400.0, 1800.0),
           "brain": (40.0, 80.0), "abdomen": (50.0, 350.0)},
}
IMAGE_SUFFIXES: tuple[str, ...] = (".nii.gz", ".nii", ".png")


def is_image_file(path: str | os.PathLike[str]) -> bool:
    name = Path(path).name.lower()
    return any(name.endswith(s) for s in IMAGE_SUFFIXES)


def load_display(path: str | os.PathLike[str], plane: str = "axial") -> tuple[np.ndarray, tuple[float, float]]:
    """(2D display array, automatic (lo, hi) window) of a NIfTI volume's middle slice or a PNG image."""
    from radsynth.io.png import auto_window, projection_for_display, slice_for_display

    p = Path(path)
    name = p.name.lower()
    if name.endswith(".png"):
        from PIL import Image

        with Image.open(p) as im:
            a = np.asarray(im.convert("I;16") if im.mode in ("I;16", "I;16B", "I") else im.convert("L"))
        a = a.astype(np.float64)
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 1.0)
        return a, (lo, hi if hi > lo else lo + 1.0)
    if not (name.endswith(".nii") or name.endswith(".nii.gz")):
        raise RadsynthInputError("path", p.name, f"an image file ({', '.join(IMAGE_SUFFIXES)})")
    from radsynth.io.nifti import read_nifti

    vol, _aff, _info = read_nifti(p)
    vol = np.asarray(vol, dtype=np.float32)
    while vol.ndim > 3 and vol.shape[-1] == 1:
        vol = vol[..., 0]
    if vol.ndim == 2:
        two_d = projection_for_display(vol)
    elif vol.ndim == 3 and vol.shape[1] == 1 and vol.shape[2] > 1:  # a projection stored as (x, 1, z)
        two_d = projection_for_display(vol[:, 0, :])
    elif vol.ndim == 3:
        two_d = slice_for_display(vol, plane if vol.shape[2] > 1 else "axial")
    else:
        raise RadsynthInputError("path", p.name, "a 2D or 3D image")
    return two_d, auto_window(vol)


def to_uint8(image2d: np.ndarray, lo: float, hi: float) -> np.ndarray:
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise RadsynthInputError("window", (lo, hi), "finite (lo, hi) with lo < hi")
    x = (np.asarray(image2d, dtype=np.float64) - lo) * (255.0 / (hi - lo))
    return np.clip(np.rint(np.nan_to_num(x)), 0, 255).astype(np.uint8)


def render_png(path: str | os.PathLike[str], *, window: tuple[float, float] | None = None, size: int = 256,
               plane: str = "axial") -> bytes:
    """8-bit greyscale PNG bytes (no metadata) of ``path``, longest side ``size`` px.

    ``window=(center, width)`` (width > 0); ``None``: automatic.
    """
    from PIL import Image

    if not 16 <= int(size) <= 2048:
        raise RadsynthInputError("size", size, "16..2048 pixels")
    two_d, auto = load_display(path, plane)
    if window is None:
        lo, hi = auto
    else:
        c, w = float(window[0]), float(window[1])
        if not (np.isfinite(c) and np.isfinite(w) and w > 0):
            raise RadsynthInputError("window", window, "(center, width) with a finite center and width > 0")
        lo, hi = c - w / 2.0, c + w / 2.0
    im = Image.fromarray(to_uint8(two_d, lo, hi), mode="L")
    h, w_ = im.size[1], im.size[0]
    scale = size / max(h, w_)
    im = im.resize((max(1, round(w_ * scale)), max(1, round(h * scale))), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    im.save(buf, format="PNG")  # no pnginfo: nothing but pixels
    return buf.getvalue()
