"""Conditional WGAN-GP baseline: config, MONAI networks, exact resume, sampling, a toy conditional run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from gen_fixtures import check_exact_resume, two_class_images

from radsynth.core.errors import RadsynthError, RadsynthInputError
from radsynth.generators.gan import gan, gan_training
from radsynth.generators.gan.gan import GANConfig, build_critic, build_networks, config_for_training, count_parameters
from radsynth.generators.common.checkpoint import join_tensors, load_checkpoint
from radsynth.generators.common.train_config import TrainConfig

#: ~10 k parameters in all at 16 px
TINY = dict(image_size=16, channels=(8, 16), latent_dim=16, embed_dim=8)
CFG = GANConfig.create(**TINY, classes=("dark", "bright"), n_critic=2)


def _data(n: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    x, y = two_class_images(n, seed)
    return x.clip(-1, 1), y


# ------------------------------------------------------------------ config


def test_config_import_does_not_need_torch() -> None:
    code = ("import sys; from radsynth.generators.gan.gan import GANConfig, config_for_training; "
            "c = config_for_training(image_size=64, classes=('a', 'b'), channels=None); c.card_lines(); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_config_validation() -> None:
    with pytest.raises(RadsynthInputError, match="--image-size"):
        GANConfig.create(**{**TINY, "image_size": 24})
    with pytest.raises(RadsynthInputError, match="image_size"):
        GANConfig.create(**{**TINY, "image_size": 8})
    with pytest.raises(RadsynthInputError, match="channels.*2 positive values"):
        GANConfig.create(**{**TINY, "channels": (8, 16, 32)})
    with pytest.raises(RadsynthInputError, match="kernel_size"):
        GANConfig.create(**TINY, kernel_size=4)
    with pytest.raises(RadsynthInputError, match="gen_norm"):
        GANConfig.create(**TINY, gen_norm="batch")
    with pytest.raises(RadsynthInputError, match="n_critic"):
        GANConfig.create(**TINY, n_critic=0)
    with pytest.raises(RadsynthInputError, match="classes"):
        GANConfig.create(**TINY, classes=("A", "a"))
    with pytest.raises(RadsynthInputError, match="foo.*Extra inputs"):
        GANConfig.create(**TINY, foo=1)
    cfg = GANConfig.create(**TINY, classes=("NORMAL", "PNEUMONIA"))
    assert cfg.conditional and cfg.sample_shape == (16, 16) and cfg.levels == 2
    assert cfg.label_index("pneumonia") == 1
    with pytest.raises(RadsynthInputError, match="normal, pneumonia"):
        cfg.label_index("covid")
    with pytest.raises(RadsynthInputError, match="unconditional"):
        GANConfig.create(**TINY).label_index("normal")
    # JSON round trip (config.json)
    assert GANConfig.create(**json.loads(json.dumps(cfg.model_dump(mode="json")))) == cfg
    assert any("WGAN-GP" in line for line in cfg.card_lines())
    assert all(line.startswith("- ") for line in cfg.card_lines())


def test_config_for_training() -> None:
    cfg = config_for_training(image_size=64, classes=("NORMAL", "PNEUMONIA"), channels=None)
    assert cfg.channels == (32, 64, 128, 256) and cfg.arch == "gan" and cfg.classes == ("NORMAL", "PNEUMONIA")
    assert config_for_training(image_size=128, classes=(), channels=None).channels == (16, 32, 64, 128, 256)
    assert config_for_training(image_size=32, classes=(), channels=(8, 16, 32)).channels == (8, 16, 32)
    for size in (48, 100, 8, 2048):
        with pytest.raises(RadsynthInputError, match="--image-size"):
            config_for_training(image_size=size, classes=(), channels=None)
    with pytest.raises(RadsynthInputError, match="--channels.*4 comma-separated values"):
        config_for_training(image_size=64, classes=(), channels=(32, 64, 64))


# ------------------------------------------------------------------ networks


def test_networks_shapes_and_conditioning() -> None:
    cfg = config_for_training(image_size=64, classes=("a", "b"), channels=None)
    g, d = build_networks(cfg), build_critic(cfg)
    # the recommended 64 px model stays small enough for CPU training
    assert 1_000_000 < count_parameters(g) < 1_200_000 and 350_000 < count_parameters(d) < 450_000
    # no batch norm anywhere (per-sample gradient penalty; EMA of running stats)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in [*g.modules(), *d.modules()])
    z, y = torch.randn(3, cfg.latent_dim), torch.tensor([0, 1, 1])
    with torch.no_grad():
        x = g(z, y)
        assert x.shape == (3, 1, 64, 64) and float(x.abs().max()) <= 1.0
        assert d(x, y).shape == (3,)
        # projection term starts at zero: the untrained critic ignores the label
        assert torch.equal(d(x, y), d(x, 1 - y))
        # the generator's class embedding changes the image
        assert not torch.equal(g(z, y), g(z, 1 - y))
    with pytest.raises(ValueError):
        g(z)
    u = GANConfig.create(**TINY)
    assert build_networks(u).embed is None and build_critic(u).embed is None
    assert build_networks(u)(torch.randn(2, u.latent_dim)).shape == (2, 1, 16, 16)


# ------------------------------------------------------------------ training


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_resume_continues_the_same_run(tmp_path: Path, precision: str) -> None:
    # 3 + 3 steps of 2 critic batches of 5: 24 images -> epoch boundary inside the first half
    full = check_exact_resume(gan_training.train_model, CFG, tmp_path, 3, data=_data(), lr=1e-3, warmup_steps=2,
                              val_every=2, precision=precision)
    assert [s for s, _ in full.val_curve] == [2, 4, 6]
    assert set(full.ema_state) == set(build_networks(CFG).state_dict())  # generator only
    tf, _ = load_checkpoint(tmp_path / "full", expected_format="radsynth.generators.gan.checkpoint/1")
    tr, _ = load_checkpoint(tmp_path / "split", expected_format="radsynth.generators.gan.checkpoint/1")
    for name in tf:  # critic, raw generator, Adam moments, RNG state, histories
        if name != "rng.torch_cpu":
            assert torch.equal(tf[name], tr[name]), name


def test_checkpoint_contents_budget_and_mismatch(tmp_path: Path) -> None:
    x, y = _data()
    tc = TrainConfig(batch_size=4, lr=1e-3, max_steps=2, warmup_steps=0, precision="fp32")
    r = gan_training.train_model(CFG, tc, x, y, tmp_path / "ck", extra_meta={"data_fingerprint": "abc"})
    assert r.images_per_s > 0 and r.device == "cpu"
    tensors, meta = load_checkpoint(tmp_path / "ck", expected_format="radsynth.generators.gan.checkpoint/1")
    assert meta["step"] == 2 and int(tensors["ema.n_averaged"]) == 2
    assert any(k.startswith("critic.body.") for k in tensors) and any(k.startswith("gen.net.") for k in tensors)
    for opt in ("opt_g", "opt_d"):
        assert any(k.startswith(f"{opt}.state.") and k.endswith("exp_avg_sq") for k in tensors)
        assert tuple(join_tensors(meta[opt], tensors)["param_groups"][0]["betas"]) == (0.0, 0.9)
    for h in ("wasserstein", "gp", "g_loss"):
        assert tensors[f"history.{h}"].shape == (2,)
    json.dumps(meta)
    with pytest.raises(RadsynthError, match="another extra"):
        gan_training.train_model(CFG, tc.model_copy(update={"max_steps": 3}), x, y, tmp_path / "ck", resume=True,
                        extra_meta={"data_fingerprint": "other"})
    with pytest.raises(RadsynthError, match="another train invariant"):
        gan_training.train_model(CFG, tc.model_copy(update={"max_steps": 3, "lr": 1e-4}), x, y, tmp_path / "ck",
                        resume=True, extra_meta={"data_fingerprint": "abc"})
    with pytest.raises(RadsynthError, match="another model"):
        gan_training.train_model(CFG.model_copy(update={"gp_weight": 5.0}), tc.model_copy(update={"max_steps": 3}), x, y,
                        tmp_path / "ck", resume=True, extra_meta={"data_fingerprint": "abc"})
    with pytest.raises(RadsynthInputError, match="--resume"):
        gan_training.train_model(CFG, tc, x, y, tmp_path / "none", resume=True)
    with pytest.raises(RadsynthInputError, match="labels"):
        gan_training.train_model(CFG, tc, x, None, tmp_path / "nolab")
    with pytest.raises(RadsynthInputError, match="training images"):
        gan_training.train_model(CFG, tc, x[:, :, :8, :8], y, tmp_path / "shape")
    budget = gan_training.train_model(CFG, tc.model_copy(update={"max_steps": 10_000, "max_minutes": 1e-6}), x, y,
                             tmp_path / "b")
    assert budget.stopped == "max_minutes" and budget.step < 10_000
    assert load_checkpoint(tmp_path / "b", expected_format="radsynth.generators.gan.checkpoint/1")[1]["step"] == \
        budget.step


def test_toy_conditional_training(class_folder: Path, tmp_path: Path) -> None:
    """40 generator steps on BRIGHT/DARK: the classes separate and the critic's estimate falls from its peak."""
    from radsynth.generators.common.data import load_images, scan_class_folder

    ds = scan_class_folder(class_folder, require_classes=2)
    x = load_images(ds.items, 16)
    y = np.array([it.label_index for it in ds.items], dtype=np.int64)
    cfg = GANConfig.create(**TINY, classes=ds.classes)
    tc = TrainConfig(batch_size=8, lr=2e-3, max_steps=40, warmup_steps=0, precision="bf16", val_every=20)
    r = gan_training.train_model(cfg, tc, x, y, tmp_path / "ck", x_val=x[::4], y_val=y[::4])
    assert r.step == 40 and all(np.isfinite(r.losses)) and [s for s, _ in r.val_curve] == [20, 40]
    # Wasserstein estimate: rises while the critic learns, then falls as the generator catches up
    assert np.mean(r.losses[-5:]) < 0.7 * max(r.losses)
    net = build_networks(cfg)
    net.load_state_dict(r.ema_state, strict=True)
    b, d = cfg.label_index("bright"), cfg.label_index("dark")
    s = gan.sample(net, cfg, [b] * 16 + [d] * 16, n=32, seed=1)
    assert s.shape == (32, 16, 16) and s.dtype == np.float32
    bright, dark = float(s[:16].mean()), float(s[16:].mean())
    assert bright > 0.3 and dark < -0.3, (bright, dark)  # data: +0.72 / -0.85


