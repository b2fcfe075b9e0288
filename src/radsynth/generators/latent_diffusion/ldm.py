"""Latent diffusion (arch ``ldm``): a KL autoencoder, then a DDPM on its scaled latents.

Rombach, Blattmann, Lorenz, Esser & Ommer, "High-Resolution Image Synthesis with
Latent Diffusion Models", CVPR 2022 (arXiv:2112.10752); for medical images Pinaya
et al., "Brain Imaging Generation with Latent Diffusion Models", DGM4MICCAI 2022
(arXiv:2209.07162), and MONAI's ``2d_ldm`` tutorial (Pinaya et al., arXiv:2307.15208),
whose recipe this follows:

* **Stage 1** (:mod:`radsynth.generators.latent_diffusion.autoencoder_kl`): MONAI ``AutoencoderKL``
  trained with L1 + KL + least-squares patch-adversarial loss (no perceptual loss:
  its pretrained weights cannot be downloaded offline) for :attr:`LDMConfig.ae_steps`
  steps. Default for 128 px: channels (32, 64, 64), no attention, x4 downsampling to
  a 32x32x3 latent.
* **Latents**: the posterior means ``mu(x)`` of the training (and validation) images
  (deterministic), multiplied by ``scale_factor = 1 / std(latents)`` (Rombach et al.,
  sec. 4.3.2 / app. D.1, as MONAI's tutorial computes it) so the diffusion sees
  unit-variance data. The factor is a buffer of the network bundle
  (:func:`build_networks`), so it travels with the weights.
* **Stage 2**: the pixel-space training loop :func:`radsynth.generators.diffusion.training.train`
  (MONAI ``DiffusionModelUNet``, epsilon prediction, EMA, classifier-free-guidance label
  dropout) run unchanged on the scaled latents, for ``TrainConfig.max_steps`` steps. The
  latent schedule is ``scaled_linear_beta`` from 0.0015 to 0.0195 over 1000 steps, the
  LDM paper's (its "linear" schedule is linear in ``sqrt(beta)``).

One wall-clock budget (``TrainConfig.max_minutes``) covers both stages of one call;
``resume=True`` continues whichever stage was running (stage 1 in
``<checkpoint_dir>/autoencoder``, stage 2 in ``<checkpoint_dir>/latent``, both exact-resume
checkpoints). Once stage 2 has checkpointed, its scale factor is read back from that
checkpoint, so a resumed run keeps the factor its U-Net was trained with.

**Sampling**: latents from the DDPM samplers of :mod:`radsynth.generators.diffusion.samplers`
(``ddpm`` / ``ddim`` / ``dpm++``, classifier-free guidance) without the ``[-1, 1]``
clipping of the predicted ``x_0`` (latents are unbounded), divided by
``scale_factor`` and decoded by the autoencoder in float32 (one pass per image);
images are clamped to [-1, 1].

This module imports no torch at import time.
"""

from __future__ import annotations

import functools
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from radsynth.core.errors import RadsynthError, RadsynthInputError
from radsynth.generators.common import loop
from radsynth.generators.common.config_base import (  # noqa: F401 (count_parameters re-exported)
    ConfigCreateMixin,
    class_index,
    count_parameters,
    input_error,
)
from radsynth.generators.common.sampling_common import check_batch_size, check_label_range, decode_batches
from radsynth.generators.common.train_config import TrainResult
from radsynth.generators.diffusion.ddpm import DDPMConfig, check_image_size
from radsynth.generators.latent_diffusion.autoencoder_kl import AutoencoderKLConfig

MODEL_FORMAT = "radsynth.generators.ldm/1"
SAMPLING_OPTIONS: tuple[str, ...] = ("sampler", "steps", "guidance")
DEFAULT_SAMPLER = "dpm++"
AE_DIR = "autoencoder"
LATENT_DIR = "latent"
#: default autoencoder (x4 downsampling, 3 latent channels, no attention: CPU-friendly at 128 px)
DEFAULT_AE: dict[str, Any] = {"channels": (32, 64, 64), "latent_channels": 3, "num_res_blocks": 1,
                              "attention_levels": (False, False, False), "norm_num_groups": 16}
DEFAULT_UNET_CHANNELS: tuple[int, ...] = (32, 64, 64)
DEFAULT_AE_STEPS = 2000
#: latent noise schedule: the LDM paper's (Rombach et al. 2022 configs: linear_start 0.0015, linear_end 0.0195)
LATENT_SCHEDULE: dict[str, Any] = {"schedule": "scaled_linear_beta", "beta_start": 0.0015, "beta_end": 0.0195}


