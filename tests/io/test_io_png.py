"""16-bit PNG writer, radiological display orientation, auto window and mask previews."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from radsynth.core.errors import RadsynthInputError
from radsynth.io import SYNTHETIC_NOTE
from radsynth.io.png import (
    auto_window,
    axial_slice_for_display,
    coronal_slice_for_display,
    sagittal_slice_for_display,
    write_mask_preview,
    write_png16,
    write_preview,
)


def _ihdr(raw: bytes) -> tuple[int, int, int, int]:
    assert raw[:8] == b"\x89PNG\r\n\x1a\n" and raw[12:16] == b"IHDR"
    width, height = int.from_bytes(raw[16:20], "big"), int.from_bytes(raw[20:24], "big")
    return width, height, raw[24], raw[25]  # bit depth, colour type


def test_png16_is_16bit_grey_deterministic_and_marked(tmp_path, volume, provenance):
    a = write_preview(tmp_path / "a.png", volume, provenance=provenance)
    b = write_preview(tmp_path / "b.png", volume, provenance=provenance)
    raw = a.read_bytes()
    assert raw == b.read_bytes()
    assert b"tIME" not in raw
    assert _ihdr(raw) == (16, 16, 16, 0)  # width = x, height = y; 16-bit greyscale
    with Image.open(a) as im:
        assert im.mode == "I;16"
        assert im.text["Comment"] == SYNTHETIC_NOTE
        assert im.text["Software"].startswith("radsynth ")
        prov = json.loads(im.text["radsynth:provenance"])
        assert prov["synthetic"] is True and prov["seed"] == provenance["seed"]
        pixels = np.asarray(im)
    assert pixels.dtype == np.uint16 and pixels.max() > 60000 and pixels.min() == 0  # uses 16-bit range


def test_display_orientation_is_radiological():
    # marker at the patient's right (max x), anterior (max y), superior (max z)
    v = np.zeros((5, 6, 7))
    v[4, 5, 6] = 1
    ax = axial_slice_for_display(v, 6)
    assert ax.shape == (6, 5) and ax[0, 0] == 1  # right on image left, anterior at top
    cor = coronal_slice_for_display(v, 5)
    assert cor.shape == (7, 5) and cor[0, 0] == 1  # right on image left, superior at top
    sag = sagittal_slice_for_display(v, 4)
    assert sag.shape == (7, 6) and sag[0, 0] == 1  # anterior on image left, superior at top
    # default index = middle slice
    assert np.array_equal(axial_slice_for_display(v), axial_slice_for_display(v, 3))


def test_auto_window_percentiles_of_nonzero(tmp_path):
    v = np.zeros((10, 10, 20), np.float32)
    v[:, :, :10] = np.arange(1, 1001, dtype=np.float32).reshape(10, 10, 10)
    lo, hi = auto_window(v)
    # numpy 'linear' percentile of 1..1000: 1 + 0.005*999 and 1 + 0.995*999
    assert lo == pytest.approx(5.995) and hi == pytest.approx(995.005)
    p = write_png16(tmp_path / "w.png", np.array([[lo, hi, (lo + hi) / 2, -5.0]]), window=(lo, hi))
    assert np.asarray(Image.open(p)).tolist() == [[0, 65535, 32768, 0]]


def test_png16_integer_passthrough_and_errors(tmp_path):
    img = np.array([[0, 1, 65535]], dtype=np.int32)
    assert np.asarray(Image.open(write_png16(tmp_path / "i.png", img))).tolist() == [[0, 1, 65535]]
    with pytest.raises(RadsynthInputError):
        write_png16(tmp_path / "bad.png", np.array([[70000]]))
    with pytest.raises(RadsynthInputError):
        write_preview(tmp_path / "bad.png", np.zeros((2, 2, 2)), plane="oblique")


def test_mask_preview_labels_visible(tmp_path):
    m = np.zeros((8, 8, 3), np.int16)
    m[1:3, 1:3, 1] = 2
    m[5:7, 5:7, 1] = 1002
    p = write_mask_preview(tmp_path / "m.png", m, "axial", 1)
    raw = p.read_bytes()
    assert _ihdr(raw)[2:] == (8, 0)
    px = np.asarray(Image.open(p))
    assert sorted(np.unique(px).tolist()) == [0, 128, 255]  # 2 labels -> ranks 1, 2 -> 128, 255
    assert px[0, 0] == 0
