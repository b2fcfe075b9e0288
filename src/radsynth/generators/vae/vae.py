"""Conditional variational autoencoder (VAE) baseline on MONAI's ``VarAutoEncoder``.

The model is the VAE of Kingma & Welling, "Auto-Encoding Variational Bayes",
ICLR 2014 (arXiv:1312.6114), made class-conditional as in the conditional VAE of
Sohn, Lee & Yan, "Learning Structured Output Representation using Deep Conditional
Generative Models", NeurIPS 2015: both the encoder ``q(z | x, y)`` and the decoder
``p(x | z, y)`` see the class ``y``. It is the cheap, single-pass baseline that the
comparison of generators (realism, diversity, compute) is measured against.

Network: :class:`monai.networks.nets.VarAutoEncoder` (strided-convolution encoder,
transposed-convolution decoder, one stride-2 level per entry of ``channels``,
Linear layers to/from a ``latent_size`` vector), subclassed minimally:

* encoder conditioning: the one-hot class is appended to the image as ``len(classes)``
  constant input planes (``in_shape`` channels = ``in_channels + len(classes)``);
* decoder conditioning: MONAI's ``decodeL`` (``Linear(latent_size, ...)``) is replaced by
  ``Linear(latent_size + len(classes), ...)`` fed ``concat(z, one_hot(y))``; this is the
  only layer that changes, because MONAI's decoder takes ``z`` alone;
* output: the decoder's last convolution has no activation (MONAI ``conv_only``), and
  ``tanh`` maps it to (-1, 1), the pixel range of the training images (MONAI's optional
  sigmoid, for [0, 1] data, is off);
* the flatten before ``mu``/``logvar`` uses ``reshape`` instead of ``view`` so the encoder
  also runs on channels-last tensors;
* reparameterisation ``z = mu + eps * exp(logvar / 2)`` takes ``eps`` from the caller:
  MONAI's ``reparameterize`` draws it with ``torch.randn_like`` from the global RNG, the
  training loop draws it from its own seeded ``torch.Generator`` (exact resume).

Loss (per image, reported divided by the number of pixels ``C*H*W``)::

    loss = sum_pixels rec(x_hat, x) + beta * KL(N(mu, exp(logvar)) || N(0, I))

with ``rec`` the squared error (``recon_loss="mse"``: a Gaussian decoder of variance
1/2, so ``beta = 1`` is the negative ELBO up to a constant) or the absolute error
(``"l1"``: a Laplace decoder of scale 1), on images in [-1, 1]. ``beta`` (default 1)
is the weight of the KL term in this per-pixel-sum convention (``beta > 1``: the
beta-VAE of Higgins et al., ICLR 2017).

Sampling: ``z ~ N(0, I)`` from ``torch.Generator("cpu").manual_seed(seed)``, decoded with
the EMA weights in eval mode (one network pass), ``tanh`` output clamped to [-1, 1]
(bf16 rounding). VAE samples are typically blurry: that is the baseline's known weakness
and part of what the comparison measures.

This module does not import torch at import time; the network class is built on first use.
"""

from __future__ import annotations

import functools
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

MODEL_FORMAT = "radsynth.generators.vae/1"
#: a VAE decodes ``z`` in one pass: no sampler, steps or guidance
SAMPLING_OPTIONS: tuple[str, ...] = ()
#: default channels per level (each level halves the image), truncated to the number of levels
DEFAULT_CHANNELS: tuple[int, ...] = (32, 64, 128, 256, 256)
NORMS = ("batch", "group", "instance")


