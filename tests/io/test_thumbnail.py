"""radsynth.io.thumbnail: windowed display PNGs without metadata, one size for all."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from radsynth.core.errors import RadsynthInputError
from radsynth.io.nifti import write_nifti
from radsynth.io.png import write_png16
from radsynth.io.thumbnail import render_png


@pytest.fixture
def ct(tmp_path):
    vol = np.full((40, 30, 20), -1000.0, dtype=np.float32)  # air
    vol[5:35, 5:25, :] = 40.0  # soft tissue
    vol[15:25, 10:20, :] = -800.0  # lung-like
    p = tmp_path / "ct.nii.gz"
    write_nifti(p, vol, np.eye(4))
    return p


def px(data: bytes) -> np.ndarray:
    im = Image.open(io.BytesIO(data))
    assert im.mode == "L" and not im.info
    return np.asarray(im)


def test_window_level_maps_hu(ct):
    lung = px(render_png(ct, window=(-600, 1500), size=40))
    soft = px(render_png(ct, window=(40, 400), size=40))
    # lung window: -800 HU is mid-grey, soft tissue bright; soft-tissue window: -800 HU black
    assert 0 < np.median(lung[lung < 200]) < 128 and soft.min() == 0
    assert not np.array_equal(lung, soft)
    with pytest.raises(RadsynthInputError):
        render_png(ct, window=(0, 0))


def test_png_input_resized_without_metadata(tmp_path):
    p = tmp_path / "a.png"
    write_png16(p, np.linspace(0, 1, 64 * 32).reshape(32, 64), provenance={"synthetic": True}, description="synthetic")
    assert b"radsynth" in p.read_bytes()
    out = render_png(p, size=128)
    assert b"radsynth" not in out and b"synthetic" not in out
    assert Image.open(io.BytesIO(out)).size == (128, 64)
