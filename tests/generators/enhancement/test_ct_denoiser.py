"""Low-dose CT denoiser on tiny models: config round trip, shapes and HU units, determinism, a short training
that learns to leave a clean image alone, noise insertion statistics, the ``radsynth denoise`` command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.generators.enhancement.ct_denoiser import (
    CTDenoiserConfig, build_network, denoise_hu, denoise_nifti, load_denoiser, save_denoiser, train_ct_denoiser)

TINY = dict(channels=(4, 8), strides=(2,), num_res_units=1, patch_size=16, batch_size=4, val_every=5)


def _phantom(n: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A water disc (0 HU) in air (-1000 HU) with a 300 HU insert, and a noisy copy (SD 40 HU)."""
    i, j = np.mgrid[:n, :n] - (n - 1) / 2
    truth = np.where(i ** 2 + j ** 2 < (0.45 * n) ** 2, 0.0, -1000.0)
    truth[(i - 3) ** 2 + j ** 2 < 9] = 300.0
    noisy = truth + np.random.default_rng(seed).normal(0, 40, truth.shape)
    return truth.astype(np.float32), noisy.astype(np.float32)


def _tiny_model(tmp_path: Path, steps: int = 0) -> Path:
    cfg = CTDenoiserConfig.create(**TINY, max_steps=max(steps, 1))
    if steps:
        truth, noisy = zip(*(_phantom(seed=s) for s in range(4)))
        images = np.stack([np.stack([n, t]) for n, t in zip(noisy, truth)])
        net, _ = train_ct_denoiser(images, np.stack(truth), np.array([0, 0, 0, 1]), cfg)
    else:
        net = build_network(cfg).eval()
    return save_denoiser(tmp_path / "tiny-denoiser", net, cfg)


def test_config_json_round_trip_and_errors() -> None:
    cfg = CTDenoiserConfig.create(**TINY, seed=7)
    assert CTDenoiserConfig.from_json(cfg.to_json()) == cfg
    assert json.loads(cfg.to_json())["hu_min"] == -1024.0
    with pytest.raises(RadsynthInputError, match="strides"):
        CTDenoiserConfig.create(channels=(4, 8, 16), strides=(2,))
    with pytest.raises(RadsynthInputError, match="patch_size"):
        CTDenoiserConfig.create(patch_size=30)
    with pytest.raises(RadsynthInputError, match="nope"):
        CTDenoiserConfig.from_json('{"nope": 1}')


def test_shapes_units_and_determinism(tmp_path: Path) -> None:
    net, cfg, doc = load_denoiser(_tiny_model(tmp_path))
    assert doc["format"] == "radsynth-ct-denoiser/1"
    _, noisy = _phantom(30)  # not a multiple of the stride: padded and cropped back
    out2d = denoise_hu(noisy, net, cfg)
    assert out2d.shape == noisy.shape and out2d.dtype == np.float32
    vol = np.stack([noisy, noisy[::-1]], axis=2)
    out3d = denoise_hu(vol, net, cfg)
    assert out3d.shape == vol.shape
    np.testing.assert_allclose(out3d[..., 0], out2d, atol=1e-2)  # batched vs single slice: float32 rounding
    np.testing.assert_array_equal(denoise_hu(vol, net, cfg), out3d)
    # HU units: an untrained model is the identity (output gain 0), so HU in = HU out
    np.testing.assert_allclose(out2d, noisy, atol=1e-3)
    with pytest.raises(RadsynthInputError):
        denoise_hu(np.zeros((4, 4)), net, cfg)


def test_short_training_is_deterministic_and_keeps_clean_input(tmp_path: Path) -> None:
    a = _tiny_model(tmp_path / "a", steps=30)
    b = _tiny_model(tmp_path / "b", steps=30)
    assert (a / "weights.safetensors").read_bytes() == (b / "weights.safetensors").read_bytes()
    net, cfg, _ = load_denoiser(a)
    truth, noisy = _phantom(32, seed=9)
    clean_residual = np.abs(denoise_hu(truth, net, cfg) - truth)[truth > -500]
    assert float(np.mean(clean_residual)) < 40.0  # below the 40 HU noise SD it was trained to remove


def test_noise_insertion_dose_scaling() -> None:
    from radsynth.physics.ct.ct_scan import CTScan
    from radsynth.physics.ct.noise_insertion import insert_noise_hu, insertion_mas

    assert insertion_mas(100.0, 0.25) == pytest.approx(100 / 3)
    with pytest.raises(RadsynthInputError):
        insertion_mas(100.0, 1.0)
    truth, _ = _phantom(48)
    sd = {}
    for mas in (10.0, 40.0):
        noisy = insert_noise_hu(truth, 2.0, 5.0, CTScan(mas=mas, n_views=120, electronic_noise=0.0),
                                np.random.default_rng(0))
        assert noisy.shape == truth.shape
        sd[mas] = float((noisy - truth)[truth == 0].std())
    assert sd[10.0] / sd[40.0] == pytest.approx(2.0, rel=0.2)  # sigma ~ 1/sqrt(mAs)


def _write_ct(path: Path, arr: np.ndarray) -> None:
    import nibabel as nib

    nib.save(nib.Nifti1Image(arr.astype(np.float32), np.diag([1.4, 1.4, 2.5, 1.0])), str(path))


