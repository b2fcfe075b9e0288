"""Stage 1 of latent diffusion: a KL-regularised autoencoder with a patch-adversarial loss.

The network is MONAI's :class:`monai.networks.nets.AutoencoderKL`, the first-stage
model of Rombach et al., "High-Resolution Image Synthesis with Latent Diffusion
Models", CVPR 2022 (arXiv:2112.10752), as ported to medical images by Pinaya et al.,
"Brain Imaging Generation with Latent Diffusion Models", DGM4MICCAI 2022
(arXiv:2209.07162) and in MONAI (Pinaya et al., arXiv:2307.15208). The encoder
halves the image ``len(channels) - 1`` times and outputs a diagonal Gaussian
posterior ``q(z | x) = N(mu, sigma^2)`` with ``latent_channels`` channels.

Loss, following MONAI's ``2d_ldm`` tutorial (generator step, then discriminator step)::

    L_G = |x_hat - x|_1 (mean) + kl_weight * KL(q(z|x) || N(0, I)) (sum over latent, mean over batch)
          + adv_weight * LSGAN_G(D(x_hat))                   [from step adv_warmup_steps on]
    L_D = adv_weight * (LSGAN_D(D(x_hat), fake) + LSGAN_D(D(x), real)) / 2   [idem]

with ``x_hat`` the decoding of a reparameterised sample ``z = mu + sigma * eps``,
``D`` MONAI's :class:`~monai.networks.nets.PatchDiscriminator` (the PatchGAN of Isola
et al., "Image-to-Image Translation with Conditional Adversarial Networks", CVPR 2017,
arXiv:1611.07004) and ``LSGAN`` MONAI's :class:`~monai.losses.PatchAdversarialLoss`
with ``criterion="least_squares"`` (Mao et al., "Least Squares Generative Adversarial
Networks", ICCV 2017, arXiv:1611.04076). The adversarial terms start after
``adv_warmup_steps`` steps, as the tutorial's ``autoencoder_warm_up_n_epochs``.
Optimisers: Adam, ``lr`` for the autoencoder and ``disc_lr`` for the discriminator
(tutorial: 1e-4 and 5e-4); gradients are clipped to ``TrainConfig.grad_clip``.

**No perceptual loss.** The tutorial also adds MONAI's ``PerceptualLoss`` (LPIPS on
an ImageNet AlexNet/VGG/SqueezeNet, or a RadImageNet ResNet-50); every one of those
needs pretrained weights downloaded from the internet at construction, which is
impossible offline, and randomly initialised feature networks are no perceptual
metric. So the reconstruction term is L1 alone and sharpness comes from the
patch-adversarial term.

**No EMA.** The weights used for sampling are the final autoencoder weights, the
same ones that encoded the training latents of stage 2 (an averaged decoder would
not be the inverse of the encoder the latent diffusion model was trained on).

Exact resume: every random draw (epoch permutations, reparameterisation noise)
comes from one ``torch.Generator`` seeded with ``TrainConfig.seed``; MONAI's
``AutoencoderKL.forward`` draws its noise with ``torch.randn_like`` from the global
stream, so this loop calls ``encode`` / ``decode`` itself and draws ``eps`` from its
generator. Weight init (autoencoder: ``seed``, discriminator: ``seed + 1``) runs
inside ``torch.random.fork_rng``. The checkpoint (see
:func:`radsynth.generators.common.checkpoint.save_checkpoint`) holds both networks, both Adam
states, the generator state, the permutation and position, and every per-step loss.

The config does not import torch; only the functions below do.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from radsynth.core.errors import RadsynthError, RadsynthInputError
from radsynth.generators.common import loop
from radsynth.generators.common.config_base import ConfigCreateMixin

CHECKPOINT_FORMAT = "radsynth.generators.autoencoder_kl.checkpoint/1"
#: the training settings of :class:`~radsynth.generators.diffusion.training.TrainConfig` this loop uses (must match on resume)
TRAIN_INVARIANT = ("batch_size", "seed", "precision", "channels_last", "grad_clip")


class AutoencoderKLConfig(ConfigCreateMixin, BaseModel):
    """MONAI ``AutoencoderKL`` + ``PatchDiscriminator`` architecture and the stage-1 loss weights.

    ``image_size`` in pixels (square), values in [-1, 1]; ``channels`` per level, the
    encoder halving the image between levels (``factor = 2**(len(channels) - 1)``);
    ``latent_channels`` channels of the ``image_size / factor`` latent. Attention is off
    by default (``attention_levels`` all False, ``nonlocal_attn`` False) to keep CPU cost
    down. ``disc_channels`` / ``disc_layers``: width of the first PatchGAN layer and
    number of its strided layers. Loss: see the module docstring.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    spatial_dims: Literal[2] = 2
    image_size: int = Field(128, ge=8)
    in_channels: int = Field(1, ge=1)
    channels: tuple[int, ...] = (32, 64, 64)
    latent_channels: int = Field(3, ge=1)
    num_res_blocks: int = Field(1, ge=1)
    attention_levels: tuple[bool, ...] = (False, False, False)
    nonlocal_attn: bool = False
    norm_num_groups: int = Field(16, ge=1)
    kl_weight: float = Field(1e-6, ge=0)
    adv_weight: float = Field(0.01, ge=0)
    adv_warmup_steps: int = Field(500, ge=0)
    disc_channels: int = Field(32, ge=1)
    disc_layers: int = Field(3, ge=1)
    lr: float = Field(1e-4, gt=0)
    disc_lr: float = Field(5e-4, gt=0)

    def check(self) -> None:
        """Cross-field checks (raise RadsynthInputError)."""
        if not 1 <= len(self.channels) <= 6 or min(self.channels) < 1:
            raise RadsynthInputError("channels", list(self.channels), "1 to 6 positive channel counts, one per level")
        if len(self.attention_levels) != len(self.channels):
            raise RadsynthInputError(
                "attention_levels", list(self.attention_levels), f"one flag per level ({len(self.channels)} levels)"
            )
        if any(c % self.norm_num_groups for c in self.channels):
            raise RadsynthInputError(
                "channels", list(self.channels), f"multiples of norm_num_groups={self.norm_num_groups}"
            )
        if self.image_size % self.factor:
            raise RadsynthInputError(
                "--image-size", self.image_size,
                f"a multiple of {self.factor} (the autoencoder halves the image {self.levels - 1} times)",
            )
        if patch_output_size(self.image_size, self.disc_layers) < 1:
            raise RadsynthInputError(
                "disc_layers", self.disc_layers,
                f"fewer PatchGAN layers for {self.image_size} px images (each strided layer halves the image)",
            )
        for name in ("kl_weight", "adv_weight", "lr", "disc_lr"):
            if not math.isfinite(getattr(self, name)):
                raise RadsynthInputError(name, getattr(self, name), "a finite number")

    @property
    def levels(self) -> int:
        return len(self.channels)

    @property
    def factor(self) -> int:
        """Downsampling factor image -> latent (``2**(levels - 1)``)."""
        return 2 ** (self.levels - 1)

    @property
    def latent_size(self) -> int:
        return self.image_size // self.factor

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """``(latent_channels, latent_size, latent_size)``."""
        return (self.latent_channels, self.latent_size, self.latent_size)

    def card_lines(self) -> list[str]:
        """Markdown bullet lines describing the autoencoder for the model card."""
        att = "attention at levels " + ", ".join(str(i) for i, a in enumerate(self.attention_levels) if a) \
            if any(self.attention_levels) else "no attention"
        return [
            f"- autoencoder: MONAI `AutoencoderKL` (Rombach et al. 2022, arXiv:2112.10752), channels "
            f"{', '.join(map(str, self.channels))}, {self.num_res_blocks} res block(s)/level, {att}"
            f"{', non-local attention' if self.nonlocal_attn else ''}; {self.image_size}x{self.image_size}x"
            f"{self.in_channels} -> {self.latent_size}x{self.latent_size}x{self.latent_channels} latent "
            f"(x{self.factor} downsampling)",
            f"- autoencoder loss: L1 + {self.kl_weight:g} x KL + {self.adv_weight:g} x least-squares patch-adversarial "
            f"(MONAI `PatchDiscriminator`, {self.disc_layers} layers, {self.disc_channels} channels; from step "
            f"{self.adv_warmup_steps}); no perceptual loss (its pretrained weights cannot be downloaded offline)",
        ]


