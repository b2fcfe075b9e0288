"""NIfTI writer: deterministic gzip bytes, affine round trip, dtypes and synthetic marking."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.io.nifti import DESCRIP_PREFIX, read_nifti, write_nifti


def test_nifti_deterministic_and_gzip_header_has_no_time_or_name(tmp_path, volume, affine, provenance):
    a = write_nifti(tmp_path / "a.nii.gz", volume, affine, description="T1w", provenance=provenance)
    b = write_nifti(tmp_path / "b.nii.gz", volume, affine, description="T1w", provenance=provenance)
    raw = a.read_bytes()
    assert raw == b.read_bytes()
    # RFC 1952: byte 3 = FLG (0: no FNAME/FCOMMENT), bytes 4..7 = MTIME (0 = none)
    assert raw[:3] == b"\x1f\x8b\x08" and raw[3] == 0 and raw[4:8] == b"\x00\x00\x00\x00"
    assert gzip.decompress(raw)[344:348] == b"n+1\x00"  # NIfTI-1 single-file magic


def test_nifti_roundtrip_affine_array_and_marking(tmp_path, volume, affine, provenance):
    aff = affine.copy()
    rot = np.array([[np.cos(0.3), -np.sin(0.3), 0], [np.sin(0.3), np.cos(0.3), 0], [0, 0, 1]])
    aff[:3, :3] = rot @ aff[:3, :3]
    p = write_nifti(tmp_path / "img.nii.gz", volume, aff, description="FLAIR", provenance=provenance)
    arr, aff2, info = read_nifti(p)
    assert arr.dtype == np.float32 and np.array_equal(arr, volume)
    np.testing.assert_allclose(aff2, aff, atol=1e-5)  # stored as float32 in sform/qform
    assert info["qform_code"] == 1 and info["sform_code"] == 1
    np.testing.assert_allclose(info["zooms_mm"], [1.0, 1.2, 3.0], rtol=1e-6)
    assert info["descrip"] == f"{DESCRIP_PREFIX} FLAIR"
    assert info["synthetic"] is True
    ext = info["provenance"]
    assert ext["synthetic"] is True
    assert ext["seed"] == 123456789 and ext["generator"] == "physics_mri"
    assert ext["config_hash"] == provenance["config_hash"]
    assert ext["provenance"] == provenance


def test_nifti_label_maps_choose_uint8_or_uint16(tmp_path):
    small = np.zeros((4, 4, 4), np.int16)
    small[1, 1, 1] = 41
    big = small.copy()
    big[2, 2, 2] = 1002  # radsynth lesion label > 255
    a, _, ia = read_nifti(write_nifti(tmp_path / "s.nii.gz", small, np.eye(4), intent="label"))
    b, _, ib = read_nifti(write_nifti(tmp_path / "b.nii.gz", big, np.eye(4), intent="label"))
    assert a.dtype == np.uint8 and np.array_equal(a, small)
    assert b.dtype == np.uint16 and np.array_equal(b, big)
    assert ia["intent"] == ib["intent"] == "label"


def test_nifti_refuses_lossy_or_invalid(tmp_path):
    with pytest.raises(RadsynthInputError):
        write_nifti(tmp_path / "x.nii.gz", np.full((2, 2, 2), -1), np.eye(4), intent="label")
    with pytest.raises(RadsynthInputError):
        write_nifti(tmp_path / "x.nii.gz", np.full((2, 2, 2), 0.5), np.eye(4), dtype="int16")
    with pytest.raises(RadsynthInputError):
        write_nifti(tmp_path / "x.png", np.zeros((2, 2, 2)), np.eye(4))
    long_desc = "d" * 200
    _, _, info = read_nifti(write_nifti(tmp_path / "l.nii", np.zeros((2, 2, 2)), np.eye(4), description=long_desc))
    assert len(info["descrip"]) == 79 and info["descrip"].startswith(DESCRIP_PREFIX)


def test_quantised_int16_image_round_trips_within_half_a_step(tmp_path):
    from radsynth.io.nifti import read_nifti, scaled_int16, write_nifti

    rng = np.random.default_rng(3)
    img = (rng.random((12, 10, 6)) * 1234.5).astype(np.float32)
    p = write_nifti(tmp_path / "q.nii.gz", img, np.eye(4), quantise=True)
    back, _, info = read_nifti(p)
    _, slope = scaled_int16(img)
    assert info["dtype"] == "int16"
    assert np.max(np.abs(back - img)) <= slope / 2 + 1e-6
    assert slope <= img.max() / 32000 * 1.01
