"""Label-map loading: geometry (world coordinates kept), shape, labels, shipped assets."""

from __future__ import annotations

import hashlib

import nibabel as nib
import numpy as np
import pytest

from radsynth.anatomy.labelmaps import (
    WORK_SHAPE,
    available_labelmaps,
    load_labelmap,
    load_labelmap_cached,
    save_labelmap,
    shipped_labelmap_dir,
)
from radsynth.core.errors import RadsynthInputError
from radsynth.core.labels import BRAIN, LABEL_NAMES, LESION_LABELS


def _lia_head(tmp_path, zoom=1.0, dtype=np.float32):
    """A small synthetic 'head' stored LIA (like the SynthSeg maps): a WM ellipsoid with
    a cortex shell, a CSF layer, and an asymmetric marker voxel block."""
    n = 64
    g = np.mgrid[:n, :n, :n].astype(np.float32) - n / 2
    r = np.sqrt((g[0] / 22) ** 2 + (g[1] / 26) ** 2 + (g[2] / 20) ** 2)
    lab = np.zeros((n, n, n), dtype=np.int16)
    lab[r < 1.15] = 515
    lab[r < 1.05] = 24
    lab[r < 0.95] = 3
    lab[r < 0.8] = 2
    lab[40:43, 20:22, 30:34] = 17  # marker (asymmetric)
    aff = np.array([[-zoom, 0, 0, 40.0], [0, 0, zoom, -30.0], [0, -zoom, 0, 25.0], [0, 0, 0, 1]])
    assert nib.aff2axcodes(aff) == ("L", "I", "A")
    p = tmp_path / "head.nii.gz"
    nib.save(nib.Nifti1Image(lab.astype(dtype), aff), str(p))
    return p, lab, aff


def test_loader_keeps_world_coordinates_shape_and_labels(tmp_path):
    path, src, src_aff = _lia_head(tmp_path)
    shape = (48, 56, 52)
    lab, aff = load_labelmap(path, shape)
    assert lab.shape == shape and lab.dtype == np.int16
    assert nib.aff2axcodes(aff) == ("R", "A", "S")
    # every kept voxel: its world point is the same source voxel with the same label
    inv = np.linalg.inv(src_aff)
    ijk = np.argwhere(lab > 0)
    world = aff[:3, :3] @ ijk.T + aff[:3, 3:4]
    src_ijk = inv[:3, :3] @ world + inv[:3, 3:4]
    src_idx = np.rint(src_ijk).astype(int)
    np.testing.assert_allclose(src_ijk, src_idx, atol=1e-6)
    np.testing.assert_array_equal(src[tuple(src_idx)], lab[tuple(ijk.T)])
    # the marker (label 17) is whole and at the same world position
    m_src = np.argwhere(src == 17).mean(0)
    m_out = np.argwhere(lab == 17).mean(0)
    np.testing.assert_allclose(src_aff[:3, :3] @ m_src + src_aff[:3, 3], aff[:3, :3] @ m_out + aff[:3, 3], atol=1e-9)
    assert (lab == 17).sum() == (src == 17).sum()
    assert set(np.unique(lab)) == set(np.unique(src))


def test_loader_centres_brain_and_keeps_vertex(tmp_path):
    path, src, _ = _lia_head(tmp_path)
    lab, _ = load_labelmap(path, (80, 80, 80))  # larger than the source: zero padding
    brain = np.argwhere(np.isin(lab, [2, 3]))
    lo, hi = brain.min(0), brain.max(0)
    assert abs((lo[0] + hi[0]) / 2 - 39.5) <= 1 and abs((lo[1] + hi[1]) / 2 - 39.5) <= 1
    assert 79 - hi[2] == pytest.approx(24, abs=1)  # VERTEX_MARGIN_MM above the brain top
    assert (lab == 515).sum() == (src == 515).sum()  # nothing cut, only padded


def test_loader_resamples_non_1mm(tmp_path):
    path, src, src_aff = _lia_head(tmp_path, zoom=1.5)
    lab, aff = load_labelmap(path, (112, 112, 112))
    np.testing.assert_allclose(np.abs(np.diag(aff)[:3]), 1.0)
    # volume in mL is preserved by nearest-neighbour resampling (within 2%)
    v_src = (np.isin(src, [2, 3])).sum() * 1.5**3
    v_out = (np.isin(lab, [2, 3])).sum()
    assert v_out == pytest.approx(v_src, rel=0.02)
    c_src = src_aff[:3, :3] @ np.argwhere(src == 2).mean(0) + src_aff[:3, 3]
    c_out = aff[:3, :3] @ np.argwhere(lab == 2).mean(0) + aff[:3, 3]
    np.testing.assert_allclose(c_src, c_out, atol=0.5)