def patch_output_size(image_size: int, layers: int, kernel: int = 4, padding: int = 1) -> int:
    """Side of MONAI ``PatchDiscriminator``'s logit map: a stride-2 first conv, ``layers - 1`` stride-2 convs,
    one stride-1 conv and the stride-1 final conv, all with ``kernel`` 4 and ``padding`` 1."""
    s = image_size
    for stride in [2] * layers + [1, 1]:
        s = (s + 2 * padding - kernel) // stride + 1
        if s < 1:
            return 0
    return s


def build_autoencoder(cfg: AutoencoderKLConfig) -> Any:
    """MONAI ``AutoencoderKL`` for ``cfg``."""
    from monai.networks.nets import AutoencoderKL

    return AutoencoderKL(
        spatial_dims=cfg.spatial_dims,
        in_channels=cfg.in_channels,
        out_channels=cfg.in_channels,
        channels=tuple(cfg.channels),
        latent_channels=cfg.latent_channels,
        num_res_blocks=cfg.num_res_blocks,
        attention_levels=tuple(cfg.attention_levels),
        norm_num_groups=cfg.norm_num_groups,
        with_encoder_nonlocal_attn=cfg.nonlocal_attn,
        with_decoder_nonlocal_attn=cfg.nonlocal_attn,
    )


