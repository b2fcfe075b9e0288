"""Class-conditional WGAN-GP baseline: config, MONAI networks, sampling.

The comparison baseline of issue #3 item 2(c): a Wasserstein GAN with gradient
penalty (Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville, "Improved Training of
Wasserstein GANs", NeurIPS 2017, arXiv:1704.00028) in a DCGAN-like layout
(Radford, Metz & Chintala, arXiv:1511.06434). The training loop is in
:mod:`radsynth.generators.gan.gan_training`.

Networks (MONAI building blocks, no hand-written convolution stacks):

* **Generator** -- :class:`monai.networks.nets.Generator`: a linear layer maps the
  latent vector ``z ~ N(0, I)`` (``latent_dim``), concatenated with a learned class
  embedding (``embed_dim``; conditional models only), to a ``4 x 4`` tensor with
  ``channels[-1]`` channels, followed by a leaky ReLU; then stride-2 transposed
  convolutions double the size per level (``channels[-2], ..., channels[0],
  channels[0]`` channels) up to ``image_size``, and a final stride-1 convolution
  maps to ``in_channels``; ``tanh`` puts the output in [-1, 1].
* **Critic** -- :class:`monai.networks.nets.Discriminator` with ``last_act=None``
  and no dropout: stride-2 convolutions with ``channels[0], ..., channels[-1]``
  channels halve the image down to ``4 x 4``, then a linear layer gives the
  score. No batch normalisation (it breaks the per-sample gradient penalty,
  Gulrajani et al. Sec. 4): ``critic_norm="layer"`` is their recommended layer
  normalisation (``GroupNorm`` with one group: normalise over C, H, W per sample,
  per-channel affine).
* **Class conditioning of the critic** -- the projection discriminator of Miyato &
  Koyama, "cGANs with Projection Discriminator", ICLR 2018 (arXiv:1802.05637):
  ``D(x, y) = psi(phi(x)) + <e_y, sum_hw phi(x)>`` where ``phi`` is the MONAI
  convolution stack, ``psi`` its final linear layer and ``e_y`` a learned class
  embedding (initialised to zero, so the untrained critic is unconditional).

``channels`` has one entry per critic level, ``log2(image_size) - 2`` entries
(64 px: four levels, 64 -> 32 -> 16 -> 8 -> 4). :func:`build_networks` returns the
generator only (what sampling needs); the critic is built by :func:`build_critic`
and lives in the training checkpoint.

Only functions import torch: the config validates without it.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from radsynth.core.errors import RadsynthInputError
from radsynth.generators.common.config_base import (  # noqa: F401 (count_parameters re-exported)
    ConfigCreateMixin,
    check_distinct_classes,
    class_index,
    count_parameters,
)
from radsynth.generators.common.sampling_common import check_one_pass_args, decode_batches

MODEL_FORMAT = "radsynth.generators.gan/1"
#: a GAN draws an image in one generator pass: no sampler, step count or guidance
SAMPLING_OPTIONS: tuple[str, ...] = ()
NORMS = ("none", "layer", "instance")
#: largest supported image size (the generator doubles from 4 px per level)
MAX_IMAGE_SIZE = 1024


class GANConfig(ConfigCreateMixin, BaseModel):
    """Everything needed to rebuild the generator and critic, plus the WGAN-GP recipe (``n_critic``, ``gp_weight``).

    ``image_size`` in pixels (square, a power of two >= 16); pixel values in [-1, 1].
    ``channels``: critic channels from the first (``image_size / 2``) to the last
    (4 px) level; the generator mirrors them. ``classes``: class names in embedding
    order (empty: unconditional).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    arch: Literal["gan"] = "gan"
    spatial_dims: Literal[2] = 2
    image_size: int = Field(64, ge=16)
    in_channels: int = Field(1, ge=1)
    channels: tuple[int, ...] = (32, 64, 128, 256)
    latent_dim: int = Field(128, ge=1)
    embed_dim: int = Field(32, ge=1)
    kernel_size: int = Field(3, ge=1)
    num_res_units: int = Field(0, ge=0, le=4)
    gen_norm: Literal["none", "layer", "instance"] = "layer"
    critic_norm: Literal["none", "layer", "instance"] = "layer"
    classes: tuple[str, ...] = ()
    n_critic: int = Field(5, ge=1)
    gp_weight: float = Field(10.0, ge=0)

    def check(self) -> None:
        """Cross-field checks (raise RadsynthInputError)."""
        check_image_size(self.image_size)
        if len(self.channels) != self.levels or min(self.channels, default=0) < 1:
            raise RadsynthInputError(
                "channels", list(self.channels),
                f"{self.levels} positive values for image size {self.image_size} "
                f"(one per critic level, {self.image_size // 2} px down to 4 px)",
            )
        if self.kernel_size % 2 == 0:
            raise RadsynthInputError("kernel_size", self.kernel_size, "an odd number (MONAI 'same' padding)")
        check_distinct_classes(self.classes)

    @property
    def levels(self) -> int:
        """Number of stride-2 levels between ``image_size`` and the 4 px bottleneck."""
        return int(round(math.log2(self.image_size))) - 2

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (self.image_size,) * self.spatial_dims

    @property
    def conditional(self) -> bool:
        return bool(self.classes)

    def label_index(self, name: str) -> int:
        """Index of a class name (case-insensitive); RadsynthInputError if unknown or unconditional."""
        return class_index(self.classes, name)

    def card_lines(self) -> list[str]:
        """Markdown bullets describing the architecture for the model card."""
        gen_ch = (*reversed(self.channels[:-1]), self.channels[0], self.in_channels)
        cond = (
            f"class-conditional ({', '.join(self.classes)}): generator input = z ++ learned {self.embed_dim}-d class "
            "embedding; critic = projection discriminator (Miyato & Koyama 2018)"
            if self.conditional
            else "unconditional"
        )
        return [
            "- Architecture: conditional WGAN-GP (Gulrajani et al. 2017, arXiv:1704.00028), DCGAN-like layout"
            if self.conditional
            else "- Architecture: WGAN-GP (Gulrajani et al. 2017, arXiv:1704.00028), DCGAN-like layout",
            f"- Generator: MONAI `Generator`, z ~ N(0, I) of size {self.latent_dim}, linear to "
            f"{self.channels[-1]} x 4 x 4, transposed-conv channels {list(gen_ch)}, tanh output, "
            f"norm {self.gen_norm}, kernel {self.kernel_size}, residual units {self.num_res_units}",
            f"- Critic: MONAI `Discriminator` (no final activation, no dropout), channels {list(self.channels)}, "
            f"norm {self.critic_norm}, kernel {self.kernel_size}, residual units {self.num_res_units}",
            f"- Conditioning: {cond}",
            f"- Training: {self.n_critic} critic steps per generator step, gradient penalty weight "
            f"{self.gp_weight:g}, Adam betas (0.0, 0.9); sampling uses the EMA of the generator weights",
            f"- Image size: {self.image_size} px, {self.in_channels} channel(s), values in [-1, 1]",
        ]


