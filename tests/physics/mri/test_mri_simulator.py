"""Simulator: ImageRecord contents, fixed physical scale, 2D batches, replay, speed."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.core.records import canonical_json
from radsynth.physics.mri import Acquisition, TissueJitter, RandomTissueJitter, simulate, simulate_slice_batch, tissue_table
from radsynth.physics.mri.simulator import INTENSITY_SCALE


def _head(shape=(40, 48, 36)):
    """A toy head: skin, fat, bone, CSF, GM, WM, ventricles, a tumour."""
    lab = np.zeros(shape, np.int16)
    c = np.array(shape) / 2
    zz = np.sqrt(sum(((g - ci) / (s / 2)) ** 2 for g, ci, s in zip(np.indices(shape), c, shape)))
    lab[zz < 0.95] = 511  # skin
    lab[zz < 0.9] = 507   # extracranial soft tissue (fat)
    lab[zz < 0.85] = 515  # bone
    lab[zz < 0.8] = 24    # CSF
    lab[zz < 0.75] = 3    # cortex
    lab[zz < 0.6] = 2     # WM
    lab[zz < 0.2] = 4     # ventricle
    lab[8:12, 20:24, 16:20] = 1002  # enhancing tumour
    return lab


def test_record_and_physical_scale():
    lab = _head()
    rec, sampled = simulate(lab, np.eye(4), "T2w", 3.0, acquisition=Acquisition(snr=None, bias_field_strength=0.0),
                            rng=np.random.default_rng(0))
    assert rec.modality == "MR" and rec.units == "a.u." and rec.sequence == "T2w"
    assert rec.array.dtype == np.float32 and rec.array.shape == lab.shape
    acq = rec.acquisition
    assert acq["tr_ms"] == 5000.0 and acq["te_ms"] == 90.0 and acq["field_strength_t"] == 3.0
    assert acq["voxel_size_mm"] == [1.0, 1.0, 1.0] and acq["slice_thickness_mm"] == 1.0
    canonical_json(acq), canonical_json(sampled)  # serialisable
    # fixed scale: CSF value = 1000 * PD (1 - e^{-TR/T1}) e^{-TE/T2}, not rescaled per image
    t = tissue_table(3.0)["csf"]
    expected = INTENSITY_SCALE * (1 - np.exp(-5000 / t.t1_ms)) * np.exp(-90 / t.t2_ms)
    assert rec.array[lab == 24].mean() == pytest.approx(expected, rel=1e-5)
    assert rec.array[lab == 0].max() == 0.0


def test_t1c_enhances_tumour_and_contrast_recorded():
    lab = _head()
    acq = Acquisition(snr=None, bias_field_strength=0.0)
    pre, _ = simulate(lab, np.eye(4), "T1w", 1.5, acquisition=acq, rng=np.random.default_rng(0))
    post, _ = simulate(lab, np.eye(4), "T1c", 1.5, acquisition=acq, rng=np.random.default_rng(0))
    tum = lab == 1002
    assert post.array[tum].mean() > 1.5 * pre.array[tum].mean()
    assert post.acquisition["contrast_agent"]["name"] == "gadobutrol" and pre.acquisition["contrast_agent"] is None


def test_replay_bit_exact_with_jitter():
    lab = _head()
    acq = Acquisition(voxel_size_mm=(1.0, 1.0, 3.0), snr=(15, 30), gibbs=True, gibbs_fraction_range=(0.7, 0.9), motion_ghosting=True)
    jitter = RandomTissueJitter(0.05).sample(np.random.default_rng(1))
    table = jitter.apply(tissue_table(3.0))
    rec, sampled = simulate(lab, np.eye(4), "FLAIR", 3.0, tissue_table=table, acquisition=acq, rng=np.random.default_rng(2))
    sampled = json.loads(json.dumps(sampled))
    table2 = TissueJitter.from_dict(jitter.to_dict()).apply(tissue_table(3.0))
    rec2, _ = simulate(lab, np.eye(4), "FLAIR", 3.0, tissue_table=table2, acquisition=acq, sampled=sampled)
    np.testing.assert_array_equal(rec.array, rec2.array)
    assert rec.array.shape == (40, 48, 12) and rec.spacing_mm == (1.0, 1.0, 3.0)


def test_2d_and_slice_batch_match():
    lab = _head((24, 64, 64))
    aff = np.eye(4)
    acq = Acquisition()
    imgs, aff2, sampled = simulate_slice_batch(lab, aff, "PD", 1.5, acquisition=acq, rng=np.random.default_rng(4))
    assert imgs.shape == lab.shape and imgs.dtype == np.float32 and len(sampled) == 24
    for i in (0, 5, 12):  # slice 0 has no WM: sigma from the WM table signal
        rec, _ = simulate(lab[i], aff, "PD", 1.5, acquisition=acq, sampled={"acquisition": sampled[i]})
        np.testing.assert_array_equal(rec.array, imgs[i])
    assert sampled[0]["snr_reference"] == "reference_value" and sampled[12]["snr_reference"] == "reference_mask"
    again, _, _ = simulate_slice_batch(lab, aff, "PD", 1.5, acquisition=acq, sampled=sampled)
    np.testing.assert_array_equal(again, imgs)


def test_slice_throughput():
    # project target: >= 200 slices/s of 256x256 incl. bias and noise (asserted loosely for slow CI)
    lab = np.repeat(_head((256, 256, 3))[None, :, :, 1], 32, axis=0)
    simulate_slice_batch(lab[:2], np.eye(4), "T1w", 3.0, rng=np.random.default_rng(0))
    t = time.perf_counter()
    simulate_slice_batch(lab, np.eye(4), "T1w", 3.0, rng=np.random.default_rng(0))
    rate = 32 / (time.perf_counter() - t)
    print(f"{rate:.0f} slices/s")
    assert rate > 50


def test_errors():
    lab = _head((8, 8, 8))
    with pytest.raises(RadsynthInputError, match="sequence"):
        simulate(lab, np.eye(4), "SWI", 3.0, rng=np.random.default_rng(0))
    with pytest.raises(RadsynthInputError, match="tissue_table"):
        simulate(lab, np.eye(4), "T1w", 3.0, tissue_table=tissue_table(1.5), rng=np.random.default_rng(0))
    with pytest.raises(RadsynthInputError, match="labels"):
        simulate(lab.astype(np.float32), np.eye(4), "T1w", 3.0, rng=np.random.default_rng(0))
    with pytest.raises(RadsynthInputError, match="reference_tissue"):
        simulate(lab, np.eye(4), "T1w", 3.0, rng=np.random.default_rng(0), reference_tissue="brain")


def test_flowing_blood_is_dark_on_spin_echo_and_bright_on_gradient_echo():
    """Flow void on SE/IR (Bradley & Waluch, Radiology 1985); GRE keeps inflow signal."""
    import numpy as np

    from radsynth.physics.mri.acquisition import Acquisition
    from radsynth.physics.mri.simulator import simulate

    lab = np.full((8, 8), 2, dtype=np.int16)  # WM
    lab[2:6, 2:6] = 502  # arteries (blood)
    acq = Acquisition(voxel_size_mm=1.0, snr=None, bias_field_strength=0.0)
    for seq, dark in (("T2w", True), ("FLAIR", True), ("GRE-T1", False)):
        img, _ = simulate(lab, np.eye(4), seq, 3.0, acquisition=acq, rng=np.random.default_rng(0))
        ratio = img.array[3, 3] / img.array[0, 0]
        assert (ratio < 0.2) if dark else (ratio > 0.5), (seq, ratio)