def test_loader_rejects_bad_inputs(tmp_path):
    with pytest.raises(RadsynthInputError, match="labelmap"):
        load_labelmap(tmp_path / "missing.nii.gz")
    img = nib.Nifti1Image(np.full((8, 8, 8), 0.5, np.float32), np.eye(4))
    nib.save(img, str(tmp_path / "float.nii.gz"))
    with pytest.raises(RadsynthInputError, match="integer label"):
        load_labelmap(tmp_path / "float.nii.gz", (8, 8, 8))
    nib.save(nib.Nifti1Image(np.full((8, 8, 8), 515, np.int16), np.eye(4)), str(tmp_path / "nobrain.nii.gz"))
    with pytest.raises(RadsynthInputError, match="brain labels"):
        load_labelmap(tmp_path / "nobrain.nii.gz", (8, 8, 8))
    with pytest.raises(RadsynthInputError, match="shape"):
        load_labelmap(tmp_path / "nobrain.nii.gz", (8, 8))


def test_available_labelmaps(tmp_path):
    shipped = available_labelmaps()
    assert [p.name for p in shipped] == [f"synthseg_head_{s}.nii.gz" for s in ("01", "03", "05", "08", "12", "17")]
    with pytest.raises(RadsynthInputError) as e:
        available_labelmaps(tmp_path / "nope")
    assert e.value.field == "labelmap_dir"
    with pytest.raises(RadsynthInputError) as e:
        available_labelmaps(tmp_path)  # exists, but empty
    assert e.value.field == "labelmap_dir"
    (tmp_path / "b.nii").write_bytes(b"")
    (tmp_path / "a.nii.gz").write_bytes(b"")
    (tmp_path / "c.txt").write_bytes(b"")
    assert [p.name for p in available_labelmaps(tmp_path)] == ["a.nii.gz", "b.nii"]


def test_shipped_assets_are_on_the_working_grid_with_all_brain_labels():
    expected = (BRAIN - LESION_LABELS) - {72}  # 5th ventricle (cavum) is absent in half of real brains
    seen: set[int] = set()
    for p in available_labelmaps():
        img = nib.load(str(p))
        assert img.shape == WORK_SHAPE and img.get_data_dtype() == np.int16
        assert nib.aff2axcodes(img.affine) == ("R", "A", "S")
        lab, aff = load_labelmap_cached(p)
        np.testing.assert_array_equal(aff, img.affine)  # already cropped: loading is identity
        np.testing.assert_array_equal(lab, np.asarray(img.dataobj))
        labels = set(np.unique(lab).tolist())
        assert expected <= labels, sorted(expected - labels)
        assert labels <= set(LABEL_NAMES)
        seen |= labels
    assert 72 in seen
    folder = shipped_labelmap_dir()
    assert (folder / "LICENSE").read_text().lstrip().startswith("Apache License")
    assert "Billot" in (folder / "README.md").read_text()
    assert sum(f.stat().st_size for f in folder.iterdir()) < 10e6


def test_cache_returns_read_only_arrays():
    p = available_labelmaps()[0]
    a, aff = load_labelmap_cached(p)
    b, _ = load_labelmap_cached(str(p))
    assert a is b
    assert not a.flags.writeable and not aff.flags.writeable
    with pytest.raises(ValueError):
        a[0, 0, 0] = 1


def test_save_labelmap_is_byte_deterministic(tmp_path):
    lab = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    aff = np.diag([1.0, 1.0, 1.0, 1.0])
    aff[:3, 3] = (-2, 3, 4)
    a = save_labelmap(tmp_path / "a.nii.gz", lab, aff)
    b = save_labelmap(tmp_path / "b.nii.gz", lab, aff)
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    back = nib.load(str(a))
    np.testing.assert_array_equal(np.asarray(back.dataobj), lab)
    np.testing.assert_array_equal(back.affine, aff)


def test_real_map_world_coordinates(shared_data):
    """A real SynthSeg map (stored LIA): sampled voxels keep label and world point."""
    path = shared_data / "brain-labelmaps" / "training_seg_05.nii.gz"
    img = nib.load(str(path))
    src = np.asarray(img.dataobj)
    lab, aff = load_labelmap(path)
    rng = np.random.default_rng(0)
    ijk = np.argwhere(lab > 0)[rng.choice(int((lab > 0).sum()), 500, replace=False)]
    world = aff[:3, :3] @ ijk.T + aff[:3, 3:4]
    inv = np.linalg.inv(img.affine)
    src_idx = np.rint(inv[:3, :3] @ world + inv[:3, 3:4]).astype(int)
    np.testing.assert_array_equal(src[tuple(src_idx)].astype(np.int16), lab[tuple(ijk.T)])
    assert (np.isin(lab, sorted(BRAIN - {24}))).sum() == (np.isin(src, sorted(BRAIN - {24}))).sum()
