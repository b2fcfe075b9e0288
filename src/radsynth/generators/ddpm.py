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

3D (``spatial_dims=3``) is the same diffusion code on cubic volumes: MONAI's
U-Net and schedulers are dimension-agnostic, so only the tensor shape changes
(``(N, C, D, H, W)``); intended for small volumes (e.g. 64^3) or latents.

Only this module knows how to turn a :class:`DDPMConfig` into torch objects;
the config itself is plain pydantic (JSON in ``config.json``) and can be
validated without importing torch.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_serializer

from radsynth.core.errors import RadsynthInputError

ARCHITECTURES = ("ddpm",)
SCHEDULES = ("linear_beta", "scaled_linear_beta")
PREDICTION_TYPES = ("epsilon",)


class DDPMConfig(BaseModel):
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
        return d

    @classmethod
    def create(cls, **kwargs: Any) -> DDPMConfig:
        """Validated config; any problem is one :class:`RadsynthInputError` (pydantic would wrap it)."""
        try:
            cfg = cls(**kwargs)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(x) for x in err.get("loc", ())) or "config"
            raise RadsynthInputError(field, err.get("input"), err.get("msg", "a valid value")) from None
        cfg.check()
        return cfg

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
        if len(set(c.lower() for c in self.classes)) != len(self.classes):
            raise RadsynthInputError("classes", list(self.classes), "distinct class names (case-insensitive)")

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample without the channel axis: ``(H, W)`` or ``(D, H, W)`` (pixels/voxels)."""
        return (self.image_size,) * self.spatial_dims

    @property
    def levels(self) -> int:
        return len(self.channels)

    @property
    def conditional(self) -> bool:
        return bool(self.classes)

    @property
    def null_label(self) -> int | None:
        """Embedding index of the "no class" token (``len(classes)``); None when unconditional."""
        return len(self.classes) if self.classes else None

    def label_index(self, name: str) -> int:
        """Index of a class name (case-insensitive); RadsynthInputError if unknown."""
        if not self.classes:
            raise RadsynthInputError("--label", name, "no label: this model is unconditional")
        low = {c.lower(): i for i, c in enumerate(self.classes)}
        if name.lower() not in low:
            raise RadsynthInputError("--label", name, ", ".join(c.lower() for c in self.classes))
        return low[name.lower()]


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
        num_class_embeds=(len(cfg.classes) + 1) if cfg.classes else None,
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


def count_parameters(model: Any) -> int:
    return int(sum(p.numel() for p in model.parameters()))
