"""Partial-volume resampling: exact area averaging and aligned label grids."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.transform import downscale_local_mean

from radsynth.core.errors import RadsynthInputError
from radsynth.physics.mri.partial_volume import resample_labels_to_voxel_size, resample_to_voxel_size


def _affine(spacing=(1.0, 1.0, 1.0), origin=(-10.0, 5.0, 3.0)):
    a = np.diag(list(spacing) + [1.0])
    a[:3, 3] = origin
    return a


def test_integer_factor_is_block_mean():
    rng = np.random.default_rng(0)
    img = rng.random((12, 10, 9)).astype(np.float32)
    out, aff = resample_to_voxel_size(img, _affine(), (2.0, 1.0, 3.0))
    ref = downscale_local_mean(img, (2, 1, 3))
    np.testing.assert_allclose(out, ref, rtol=1e-5)
    assert out.dtype == np.float32
    # new voxel (0,0,0) centre = centre of its input block: origin + ((2-1)/2, 0, (3-1)/2)
    np.testing.assert_allclose(aff[:3, 3], [-10.0 + 0.5, 5.0, 3.0 + 1.0])
    np.testing.assert_allclose(np.diag(aff)[:3], [2.0, 1.0, 3.0])


def test_non_integer_factor_conserves_integral_and_constants():
    rng = np.random.default_rng(1)
    img = rng.random((30, 20)).astype(np.float32)
    out, aff = resample_to_voxel_size(img, _affine(), 1.5)
    assert out.shape == (20, 13)
    # along axis 0 (30 / 1.5 = 20 voxels, no remainder) the signal integral is kept
    col, _ = resample_to_voxel_size(img[:, :1], _affine(), (1.5, 1.0))
    assert col.sum() * 1.5 == pytest.approx(img[:, 0].sum(), rel=1e-5)
    const, _ = resample_to_voxel_size(np.full((31, 17), 7.0, np.float32), _affine(), (2.3, 1.7))
    np.testing.assert_allclose(const, 7.0, rtol=1e-6)


def test_edge_partial_volume_value():
    # step at x = 3 (voxels 0-2 zero, 3-5 one), voxel 1.5 mm -> output voxel 1 covers [1.5, 3.0) -> 0;
    # at 2 mm, output voxel 1 covers [2, 4) -> half
    img = np.zeros((6, 1), np.float32)
    img[3:] = 1.0
    out, _ = resample_to_voxel_size(img, _affine(), (2.0, 1.0))
    np.testing.assert_allclose(out[:, 0], [0.0, 0.5, 1.0])


def test_labels_on_the_same_grid_and_majority():
    labels = np.zeros((6, 6, 4), np.int16)
    labels[:4, :, :] = 2     # x 0..3 WM
    labels[4:, :, :] = 3     # x 4..5 GM
    labels[0, 0, 0] = 4
    img = labels.astype(np.float32)
    out_img, aff_img = resample_to_voxel_size(img, _affine(), (3.0, 2.0, 2.0))
    out_lab, aff_lab = resample_labels_to_voxel_size(labels, _affine(), (3.0, 2.0, 2.0))
    assert out_lab.shape == out_img.shape == (2, 3, 2)
    np.testing.assert_array_equal(aff_img, aff_lab)
    # output x voxel 1 covers input x 3..5: one WM (2) voxel, two GM (3) voxels -> GM
    assert np.all(out_lab[1] == 3) and np.all(out_lab[0] == 2)
    near, aff_n = resample_labels_to_voxel_size(labels, _affine(), (3.0, 2.0, 2.0), method="nearest")
    np.testing.assert_array_equal(aff_n, aff_img)
    assert near.shape == out_lab.shape and near.dtype == np.int16


def test_identity_at_same_voxel_size():
    img = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    out, aff = resample_to_voxel_size(img, _affine(), 1.0)
    np.testing.assert_array_equal(out, img)
    np.testing.assert_array_equal(aff, _affine())


def test_bad_voxel_size():
    with pytest.raises(RadsynthInputError, match="voxel_size_mm"):
        resample_to_voxel_size(np.zeros((4, 4), np.float32), _affine(), (1.0, -2.0))


@pytest.mark.parametrize("voxel", [(2.0, 3.0, 1.0), (1.7, 2.5, 1.3)])
def test_majority_matches_brute_force(voxel):
    # brute force: area fraction of every label over the whole grid, argmax (ties -> smallest label)
    rng = np.random.default_rng(2)
    coarse = rng.integers(-1, 4, size=(5, 4, 6)).astype(np.int16)
    labels = np.repeat(np.repeat(np.repeat(coarse, 3, 0), 2, 1), 2, 2)  # blobs, not pure noise
    labels[rng.random(labels.shape) < 0.2] = 7
    got, _ = resample_labels_to_voxel_size(labels, _affine(), voxel)
    values = np.unique(labels)
    fracs = np.stack([resample_to_voxel_size((labels == v).astype(np.float32), _affine(), voxel)[0] for v in values])
    np.testing.assert_array_equal(got, values[np.argmax(fracs, axis=0)])