class VAEConfig(ConfigCreateMixin, BaseModel):
    """Everything needed to rebuild the conditional VAE.

    ``image_size`` in pixels (square); pixel values in [-1, 1]. ``channels``: encoder
    channels per level, each level a stride-2 convolution (the decoder mirrors them), so
    ``image_size`` must be a multiple of ``2**len(channels)`` and leave at least 2x2 pixels.
    ``latent_size``: dimension of ``z``. ``num_res_units``: MONAI residual units per level
    (0: plain convolutions). ``norm``: feature normalisation ("batch" by default: it keeps
    per-image brightness, which instance normalisation without affine removes;
    "group" uses ``norm_num_groups``). ``classes``: class names in one-hot order (empty:
    unconditional). ``recon_loss`` / ``beta``: see the module docstring.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    arch: Literal["vae"] = "vae"
    spatial_dims: Literal[2] = 2
    image_size: int = Field(64, ge=8)
    in_channels: int = Field(1, ge=1)
    channels: tuple[int, ...] = (32, 64, 128, 256)
    latent_size: int = Field(128, ge=1)
    num_res_units: int = Field(0, ge=0)
    norm: Literal["batch", "group", "instance"] = "batch"
    norm_num_groups: int = Field(8, ge=1)
    classes: tuple[str, ...] = ()
    recon_loss: Literal["mse", "l1"] = "mse"
    beta: float = Field(1.0, ge=0.0)

    def check(self) -> None:
        """Cross-field checks (raise RadsynthInputError)."""
        if not 1 <= len(self.channels) <= 8 or any(c < 1 for c in self.channels):
            raise RadsynthInputError("channels", list(self.channels), "1 to 8 positive channel counts, one per level")
        if self.norm == "group":
            bad = [c for c in self.channels if c % self.norm_num_groups]
            if bad:
                raise RadsynthInputError(
                    "channels", list(self.channels), f"multiples of norm_num_groups={self.norm_num_groups}"
                )
            if self.num_res_units and self.in_channels % self.norm_num_groups:
                # with residual units MONAI's last transposed convolution normalises its in_channels-wide output
                raise RadsynthInputError("norm", self.norm, "batch or instance when num_res_units > 0 "
                                         f"(group norm would split {self.in_channels} output channel(s) into "
                                         f"{self.norm_num_groups} groups)")
        check_image_size(self.image_size, len(self.channels))
        check_distinct_classes(self.classes)
        if not np.isfinite(self.beta):
            raise RadsynthInputError("beta", self.beta, "a finite number >= 0")

    @property
    def sample_shape(self) -> tuple[int, int]:
        """Shape of one sample without the channel axis: ``(H, W)``."""
        return (self.image_size, self.image_size)

    @property
    def levels(self) -> int:
        return len(self.channels)

    @property
    def final_size(self) -> int:
        """Side of the encoder's last feature map (before the Linear layers)."""
        return self.image_size // 2 ** len(self.channels)

    @property
    def conditional(self) -> bool:
        return bool(self.classes)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def label_index(self, name: str) -> int:
        """Index of a class name (case-insensitive); RadsynthInputError if unknown or unconditional."""
        return class_index(self.classes, name)

    def card_lines(self) -> list[str]:
        """Markdown bullet lines describing the architecture for the model card."""
        cond = (
            f"class-conditional on {', '.join(self.classes)} (one-hot as constant encoder input planes and "
            "concatenated to z before the decoder; Sohn et al. 2015)"
            if self.classes
            else "unconditional"
        )
        rec = "squared error (Gaussian decoder)" if self.recon_loss == "mse" else "absolute error (Laplace decoder)"
        return [
            "- architecture: variational autoencoder (Kingma & Welling 2014, arXiv:1312.6114) on MONAI "
            "`VarAutoEncoder`",
            f"- encoder channels {', '.join(map(str, self.channels))} (stride 2 each, decoder mirrored), "
            f"{self.num_res_units} residual unit(s) per level, {self.norm} norm, "
            f"{self.final_size}x{self.final_size} bottleneck, latent size {self.latent_size}",
            f"- conditioning: {cond}",
            f"- loss: per-pixel sum of {rec} on [-1, 1] images + beta * KL, beta = {self.beta:g}",
            "- sampling: z ~ N(0, I), one decoder pass with EMA weights, tanh output clamped to [-1, 1]",
        ]


def check_image_size(image_size: int, levels: int) -> None:
    """Each level halves the image: the size must be a multiple of ``2**levels`` leaving at least 2x2 pixels."""
    factor = 2**levels
    if image_size < 2 * factor or image_size % factor:
        raise RadsynthInputError(
            "--image-size",
            image_size,
            f"a multiple of {factor} (2**levels for {levels} VAE levels), at least {2 * factor}",
            "e.g. 64, 128 or 256.",
        )


