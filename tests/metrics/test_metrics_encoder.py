"""Feature encoder: config, untrained network, save/load round trip, NT-Xent, views, tiny training, shipped model."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from radsynth.core.errors import RadsynthInputError
from radsynth.generators.common.data import resize_image
from radsynth.metrics.encoder import (
    DEFAULT_ENCODER,
    EncoderConfig,
    FeatureEncoder,
    augment_views,
    build_encoder_network,
    knn_accuracy,
    load_encoder,
    nt_xent_loss,
    shipped_encoders,
    train_encoder,
)
from radsynth.metrics.features import Encoder
from radsynth.metrics.frechet import frechet_distance

TINY = EncoderConfig(image_size=16, block_inplanes=(4, 4, 8, 8), norm_mean=0.5, norm_std=0.2,
                     class_names=("dark", "bright"))


def _tiny_encoder(seed: int = 0, **kw) -> FeatureEncoder:
    """Seeded untrained tiny encoder whose batch-norm running statistics are not the defaults."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build_encoder_network(TINY)
        net.train()
        with torch.no_grad():
            net(torch.rand(8, 1, 16, 16) * 2.0)  # moves running mean / var away from 0 / 1
    return FeatureEncoder(TINY, net, **kw)


def _images(n: int, size: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 1.0, (n, size, size))


def test_config_round_trip_and_validation():
    again = EncoderConfig.model_validate_json(json.dumps(TINY.model_dump(mode="json")))
    assert again == TINY and again.feature_dim == 8
    assert EncoderConfig().feature_dim == 256
    with pytest.raises(ValueError):
        EncoderConfig(layers=(1, 1), block_inplanes=(8, 8))  # MONAI's ResNet has 4 stages
    with pytest.raises(ValueError):
        EncoderConfig(image_size=16, stem_stride=4)  # 16 / (4 * 2^3) < 1
    with pytest.raises(ValueError):
        EncoderConfig(unknown=1)


def test_untrained_features_shape_determinism_batching():
    enc = _tiny_encoder(batch_size=64)
    assert isinstance(enc, Encoder) and enc.dim == 8
    x = _images(10)
    f = enc(x)
    assert f.shape == (10, 8) and f.dtype == np.float64 and np.isfinite(f).all()
    assert f.std(axis=0).max() > 0  # images differ -> features differ
    assert np.array_equal(f, enc(x))  # repeated call: bit-identical
    small = FeatureEncoder(enc.config, enc.network, batch_size=3)(x)
    np.testing.assert_allclose(small, f, rtol=1e-5, atol=1e-6)  # batching does not matter (eval-mode BN)
    perm = np.random.default_rng(1).permutation(10)
    np.testing.assert_allclose(enc(x[perm]), f[perm], rtol=1e-5, atol=1e-6)  # nor does order


def test_resizes_like_training_data():
    enc = _tiny_encoder()
    x = _images(4, 40, seed=2)[:, :, 4:36]  # (4, 40, 32): centre crop to 32x32, then resize to 16
    want = enc(np.stack([resize_image(im.astype(np.float32), 16) for im in x]))
    np.testing.assert_array_equal(enc(x), want)


def test_save_load_round_trip_is_bit_identical(tmp_path):
    enc = _tiny_encoder(seed=3)
    d = enc.save(tmp_path / "enc")
    assert (d / "config.json").is_file() and (d / "weights.safetensors").is_file()
    assert json.loads((d / "config.json").read_text())["format"] == "radsynth-feature-encoder/1"
    x = _images(6, seed=4)
    again = FeatureEncoder.load(d)
    assert again.config == enc.config and again.name == "enc"
    assert np.array_equal(again(x), enc(x))
    assert np.array_equal(load_encoder(str(d))(x), enc(x))  # by folder path
    other = _tiny_encoder(seed=4)
    assert not np.allclose(other(x), enc(x))  # the test can fail: a different init gives other features