def build_discriminator(cfg: AutoencoderKLConfig) -> Any:
    """MONAI ``PatchDiscriminator`` (PatchGAN, batch norm, leaky ReLU) for ``cfg``."""
    from monai.networks.nets import PatchDiscriminator

    return PatchDiscriminator(
        spatial_dims=cfg.spatial_dims,
        num_layers_d=cfg.disc_layers,
        channels=cfg.disc_channels,
        in_channels=cfg.in_channels,
        out_channels=1,
    )


def kl_loss(z_mu: Any, z_sigma: Any) -> Any:
    """KL(N(mu, sigma^2) || N(0, I)) summed over the latent, averaged over the batch (MONAI tutorial)."""
    import torch

    dims = list(range(1, z_mu.ndim))
    kl = 0.5 * torch.sum(z_mu.pow(2) + z_sigma.pow(2) - torch.log(z_sigma.pow(2)) - 1, dim=dims)
    return kl.sum() / kl.shape[0]


def encode_mean(
    autoencoder: Any, x: np.ndarray | Any, *, batch_size: int = 32, device: Any = "cpu", channels_last: bool = False
) -> Any:
    """Posterior means ``mu(x)`` (deterministic latents) as a float32 CPU tensor, fp32 in ``inference_mode``."""
    import torch

    dev = torch.device(device)
    mf = torch.channels_last if channels_last else torch.contiguous_format
    xt = torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32)) if isinstance(x, np.ndarray) else x
    was = autoencoder.training
    autoencoder.eval()
    out = []
    with torch.inference_mode():
        for b0 in range(0, len(xt), batch_size):
            mu, _ = autoencoder.encode(xt[b0 : b0 + batch_size].to(dev).contiguous(memory_format=mf))
            out.append(mu.float().cpu().contiguous())
    autoencoder.train(was)
    return torch.cat(out) if out else torch.empty((0,))