def test_denoise_nifti_api_marks_output(tmp_path: Path) -> None:
    import nibabel as nib

    model = _tiny_model(tmp_path)
    _, noisy = _phantom(32)
    src = tmp_path / "in.nii.gz"
    _write_ct(src, np.stack([noisy] * 3, axis=2))
    out = denoise_nifti(src, tmp_path / "out.nii.gz", model)
    img = nib.load(str(out))
    assert img.shape == (32, 32, 3)
    np.testing.assert_allclose(img.affine, np.diag([1.4, 1.4, 2.5, 1.0]))
    assert bytes(img.header["descrip"]).startswith(b"radsynth SYNTHETIC")
    side = json.loads((tmp_path / "out.json").read_text())
    # a real scan edited by a model: IPTC "composite with trained algorithmic media", and never "not a real patient"
    assert side["Generator"] == "learned-ct-denoiser"
    assert side["DigitalSourceType"].endswith("/compositeWithTrainedAlgorithmicMedia")
    assert side["Note"].startswith("AI-MODIFIED") and "not a real patient" not in side["Note"]


def test_cli_denoise_and_bad_input(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from radsynth.cli.main import app

    model = _tiny_model(tmp_path)
    _, noisy = _phantom(32)
    good, bad = tmp_path / "ct.nii.gz", tmp_path / "mr.nii.gz"
    _write_ct(good, np.stack([noisy] * 2, axis=2))
    _write_ct(bad, np.full((32, 32, 2), 500.0))  # not HU: no air
    run = CliRunner().invoke
    from radsynth.provenance.audit import AuditLog

    audit_url = f"sqlite:///{tmp_path / 'audit.sqlite'}"
    r = run(app, ["denoise", str(good), "--out", str(tmp_path / "o.nii.gz"), "--model", str(model)],
            env={"RADSYNTH_AUDIT_DB": audit_url})
    assert r.exit_code == 0, r.output
    assert (tmp_path / "o.nii.gz").is_file()
    with AuditLog(audit_url) as log:  # the edit of a real scan is in the audit trail, with both fingerprints
        rec = [x for x in log.records() if x["action"] == "denoise"]
    assert len(rec) == 1 and rec[0]["outputs"]["file"].endswith("o.nii.gz") and len(rec[0]["inputs"]["input_sha256"]) == 64
    for args, field in (([str(bad), "--out", str(tmp_path / "x.nii.gz")], "input values"),
                        ([str(tmp_path / "missing.nii.gz"), "--out", str(tmp_path / "x.nii.gz")], "input"),
                        ([str(good), "--out", str(tmp_path / "x.png")], "--out"),
                        ([str(good), "--out", str(tmp_path / "o.nii.gz")], "--out"),
                        ([str(good), "--out", str(tmp_path / "x.nii.gz"), "--model", "no-such-model"], "--model")):
        r = run(app, ["denoise", *args, "--model", str(model)] if "--model" not in args else ["denoise", *args])
        assert r.exit_code == 2, (args, r.output)
        lines = [ln for ln in r.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and field in lines[0] and "accepted" in lines[0], r.output
        assert not (tmp_path / "x.nii.gz").exists() and not (tmp_path / "x.png").exists()


def test_shipped_model_is_listed_and_denoises() -> None:
    from radsynth.generators.enhancement.ct_denoiser import SHIPPED_MODEL, model_path
    from radsynth.generators.zoo import list_models

    try:
        model_path(SHIPPED_MODEL)
    except RadsynthInputError:
        pytest.skip("ct-denoiser-ld not shipped in this checkout")
    entry = {m.name: m for m in list_models()}[SHIPPED_MODEL]
    assert entry.kind == "enhancer" and entry.card_path is not None
    assert entry.size_bytes < 3_000_000
    net, cfg, _ = load_denoiser(SHIPPED_MODEL)
    from radsynth.physics.ct.ct_scan import CTScan
    from radsynth.physics.ct.noise_insertion import insert_noise_hu

    truth, _ = _phantom(96)
    # FBP-textured quantum noise at the training geometry (1.4 mm pixels, 2.5 mm slices), ~15 HU in water
    noisy = insert_noise_hu(truth, 1.40625, 2.5, CTScan(mas=0.5, n_views=480), np.random.default_rng(1))
    out = denoise_hu(noisy, net, cfg)
    from scipy.ndimage import binary_erosion

    body = binary_erosion(truth == 0, iterations=4)  # uniform water away from edges (edge blur is not noise)
    sd_in, sd_out = float((noisy - truth)[body].std()), float((out - truth)[body].std())
    assert sd_in > 10.0 and sd_out < 0.8 * sd_in, (sd_in, sd_out)


@pytest.mark.slow
def test_simulated_pairs_shapes_and_dose_ordering() -> None:
    """One anatomy, one slice, two loads: physics pairs and sharp-target insertion pairs (~40 s)."""
    from radsynth.generators.enhancement.ct_pairs import CTPairsConfig, simulate_ct_pairs, simulate_insertion_pairs

    cfg = CTPairsConfig.create(n_subjects=1, slices_per_subject=1, doses_mas=(100.0, 5.0), n_views=240)
    for make in (simulate_ct_pairs, simulate_insertion_pairs):
        p = make(cfg)
        assert p.images.shape == (1, 2, *p.truth.shape[1:]) and p.pixel_mm == pytest.approx(1.40625)
        sd = p.noise_sd_hu()
        assert 0 < sd[100.0] < sd[5.0]
        assert sd[5.0] / sd[100.0] == pytest.approx(np.sqrt(20), rel=0.35)  # sigma ~ 1/sqrt(mAs)
        assert -1100 < float(np.median(p.truth[p.truth < -900])) < -900  # air in HU
