"""Reference classifier: config round trip, save/load, determinism, input errors, tiny training."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from radsynth.core.errors import RadsynthInputError
from radsynth.metrics.classifier import (
    ClassifierConfig,
    ReferenceClassifier,
    build_classifier,
    train_classifier,
)

TINY = ClassifierConfig(image_size=16, net_channels=(8, 16), net_strides=(2, 2), class_names=("dark", "bright"))


def _blobs(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """16x16 images: a centre disc darker (class 0) or brighter (class 1) than a noisy mid-grey background.

    Separable after per-image min-max scaling (which removes global brightness).
    """
    yy, xx = np.mgrid[:16, :16]
    disc = ((yy - 7.5) ** 2 + (xx - 7.5) ** 2) < 4.0**2
    y = np.arange(n) % 2
    x = 0.5 + 0.05 * rng.standard_normal((n, 16, 16))
    x[:, disc] += np.where(y == 1, 0.3, -0.3)[:, None] * rng.uniform(0.5, 1.0, (n, 1))
    return np.clip(x, 0, 1).astype(np.float32), y.astype(np.int64)


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(0)
    x, y = _blobs(256, rng)
    xv, yv = _blobs(128, rng)
    xt, yt = _blobs(128, rng)
    model, rep = train_classifier(x, y, xv, yv, TINY, seed=3, max_epochs=4, batch_size=32, lr=3e-3, max_shift=1)
    return model, rep, (x, y, xv, yv, xt, yt)


def test_config_round_trip_and_validation():
    cfg = TINY.model_copy(update={"threshold": 0.4})
    again = ClassifierConfig.model_validate_json(json.dumps(cfg.model_dump(mode="json")))
    assert again == cfg and again.n_classes == 2
    with pytest.raises(ValueError):
        ClassifierConfig(class_names=("a",))
    with pytest.raises(ValueError):
        ClassifierConfig(net_channels=(8, 16), net_strides=(2,))
    with pytest.raises(ValueError):
        ClassifierConfig(unknown_field=1)


def test_tiny_training_separates(trained):
    model, rep, (*_, xt, yt) = trained
    acc = float((model.predict(xt) == yt).mean())
    assert acc > 0.9, acc
    assert rep.best_val_auc > 0.95 and rep.seconds < 20
    assert model.config.threshold is not None and 0.0 <= model.config.threshold <= 1.0
    p = model.predict_proba(xt)
    assert p.shape == (128, 2) and np.allclose(p.sum(1), 1.0)


def test_training_is_seeded(trained):
    model, _, (x, y, xv, yv, xt, _) = trained
    again, _ = train_classifier(x, y, xv, yv, TINY, seed=3, max_epochs=4, batch_size=32, lr=3e-3, max_shift=1)
    assert np.array_equal(model.predict_proba(xt), again.predict_proba(xt))
    # global torch RNG untouched by training (forked)
    torch.manual_seed(123)
    a = torch.rand(3)
    torch.manual_seed(123)
    train_classifier(x[:64], y[:64], xv, yv, TINY, seed=1, max_epochs=1, batch_size=32)
    assert torch.equal(torch.rand(3), a)


def test_save_load_identical_and_deterministic(trained, tmp_path):
    model, _, (*_, xt, _) = trained
    p1 = model.predict_proba(xt)
    assert np.array_equal(p1, model.predict_proba(xt))  # repeated calls bit-identical
    model.save(tmp_path / "m")
    loaded = ReferenceClassifier.load(tmp_path / "m")
    assert loaded.config == model.config
    assert np.array_equal(loaded.predict_proba(xt), p1)
    assert np.array_equal(loaded.predict(xt), model.predict(xt))
    n = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        p_one = model.predict_proba(xt)
    finally:
        torch.set_num_threads(n)
    np.testing.assert_allclose(p_one, p1, atol=1e-5)


def test_resize_and_channel_axis(trained):
    model, _, (*_, xt, _) = trained
    assert model.predict_proba(xt[:4, None]).shape == (4, 2)  # (N, 1, H, W)
    big = np.kron(xt[:4], np.ones((2, 2), np.float32))  # 32x32 -> resized to 16
    assert model.predict_proba(big).shape == (4, 2)


@pytest.mark.parametrize(
    "bad",
    [np.zeros((16, 16), np.float32), np.zeros((2, 2, 16, 16), np.float32), np.zeros((0, 16, 16), np.float32),
     np.zeros((2, 4, 4), np.float32), [[0.0]]],
)
def test_bad_shapes(trained, bad):
    model = trained[0]
    with pytest.raises(RadsynthInputError, match="images"):
        model.predict_proba(bad)


def test_bad_values_and_folders(trained, tmp_path):
    model = trained[0]
    with pytest.raises(RadsynthInputError, match=r"\(x \+ 1\) / 2"):
        model.predict_proba(np.full((2, 16, 16), -1.0, np.float32))
    with pytest.raises(RadsynthInputError, match="finite"):
        model.predict_proba(np.full((2, 16, 16), np.nan, np.float32))
    with pytest.raises(RadsynthInputError, match="classifier folder"):
        ReferenceClassifier.load(tmp_path)
    model.save(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    cfg["net_channels"] = [4, 8]
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(RadsynthInputError, match="weights"):
        ReferenceClassifier.load(tmp_path / "m")


def test_bad_labels():
    x = np.zeros((4, 16, 16), np.float32)
    with pytest.raises(RadsynthInputError, match="labels"):
        train_classifier(x, np.array([0, 1, 2, 0]), x, np.array([0, 1, 0, 1]), TINY, max_epochs=1)


def test_build_param_count():
    net = build_classifier(ClassifierConfig())
    assert 50_000 < sum(p.numel() for p in net.parameters()) < 1_250_000  # <= 5 MB float32
