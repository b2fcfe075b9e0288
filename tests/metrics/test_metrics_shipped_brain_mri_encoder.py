"""The shipped brain-mri-encoder-64: registered and loadable offline, deterministic, sensitive to noise, its
shipped split and metrics consistent, and (where ../shared/data exists) the split reproducible from the images.

Trained by scripts/train_brain_mri_encoder.py on the train part of its fixed split of brain-mri-real; the
data-dependent tests skip with a reason where the shared data is absent.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from radsynth.metrics.encoder import load_encoder, shipped_encoders

NAME = "brain-mri-encoder-64"
REPO = Path(__file__).resolve().parents[2]

needs_shipped = pytest.mark.skipif(
    NAME not in shipped_encoders(), reason=f"{NAME} not shipped (train with scripts/train_brain_mri_encoder.py)")
pytestmark = needs_shipped


def _folder() -> Path:
    from importlib import resources

    return Path(str(resources.files("radsynth").joinpath("data", "models", NAME)))


@pytest.fixture(scope="module")
def enc():
    return load_encoder(NAME)


@pytest.fixture(scope="module")
def metrics() -> dict:
    return json.loads((_folder() / "metrics.json").read_text())


@pytest.fixture(scope="module")
def split_rows() -> list[dict[str, str]]:
    with open(_folder() / "split.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _brain_like(n: int, size: int = 96, seed: int = 0) -> np.ndarray:
    """Smooth ellipses with a darker rim and a few blobs: structured images in [0, 1] (not noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / (size - 1) * 2 - 1
    out = np.zeros((n, size, size))
    for i in range(n):
        a, b = rng.uniform(0.6, 0.85, 2)
        r = (xx / a) ** 2 + (yy / b) ** 2
        img = np.where(r < 1, 0.55 + 0.2 * np.cos(6 * xx + rng.uniform(0, 3)) * np.sin(5 * yy), 0.0)
        img = np.where((r > 0.8) & (r < 1), 0.9, img)
        for _ in range(3):
            cx, cy, s = rng.uniform(-0.4, 0.4), rng.uniform(-0.4, 0.4), rng.uniform(0.05, 0.15)
            img += 0.3 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / s**2) * (r < 1)
        out[i] = np.clip(img, 0, 1)
    return out


def test_registered_loads_and_shape(enc):
    assert NAME in shipped_encoders()
    assert enc.name == NAME and enc.dim == 128 and enc.config.image_size == 64
    assert enc.config.class_names == ("no", "yes")
    assert (_folder() / "weights.safetensors").stat().st_size <= 5 * 1024 * 1024
    x = _brain_like(6, 96)  # any size: centre-cropped and resized to 64
    f = enc(x)
    assert f.shape == (6, 128) and f.dtype == np.float64 and np.isfinite(f).all()
    assert f.std(axis=0).max() > 0


def test_deterministic_and_batch_independent(enc):
    x = _brain_like(5, 64, seed=1)
    f = enc(x)
    assert np.array_equal(f, enc(x))
    assert np.array_equal(f, load_encoder(NAME)(x))  # a fresh load: bit-identical
    np.testing.assert_allclose(load_encoder(NAME, batch_size=2)(x), f, rtol=1e-5, atol=1e-6)


def test_features_move_with_noise_and_blur(enc):
    from scipy.ndimage import gaussian_filter

    x = _brain_like(8, 64, seed=2)
    f = enc(x)
    rng = np.random.default_rng(0)
    moved = {}
    for name, y in (("noise", np.clip(x + 0.05 * rng.standard_normal(x.shape), 0, 1)),
                    ("blur", gaussian_filter(x, (0, 1.5, 1.5)))):
        g = enc(y)
        moved[name] = float(np.linalg.norm(g - f, axis=1).mean())
    tiny = float(np.linalg.norm(enc(np.clip(x + 1e-4, 0, 1)) - f, axis=1).mean())
    assert min(moved.values()) > 10 * tiny, (moved, tiny)