def check_image_size(image_size: int, field: str = "--image-size") -> None:
    """The generator doubles from 4 px per level: the size must be a power of two in 16..1024."""
    if not (16 <= image_size <= MAX_IMAGE_SIZE and image_size & (image_size - 1) == 0):
        raise RadsynthInputError(
            field, image_size, f"a power of two from 16 to {MAX_IMAGE_SIZE} for --arch gan", "e.g. 64 or 128."
        )


def default_channels(image_size: int) -> tuple[int, ...]:
    """Critic channels per level: 256 at the 4 px level, halving towards full resolution, at least 16.

    64 px -> (32, 64, 128, 256) (~1.4 M parameters in all); 128 px -> (16, 32, 64, 128, 256).
    """
    levels = int(round(math.log2(image_size))) - 2
    return tuple(max(16, 256 >> (levels - 1 - i)) for i in range(levels))


def config_for_training(
    *, image_size: int, classes: tuple[str, ...], channels: tuple[int, ...] | None
) -> GANConfig:
    """The config ``radsynth train --arch gan --image-size N [--channels a,b,...]`` builds."""
    check_image_size(image_size)
    levels = int(round(math.log2(image_size))) - 2
    if channels is None:
        channels = default_channels(image_size)
    elif len(channels) != levels:
        raise RadsynthInputError(
            "--channels", ",".join(map(str, channels)),
            f"{levels} comma-separated values for --arch gan --image-size {image_size} "
            f"(critic channels per level, {image_size // 2} px down to 4 px), e.g. "
            f"{','.join(map(str, default_channels(image_size)))}",
        )
    return GANConfig.create(image_size=image_size, channels=tuple(channels), classes=tuple(classes))


# ------------------------------------------------------------------ networks


def _norm(name: str) -> Any:
    """MONAI norm argument: layer norm = GroupNorm with one group (normalises C, H, W per sample)."""
    return {"none": None, "layer": ("group", {"num_groups": 1}), "instance": "instance"}[name]


_ACT = ("leakyrelu", {"negative_slope": 0.2})