def test_load_errors(tmp_path):
    with pytest.raises(RadsynthInputError, match="encoder name"):
        load_encoder("no-such-encoder")
    with pytest.raises(RadsynthInputError, match="encoder folder"):
        FeatureEncoder.load(tmp_path)
    d = _tiny_encoder().save(tmp_path / "enc")
    cfg = json.loads((d / "config.json").read_text())
    cfg["block_inplanes"] = [4, 4, 8, 16]  # weights no longer fit
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(RadsynthInputError, match="encoder weights"):
        FeatureEncoder.load(d)
    (d / "config.json").write_text('{"format": "radsynth-reference-classifier/1"}')
    with pytest.raises(RadsynthInputError, match="encoder config"):
        FeatureEncoder.load(d)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.zeros((16, 16)), "shape"),  # (H, W): no image axis
        (np.zeros((2, 1, 16, 16)), "shape"),  # channel axis
        (np.full((2, 16, 16), 1.5), r"\[0, 1\]"),
        (np.full((2, 16, 16), np.nan), "non-finite"),
        (np.zeros((2, 4, 4)), "H, W >= 8"),
        (np.array([["a"]], dtype=object), "dtype"),
    ],
)
def test_bad_input(bad, match):
    with pytest.raises(RadsynthInputError, match=match):
        _tiny_encoder()(bad)


def test_nt_xent_analytic_and_matches_monai():
    # Orthonormal embeddings, both views equal: each of the 2B anchors has cosine 1 with its positive
    # and 0 with the 2B - 2 others, so the loss is -log(e^(1/t) / (e^(1/t) + 2B - 2)) (Chen et al. 2020, Eq. 1).
    b, t = 4, 0.5
    z = torch.eye(b, 6)
    want = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 2 * b - 2))
    assert float(nt_xent_loss(z, z.clone(), t)) == pytest.approx(want, rel=1e-6)
    from monai.losses import ContrastiveLoss

    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(8, 5, generator=g), torch.randn(8, 5, generator=g)
    for temp in (0.1, 0.5):
        assert float(nt_xent_loss(z1, z2, temp)) == pytest.approx(float(ContrastiveLoss(temperature=temp)(z1, z2)), rel=1e-5)


def test_views_identity_range_and_seed():
    x = _images(5, 16, seed=5).astype(np.float32)
    ident = augment_views(x, np.random.default_rng(0), crop_area=(1.0, 1.0), aspect=(1.0, 1.0),
                          max_rotation_deg=0.0, gamma=(1.0, 1.0))
    np.testing.assert_allclose(ident[:, 0].numpy(), x, atol=1e-5)  # bicubic at pixel centres = the image
    v1 = augment_views(x, np.random.default_rng(7))
    v2 = augment_views(x, np.random.default_rng(7))
    assert v1.shape == (5, 1, 16, 16) and float(v1.min()) >= 0.0 and float(v1.max()) <= 1.0
    assert torch.equal(v1, v2) and not torch.allclose(v1[:, 0], torch.from_numpy(x), atol=1e-3)


def test_knn_accuracy_clusters():
    rng = np.random.default_rng(0)
    centres = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    y = np.arange(40) % 2
    f = centres[y] + 0.05 * rng.standard_normal((40, 3))
    assert knn_accuracy(f[:30], y[:30], f[30:], y[30:]) == 1.0
    assert knn_accuracy(f[:30], 1 - y[:30], f[30:], y[30:]) == 0.0  # labels swapped: always wrong