def check_ldm_image_size(image_size: int, ae_factor: int, unet_levels: int) -> None:
    """``image_size`` must be a multiple of the autoencoder factor, giving a latent the U-Net accepts
    (:func:`radsynth.generators.diffusion.ddpm.check_image_size`: a multiple of ``2**(levels-1)``, at least 8)."""
    unet_factor = 2 ** (unet_levels - 1)
    mult = ae_factor * unet_factor
    smallest = mult * max(1, math.ceil(8 * ae_factor / mult))
    accepted = (f"a multiple of {mult} (x{ae_factor} autoencoder downsampling, then 2**(levels-1)={unet_factor} "
                f"for the {unet_levels}-level latent U-Net), at least {smallest}")
    if image_size % ae_factor:
        raise RadsynthInputError("--image-size", image_size, accepted, "e.g. 64, 128 or 256.")
    try:
        check_image_size(image_size // ae_factor, unet_levels)
    except RadsynthInputError:
        raise RadsynthInputError("--image-size", image_size, accepted, "e.g. 64, 128 or 256.") from None


class LDMConfig(ConfigCreateMixin, BaseModel):
    """Latent diffusion model: the autoencoder, the latent DDPM and the number of autoencoder steps.

    ``image_size`` (pixels, square), ``in_channels`` and ``classes`` describe the images;
    ``autoencoder`` must agree with them, and ``latent`` (a :class:`DDPMConfig` on the latent:
    ``image_size`` = latent side, ``in_channels`` = latent channels, same ``classes``) with the
    autoencoder. :meth:`create` fills those derived fields (and the LDM noise schedule) in when
    they are left out, so ``LDMConfig.create(image_size=128, classes=(...))`` is complete.
    ``ae_steps``: stage-1 (autoencoder) training steps; stage 2 runs ``TrainConfig.max_steps``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    arch: Literal["ldm"] = "ldm"
    spatial_dims: Literal[2] = 2
    image_size: int = Field(128, ge=8)
    in_channels: int = Field(1, ge=1)
    classes: tuple[str, ...] = ()
    ae_steps: int = Field(DEFAULT_AE_STEPS, ge=1)
    autoencoder: AutoencoderKLConfig = AutoencoderKLConfig(image_size=128, **DEFAULT_AE)
    latent: DDPMConfig = DDPMConfig(image_size=32, in_channels=3, channels=DEFAULT_UNET_CHANNELS,
                                    attention_levels=(False, False, True), **LATENT_SCHEDULE)

    @classmethod
    def create(cls, **kwargs: Any) -> LDMConfig:
        """Validated config; any problem is one :class:`RadsynthInputError`.

        ``autoencoder`` / ``latent`` may be partial dicts: ``autoencoder`` gets ``image_size`` and
        ``in_channels`` from the top level (and :data:`DEFAULT_AE`), ``latent`` gets ``image_size``
        (latent side), ``in_channels`` (latent channels), ``classes`` and :data:`LATENT_SCHEDULE`.
        """
        kw = dict(kwargs)
        size, in_ch = kw.get("image_size", 128), kw.get("in_channels", 1)
        ae = kw.get("autoencoder")
        ae_cfg: AutoencoderKLConfig | None = ae if isinstance(ae, AutoencoderKLConfig) else None
        if ae is None or isinstance(ae, dict):
            ae = {**DEFAULT_AE, "image_size": size, "in_channels": in_ch, **(ae or {})}
            try:
                ae_cfg = AutoencoderKLConfig(**ae)
            except ValidationError as exc:
                raise input_error(exc, "autoencoder") from None
            kw["autoencoder"] = ae_cfg
        lat = kw.get("latent")
        if (lat is None or isinstance(lat, dict)) and ae_cfg is not None and isinstance(size, int):
            lat = dict(lat or {})
            ch = lat.get("channels", DEFAULT_UNET_CHANNELS)
            levels = len(ch) if isinstance(ch, (list, tuple)) else 0
            if size == ae_cfg.image_size and levels >= 1:
                check_ldm_image_size(size, ae_cfg.factor, levels)
            defaults: dict[str, Any] = {
                "image_size": ae_cfg.latent_size, "in_channels": ae_cfg.latent_channels,
                "classes": kw.get("classes", ()), "channels": DEFAULT_UNET_CHANNELS, **LATENT_SCHEDULE,
            }
            if "attention_levels" not in lat and levels >= 1:  # attention at the lowest level
                defaults["attention_levels"] = (False,) * (levels - 1) + (True,)
            if "num_head_channels" not in lat and levels >= 1:  # one attention head
                defaults["num_head_channels"] = ch[-1]
            kw["latent"] = {**defaults, **lat}
        return super().create(**kw)

    def check(self) -> None:
        """Cross-field checks (raise RadsynthInputError)."""
        ae, lat = self.autoencoder, self.latent
        if ae.image_size != self.image_size:
            raise RadsynthInputError("autoencoder.image_size", ae.image_size, f"image_size ({self.image_size})")
        if ae.in_channels != self.in_channels:
            raise RadsynthInputError("autoencoder.in_channels", ae.in_channels, f"in_channels ({self.in_channels})")
        check_ldm_image_size(self.image_size, ae.factor, lat.levels)
        ae.check()
        if lat.spatial_dims != 2:
            raise RadsynthInputError("latent.spatial_dims", lat.spatial_dims, "2")
        if lat.image_size != ae.latent_size:
            raise RadsynthInputError("latent.image_size", lat.image_size,
                                     f"the autoencoder's latent side ({ae.latent_size})")
        if lat.in_channels != ae.latent_channels:
            raise RadsynthInputError("latent.in_channels", lat.in_channels,
                                     f"the autoencoder's latent channels ({ae.latent_channels})")
        if tuple(lat.classes) != tuple(self.classes):
            raise RadsynthInputError("latent.classes", list(lat.classes), f"classes ({list(self.classes)})")
        lat.check()

    @property
    def sample_shape(self) -> tuple[int, int]:
        """Shape of one sample without the channel axis: ``(H, W)``."""
        return (self.image_size, self.image_size)

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """``(C, h, w)`` of one latent."""
        return self.autoencoder.latent_shape

    @property
    def conditional(self) -> bool:
        return bool(self.classes)

    @property
    def null_label(self) -> int | None:
        """Class-embedding index of the classifier-free-guidance "no class" token (None if unconditional)."""
        return self.latent.null_label

    def label_index(self, name: str) -> int:
        """Index of a class name (case-insensitive); RadsynthInputError if unknown or unconditional."""
        return class_index(self.classes, name)

    def card_lines(self) -> list[str]:
        """Markdown bullet lines describing the architecture for the model card."""
        lat = self.latent
        c, h, w = self.latent_shape
        cond = (f"class-conditional on {', '.join(self.classes)} (U-Net class embedding; classifier-free guidance "
                f"label dropout p_uncond {lat.p_uncond})" if self.classes else "unconditional")
        return [
            "- architecture: latent diffusion (Rombach et al. 2022, arXiv:2112.10752; MONAI 2d_ldm recipe): "
            "MONAI `AutoencoderKL` + MONAI `DiffusionModelUNet` on its latents",
            *self.autoencoder.card_lines(),
            f"- autoencoder training: {self.ae_steps} steps (stage 1, before the diffusion)",
            f"- latents: posterior means ({h}x{w}x{c}) times scale_factor = 1/std(training latents), "
            "stored with the weights",
            f"- latent U-Net: channels {list(lat.channels)}, attention {list(lat.attention_levels)}, "
            f"{lat.num_res_blocks} res block(s)/level, epsilon prediction, {lat.num_train_timesteps} timesteps, "
            f"{lat.schedule} [{lat.beta_start}, {lat.beta_end}]",
            f"- conditioning: {cond}",
            "- sampling: DDPM / DDIM / DPM-Solver++ in latent space (no x0 clipping), then one float32 decoder "
            "pass; images clamped to [-1, 1]",
        ]


def config_for_training(
    *, image_size: int, classes: tuple[str, ...], channels: tuple[int, ...] | None = None,
    ae_steps: int | None = None,
) -> LDMConfig:
    """The config ``radsynth train --arch ldm --image-size N [--channels a,b,c]`` builds.

    Autoencoder: :data:`DEFAULT_AE` (x4 downsampling: 128 px -> 32x32x3 latent, 64 px -> 16x16x3),
    adversarial term from ``ae_steps // 10`` on (MONAI tutorial: 10 of 100 epochs of warm-up).
    ``channels``: the latent U-Net's (default (32, 64, 64), attention at the lowest level).
    ``image_size`` must be a multiple of ``4 * 2**(levels-1)`` giving a latent of at least 8
    (RadsynthInputError("--image-size", ...) otherwise).
    """
    ch = DEFAULT_UNET_CHANNELS if channels is None else tuple(int(c) for c in channels)
    if not ch or min(ch) < 1:
        raise RadsynthInputError("--channels", ",".join(map(str, ch)), "positive channel counts, e.g. 32,64,64")
    steps = DEFAULT_AE_STEPS if ae_steps is None else int(ae_steps)
    if steps < 1:
        raise RadsynthInputError("--ae-steps", steps, "a positive number of autoencoder steps")
    size = int(image_size)
    check_ldm_image_size(size, 2 ** (len(DEFAULT_AE["channels"]) - 1), len(ch))
    groups = 16  # GroupNorm groups: the largest power of two <= 16 dividing every level's channels
    while any(c % groups for c in ch):
        groups //= 2
    return LDMConfig.create(
        image_size=size,
        classes=tuple(classes),
        ae_steps=steps,
        autoencoder={**DEFAULT_AE, "adv_warmup_steps": steps // 10},
        latent={"channels": ch, "attention_levels": (False,) * (len(ch) - 1) + (True,), "norm_num_groups": groups,
                "num_head_channels": ch[-1]},
    )


def resolve_sampling_steps(cfg: LDMConfig, sampler: str, steps: int | None) -> int:
    """Network evaluations per sample for ``sampler`` on the latent diffusion (validated)."""
    from radsynth.generators.diffusion.samplers import resolve_steps

    return resolve_steps(cfg.latent, sampler, steps)


@functools.lru_cache(maxsize=None)
def _network_class() -> type:
    """The bundle module class (defined lazily so importing this module needs no torch)."""
    import torch

    from radsynth.generators.latent_diffusion.autoencoder_kl import build_autoencoder
    from radsynth.generators.diffusion.ddpm import build_unet

    class LatentDiffusionNetworks(torch.nn.Module):
        """``autoencoder`` (MONAI AutoencoderKL), ``unet`` (MONAI DiffusionModelUNet on latents) and the
        ``scale_factor`` buffer (latent = scale_factor * posterior mean)."""

        def __init__(self, cfg: LDMConfig) -> None:
            super().__init__()
            self.register_buffer("scale_factor", torch.ones((), dtype=torch.float32))
            self.autoencoder = build_autoencoder(cfg.autoencoder)
            self.unet = build_unet(cfg.latent)

        def encode(self, x: Any) -> Any:
            """Scaled latents ``scale_factor * mu(x)`` of images ``x`` ``(N, C, H, W)``."""
            mu, _ = self.autoencoder.encode(x)
            return mu * self.scale_factor

        def decode(self, z: Any) -> Any:
            """Images from scaled latents ``z``."""
            return self.autoencoder.decode(z / self.scale_factor)

    return LatentDiffusionNetworks


def build_networks(cfg: LDMConfig) -> Any:
    """One module with everything sampling needs: ``autoencoder.*``, ``unet.*`` and ``scale_factor``."""
    return _network_class()(cfg)


@dataclass
class LDMTrainResult(TrainResult):
    """A :class:`TrainResult` for both stages. ``step`` / ``session_steps`` count autoencoder plus diffusion
    steps; ``losses`` is the autoencoder's L1 per step (``ae_step`` entries) followed by the diffusion's noise MSE;
    ``val_curve`` likewise (diffusion steps offset by ``cfg.ae_steps``). ``stage``: "autoencoder" (stage 1 not
    finished: the U-Net weights are its initial ones), "diffusion" (stage 2 running) or "done"."""

    stage: str = "autoencoder"
    ae_step: int = 0
    ae_losses: list[float] = field(default_factory=list, repr=False)
    ae_val_curve: list[tuple[int, float]] = field(default_factory=list, repr=False)
    ae_images_per_s: float = 0.0
    diffusion_step: int = 0
    diffusion_losses: list[float] = field(default_factory=list, repr=False)
    diffusion_val_curve: list[tuple[int, float]] = field(default_factory=list, repr=False)
    diffusion_images_per_s: float = 0.0
    scale_factor: float = 1.0


def _bundle_state(cfg: LDMConfig, ae_weights: dict[str, Any], unet_state: dict[str, Any] | None,
                  scale: float, seed: int) -> dict[str, Any]:
    """Flat state of :func:`build_networks` (keys in its ``state_dict`` order). ``unet_state`` None: the
    U-Net's initial weights from ``seed`` (what stage 2 starts from)."""
    import torch

    from radsynth.generators.diffusion.ddpm import build_unet

    with torch.random.fork_rng(devices=[]):
        net = build_networks(cfg)
        if unet_state is None:
            torch.manual_seed(int(seed))  # as radsynth.generators.diffusion.training.train initialises it
            unet_state = build_unet(cfg.latent).state_dict()
    net.autoencoder.load_state_dict(ae_weights, strict=True)
    net.unet.load_state_dict(unet_state, strict=True)
    net.scale_factor.fill_(float(scale))
    return loop.cpu_state(net)


def train_model(
    cfg: LDMConfig,
    tcfg: Any,
    x_train: np.ndarray,
    y_train: np.ndarray | None,
    checkpoint_dir: str | os.PathLike[str],
    *,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    resume: bool = False,
    extra_meta: dict[str, Any] | None = None,
    device: str | None = None,
    progress: bool = False,
    on_step: Any = None,
) -> LDMTrainResult:
    """Stage 1 (autoencoder, ``cfg.ae_steps``), latent encoding, stage 2 (latent DDPM, ``tcfg.max_steps``).

    ``tcfg``: :class:`radsynth.generators.common.train_config.TrainConfig`; ``max_minutes`` bounds this call across
    both stages. ``x_*`` float32 ``(n, C, H, W)`` in [-1, 1]; ``y_*`` class indices (None when unconditional).
    ``extra_meta`` (e.g. the data fingerprint) must match on resume, as must ``cfg`` and the training
    settings. ``on_step(step, loss)`` is called after every step with the global step (autoencoder steps
    first, then ``cfg.ae_steps + diffusion step``).
    """
    import torch

    from radsynth.generators.latent_diffusion.autoencoder_kl import build_autoencoder, encode_mean, train_autoencoder
    from radsynth.generators.common.checkpoint import has_checkpoint, load_checkpoint
    from radsynth.generators.diffusion.training import train

    t0 = time.perf_counter()
    loop.check_labels_given(cfg.conditional, y_train)
    if y_train is not None and len(y_train) != len(x_train):
        raise RadsynthInputError("labels", f"{len(y_train)} labels", f"one per training image ({len(x_train)})")
    dev = loop.pick_device(device)
    ckpt = Path(checkpoint_dir)
    ae_dir, lat_dir = ckpt / AE_DIR, ckpt / LATENT_DIR
    if resume and not has_checkpoint(ae_dir):
        raise RadsynthInputError("--resume", str(ckpt), f"a folder with a latent-diffusion checkpoint ({AE_DIR}/)",
                                 "Run without --resume to start training.")
    extra = {**(extra_meta or {}), "ldm": cfg.model_dump(mode="json")}
    deadline = loop.deadline(tcfg, t0)

    ae_res = train_autoencoder(cfg.autoencoder, tcfg, x_train, ae_dir, steps=cfg.ae_steps, x_val=x_val,
                               resume=resume, extra_meta=extra, device=str(dev), progress=progress,
                               on_step=on_step, deadline=deadline)
    bs = min(tcfg.batch_size, len(x_train))
    common = dict(ae_step=ae_res.step, ae_losses=ae_res.losses, ae_val_curve=ae_res.val_curve,
                  ae_images_per_s=ae_res.images_per_s, device=str(dev))
    if ae_res.step < cfg.ae_steps:  # the budget ran out in stage 1
        return LDMTrainResult(
            step=ae_res.step, losses=list(ae_res.losses), val_curve=list(ae_res.val_curve), wall_s=ae_res.wall_s,
            session_wall_s=time.perf_counter() - t0, session_steps=ae_res.session_steps,
            images_per_s=ae_res.images_per_s, stopped="max_minutes",
            ema_state=_bundle_state(cfg, ae_res.weights, None, 1.0, tcfg.seed), stage="autoencoder", **common,
        )

    # latents: posterior means of the final autoencoder, scaled to unit variance
    with torch.random.fork_rng(devices=[]):
        ae = build_autoencoder(cfg.autoencoder)
    ae.load_state_dict(ae_res.weights, strict=True)
    ae = ae.to(dev)
    lat_resume = resume and has_checkpoint(lat_dir)
    enc_bs = max(bs, 32)
    z_train = encode_mean(ae, x_train, batch_size=enc_bs, device=dev)
    z_val = None if x_val is None or len(x_val) == 0 else encode_mean(ae, x_val, batch_size=enc_bs, device=dev)
    if lat_resume:
        scale = float(load_checkpoint(lat_dir)[1]["extra"]["scale_factor"])
    else:
        scale = float(1.0 / torch.std(z_train))  # float32 arithmetic, stored exactly as a Python float
    if not (math.isfinite(scale) and scale > 0):
        raise RadsynthError(f"the autoencoder's training latents have std {1 / scale if scale else 0.0}; "
                            "cannot scale them (autoencoder training failed)")
    zs = torch.tensor(scale, dtype=torch.float32)
    z_train_np = (z_train * zs).numpy()
    z_val_np = None if z_val is None else (z_val * zs).numpy()
    del ae, z_train, z_val

    tc2 = tcfg
    if deadline is not None:
        left = deadline - time.perf_counter()
        if left <= 0:  # no time left for stage 2 in this call
            return LDMTrainResult(
                step=ae_res.step, losses=list(ae_res.losses), val_curve=list(ae_res.val_curve),
                wall_s=ae_res.wall_s, session_wall_s=time.perf_counter() - t0, session_steps=ae_res.session_steps,
                images_per_s=ae_res.images_per_s, stopped="max_minutes",
                ema_state=_bundle_state(cfg, ae_res.weights, None, scale, tcfg.seed), stage="diffusion",
                scale_factor=scale, **common,
            )
        tc2 = tcfg.model_copy(update={"max_minutes": left / 60.0})
    step_cb = None if on_step is None else (lambda s, v: on_step(cfg.ae_steps + s, v))
    res = train(cfg.latent, tc2, z_train_np, y_train, lat_dir, x_val=z_val_np, y_val=y_val if z_val_np is not None
                else None, resume=lat_resume, extra_meta={**extra, "scale_factor": scale}, device=str(dev),
                progress=progress, on_step=step_cb)
    ae_img = ae_res.session_steps * bs
    lat_img = res.session_steps * bs
    t_busy = (ae_img / ae_res.images_per_s if ae_res.images_per_s else 0.0) + \
        (lat_img / res.images_per_s if res.images_per_s else 0.0)
    stopped = "max_minutes" if "max_minutes" in (ae_res.stopped, res.stopped) else "max_steps"
    return LDMTrainResult(
        step=ae_res.step + res.step,
        losses=list(ae_res.losses) + list(res.losses),
        val_curve=list(ae_res.val_curve) + [(cfg.ae_steps + s, v) for s, v in res.val_curve],
        wall_s=ae_res.wall_s + res.wall_s,
        session_wall_s=time.perf_counter() - t0,
        session_steps=ae_res.session_steps + res.session_steps,
        images_per_s=(ae_img + lat_img) / t_busy if t_busy > 0 else 0.0,
        stopped=stopped,
        ema_state=_bundle_state(cfg, ae_res.weights, res.ema_state, scale, tcfg.seed),
        stage="done" if res.step >= tcfg.max_steps else "diffusion",
        diffusion_step=res.step,
        diffusion_losses=list(res.losses),
        diffusion_val_curve=list(res.val_curve),
        diffusion_images_per_s=res.images_per_s,
        scale_factor=scale,
        **common,
    )


def sample(
    net: Any,
    cfg: LDMConfig,
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
    """``n`` images as float32 ``(n, H, W)`` in [-1, 1].

    Latents from :func:`radsynth.generators.diffusion.samplers.sample_tensors` (``sampler`` default
    ``"dpm++"``, ``steps`` its default, classifier-free ``guidance``; no x0 clipping; the U-Net
    under bf16 autocast when ``precision == "bf16"``), then ``decoder(z / scale_factor)`` in
    float32. Every random draw comes from ``torch.Generator("cpu").manual_seed(seed)``: the same
    arguments (torch build, thread count) give bit-identical images.
    """
    import torch

    from radsynth.generators.diffusion.samplers import sample_tensors

    check_batch_size(batch_size)
    if labels is not None and cfg.conditional:
        check_label_range(labels, len(cfg.classes))
    dev = torch.device(device)
    net = net.to(dev).eval()
    z = sample_tensors(net.unet, cfg.latent, labels, n=n, seed=seed, sampler=sampler or DEFAULT_SAMPLER,
                       steps=steps, guidance=guidance, batch_size=batch_size, precision=precision, device=str(dev),
                       progress=progress, clip_sample=False)
    return decode_batches(n, batch_size, cfg.sample_shape,
                          lambda b0, nb: net.decode(torch.from_numpy(z[b0 : b0 + nb]).to(dev)).float())
