"""Samplers: same process as training (dpm++ betas), guidance arithmetic, determinism.

An "oracle" denoiser for data that is a constant image c per class predicts the
exact noise eps = (x_t - sqrt(abar_t) c) / sqrt(1 - abar_t) (Ho et al. 2020,
eq. 4), so every correct sampler must return exactly c; with guidance w the
effective target is c_null + w (c_class - c_null) (Ho & Salimans 2022, eq. 6).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusion_oracle import CFG, TARGET, Oracle
from gen_fixtures import TINY

from radsynth.core.errors import RadsynthInputError
from radsynth.generators.diffusion.ddpm import DDPMConfig, build_train_scheduler, build_unet
from radsynth.generators.diffusion.samplers import dpmpp_scheduler, guided_eps, resolve_steps, sample_images

@pytest.mark.parametrize("sampler, steps", [("ddim", 10), ("dpm++", 8), ("dpm++sde", 8), ("ddpm", None)])
@pytest.mark.parametrize("label", [0, 1])
def test_samplers_recover_the_oracle_target(sampler: str, steps: int | None, label: int) -> None:
    out = sample_images(Oracle(), CFG, [label] * 3, n=3, seed=0, sampler=sampler, steps=steps, precision="fp32")
    np.testing.assert_allclose(out, TARGET[label], atol=2e-3)


@pytest.mark.parametrize("sampler", ["ddim", "dpm++", "dpm++sde"])
@pytest.mark.parametrize("w, expected", [(0.0, 0.0), (0.5, 0.3), (1.0, 0.6), (1.5, 0.9)])
def test_guidance_scale(sampler: str, w: float, expected: float) -> None:
    out = sample_images(Oracle(), CFG, [1, 1], n=2, seed=3, sampler=sampler, steps=10, guidance=w, precision="fp32")
    np.testing.assert_allclose(out, expected, atol=3e-3)


def test_guided_eps_uses_the_null_class() -> None:
    seen = []

    class Probe(torch.nn.Module):
        def forward(self, x, timesteps, class_labels=None):
            seen.append(class_labels.tolist())
            return class_labels.float().view(-1, 1, 1, 1).expand_as(x) * 10

    x = torch.zeros(2, 1, 4, 4)
    eps = guided_eps(Probe(), x, 5, torch.tensor([0, 1]), null_label=2, guidance=3.0)
    assert seen == [[2, 2, 0, 1]]
    # eps_u + w (eps_c - eps_u) = 20 + 3 (10 c - 20)
    np.testing.assert_allclose(eps[:, 0, 0, 0].numpy(), [20 + 3 * (0 - 20), 20 + 3 * (10 - 20)])
    seen.clear()
    guided_eps(Probe(), x, 5, torch.tensor([0, 1]), null_label=2, guidance=1.0)
    assert seen == [[0, 1]]  # w = 1: one conditional pass only


def test_dpmpp_uses_the_training_betas() -> None:
    cfg = DDPMConfig.create(**TINY, classes=("a", "b"))
    ours = build_train_scheduler(cfg).alphas_cumprod.double().numpy()
    theirs = dpmpp_scheduler(cfg).alphas_cumprod.double().numpy()
    np.testing.assert_allclose(theirs, ours, rtol=1e-6)
    assert dpmpp_scheduler(cfg).config.algorithm_type == "dpmsolver++"


def test_dpmpp_dynamic_thresholding_bounds_x0_for_pixel_data_only() -> None:
    """Imagen's dynamic thresholding (Saharia et al. 2022, Sec. 2.3): x0 is clipped to the 99.5th percentile s
    of |x0| (s >= 1) and divided by s, so a pixel-space x0 prediction lands in [-1, 1]; latents stay untouched."""
    from radsynth.generators.diffusion.samplers import _scheduler

    cfg = DDPMConfig.create(**TINY, classes=("a", "b"), num_train_timesteps=20)
    pix, lat = _scheduler(cfg, "dpm++", 5, clip_sample=True), _scheduler(cfg, "dpm++", 5, clip_sample=False)
    assert pix.config.thresholding and not lat.config.thresholding
    x0 = torch.linspace(-6.0, 6.0, 2 * 1 * 8 * 8).reshape(2, 1, 8, 8)
    out = pix._threshold_sample(x0.clone())
    assert out.abs().max() <= 1.0 + 1e-6
    assert torch.all(torch.sign(out[x0 != 0]) == torch.sign(x0[x0 != 0]))  # order/sign kept, only rescaled


@pytest.mark.parametrize("sampler, steps", [("ddim", 5), ("dpm++", 5), ("dpm++sde", 5), ("ddpm", None)])
def test_sampling_is_deterministic(sampler: str, steps: int | None) -> None:
    cfg = DDPMConfig.create(**TINY, classes=("a", "b"), num_train_timesteps=20)
    torch.manual_seed(0)
    net = build_unet(cfg)
    with torch.no_grad():  # the U-Net's last conv starts at zero; make the output depend on the input
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    kw = dict(n=5, sampler=sampler, steps=steps, guidance=2.0, batch_size=3, precision="bf16")
    a = sample_images(net, cfg, [0, 1, 0, 1, 1], seed=11, **kw)
    b = sample_images(net, cfg, [0, 1, 0, 1, 1], seed=11, **kw)
    c = sample_images(net, cfg, [0, 1, 0, 1, 1], seed=12, **kw)
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, c)
    assert a.std() > 0.01


def test_sampler_argument_errors() -> None:
    with pytest.raises(RadsynthInputError, match="--sampler"):
        resolve_steps(CFG, "euler", 10)
    with pytest.raises(RadsynthInputError, match="--steps"):
        resolve_steps(CFG, "ddpm", 10)
    with pytest.raises(RadsynthInputError, match="--steps"):
        resolve_steps(CFG, "ddim", 0)
    assert resolve_steps(CFG, "ddpm", None) == 100
    with pytest.raises(RadsynthInputError, match="--guidance"):
        sample_images(Oracle(), CFG, [0], n=1, seed=0, guidance=-1.0)


def test_sde_sampler_draws_fresh_noise_from_the_seed() -> None:
    """dpm++sde differs from the deterministic dpm++ on a real (untrained) network, repeats per seed."""
    net = build_unet(CFG).eval()
    kw = dict(n=2, steps=6, precision="fp32", guidance=1.0)
    a = sample_images(net, CFG, [0, 1], seed=3, sampler="dpm++sde", **kw)
    assert np.array_equal(a, sample_images(net, CFG, [0, 1], seed=3, sampler="dpm++sde", **kw))
    assert not np.allclose(a, sample_images(net, CFG, [0, 1], seed=3, sampler="dpm++", **kw), atol=1e-3)
    assert not np.allclose(a, sample_images(net, CFG, [0, 1], seed=4, sampler="dpm++sde", **kw), atol=1e-3)


def test_model_sampler_defaults() -> None:
    from radsynth.generators.diffusion.samplers import FALLBACK_SAMPLER, model_sampler

    doc = {"sampling_defaults": {"sampler": "dpm++sde", "steps": 30, "guidance": 3}}
    assert model_sampler(doc, None, None) == ("dpm++sde", 30)
    assert model_sampler(doc, "dpm++sde", None) == ("dpm++sde", 30)
    assert model_sampler(doc, "ddim", None) == ("ddim", None)  # another sampler: its own default steps
    assert model_sampler(doc, None, 12) == ("dpm++sde", 12)
    assert model_sampler({}, None, None) == (FALLBACK_SAMPLER, None)