@dataclass
class AETrainResult:
    """What a (possibly resumed) stage-1 run did. ``losses[i]``: L1 reconstruction loss of step ``i + 1``;
    ``kl`` / ``g_adv`` / ``d_loss``: the other terms per step (adversarial ones 0 before the warm-up ends);
    ``val_curve``: (step, L1 of the posterior-mean reconstruction of the validation images);
    ``weights``: the autoencoder state dict (flat name -> CPU tensor)."""

    step: int
    losses: list[float]
    kl: list[float]
    g_adv: list[float]
    d_loss: list[float]
    val_curve: list[tuple[int, float]]
    wall_s: float
    session_wall_s: float
    session_steps: int
    images_per_s: float
    stopped: str
    weights: dict[str, Any] = field(repr=False, default_factory=dict)
    device: str = "cpu"


def _val_l1(ae: Any, x: Any, tcfg: Any, dev: Any, mf: Any) -> float:
    import torch

    total, count = 0.0, 0
    with loop.evaluating(ae):
        for b0, nb in loop.val_batches(len(x), tcfg):
            xb = x[b0 : b0 + nb].to(dev).contiguous(memory_format=mf)
            with loop.autocast(dev, tcfg.precision):
                rec = ae.reconstruct(xb)
            total += float(torch.nn.functional.l1_loss(rec.float(), xb, reduction="sum"))
            count += xb.numel()
    return total / max(count, 1)


