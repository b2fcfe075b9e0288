"""Latent diffusion (arch "ldm"): config checks, both training stages with exact resume, latent scaling,
sampling (shape, range, determinism, classes) and the KL autoencoder's loss schedule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from gen_fixtures import two_class_images as _data

from radsynth.core.errors import RadsynthError, RadsynthInputError
from radsynth.generators.latent_diffusion import ldm
from radsynth.generators.latent_diffusion.autoencoder_kl import (
    AutoencoderKLConfig,
    build_autoencoder,
    encode_mean,
    patch_output_size,
    train_autoencoder,
)
from radsynth.generators.common.checkpoint import load_checkpoint
from radsynth.generators.common.train_config import TrainConfig

#: 16 px images -> x2 autoencoder -> 8x8x2 latent -> 2-level U-Net (a few thousand parameters each)
TINY_AE = dict(channels=(8, 16), latent_channels=2, norm_num_groups=8, attention_levels=(False, False),
               disc_channels=8, disc_layers=2, adv_warmup_steps=3, lr=3e-3, disc_lr=3e-3)
TINY_UNET = dict(channels=(8, 16), attention_levels=(False, False), norm_num_groups=8, num_head_channels=16,
                 num_train_timesteps=100)


def tiny_cfg(classes: tuple[str, ...] = ("dark", "bright"), ae_steps: int = 6, **ae: object) -> ldm.LDMConfig:
    return ldm.LDMConfig.create(image_size=16, classes=classes, ae_steps=ae_steps,
                                autoencoder={**TINY_AE, **ae}, latent=TINY_UNET)


# ------------------------------------------------------------------ config


def test_config_defaults_and_round_trip() -> None:
    cfg = ldm.config_for_training(image_size=128, classes=("NORMAL", "PNEUMONIA"), channels=None)
    assert cfg.arch == "ldm" and cfg.sample_shape == (128, 128) and cfg.conditional
    assert cfg.autoencoder.factor == 4 and cfg.latent_shape == (3, 32, 32)
    assert not any(cfg.autoencoder.attention_levels) and not cfg.autoencoder.nonlocal_attn
    lat = cfg.latent
    assert (lat.image_size, lat.in_channels, lat.classes) == (32, 3, ("NORMAL", "PNEUMONIA"))
    assert lat.channels == (32, 64, 64) and lat.attention_levels == (False, False, True)
    assert (lat.schedule, lat.beta_start, lat.beta_end) == ("scaled_linear_beta", 0.0015, 0.0195)
    assert cfg.autoencoder.adv_warmup_steps == cfg.ae_steps // 10
    assert cfg.label_index("pneumonia") == 1 and cfg.null_label == 2
    assert ldm.config_for_training(image_size=64, classes=(), channels=(16, 32)).latent_shape == (3, 16, 16)
    # the JSON dump rebuilds the same config, also through the architecture registry
    from radsynth.generators.archs import config_from_dict

    dump = cfg.model_dump(mode="json")
    assert ldm.LDMConfig.create(**dump) == cfg and config_from_dict(dump) == cfg
    lines = cfg.card_lines()
    assert lines and all(s.startswith("- ") for s in lines) and any("AutoencoderKL" in s for s in lines)
    assert ldm.SAMPLING_OPTIONS == ("sampler", "steps", "guidance")
    assert ldm.MODEL_FORMAT == "radsynth.generators.ldm/1"


@pytest.mark.parametrize("size", [100, 16, 130])
def test_unsupported_image_sizes(size: int) -> None:
    with pytest.raises(RadsynthInputError, match="--image-size") as ei:
        ldm.config_for_training(image_size=size, classes=(), channels=None)
    assert ei.value.value == size and "multiple of 16" in str(ei.value)


def test_config_errors() -> None:
    with pytest.raises(RadsynthInputError, match="--image-size"):
        ldm.LDMConfig.create(image_size=18, autoencoder=TINY_AE, latent=TINY_UNET)
    with pytest.raises(RadsynthInputError, match="latent.in_channels"):
        ldm.LDMConfig.create(image_size=16, autoencoder=TINY_AE, latent={**TINY_UNET, "in_channels": 3})
    with pytest.raises(RadsynthInputError, match="latent.classes"):
        ldm.LDMConfig.create(image_size=16, classes=("a", "b"), autoencoder=TINY_AE,
                             latent={**TINY_UNET, "classes": ("a",)})
    with pytest.raises(RadsynthInputError, match="autoencoder.kl_weight"):
        tiny_cfg(kl_weight=-1.0)
    with pytest.raises(RadsynthInputError, match="channels"):
        tiny_cfg(norm_num_groups=3)
    with pytest.raises(RadsynthInputError, match="disc_layers"):
        tiny_cfg(disc_layers=4)
    with pytest.raises(RadsynthInputError, match="ae_steps"):
        tiny_cfg(ae_steps=0)
    with pytest.raises(RadsynthInputError, match="--label"):
        tiny_cfg(classes=()).label_index("dark")
    with pytest.raises(RadsynthInputError, match="dark, bright"):
        tiny_cfg().label_index("covid")
    assert patch_output_size(16, 2) == 2 and patch_output_size(16, 4) == 0 and patch_output_size(128, 3) == 14


def test_import_needs_no_torch() -> None:
    code = ("import sys; import radsynth.generators.latent_diffusion.ldm as m; "
            "m.config_for_training(image_size=128, classes=('a', 'b'), channels=None); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------ training


def test_resume_in_either_stage_is_exact(tmp_path: Path) -> None:
    x, y = _data(12)
    cfg = tiny_cfg()  # 6 autoencoder steps, adversarial from step 3
    tc = TrainConfig(batch_size=5, max_steps=6, warmup_steps=2, val_every=2, ckpt_every=100, precision="fp32")
    kw = dict(x_val=x[:4], y_val=y[:4], extra_meta={"data_fingerprint": "abc"})
    full = ldm.train_model(cfg, tc, x, y, tmp_path / "full", **kw)
    assert full.stage == "done" and full.stopped == "max_steps" and full.step == 12 and len(full.losses) == 12
    assert (tmp_path / "full" / "autoencoder" / "state.json").is_file()
    assert (tmp_path / "full" / "latent" / "state.json").is_file()

    def interrupt(step: int, loss: float) -> None:
        if step == 3:  # a Ctrl-C after step 3 (between validations at steps 2 and 4)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # stopped in stage 1 (autoencoder)
        ldm.train_model(cfg, tc, x, y, tmp_path / "split", on_step=interrupt, **kw)
    assert load_checkpoint(tmp_path / "split" / "autoencoder",
                           "radsynth.generators.autoencoder_kl.checkpoint/1")[1]["step"] == 3
    mid = ldm.train_model(cfg, tc.model_copy(update={"max_steps": 3}), x, y, tmp_path / "split", resume=True, **kw)
    assert mid.stage == "done" and mid.ae_step == 6 and mid.diffusion_step == 3 and mid.session_steps == 6
    res = ldm.train_model(cfg, tc, x, y, tmp_path / "split", resume=True, **kw)
    assert res.stage == "done" and res.session_steps == 3 and res.step == 12
    # bit-identical: same floats, not merely close (12 images / batch 5 crosses epoch boundaries)
    assert res.losses == full.losses and res.ae_losses == full.ae_losses
    assert res.val_curve == full.val_curve and [s for s, _ in full.val_curve] == [2, 4, 6, 8, 10, 12]
    assert res.scale_factor == full.scale_factor
    assert list(res.ema_state) == list(full.ema_state) == list(ldm.build_networks(cfg).state_dict())
    for name, v in full.ema_state.items():
        assert torch.equal(v, res.ema_state[name]), name
    assert float(full.ema_state["scale_factor"]) == full.scale_factor
    assert len(set(full.losses)) == len(full.losses)
    # another LDM config (here: more autoencoder steps) or other data refuses to resume
    with pytest.raises(RadsynthError, match="another extra"):
        ldm.train_model(tiny_cfg(ae_steps=7), tc, x, y, tmp_path / "split", resume=True, **kw)
    with pytest.raises(RadsynthError, match="another extra"):
        ldm.train_model(cfg, tc, x, y, tmp_path / "split", resume=True, x_val=x[:4], y_val=y[:4],
                        extra_meta={"data_fingerprint": "other"})


def test_budget_and_input_errors(tmp_path: Path) -> None:
    x, y = _data(8)
    cfg = tiny_cfg(ae_steps=2)
    tc = TrainConfig(batch_size=4, max_steps=2, max_minutes=1e-6, precision="fp32")
    r = ldm.train_model(cfg, tc, x, y, tmp_path / "b")
    assert r.stopped == "max_minutes" and r.stage == "autoencoder" and r.step == 0
    assert list(r.ema_state) == list(ldm.build_networks(cfg).state_dict())
    done = ldm.train_model(cfg, tc.model_copy(update={"max_minutes": None}), x, y, tmp_path / "b", resume=True)
    assert done.stage == "done" and done.step == 4 and done.stopped == "max_steps"
    with pytest.raises(RadsynthInputError, match="labels"):  # checked before any training
        ldm.train_model(cfg, tc, x, None, tmp_path / "c")
    with pytest.raises(RadsynthInputError, match="--resume"):
        ldm.train_model(cfg, tc, x, y, tmp_path / "none", resume=True)
    assert not (tmp_path / "c").exists()


def test_autoencoder_adversarial_warmup(tmp_path: Path) -> None:
    x, _ = _data(8)
    cfg = AutoencoderKLConfig.create(image_size=16, **{**TINY_AE, "adv_warmup_steps": 3})
    tc = TrainConfig(batch_size=4, val_every=3, precision="bf16")
    r = train_autoencoder(cfg, tc, x, tmp_path / "ae", steps=5, x_val=x[:2])
    assert r.step == 5 and len(r.losses) == len(r.kl) == len(r.g_adv) == len(r.d_loss) == 5
    assert r.g_adv[:3] == [0.0] * 3 and r.d_loss[:3] == [0.0] * 3
    assert all(v > 0 for v in r.g_adv[3:] + r.d_loss[3:] + r.kl)
    assert all(np.isfinite(r.losses)) and [s for s, _ in r.val_curve] == [3]
    assert list(r.weights) == list(build_autoencoder(cfg).state_dict())


# ------------------------------------------------------------------ a briefly trained model


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[ldm.LDMConfig, ldm.LDMTrainResult, object, np.ndarray]:
    x, y = _data(24)
    cfg = tiny_cfg(ae_steps=40, adv_warmup_steps=20)
    tc = TrainConfig(batch_size=8, max_steps=150, warmup_steps=5, lr=3e-3, val_every=50, precision="fp32")
    res = ldm.train_model(cfg, tc, x, y, tmp_path_factory.mktemp("ldm") / "ck", x_val=x[:6], y_val=y[:6])
    net = ldm.build_networks(cfg)
    net.load_state_dict(res.ema_state, strict=True)
    return cfg, res, net, x


def test_losses_go_down_and_latents_are_scaled(trained) -> None:
    cfg, res, net, x = trained
    assert res.stage == "done" and res.step == 190 and all(np.isfinite(res.losses))
    ae, diff = res.ae_losses, res.diffusion_losses
    assert np.mean(ae[-5:]) < 0.5 * np.mean(ae[:5])
    assert np.mean(diff[-10:]) < 0.5 * np.mean(diff[:10])
    assert res.images_per_s > 0 and res.ae_images_per_s > 0 and res.diffusion_images_per_s > 0
    # scale_factor = 1 / std of the posterior means of the training images, stored with the weights
    z = encode_mean(net.autoencoder, x)
    assert float(net.scale_factor) == res.scale_factor
    assert float(torch.std(z)) * res.scale_factor == pytest.approx(1.0, rel=1e-5)
    # the autoencoder reconstructs the class brightness
    rec = net.decode(net.encode(torch.from_numpy(x[:4]))).detach().mean(dim=(1, 2, 3))
    np.testing.assert_allclose(rec.numpy(), [-0.7, 0.7, -0.7, 0.7], atol=0.15)


def test_conditional_samples_follow_the_class(trained) -> None:
    cfg, _, net, _ = trained
    dark = ldm.sample(net, cfg, [cfg.label_index("dark")] * 6, n=6, seed=1, steps=10, guidance=2.0)
    bright = ldm.sample(net, cfg, [cfg.label_index("bright")] * 6, n=6, seed=1, steps=10, guidance=2.0)
    assert bright.mean() > dark.mean() + 0.3


@pytest.mark.parametrize("sampler, steps", [("dpm++", 6), ("ddim", 6), ("ddpm", None)])
def test_sampling_shape_range_determinism(trained, sampler: str, steps: int | None) -> None:
    cfg, _, net, _ = trained
    kw = dict(n=3, sampler=sampler, steps=steps, guidance=1.5, batch_size=3 if sampler == "ddpm" else 2)
    a = ldm.sample(net, cfg, [0, 1, 1], seed=11, **kw)
    b = ldm.sample(net, cfg, [0, 1, 1], seed=11, **kw)
    c = ldm.sample(net, cfg, [0, 1, 1], seed=12, **kw)
    assert a.shape == (3, 16, 16) and a.dtype == np.float32
    assert a.min() >= -1.0 and a.max() <= 1.0 and a.std() > 0.01
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, c)


def test_sampling_argument_errors(trained) -> None:
    cfg, _, net, _ = trained
    with pytest.raises(RadsynthInputError, match="labels"):
        ldm.sample(net, cfg, [0], n=2, seed=0, steps=2)
    with pytest.raises(RadsynthInputError, match="labels"):
        ldm.sample(net, cfg, [0, 2], n=2, seed=0, steps=2)  # 2 is the null class, not a class
    with pytest.raises(RadsynthInputError, match="--sampler"):
        ldm.sample(net, cfg, [0], n=1, seed=0, sampler="euler")
    with pytest.raises(RadsynthInputError, match="--steps"):
        ldm.sample(net, cfg, [0], n=1, seed=0, sampler="ddpm", steps=10)
    with pytest.raises(RadsynthInputError, match="--guidance"):
        ldm.sample(net, cfg, [0], n=1, seed=0, steps=2, guidance=-1.0)


def test_unconditional_model(tmp_path: Path) -> None:
    x, y = _data(8)
    cfg = tiny_cfg(classes=(), ae_steps=2)
    assert not cfg.conditional and cfg.latent.classes == ()
    tc = TrainConfig(batch_size=4, max_steps=2, precision="bf16")
    with pytest.raises(RadsynthInputError, match="labels"):
        ldm.train_model(cfg, tc, x, y, tmp_path / "u")
    r = ldm.train_model(cfg, tc, x, None, tmp_path / "u")
    net = ldm.build_networks(cfg)
    net.load_state_dict(r.ema_state, strict=True)
    out = ldm.sample(net, cfg, None, n=2, seed=0, steps=3)
    assert out.shape == (2, 16, 16) and np.isfinite(out).all()
    with pytest.raises(RadsynthInputError, match="--label"):
        ldm.sample(net, cfg, [0, 0], n=2, seed=0, steps=3)


def test_sample_tensors_keeps_every_channel(trained) -> None:
    """samplers.sample_tensors: (n, C, h, w), unclamped; sample_images is its clamped channel 0."""
    from radsynth.generators.diffusion.samplers import sample_images, sample_tensors

    cfg, _, net, _ = trained
    kw = dict(n=3, seed=4, sampler="ddim", steps=4, guidance=2.0)
    z = sample_tensors(net.unet, cfg.latent, [0, 1, 1], **kw)
    assert z.shape == (3, *cfg.latent_shape) and z.dtype == np.float32
    img = sample_images(net.unet, cfg.latent, [0, 1, 1], **kw)
    assert img.tobytes() == np.clip(z[:, 0], -1, 1).tobytes()
    free = sample_tensors(net.unet, cfg.latent, [0, 1, 1], clip_sample=False, **kw)
    assert free.shape == z.shape