def _blobs(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """16x16 noisy mid-grey images with a centre disc darker (class 0) or brighter (class 1)."""
    yy, xx = np.mgrid[:16, :16]
    disc = ((yy - 7.5) ** 2 + (xx - 7.5) ** 2) < 4.0**2
    y = np.arange(n) % 2
    x = 0.5 + 0.05 * rng.standard_normal((n, 16, 16))
    x[:, disc] += np.where(y == 1, 0.3, -0.3)[:, None] * rng.uniform(0.5, 1.0, (n, 1))
    return np.clip(x, 0, 1).astype(np.float32), y.astype(np.int64)


def test_tiny_training_is_deterministic_and_learns():
    rng = np.random.default_rng(0)
    x, y = _blobs(128, rng)
    xv, yv = _blobs(64, rng)
    untrained = _tiny_encoder()
    knn0 = knn_accuracy(untrained(x), y, untrained(xv), yv)  # 0.83: random features already see the disc
    kw = {"seed": 1, "epochs": 8, "batch_size": 32, "lr": 1e-2, "eval_every": 0}
    enc, rep = train_encoder(x, y, xv, yv, TINY, **kw)
    enc2, _ = train_encoder(x, y, xv, yv, TINY, **kw)
    assert rep.epochs == 8 and rep.stopped == "epochs" and len(rep.history) == 8
    assert "val_view_top1" in rep.history[-1] and "val_knn_bal_acc" not in rep.history[0]  # evaluated at the end
    assert np.array_equal(enc(xv), enc2(xv))  # same seed -> bit-identical weights
    h0, h1 = rep.history[0], rep.history[-1]
    assert h1["nt_xent"] < h0["nt_xent"] - 0.3 and h1["cross_entropy"] < 0.5 * h0["cross_entropy"], (h0, h1)
    assert h1["val_knn_bal_acc"] >= 0.95 and h1["val_knn_bal_acc"] > knn0, (knn0, h1)
    # self-supervised only (no labels) also runs
    enc3, rep3 = train_encoder(x, None, xv, None, TINY, seed=1, epochs=1, batch_size=16, eval_every=0)
    assert np.isnan(rep3.history[0]["cross_entropy"]) and enc3(xv).shape == (64, 8)
    with pytest.raises(RadsynthInputError, match="labels"):
        train_encoder(x, y + 5, xv, yv, TINY, epochs=1, batch_size=16)
    with pytest.raises(RadsynthInputError, match="images"):
        train_encoder(x[:, :8, :8], y, xv, yv, TINY, epochs=1, batch_size=16)


# ---------------------------------------------------------------- the shipped encoder

needs_shipped = pytest.mark.skipif(
    DEFAULT_ENCODER not in shipped_encoders(),
    reason=f"{DEFAULT_ENCODER} weights not shipped (train with scripts/train_cxr_encoder.py)",
)


@pytest.fixture(scope="module")
def shipped():
    return load_encoder(DEFAULT_ENCODER)


@needs_shipped
def test_shipped_loads_and_is_deterministic(shipped):
    assert shipped.dim == 256 and shipped.config.image_size == 64 and shipped.name == DEFAULT_ENCODER
    assert shipped.n_parameters() * 4 <= 25 * 1024 * 1024
    x = _images(5, 80, seed=6)  # any size: resized to 64
    f = shipped(x)
    assert f.shape == (5, 256) and np.isfinite(f).all()
    assert np.array_equal(f, shipped(x))
    np.testing.assert_allclose(load_encoder(DEFAULT_ENCODER, batch_size=2)(x), f, rtol=1e-5, atol=1e-6)


@needs_shipped
def test_shipped_on_real_images(shipped, shared_data):
    """Real train images: a lightly noised copy's nearest neighbour is its source; blur moves the features."""
    from radsynth.generators.common.data import read_image, scan_class_folder

    root = shared_data / "cxr-pneumonia" / "train"
    if not root.is_dir():
        pytest.skip("cxr-pneumonia/train not in shared data")
    items = scan_class_folder(root, require_classes=2).items[::50][:80]
    x = np.stack([resize_image(read_image(it.path), 64) for it in items]).astype(np.float64)
    f = shipped(x)
    rng = np.random.default_rng(0)
    g = shipped(np.clip(x + 0.005 * rng.standard_normal(x.shape), 0, 1))
    a = f / np.linalg.norm(f, axis=1, keepdims=True)
    b = g / np.linalg.norm(g, axis=1, keepdims=True)
    assert ((b @ a.T).argmax(1) == np.arange(len(x))).mean() > 0.95
    from scipy.ndimage import gaussian_filter

    half = len(x) // 2
    floor = frechet_distance(f[:half], f[half:])
    blurred = frechet_distance(f[:half], shipped(gaussian_filter(x[half:], (0, 1.0, 1.0))))
    assert blurred > floor, (floor, blurred)


def test_validation_table_lists_validation_epochs_only():
    from radsynth.metrics.encoder import validation_table

    hist = [{"epoch": 1, "loss": 2.0, "nt_xent": 1.5, "cross_entropy": 0.5},
            {"epoch": 2, "loss": 1.0, "nt_xent": 0.8, "cross_entropy": 0.2, "val_knn_bal_acc": 0.9, "val_view_top1": 0.75}]
    lines = validation_table(hist).splitlines()
    assert len(lines) == 3 and lines[2] == "| 2 | 1.0000 | 0.8000 | 0.2000 | 0.900 | 0.750 |"
