"""Undersampled-MRI reconstructor on tiny models: masks (acceleration, centre, seeds), FFT convention, exact data
consistency, shapes and determinism, a short training that beats zero-filled, file API marking, shipped model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.generators.enhancement.mri_kspace_pairs import (
    MaskParams, fft2c, ifft2c, mask_array, sample_mask, undersample)
from radsynth.generators.enhancement.mri_recon import (
    MRIReconConfig, build_network, load_recon, reconstruct_file, reconstruct_kspace, reconstruct_mri, retrospective,
    save_recon, train_mri_recon)

TINY = dict(channels=(4, 8), strides=(2,), num_res_units=1, cascades=2, batch_size=4, val_every=10)
SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "data"


def _phantom(n: int = 32, seed: int = 0) -> np.ndarray:
    """Magnitude 'head': an ellipse (1.0) with two random inner discs (0.3..1.6) on a zero background."""
    rng = np.random.default_rng(seed)
    i, j = np.mgrid[:n, :n] - (n - 1) / 2
    img = np.where((i / (0.42 * n)) ** 2 + (j / (0.36 * n)) ** 2 < 1, 1.0, 0.0)
    for _ in range(2):
        ci, cj, r = rng.uniform(-0.2 * n, 0.2 * n, 2).tolist() + [rng.uniform(0.06, 0.12) * n]
        img[(i - ci) ** 2 + (j - cj) ** 2 < r ** 2] = rng.uniform(0.3, 1.6)
    return img.astype(np.float32)


def _tiny(tmp_path: Path, steps: int = 0, gains: float | None = None, lr: float = 1e-3) -> Path:
    import torch

    cfg = MRIReconConfig.create(**TINY, max_steps=max(steps, 1), lr=lr, center_fraction=0.125)
    if steps:
        imgs = np.stack([_phantom(32, s) for s in range(12)])
        net, _ = train_mri_recon(imgs, np.array([0] * 10 + [1] * 2), cfg)
    else:
        net = build_network(cfg).eval()
        if gains is not None:
            with torch.no_grad():
                net.gain.fill_(gains)
    return save_recon(tmp_path / "tiny-recon", net, cfg)


def test_masks_acceleration_centre_and_seeds() -> None:
    n = 128
    ms = [sample_mask(n, 4.0, 0.08, seed=s) for s in range(120)]
    centre = int(round(n * 0.08))
    pad = (n - centre + 1) // 2
    for p in ms[:20]:
        m = mask_array(p)
        assert m[pad:pad + centre].all() and m.dtype == bool and m.shape == (n,)
    # RandomKspaceMask: expected n / acceleration columns (each outer column with the matching probability)
    assert np.mean([len(p.columns) for p in ms]) == pytest.approx(n / 4, rel=0.04)
    eq = sample_mask(n, 4.0, 0.08, seed=3, pattern="equispaced")
    assert abs(len(eq.columns) - n / 4) <= 2
    assert sample_mask(n, seed=5) == sample_mask(n, seed=5)  # deterministic for a seed
    assert sample_mask(n, seed=5).columns != sample_mask(n, seed=6).columns
    p = ms[7]  # the recorded parameters rebuild the same mask (deterministic twin)
    np.testing.assert_array_equal(mask_array(MaskParams.model_validate_json(p.model_dump_json())), mask_array(p))
    assert sum(len(sample_mask(n, 8.0, 0.04, seed=s).columns) for s in range(40)) / 40 == pytest.approx(n / 8, rel=0.08)
    for kw, field in ((dict(acceleration=0.5), "acceleration"), (dict(center_fraction=0.5), "center_fraction"),
                      (dict(pattern="radial"), "pattern")):
        with pytest.raises(RadsynthInputError, match=field):
            sample_mask(n, **kw)


def test_fft_convention_and_zero_filled() -> None:
    x = _phantom(32, 1)
    ref = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x), norm="ortho"))
    np.testing.assert_allclose(fft2c(x), ref, atol=1e-4)
    np.testing.assert_allclose(ifft2c(fft2c(x)).real, x, atol=1e-5)
    p = sample_mask(32, 4.0, 0.125, seed=0)
    k, zf = undersample(x, p)
    assert k.dtype == np.complex64 and zf.dtype == np.float32 and zf.shape == x.shape
    assert np.all(k[:, ~mask_array(p)] == 0)
    full, zf_full = undersample(x, np.ones(32, bool))
    np.testing.assert_allclose(zf_full, x, atol=1e-5)  # no undersampling: zero-filled = the image
    assert float(np.abs(zf - x).mean()) > 0.01


def test_data_consistency_is_exact_on_sampled_columns(tmp_path: Path) -> None:
    net, cfg, doc = load_recon(_tiny(tmp_path, gains=0.7))  # non-zero gains: the U-Nets change the image
    assert doc["format"] == "radsynth-mri-recon/1"
    x = np.stack([_phantom(30, s) * (s + 1) for s in range(3)])  # 30: not a multiple of the U-Net stride
    p = sample_mask(30, 4.0, 0.1, seed=2)
    m = mask_array(p)
    k = fft2c(x) * m
    rec = reconstruct_kspace(k, m, net, cfg)
    assert rec.shape == x.shape and rec.dtype == np.complex64
    kr = fft2c(rec)
    scale = float(np.abs(k).max())
    assert float(np.abs(kr[..., m] - k[..., m]).max()) < 1e-5 * scale  # measured columns kept (float32 rounding)
    assert float(np.abs(kr[..., ~m]).mean()) > 1e-3 * scale  # unmeasured columns were filled in
    zf = np.abs(ifft2c(k))
    assert float(np.abs(np.abs(rec) - zf).mean()) > 1e-3  # and the image is not the zero-filled one
    # batched vs one slice, and the same input twice: the same output
    np.testing.assert_allclose(reconstruct_kspace(k[1], m, net, cfg), rec[1], atol=1e-4 * scale)
    np.testing.assert_array_equal(reconstruct_kspace(k, m, net, cfg), rec)
    with pytest.raises(RadsynthInputError, match="kspace"):
        reconstruct_kspace(k[..., :20], m, net, cfg)
    with pytest.raises(RadsynthInputError, match="mask"):
        reconstruct_kspace(k, np.zeros(30, bool), net, cfg)


def test_short_training_is_deterministic_and_learns(tmp_path: Path) -> None:
    a = _tiny(tmp_path / "a", steps=5)
    b = _tiny(tmp_path / "b", steps=5)
    assert (a / "weights.safetensors").read_bytes() == (b / "weights.safetensors").read_bytes()
    truth = np.stack([_phantom(32, s) for s in range(100, 106)])  # unseen phantoms
    masks = [sample_mask(32, 4.0, 0.125, seed=50 + s) for s in range(len(truth))]

    def mse(model: Path) -> tuple[float, float]:
        net, cfg, _ = load_recon(model)
        out = [retrospective(t, p, net, cfg) for t, p in zip(truth, masks)]
        return (float(np.mean([np.mean((zf - t) ** 2) for (zf, _), t in zip(out, truth)])),
                float(np.mean([np.mean((rec - t) ** 2) for (_, rec), t in zip(out, truth)])))

    err_zf, err_untrained = mse(_tiny(tmp_path / "u"))  # all gains 0: one data-consistency step on |zero-filled|
    _, err_trained = mse(trained := _tiny(tmp_path / "t", steps=60, lr=1e-2))
    assert err_untrained < err_zf  # the projection alone already helps (measured ratio ~0.62) ...
    assert err_trained < 0.75 * err_untrained, (err_zf, err_untrained, err_trained)  # ... learning helps more (~0.56)
    # the Python API on k-space + mask gives the same magnitude
    net, cfg, _ = load_recon(trained)
    k, _ = undersample(truth[0], masks[0])
    np.testing.assert_allclose(reconstruct_mri(k, mask_array(masks[0]), trained),
                               retrospective(truth[0], masks[0], net, cfg)[1], atol=1e-5)


def test_config_round_trip_and_errors(tmp_path: Path) -> None:
    cfg = MRIReconConfig.create(**TINY, seed=3)
    assert MRIReconConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(RadsynthInputError, match="strides"):
        MRIReconConfig.create(channels=(4, 8, 16), strides=(2,))
    with pytest.raises(RadsynthInputError, match="center_fraction"):
        MRIReconConfig.create(acceleration=8, center_fraction=0.2)
    d = tmp_path / "other"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"format": "radsynth-ct-denoiser/1"}))
    (d / "weights.safetensors").write_bytes(b"")
    with pytest.raises(RadsynthInputError, match="radsynth-mri-recon/1"):
        load_recon(d)


def _write_nifti(path: Path, arr: np.ndarray) -> None:
    import nibabel as nib

    nib.save(nib.Nifti1Image(arr.astype(np.float32), np.diag([1.0, 1.0, 3.0, 1.0])), str(path))


def test_reconstruct_file_marks_outputs_and_records_mask(tmp_path: Path) -> None:
    import nibabel as nib

    model = _tiny(tmp_path)
    src = tmp_path / "t1.nii.gz"
    _write_nifti(src, np.stack([_phantom(32, s) * 500 for s in range(3)], axis=2))
    out, zf, params = reconstruct_file(src, tmp_path / "rec.nii.gz", seed=4, center_fraction=0.1, model=model)
    assert zf.name == "rec_zerofilled.nii.gz" and params == sample_mask(32, 4.0, 0.1, seed=4)
    img = nib.load(str(out))
    assert img.shape == (32, 32, 3) and bytes(img.header["descrip"]).startswith(b"radsynth SYNTHETIC")
    side = json.loads((tmp_path / "rec.json").read_text())
    assert side["DigitalSourceType"].endswith("/compositeWithTrainedAlgorithmicMedia")
    assert side["Note"].startswith("AI-MODIFIED") and side["Seed"] == 4
    # the zero-filled file is exactly |IFFT(masked FFT)| of each slice
    data = np.asarray(nib.load(str(src)).dataobj, np.float32)
    expect = np.moveaxis(undersample(np.moveaxis(data, 2, 0), params)[1], 0, 2)
    np.testing.assert_allclose(np.asarray(nib.load(str(zf)).dataobj), expect, rtol=1e-5, atol=1e-3)


def test_shipped_model_is_listed_and_beats_zero_filled_on_simulated_slices() -> None:
    from radsynth.generators.enhancement.mri_kspace_pairs import MRISlicesConfig, simulate_mri_slices
    from radsynth.generators.enhancement.mri_recon import SHIPPED_MODEL, model_path
    from radsynth.generators.zoo import list_models

    try:
        model_path(SHIPPED_MODEL)
    except RadsynthInputError:
        pytest.skip("mri-recon-4x not shipped in this checkout")
    entry = {m.name: m for m in list_models()}[SHIPPED_MODEL]
    assert entry.kind == "enhancer" and entry.card_path is not None and entry.size_bytes < 6_000_000
    net, cfg, _ = load_recon(SHIPPED_MODEL)
    sl = simulate_mri_slices(MRISlicesConfig(n_subjects=1, planes=("axial",), slices_per_plane=3, seed=4242)).images
    d = []
    for s, t in enumerate(sl):
        zf, rec = retrospective(t, sample_mask(128, 4.0, 0.08, seed=s), net, cfg)
        d.append(10 * np.log10(np.mean((zf - t) ** 2) / np.mean((rec - t) ** 2)))
    assert min(d) > 1.0, d  # > 1 dB PSNR gain on every unseen simulated slice


def test_shipped_model_beats_zero_filled_on_real_brain_mri() -> None:
    """Needs the shared real data (skips without it): 8 real slices, retrospectively undersampled at 4x."""
    from radsynth.generators.enhancement.mri_recon import SHIPPED_MODEL, model_path

    root = SHARED / "brain-mri-real" / "no"
    if not root.is_dir():
        pytest.skip(f"shared real brain MRI not found at {root}")
    try:
        model_path(SHIPPED_MODEL)
    except RadsynthInputError:
        pytest.skip("mri-recon-4x not shipped in this checkout")
    from skimage.transform import resize

    from radsynth.generators.common.data import read_image

    net, cfg, _ = load_recon(SHIPPED_MODEL)
    d = []
    for s, p in enumerate(sorted(root.iterdir())[:8]):
        t = resize(read_image(p), (128, 128), anti_aliasing=True, preserve_range=True).astype(np.float32)
        zf, rec = retrospective(t, sample_mask(128, 4.0, 0.08, seed=s), net, cfg)
        d.append(10 * np.log10(np.mean((zf - t) ** 2) / np.mean((rec - t) ** 2)))
    assert np.mean(d) > 0.5, d