@functools.lru_cache(maxsize=1)
def _classes() -> tuple[type, type]:
    """The two torch module classes (defined lazily so importing this module does not import torch)."""
    import torch
    from monai.networks.nets import Discriminator, Generator

    class GANGenerator(torch.nn.Module):
        """``x = tanh(G([z, e_y]))``: MONAI ``Generator`` plus a class embedding (conditional models)."""

        def __init__(self, cfg: GANConfig) -> None:
            super().__init__()
            self.latent_dim = cfg.latent_dim
            self.embed = torch.nn.Embedding(len(cfg.classes), cfg.embed_dim) if cfg.conditional else None
            extra = cfg.embed_dim if cfg.conditional else 0
            c = cfg.channels
            self.net = Generator(
                latent_shape=(cfg.latent_dim + extra,),
                start_shape=(c[-1], 4, 4),
                channels=(*reversed(c[:-1]), c[0], cfg.in_channels),
                strides=(2,) * cfg.levels + (1,),
                kernel_size=cfg.kernel_size,
                num_res_units=cfg.num_res_units,
                act=_ACT,
                norm=_norm(cfg.gen_norm),
                dropout=None,
                bias=True,
            )
            self.start_act = torch.nn.LeakyReLU(0.2)

        def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
            if self.embed is not None:
                if labels is None:
                    raise ValueError("a class-conditional generator needs labels")
                z = torch.cat([z, self.embed(labels).to(z.dtype)], dim=1)
            net = self.net
            h = net.reshape(net.linear(net.flatten(z)))  # MONAI Generator.forward, plus an activation on the
            return torch.tanh(net.conv(self.start_act(h)))  # projected 4x4 tensor (DCGAN)

    class GANCritic(torch.nn.Module):
        """``D(x, y) = psi(phi(x)) + <e_y, sum_hw phi(x)>`` (projection discriminator); no output activation."""

        def __init__(self, cfg: GANConfig) -> None:
            super().__init__()
            self.body = Discriminator(
                in_shape=(cfg.in_channels, cfg.image_size, cfg.image_size),
                channels=tuple(cfg.channels),
                strides=(2,) * cfg.levels,
                kernel_size=cfg.kernel_size,
                num_res_units=cfg.num_res_units,
                act=_ACT,
                norm=_norm(cfg.critic_norm),
                dropout=None,
                bias=True,
                last_act=None,
            )
            self.embed = None
            if cfg.conditional:
                self.embed = torch.nn.Embedding(len(cfg.classes), cfg.channels[-1])
                torch.nn.init.zeros_(self.embed.weight)

        def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
            h = self.body.net(x)
            out = self.body.final(h).reshape(x.shape[0])
            if self.embed is not None:
                if labels is None:
                    raise ValueError("a class-conditional critic needs labels")
                out = out + (self.embed(labels).to(h.dtype) * h.sum(dim=(2, 3))).sum(dim=1)
            return out

    return GANGenerator, GANCritic


def build_networks(cfg: GANConfig) -> Any:
    """The generator (with its class embedding): everything sampling needs; ``forward(z, labels) -> [-1, 1]``."""
    return _classes()[0](cfg)


def build_critic(cfg: GANConfig) -> Any:
    """The WGAN-GP critic (training only); ``forward(x, labels) -> (N,)`` unbounded scores."""
    return _classes()[1](cfg)


# ------------------------------------------------------------------ contract


def sample(
    net: Any,
    cfg: GANConfig,
    labels: list[int] | None,
    *,
    n: int,
    seed: int,
    batch_size: int = 64,
    precision: str = "bf16",
    device: str = "cpu",
    progress: bool = False,
    sampler: str | None = None,
    steps: int | None = None,
    guidance: float = 1.0,
) -> np.ndarray:
    """``n`` images as float32 ``(n, H, W)`` in [-1, 1]: one generator pass per image.

    All latents are drawn up front from ``torch.Generator("cpu").manual_seed(seed)``,
    so image ``i`` depends only on ``seed`` and ``i`` (and ``labels[i]``), not on
    ``batch_size`` (up to the last bits of batched CPU kernels). ``sampler``,
    ``steps`` and ``guidance`` do not apply to a GAN (:data:`SAMPLING_OPTIONS` is
    empty) and are refused unless left at their defaults.
    """
    import torch

    from radsynth.generators.common.loop import autocast

    check_one_pass_args(labels, len(cfg.classes), n=n, batch_size=batch_size, precision=precision, sampler=sampler,
                        steps=steps, guidance=guidance, why="none: a GAN draws each image in one generator pass",
                        guidance_accepted="1 (no guidance: a GAN draws each image in one pass)",
                        batch_accepted="a positive number of images", report_first=True)
    dev = torch.device(device)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    z_all = torch.randn((n, cfg.latent_dim), generator=gen, dtype=torch.float32)
    y_all = None if labels is None else torch.tensor([int(v) for v in labels], dtype=torch.long)
    net = net.to(dev).eval()

    def draw(b0: int, nb: int) -> Any:
        z = z_all[b0 : b0 + nb].to(dev)
        y = None if y_all is None else y_all[b0 : b0 + nb].to(dev)
        with autocast(dev, precision):
            return net(z, y)

    return decode_batches(n, batch_size, cfg.sample_shape, draw, progress=progress, desc="sampling (GAN)")