def default_channels(image_size: int) -> tuple[int, ...]:
    """Default channels: as many stride-2 levels (at most 5) as leave a bottleneck of at least 4x4, at least 2.

    64 px -> (32, 64, 128, 256) with a 4x4x256 bottleneck; 128 px -> (32, 64, 128, 256, 256).
    """
    levels = 0
    while levels < len(DEFAULT_CHANNELS):
        f = 2 ** (levels + 1)
        if image_size % f or image_size // f < 4:
            break
        levels += 1
    if levels < 2:
        raise RadsynthInputError(
            "--image-size", image_size, "a multiple of 4, at least 16 (with the default --channels)",
            "e.g. 64, 128 or 256.",
        )
    return DEFAULT_CHANNELS[:levels]


def config_for_training(
    *, image_size: int, classes: tuple[str, ...], channels: tuple[int, ...] | None = None
) -> VAEConfig:
    """The config ``radsynth train --arch vae --image-size N [--channels a,b,c]`` builds.

    ``channels=None``: :func:`default_channels` (modest, for 64-128 px CXR on CPU; about 2.5 M
    parameters at 64 px). Raises ``RadsynthInputError("--image-size", ...)`` for unsupported sizes.
    """
    if channels is None:
        channels = default_channels(int(image_size))
    else:
        if not channels or any(int(c) < 1 for c in channels) or len(channels) > 8:
            raise RadsynthInputError("--channels", ",".join(map(str, channels)),
                                     "1 to 8 positive channel counts, one per stride-2 level, e.g. 32,64,128,256")
        check_image_size(int(image_size), len(channels))
    return VAEConfig.create(
        image_size=int(image_size), classes=tuple(classes), channels=tuple(int(c) for c in channels)
    )


@functools.lru_cache(maxsize=None)
def _network_class() -> type:
    """The conditional ``VarAutoEncoder`` subclass (defined lazily so importing this module needs no torch)."""
    import torch
    import torch.nn.functional as F
    from monai.networks.nets import VarAutoEncoder

    class ConditionalVarAutoEncoder(VarAutoEncoder):  # type: ignore[misc,valid-type]
        """MONAI ``VarAutoEncoder`` with class conditioning (Sohn et al. 2015) and a tanh output.

        ``decodeL`` is replaced by a Linear taking ``latent_size + n_classes`` inputs, because
        MONAI's decoder has no conditioning input; the encoder gets the class as extra
        constant input planes (``in_shape`` channels include them). Everything else is MONAI's.
        """

        def __init__(self, cfg: VAEConfig) -> None:
            k = cfg.n_classes
            norm: Any = cfg.norm
            if cfg.norm == "group":
                norm = ("group", {"num_groups": cfg.norm_num_groups})
            elif cfg.norm == "batch":
                norm = "batch"
            super().__init__(
                spatial_dims=2,
                in_shape=(cfg.in_channels + k, cfg.image_size, cfg.image_size),
                out_channels=cfg.in_channels,
                latent_size=cfg.latent_size,
                channels=tuple(cfg.channels),
                strides=(2,) * len(cfg.channels),
                num_res_units=cfg.num_res_units,
                norm=norm,
                use_sigmoid=False,
            )
            self.n_classes = k
            self.image_channels = cfg.in_channels
            if k:
                self.decodeL = torch.nn.Linear(cfg.latent_size + k, self.decodeL.out_features)

        def _one_hot(self, labels: Any, dtype: Any) -> Any:
            return F.one_hot(labels.long(), self.n_classes).to(dtype)

        def encode_forward(self, x: Any) -> tuple[Any, Any]:
            """MONAI's ``encode_forward`` with ``reshape`` (channels-last safe) instead of ``view``."""
            h = self.intermediate(self.encode(x))
            h = h.reshape(h.shape[0], -1)
            return self.mu(h), self.logvar(h)

        def posterior(self, x: Any, labels: Any = None) -> tuple[Any, Any]:
            """``(mu, logvar)`` of ``q(z | x, y)``; ``x`` is ``(N, C, H, W)``, ``labels`` ``(N,)`` class indices."""
            if self.n_classes:
                planes = self._one_hot(labels, x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[2:])
                x = torch.cat([x, planes.to(memory_format=torch.contiguous_format)], dim=1)
            return self.encode_forward(x)

        def generate(self, z: Any, labels: Any = None) -> Any:
            """Decoder mean ``tanh(dec(z, y))`` in (-1, 1), shape ``(N, C, H, W)``."""
            if self.n_classes:
                z = torch.cat([z, self._one_hot(labels, z.dtype)], dim=1)
            h = F.relu(self.decodeL(z))
            h = h.reshape(h.shape[0], self.encoded_channels, *(int(s) for s in self.final_size))
            return torch.tanh(self.decode(h))

        def forward(self, x: Any, labels: Any = None, eps: Any = None) -> tuple[Any, Any, Any]:
            """``(reconstruction, mu, logvar)``, ``z = mu + eps * exp(logvar / 2)`` (``mu`` if ``eps`` is None)."""
            mu, logvar = self.posterior(x, labels)
            z = mu if eps is None else mu + eps.to(mu.dtype) * torch.exp(0.5 * logvar)
            return self.generate(z, labels), mu, logvar

    return ConditionalVarAutoEncoder


