"""Contact sheet: a labelled grid of 2D images as one 8-bit PNG (model cards, reports).

Rows are groups (e.g. one class per row) with the group name written at the
left; images are scaled to [0, 255] from a caller-given value range (never
auto-windowed per image, so brightness differences between rows stay visible).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from radsynth.core.errors import RadsynthInputError
from radsynth.io.atomic import atomic_path


def grid_image(
    rows: Sequence[tuple[str, np.ndarray]], value_range: tuple[float, float] = (0.0, 1.0), *, zoom: int = 2,
    pad: int = 2, label_width: int = 110,
) -> np.ndarray:
    """uint8 ``(H, W)`` sheet; ``rows`` = ``(label, images (n, h, w))``; all images the same ``h, w``."""
    from PIL import Image, ImageDraw

    if not rows:
        raise RadsynthInputError("rows", 0, "at least one (label, images) row")
    lo, hi = map(float, value_range)
    if not hi > lo:
        raise RadsynthInputError("value_range", value_range, "(low, high) with high > low")
    shapes = {np.asarray(im).shape[1:] for _, im in rows}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise RadsynthInputError("rows", sorted(map(str, shapes)), "image stacks (n, h, w) of one common h, w")
    h, w = next(iter(shapes))
    h, w = h * zoom, w * zoom
    ncol = max(len(im) for _, im in rows)
    sheet = np.full((len(rows) * (h + pad) + pad, label_width + ncol * (w + pad) + pad), 255, np.uint8)
    img = Image.fromarray(sheet)
    draw = ImageDraw.Draw(img)
    for r, (label, _) in enumerate(rows):  # labels first: images are pasted over any overhang
        draw.text((4, pad + r * (h + pad) + h // 2 - 5), str(label)[:18], fill=0)
    sheet = np.array(img)
    for r, (_, ims) in enumerate(rows):
        for c, im in enumerate(np.asarray(ims, dtype=np.float64)):
            u8 = np.round(np.clip((im - lo) / (hi - lo), 0.0, 1.0) * 255.0).astype(np.uint8)
            u8 = np.kron(u8, np.ones((zoom, zoom), np.uint8))
            y0, x0 = pad + r * (h + pad), label_width + pad + c * (w + pad)
            sheet[y0 : y0 + h, x0 : x0 + w] = u8
    return sheet


def write_grid(path: str | os.PathLike[str], rows: Sequence[tuple[str, np.ndarray]],
               value_range: tuple[float, float] = (0.0, 1.0), **kw: int) -> Path:
    """Write :func:`grid_image` as an 8-bit PNG (atomic)."""
    from PIL import Image

    arr = grid_image(rows, value_range, **kw)
    p = Path(path)
    with atomic_path(p) as tmp:
        Image.fromarray(arr).save(tmp, format="PNG")
    return p
