"""Mask-guided conditional GAN (pix2pix): a MONAI U-Net maps a lesion mask (and optional brain mask) plus a
seeded noise image to an MR slice; a MONAI PatchGAN discriminator judges (image, condition) pairs.

Model (Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks", CVPR 2017: a U-Net
generator, a 70 px-style patch discriminator on the image concatenated with its condition, loss
``L_GAN + lambda_l1 |G(c) - x|_1``; least-squares GAN loss, Mao et al., ICCV 2017)::

    generator input  = [lesion, brain * has_brain, has_brain, noise]   (4 channels, 64 x 64)
    generator output = tanh(UNet(input))                                (the slice in [-1, 1])
    discriminator    = PatchDiscriminator([image, lesion, brain * has_brain, has_brain])

Why a second family beside the mask-guided DDPM (:mod:`.model`): the paired simulated data fix the image given
the masks almost completely, so the L1 term teaches the generator where the lesion goes in a few thousand
CPU steps, where the DDPM, learning the whole noise-to-image map, still paints a faint lesion after 18 CPU
minutes (measured: ``bench/bench_mask_guided.py``, Dice 0.29). The price is diversity: pix2pix's noise input
moves the texture little (Isola et al. report the same), so samples from one mask differ mostly in fine texture.

The noise image ``torch.Generator().manual_seed(seed + i)`` makes sampling deterministic per seed (same
machine and thread count). Model folder: ``config.json`` (``format`` :data:`MODEL_FORMAT`, the
:class:`MaskPix2PixConfig`), ``weights.safetensors`` (the generator only).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from radsynth.core.errors import RadsynthInputError
from radsynth.generators.common.config_base import JsonConfigMixin, count_parameters
from radsynth.generators.mask_guided.conditioning import COND_CHANNELS, condition, mask_batch

MODEL_FORMAT = "radsynth-mask-pix2pix/1"


class MaskPix2PixConfig(JsonConfigMixin, BaseModel):
    """Networks and training settings (serialised into ``config.json``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image_size: int = Field(64, ge=8, le=512)
    sequence: str = Field("FLAIR", description="MR contrast the model was trained on")
    channels: tuple[int, ...] = (32, 64, 128, 256)
    num_res_units: int = Field(1, ge=0, le=4)
    disc_channels: int = Field(32, ge=4)
    disc_layers: int = Field(3, ge=1, le=5)
    lambda_l1: float = Field(100.0, ge=0, description="weight of the L1 term (pix2pix: 100)")
    lesion_weight: float = Field(0.0, ge=0, description="extra L1 weight on the lesion mask and a 1-pixel rim around it "
                                 "(the lesion is ~2 % of the pixels: without it the boundary is cheap to get wrong)")
    noise_std: float = Field(1.0, ge=0, description="standard deviation of the noise channel")
    p_drop_brain: float = Field(0.3, ge=0, le=1, description="probability of training without the brain mask")
    batch_size: int = Field(16, ge=1, le=1024)
    lr: float = Field(2e-4, gt=0, le=1)
    max_steps: int = Field(4000, ge=1)
    max_minutes: float | None = Field(None, gt=0)
    seed: int = 0

    def check(self) -> None:
        if self.image_size % (2 ** (len(self.channels) - 1)):
            raise RadsynthInputError("image_size", self.image_size, f"a multiple of {2 ** (len(self.channels) - 1)}")


def build_network(cfg: MaskPix2PixConfig) -> Any:
    """The generator: MONAI ``UNet`` on ``[condition, noise]`` with a tanh output; ``forward(x) -> [-1, 1]``."""
    import torch
    from monai.networks.nets import UNet

    cfg.check()
    unet = UNet(spatial_dims=2, in_channels=COND_CHANNELS + 1, out_channels=1, channels=tuple(cfg.channels),
                strides=(2,) * (len(cfg.channels) - 1), num_res_units=cfg.num_res_units)
    return torch.nn.Sequential(unet, torch.nn.Tanh())


def build_discriminator(cfg: MaskPix2PixConfig) -> Any:
    from monai.networks.nets import PatchDiscriminator

    return PatchDiscriminator(spatial_dims=2, channels=cfg.disc_channels, in_channels=1 + COND_CHANNELS,
                              num_layers_d=cfg.disc_layers, out_channels=1)


def train_mask_pix2pix(images: np.ndarray, lesion: np.ndarray, brain: np.ndarray, cfg: MaskPix2PixConfig,
                       progress: bool = False) -> tuple[Any, dict[str, Any]]:
    """Train on paired slices ``images`` (S, H, W) in [-1, 1], ``lesion`` / ``brain`` (S, H, W) bool, with the
    shared loop (:func:`radsynth.generators.common.pix2pix_loop.train_pix2pix`): random left-right flips, brain
    channel dropped with probability ``p_drop_brain``, L1 weighted on the lesion and its rim by
    ``lesion_weight``. Deterministic for a seed (same machine and thread count). Returns (generator in eval mode,
    summary with the loss curves)."""
    from radsynth.generators.common.loop import seeded
    from radsynth.generators.common.pix2pix_loop import Pix2PixSettings, train_pix2pix

    x_all = np.asarray(images, np.float32)
    s = cfg.image_size
    if x_all.ndim != 3 or x_all.shape[1:] != (s, s) or np.shape(lesion) != x_all.shape or np.shape(brain) != x_all.shape:
        raise RadsynthInputError("images", list(x_all.shape), f"(S, {s}, {s}) with lesion and brain masks of that shape")
    les, br = np.asarray(lesion, bool), np.asarray(brain, bool)
    gen_net, disc = seeded(cfg.seed, lambda: build_network(cfg), lambda: build_discriminator(cfg))

    def make_batch(idx: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        flip = rng.random(len(idx)) < 0.5
        drop = rng.random(len(idx)) < cfg.p_drop_brain
        xb, lb, bb = x_all[idx].copy(), les[idx].copy(), br[idx].copy()
        xb[flip], lb[flip], bb[flip] = xb[flip][:, :, ::-1], lb[flip][:, :, ::-1], bb[flip][:, :, ::-1]
        c = condition(lb, bb)
        c[drop, 1:] = 0.0
        return xb, c

    def l1_weight(cond: Any) -> Any:
        import torch

        rim = torch.nn.functional.max_pool2d(cond[:, :1], 3, stride=1, padding=1)  # lesion dilated by 1 pixel
        return 1.0 + cfg.lesion_weight * rim

    summary = train_pix2pix(gen_net, disc, x_all, make_batch, Pix2PixSettings(
        steps=cfg.max_steps, lr=cfg.lr, batch_size=cfg.batch_size, lambda_l1=cfg.lambda_l1, noise_std=cfg.noise_std,
        seed=cfg.seed, max_minutes=cfg.max_minutes, progress=progress), l1_weight if cfg.lesion_weight > 0 else None)
    return gen_net, {**summary, "params": count_parameters(gen_net), "params_discriminator": count_parameters(disc),
                     "n_train_slices": int(len(x_all))}


def sample_from_masks(net: Any, cfg: MaskPix2PixConfig, lesion: np.ndarray, brain: np.ndarray | None = None, *,
                      seed: int = 0, batch_size: int = 32) -> np.ndarray:
    """Images (N, H, W) float32 in [-1, 1] for lesion masks (N, H, W) (and brain masks or None), seeded: image
    ``i`` uses the noise image of ``torch.Generator().manual_seed(seed + i)``."""
    from radsynth.generators.common.pix2pix_loop import sample_pix2pix

    les, brain = mask_batch(lesion, brain, cfg.image_size)
    return sample_pix2pix(net, condition(les, brain), seed, cfg.noise_std, batch_size)


def save_model(out_dir: Any, net: Any, cfg: MaskPix2PixConfig, extra: dict[str, Any] | None = None) -> Any:
    """Write ``config.json`` + ``weights.safetensors`` (the generator) into ``out_dir`` (created)."""
    from radsynth.generators.common.model_folder import save_model_folder

    return save_model_folder(out_dir, net, {
        "format": MODEL_FORMAT, "network": "monai.UNet generator + monai.PatchDiscriminator (pix2pix, LSGAN + L1)",
        "kind": "mask-generator", "arch": "mask-pix2pix", "image_size": cfg.image_size,
        "task": f"brain MRI {cfg.sequence} axial slice from a lesion mask", "config": cfg.model_dump(mode="json"),
        **(extra or {})})