# ------------------------------------------------------------------ sampling


def test_sampling_determinism_and_errors() -> None:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        net = build_networks(CFG)
    labels = [0, 1, 1, 0, 1]
    a = gan.sample(net, CFG, labels, n=5, seed=7, precision="fp32")
    assert a.shape == (5, 16, 16) and a.dtype == np.float32 and np.abs(a).max() <= 1.0
    assert np.array_equal(a, gan.sample(net, CFG, labels, n=5, seed=7, precision="fp32"))
    assert not np.array_equal(a, gan.sample(net, CFG, labels, n=5, seed=8, precision="fp32"))
    # latents drawn up front: image i does not depend on the batch size
    np.testing.assert_allclose(a, gan.sample(net, CFG, labels, n=5, seed=7, precision="fp32", batch_size=2),
                               atol=1e-5)
    bf = gan.sample(net, CFG, labels, n=5, seed=7)
    assert np.array_equal(bf, gan.sample(net, CFG, labels, n=5, seed=7)) and np.abs(bf - a).max() < 0.1
    with pytest.raises(RadsynthInputError, match="labels"):
        gan.sample(net, CFG, None, n=2, seed=0)
    with pytest.raises(RadsynthInputError, match="labels"):
        gan.sample(net, CFG, [0], n=2, seed=0)
    with pytest.raises(RadsynthInputError, match="labels"):
        gan.sample(net, CFG, [0, 2], n=2, seed=0)
    for kw in ({"sampler": "ddim"}, {"steps": 10}, {"guidance": 3.0}):
        with pytest.raises(RadsynthInputError, match="--sampler|--steps|--guidance"):
            gan.sample(net, CFG, [0], n=1, seed=0, **kw)
    with pytest.raises(RadsynthInputError, match="--n"):
        gan.sample(net, CFG, [], n=0, seed=0)
    assert gan.SAMPLING_OPTIONS == () and gan.MODEL_FORMAT == "radsynth.generators.gan/1"


def test_unconditional_train_and_sample(tmp_path: Path) -> None:
    x, _ = _data(8)
    cfg = GANConfig.create(**TINY, n_critic=1)
    r = gan_training.train_model(cfg, TrainConfig(batch_size=4, max_steps=2, precision="fp32"), x, None, tmp_path / "u")
    net = build_networks(cfg)
    net.load_state_dict(r.ema_state, strict=True)
    assert gan.sample(net, cfg, None, n=3, seed=0).shape == (3, 16, 16)
    with pytest.raises(RadsynthInputError, match="--label"):
        gan.sample(net, cfg, [0, 0, 0], n=3, seed=0)
