"""Contact-sheet PNG: layout, fixed value range (no per-image windowing), bad input."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from radsynth.core.errors import RadsynthInputError
from radsynth.io.grid import grid_image, write_grid


def test_grid_layout_and_fixed_window(tmp_path) -> None:
    dark = np.full((3, 4, 4), 0.25)
    bright = np.full((2, 4, 4), 1.0)
    a = grid_image([("dark", dark), ("bright", bright)], (0.0, 1.0), zoom=2, pad=2, label_width=10)
    assert a.shape == (2 * (8 + 2) + 2, 10 + 3 * (8 + 2) + 2)
    # first image of row 0 at (pad, label_width + pad), 8x8 after zoom, value 0.25 -> 64
    assert (a[2:10, 12:20] == 64).all()
    assert (a[12:20, 12:20] == 255).all()
    p = write_grid(tmp_path / "g.png", [("dark", dark)], (0.0, 1.0))
    assert Image.open(p).mode == "L"


def test_grid_bad_input() -> None:
    with pytest.raises(RadsynthInputError, match="rows"):
        grid_image([("a", np.zeros((1, 4, 4))), ("b", np.zeros((1, 5, 5)))])
    with pytest.raises(RadsynthInputError, match="value_range"):
        grid_image([("a", np.zeros((1, 4, 4)))], (1.0, 1.0))