def build_networks(cfg: VAEConfig) -> Any:
    """The conditional VAE for ``cfg`` (one module; its ``state_dict`` keys are the EMA/weights keys)."""
    return _network_class()(cfg)


def vae_loss(recon: Any, x: Any, mu: Any, logvar: Any, cfg: VAEConfig) -> tuple[Any, Any, Any]:
    """``(loss, reconstruction term, KL term)``, each the batch mean per image divided by ``C*H*W``.

    ``loss = rec + beta * kl``; rec is the per-pixel sum of squared (``mse``) or absolute (``l1``) errors,
    kl = ``0.5 * sum(mu^2 + exp(logvar) - 1 - logvar)`` (Kingma & Welling 2014, appendix B). Computed in float32.
    """
    import torch

    recon, x, mu, logvar = recon.float(), x.float(), mu.float(), logvar.float()
    d = float(np.prod(x.shape[1:]))
    diff = recon - x
    per_pix = diff.square() if cfg.recon_loss == "mse" else diff.abs()
    rec = per_pix.flatten(1).sum(1)
    kl = 0.5 * (mu.square() + torch.exp(logvar) - 1.0 - logvar).sum(1)
    rec_m, kl_m = rec.mean() / d, kl.mean() / d
    return rec_m + cfg.beta * kl_m, rec_m, kl_m


def sample(
    net: Any,
    cfg: VAEConfig,
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
    """``n`` images as float32 ``(n, H, W)`` in [-1, 1]: ``z ~ N(0, I)``, one decoder pass.

    ``z`` is drawn batch by batch from ``torch.Generator("cpu").manual_seed(seed)``, so the same
    arguments (and torch build, thread count) give bit-identical images. ``labels``: one class
    index per image for a conditional model, None for an unconditional one. ``sampler``,
    ``steps`` and ``guidance`` do not apply (``SAMPLING_OPTIONS == ()``) and must stay unset.
    """
    import torch

    from radsynth.generators.common.loop import autocast

    check_one_pass_args(labels, cfg.n_classes, n=n, batch_size=batch_size, precision=precision, sampler=sampler,
                        steps=steps, guidance=guidance, why="nothing: a VAE samples in one decoder pass",
                        guidance_accepted="1 (no guidance): a VAE has no classifier-free guidance")
    dev = torch.device(device)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    net = net.to(dev).eval()

    def draw(b0: int, nb: int) -> Any:
        z = torch.randn((nb, cfg.latent_size), generator=gen, dtype=torch.float32).to(dev)
        lab = None if labels is None else torch.tensor(labels[b0 : b0 + nb], dtype=torch.long, device=dev)
        with autocast(dev, precision):
            return net.generate(z, lab)

    return decode_batches(n, batch_size, cfg.sample_shape, draw, progress=progress, desc="sampling (VAE)")