def test_evaluate_accepts_it():
    from radsynth.evaluate.config import EvaluateConfig
    from radsynth.generators import zoo

    assert EvaluateConfig(encoder=NAME).encoder == NAME
    entry = {m.name: m for m in zoo.list_models()}[NAME]
    assert entry.kind == "encoder" and entry.source == "shipped"
    assert entry.data_fingerprint is not None and len(entry.data_fingerprint) == 64


def test_shipped_metrics_consistent(metrics):
    for key in ("encoder", "pixel16"):
        m = metrics[key]
        assert m["splits"] >= 100 and m["n_half"] >= 20
        assert m["fid_fast_max_rel_diff_vs_library"] < 1e-4  # the card's fast FID equals radsynth's
        fl = m["floor"]
        assert fl["q025"] <= fl["median"] <= fl["q975"]
    e, p = metrics["encoder"], metrics["pixel16"]
    noise = [e["floor"]["median"]] + [e["degraded"][f"noise {s}"]["median"] for s in metrics["noise_sigmas"]]
    blur = [e["floor"]["median"]] + [e["degraded"][f"blur {s}"]["median"] for s in metrics["blur_sigmas"]]
    assert e["monotone_noise"] and e["monotone_blur"]
    assert all(u < v for u, v in zip(noise, noise[1:])), noise
    assert all(u < v for u, v in zip(blur, blur[1:])), blur
    # the strongest degradations are detected in every split; the encoder is the better judge than pixels
    assert e["degraded"][f"noise {metrics['noise_sigmas'][-1]}"]["detect"] == 1.0
    assert e["degraded"][f"blur {metrics['blur_sigmas'][-1]}"]["detect"] == 1.0
    for k in ("noise 0.05", "blur 1.0"):
        assert e["degraded"][k]["ratio_to_floor"] > 1.5 * p["degraded"][k]["ratio_to_floor"], k
    assert e["knn_yes_no"]["balanced_accuracy"] > 0.6
    assert e["knn_weighting"]["balanced_accuracy"] > p["knn_weighting"]["balanced_accuracy"]
    card = (_folder() / "MODEL_CARD.md").read_text()
    assert metrics["weights_sha256"] in card and metrics["split"]["fingerprint_train"] in card
    assert "not stated" in card  # the images' license, said plainly


def test_split_file_is_consistent(split_rows, metrics):
    parts = Counter(r["part"] for r in split_rows)
    s = metrics["split"]
    assert len(split_rows) == 253
    assert parts["train"] == s["train"] and parts["heldout"] == s["heldout"]
    assert parts["heldout-dropped"] == s["heldout_dropped"] and parts["duplicate"] == s["duplicates"]
    # byte-identical copies never straddle the split: a duplicate shares its representative's content and group
    rep = {r["sha256"]: r for r in split_rows if r["part"] != "duplicate"}
    assert len(rep) == len(split_rows) - parts["duplicate"]
    for r in split_rows:
        if r["part"] == "duplicate":
            assert r["sha256"] in rep and r["group"] == rep[r["sha256"]]["group"]
    # near-duplicate groups live on one side
    side = {}
    for r in split_rows:
        if r["part"] in ("train", "heldout"):
            assert side.setdefault(r["group"], r["part"]) == r["part"], r["group"]
    # stratified: the class shares of train and held-out agree within a few percent
    for part in ("train", "heldout"):
        n = [r for r in split_rows if r["part"] == part]
        assert 0.55 < sum(r["class"] == "yes" for r in n) / len(n) < 0.7


def test_split_reproducible_from_the_images(split_rows, shared_data):
    """The split function (scripts/brain_mri_split.py), run on the real images, gives exactly the shipped split.csv."""
    import importlib.util

    root = shared_data / "brain-mri-real"
    if not root.is_dir():
        pytest.skip("brain-mri-real not in shared data")
    spec = importlib.util.spec_from_file_location("brain_mri_split", REPO / "scripts" / "brain_mri_split.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rows, images, _ = mod.make_split(root)
    assert rows == split_rows
    assert all(a.shape == (64, 64) for a in images.values())
