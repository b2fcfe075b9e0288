"""Pixel-space DDPM: model config, MONAI U-Net and noise schedule.

The network is MONAI's :class:`monai.networks.nets.DiffusionModelUNet`
(Pinaya et al., "Generative AI for Medical Imaging: extending the MONAI
Framework", arXiv:2307.15208), predicting the noise epsilon of Ho, Jain & Abbeel,
"Denoising Diffusion Probabilistic Models", NeurIPS 2020 (arXiv:2006.11239).
The forward process is MONAI's :class:`monai.networks.schedulers.DDPMScheduler`.

Class conditioning uses the U-Net's ``num_class_embeds`` (a learned embedding
added to the timestep embedding). For classifier-free guidance (Ho & Salimans,
"Classifier-Free Diffusion Guidance", arXiv:2207.12598) one extra embedding index,
:attr:`DDPMConfig.null_label` ``= len(classes)``, is the "no class" token: during
training a label is replaced by it with probability ``p_uncond``.

Attributes (when the data has them, e.g. a manifest column ``pathogen`` or ``sex``)
are further categorical factors of the same embedding: every factor gets an extra
"unknown" value and the U-Net has one embedding per combination
(:attr:`DDPMConfig.num_condition_embeds`, mixed-radix index
:meth:`DDPMConfig.condition_index`). Training drops everything to "unknown" with
probability ``p_uncond`` and, besides, each factor on its own with ``p_uncond``, so
the model learns class-only, attribute-only and unconditional predictions; sampling
leaves unspecified factors "unknown" and guides against the all-unknown embedding.
A class-only model is the special case with one factor (index = class index,
null = ``len(classes)``), unchanged from before attributes existed.

3D (``spatial_dims=3``) is the same diffusion code on cubic volumes: MONAI's
U-Net and schedulers are dimension-agnostic, so only the tensor shape changes
(``(N, C, D, H, W)``); intended for small volumes (e.g. 64^3) or latents.

Only this module knows how to turn a :class:`DDPMConfig` into torch objects;
the config itself is plain pydantic (JSON in ``config.json``) and can be
validated without importing torch.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer

from radsynth.core.errors import RadsynthInputError
from radsynth.generators.common.config_base import ConfigCreateMixin, check_distinct_classes, class_index

ARCHITECTURES = ("ddpm",)
MODEL_FORMAT = "radsynth.generators.ddpm/1"
#: sampling options of ``radsynth sample`` this architecture uses (see radsynth.generators.archs)
SAMPLING_OPTIONS = ("sampler", "steps", "guidance")
SCHEDULES = ("linear_beta", "scaled_linear_beta")
PREDICTION_TYPES = ("epsilon",)


class DDPMConfig(ConfigCreateMixin, BaseModel):
    """Everything needed to rebuild the network and its training noise schedule.

    ``image_size`` is in pixels (square images, or cubic volumes of
    ``image_size**3`` voxels when ``spatial_dims == 3``); pixel values live in
    [-1, 1]. ``classes`` are the class names in embedding order (empty: unconditional).
    ``spatial_dims`` selects a 2D or 3D U-Net (same diffusion code; tensors are
    ``(N, C, H, W)`` or ``(N, C, D, H, W)``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    arch: Literal["ddpm"] = "ddpm"
    spatial_dims: Literal[2, 3] = 2
    image_size: int = Field(64, ge=8)
    in_channels: int = 1
    channels: tuple[int, ...] = (32, 64, 64)
    attention_levels: tuple[bool, ...] = (False, False, True)
    num_res_blocks: int = Field(1, ge=1)
    norm_num_groups: int = Field(16, ge=1)
    num_head_channels: int = 64
    classes: tuple[str, ...] = ()
    #: categorical attributes to condition on besides the class: ((name, (value, ...)), ...)
    attributes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    p_uncond: float = Field(0.1, ge=0.0, le=1.0)
    num_train_timesteps: int = Field(1000, ge=2)
    # MONAI's 2D pixel-space DDPM tutorial schedule (MONAI GenerativeModels, 2d_ddpm_tutorial)
    schedule: Literal["linear_beta", "scaled_linear_beta"] = "scaled_linear_beta"
    beta_start: float = Field(0.0005, gt=0, lt=1)
    beta_end: float = Field(0.0195, gt=0, lt=1)
    prediction_type: Literal["epsilon"] = "epsilon"

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> dict[str, Any]:
        """Omit ``spatial_dims`` when it is 2, so 2D dumps stay byte-identical to those written before
        the field existed (checkpoint resume compares ``model_dump`` with the stored one)."""
        d = handler(self)
        if self.spatial_dims == 2:
            d.pop("spatial_dims", None)
        if not self.attributes:  # likewise for models without attribute conditioning
            d.pop("attributes", None)
        return d

    def check(self) -> None:
        """Cross-field checks (raise RadsynthInputError)."""
        if len(self.attention_levels) != len(self.channels):
            raise RadsynthInputError(
                "attention_levels", list(self.attention_levels), f"one flag per level ({len(self.channels)} levels)"
            )
        bad = [c for c in self.channels if c % self.norm_num_groups]
        if bad:
            raise RadsynthInputError(
                "channels", list(self.channels), f"multiples of norm_num_groups={self.norm_num_groups}"
            )
        check_image_size(self.image_size, len(self.channels))
        check_distinct_classes(self.classes)
        names = [a for a, _ in self.attributes]
        if len(set(n.lower() for n in names)) != len(names) or "class" in (n.lower() for n in names):
            raise RadsynthInputError("attributes", names, "distinct attribute names other than 'class'")
        for a, vals in self.attributes:
            if not vals or len(set(v.lower() for v in vals)) != len(vals) or "" in vals:
                raise RadsynthInputError(f"attributes.{a}", list(vals), "one or more distinct non-empty values")

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample without the channel axis: ``(H, W)`` or ``(D, H, W)`` (pixels/voxels)."""
        return (self.image_size,) * self.spatial_dims

    @property
    def levels(self) -> int:
        return len(self.channels)

    @property
    def conditional(self) -> bool:
        return bool(self.classes) or bool(self.attributes)

    @property
    def factors(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """Conditioning factors in digit order: the class (if any), then each attribute."""
        return ((("class", self.classes),) if self.classes else ()) + tuple(self.attributes)

    @property
    def num_condition_embeds(self) -> int | None:
        """Embeddings of the U-Net: every combination of factor values, each factor with one extra "unknown"
        value (``prod(len(values) + 1)``); ``len(classes) + 1`` for a class-only model."""
        if not self.conditional:
            return None
        n = 1
        for _, vals in self.factors:
            n *= len(vals) + 1
        return n

    @property
    def null_label(self) -> int | None:
        """Embedding index of "nothing known" (every factor unknown; ``len(classes)`` for a class-only
        model): the unconditional branch of classifier-free guidance. None when unconditional."""
        n = self.num_condition_embeds
        return None if n is None else n - 1

    def condition_index(self, values: list[int | None]) -> int:
        """Joint embedding index of one value index per factor (None = unknown), mixed radix with the
        class as the fastest digit, so a class-only model's index is the class index."""
        fac = self.factors
        if len(values) != len(fac):
            raise RadsynthInputError("condition", values, f"one value per factor {[f for f, _ in fac]}")
        idx, radix = 0, 1
        for v, (name, vals) in zip(values, fac):
            d = len(vals) if v is None or v < 0 else int(v)
            if d > len(vals):
                raise RadsynthInputError(name, v, f"an index 0..{len(vals) - 1} or None")
            idx += d * radix
            radix *= len(vals) + 1
        return idx

    def attribute_index(self, name: str, value: str) -> int:
        """Index of ``value`` of attribute ``name`` (case-insensitive); RadsynthInputError if unknown."""
        low = {a.lower(): vals for a, vals in self.attributes}
        if name.lower() not in low:
            raise RadsynthInputError("--attribute", name, ", ".join(a for a, _ in self.attributes) or
                                     "none: this model has no attribute conditioning")
        vals = low[name.lower()]
        lv = [v.lower() for v in vals]
        if value.lower() not in lv:
            raise RadsynthInputError(f"--attribute {name}", value, ", ".join(vals))
        return lv.index(value.lower())

    def label_index(self, name: str) -> int:
        """Index of a class name (case-insensitive); RadsynthInputError if unknown."""
        return class_index(self.classes, name)

    def card_lines(self) -> list[str]:
        """Model-card bullet lines describing the network and noise schedule."""
        return [
            f"- network: MONAI DiffusionModelUNet, {self.spatial_dims}D, channels {list(self.channels)}, attention "
            f"{list(self.attention_levels)}, {self.num_res_blocks} res block(s)/level, epsilon prediction",
            f"- noise schedule: {self.num_train_timesteps} timesteps, {self.schedule} [{self.beta_start}, {self.beta_end}]",
            f"- conditioning: {('classes ' + ', '.join(self.classes)) if self.classes else 'no class'}"
            + "".join(f"; attribute {a} ({', '.join(v)})" for a, v in self.attributes)
            + f"; classifier-free guidance: each condition dropped to 'unknown' with p_uncond {self.p_uncond}",
        ]


def check_image_size(image_size: int, levels: int) -> None:
    """The U-Net halves the image ``levels - 1`` times: the size must be divisible by ``2**(levels-1)``."""
    factor = 2 ** (levels - 1)
    if image_size < 8 or image_size % factor:
        raise RadsynthInputError(
            "--image-size",
            image_size,
            f"a multiple of {factor} (2**(levels-1) for {levels} U-Net levels), at least 8",
            "e.g. 64, 128 or 256.",
        )


def config_for_training(
    *, image_size: int, classes: tuple[str, ...], channels: tuple[int, ...] | None = None,
    attention: tuple[bool, ...] | None = None, attributes: tuple[tuple[str, tuple[str, ...]], ...] = (),
) -> DDPMConfig:
    """The config ``radsynth train --arch ddpm`` builds: attention at the lowest level only unless given;
    GroupNorm groups = the largest power of two <= 16 dividing every level's channels."""
    ch = tuple(channels) if channels else (32, 64, 64)
    check_image_size(image_size, len(ch))
    att = tuple(attention) if attention else tuple([False] * (len(ch) - 1) + [True])
    groups = 16
    while any(c % groups for c in ch):
        groups //= 2
    return DDPMConfig.create(image_size=image_size, channels=ch, attention_levels=att, norm_num_groups=groups,
                             num_head_channels=ch[-1], classes=tuple(classes), attributes=tuple(attributes))


def build_networks(cfg: DDPMConfig) -> Any:
    """The sampling network (the U-Net) -- the architecture contract's name for :func:`build_unet`."""
    return build_unet(cfg)


def build_unet(cfg: DDPMConfig) -> Any:
    """The MONAI ``DiffusionModelUNet`` for ``cfg`` (with ``len(classes) + 1`` class embeddings if conditional)."""
    from monai.networks.nets import DiffusionModelUNet

    return DiffusionModelUNet(
        spatial_dims=cfg.spatial_dims,
        in_channels=cfg.in_channels,
        out_channels=cfg.in_channels,
        channels=tuple(cfg.channels),
        attention_levels=tuple(cfg.attention_levels),
        num_res_blocks=cfg.num_res_blocks,
        norm_num_groups=cfg.norm_num_groups,
        num_head_channels=cfg.num_head_channels,
        num_class_embeds=cfg.num_condition_embeds,
    )


def schedule_kwargs(cfg: DDPMConfig) -> dict[str, Any]:
    """Keyword arguments shared by every MONAI scheduler built for ``cfg``."""
    return {
        "num_train_timesteps": cfg.num_train_timesteps,
        "schedule": cfg.schedule,
        "beta_start": cfg.beta_start,
        "beta_end": cfg.beta_end,
        "prediction_type": cfg.prediction_type,
    }


def build_train_scheduler(cfg: DDPMConfig) -> Any:
    """MONAI ``DDPMScheduler`` defining the forward (noising) process of ``cfg``."""
    from monai.networks.schedulers import DDPMScheduler

    return DDPMScheduler(**schedule_kwargs(cfg))