def train_autoencoder(
    cfg: AutoencoderKLConfig,
    tcfg: Any,
    x_train: np.ndarray,
    checkpoint_dir: str | os.PathLike[str],
    *,
    steps: int,
    x_val: np.ndarray | None = None,
    resume: bool = False,
    extra_meta: dict[str, Any] | None = None,
    device: str | None = None,
    progress: bool = False,
    on_step: Callable[[int, float], None] | None = None,
    deadline: float | None = None,
) -> AETrainResult:
    """Train (or resume) the autoencoder until ``steps`` steps or the wall-clock budget; checkpoint at the end.

    ``tcfg`` is a :class:`radsynth.generators.common.train_config.TrainConfig`; its ``batch_size``, ``seed``,
    ``precision``, ``channels_last``, ``grad_clip``, ``val_every``, ``val_images``, ``ckpt_every`` and
    ``max_minutes`` apply (the learning rates are ``cfg.lr`` / ``cfg.disc_lr``). ``deadline``: a
    ``time.perf_counter()`` value that replaces the ``max_minutes`` budget (a caller sharing one budget
    across stages). ``x_*``: float32 ``(n, C, H, W)`` in [-1, 1]. ``extra_meta`` must match on resume.
    """
    import torch
    from monai.losses import PatchAdversarialLoss

    t_start = time.perf_counter()
    dev = loop.setup_device(device)
    n_train = loop.check_images(x_train, (cfg.in_channels, cfg.image_size, cfg.image_size))
    if steps < 0:
        raise RadsynthInputError("ae_steps", steps, "a number of autoencoder steps >= 0")
    meta_expect = loop.expected_meta(cfg, tcfg, extra_meta, TRAIN_INVARIANT)
    mf = torch.channels_last if tcfg.channels_last else torch.contiguous_format
    (ae,) = loop.seeded(tcfg.seed, lambda: build_autoencoder(cfg))  # init from the seed, not the global stream
    (disc,) = loop.seeded(int(tcfg.seed) + 1, lambda: build_discriminator(cfg))
    ae = ae.to(dev).to(memory_format=mf)
    disc = disc.to(dev).to(memory_format=mf)
    opt_g = torch.optim.Adam(ae.parameters(), lr=cfg.lr, foreach=False)
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.disc_lr, foreach=False)
    adv = PatchAdversarialLoss(criterion="least_squares")
    gen = torch.Generator().manual_seed(int(tcfg.seed))
    xt_all, _, xv, _ = loop.as_tensors(x_train, None, x_val, None)

    st = loop.LoopState(checkpoint_dir, CHECKPOINT_FORMAT, meta_expect, tcfg, n_train=n_train, gen=gen,
                        modules={"ae": ae, "disc": disc},
                        optimizers={"opt_g": ("opt_g", opt_g), "opt_d": ("opt_d", opt_d)},
                        histories=("l1", "kl", "g_adv", "d"), torch_rng=False, t_start=t_start, until=deadline)
    if resume:
        st.resume("an autoencoder training checkpoint")
        ae.to(dev).to(memory_format=mf)
        disc.to(dev).to(memory_format=mf)
    hist = st.hist
    validate = None if xv is None else (lambda: _val_l1(ae, xv, tcfg, dev, mf))

    prog = loop.Progress(progress, total=steps, start_step=st.step, initial=min(st.step, steps), desc="autoencoder")
    smooth = float("nan")
    bs = min(tcfg.batch_size, n_train)
    ae.train()
    disc.train()
    with prog.saving_on_interrupt(st):
        while st.running(steps):
            x = xt_all[st.next_indices(bs)].to(dev).contiguous(memory_format=mf)
            adv_on = cfg.adv_weight > 0 and st.step >= cfg.adv_warmup_steps
            # generator (autoencoder) step: z = mu + sigma * eps with eps from our generator
            with loop.autocast(dev, tcfg.precision):
                z_mu, z_sigma = ae.encode(x)
            z_mu, z_sigma = z_mu.float(), z_sigma.float()
            eps = torch.randn(z_mu.shape, generator=gen).to(dev)
            z = z_mu + eps * z_sigma
            with loop.autocast(dev, tcfg.precision):
                rec = ae.decode(z)
            rec = rec.float()
            l1 = torch.nn.functional.l1_loss(rec, x)
            kl = kl_loss(z_mu, z_sigma)
            loss_g = l1 + cfg.kl_weight * kl
            g_adv = torch.zeros(())
            if adv_on:
                with loop.autocast(dev, tcfg.precision):
                    logits_fake = disc(rec.contiguous(memory_format=mf))[-1]
                g_adv = adv(logits_fake.float(), target_is_real=True, for_discriminator=False)
                loss_g = loss_g + cfg.adv_weight * g_adv
            loop.backward_step(opt_g, loss_g, ae.parameters(), tcfg.grad_clip)
            d_val = 0.0
            if adv_on:  # discriminator step on the detached reconstruction and the real batch
                with loop.autocast(dev, tcfg.precision):
                    logits_fake = disc(rec.detach().contiguous(memory_format=mf))[-1]
                    logits_real = disc(x)[-1]
                d_fake = adv(logits_fake.float(), target_is_real=False, for_discriminator=True)
                d_real = adv(logits_real.float(), target_is_real=True, for_discriminator=True)
                loss_d = cfg.adv_weight * 0.5 * (d_fake + d_real)
                loop.backward_step(opt_d, loss_d, disc.parameters(), tcfg.grad_clip)
                d_val = float(loss_d.detach())
            st.step += 1
            lv, kv, gv = float(l1.detach()), float(kl.detach()), float(g_adv.detach())
            if not all(math.isfinite(v) for v in (lv, kv, gv, d_val)):
                raise RadsynthError(
                    f"autoencoder training diverged at step {st.step} (L1 {lv}, KL {kv}, adversarial {gv}, "
                    f"discriminator {d_val}); lower the autoencoder lr"
                )
            hist["l1"].append(lv)
            hist["kl"].append(kv)
            hist["g_adv"].append(gv)
            hist["d"].append(d_val)
            smooth = loop.smoothed(smooth, lv)
            if on_step is not None:
                on_step(st.step, lv)
            st.end_step(validate)
            prog.update(st.step, bs, {"L1": f"{smooth:.4f}"}, {"D": f"{d_val:.4f}"} if adv_on else None)
    return AETrainResult(
        step=st.step,
        losses=hist["l1"],
        kl=hist["kl"],
        g_adv=hist["g_adv"],
        d_loss=hist["d"],
        val_curve=st.val_curve,
        **prog.finish(st, bs),
        weights=loop.cpu_state(ae),
        device=str(dev),
    )
