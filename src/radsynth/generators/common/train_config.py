"""What every training loop shares besides the loop helpers: optimisation settings and the run's result.

:class:`TrainConfig` is the one set of optimisation settings every architecture's ``train_model``
takes (``radsynth train`` builds it from its options); :class:`TrainResult` is what a (possibly
resumed) run reports back; :data:`TRAIN_INVARIANT` names the settings ``--resume`` must not change
(the loops store them in the checkpoint and compare). Plain pydantic / dataclasses: no torch here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: TrainConfig fields that must not change on --resume
TRAIN_INVARIANT = ("batch_size", "lr", "warmup_steps", "weight_decay", "ema_decay", "seed", "precision",
                   "channels_last", "grad_clip")


class TrainConfig(BaseModel):
    """Optimisation settings. ``max_minutes`` bounds one invocation's wall time (minutes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    batch_size: int = Field(32, ge=1)
    lr: float = Field(2e-4, gt=0)
    warmup_steps: int = Field(100, ge=0)
    weight_decay: float = Field(0.0, ge=0)
    max_steps: int = Field(50_000, ge=1)
    #: anneal the learning rate linearly over the last ``lr_decay_steps`` of ``max_steps`` (0: constant lr)
    lr_decay_steps: int = Field(0, ge=0)
    max_minutes: float | None = Field(None, gt=0)
    ema_decay: float = Field(0.999, ge=0, lt=1)
    seed: int = 0
    precision: Literal["bf16", "fp32"] = "bf16"
    channels_last: bool = True
    val_every: int = Field(500, ge=1)
    val_images: int = Field(256, ge=1)
    ckpt_every: int = Field(500, ge=1)
    grad_clip: float = Field(1.0, gt=0)

    @model_validator(mode="after")
    def _decay_within_run(self) -> TrainConfig:
        if self.lr_decay_steps > self.max_steps:
            raise ValueError(f"lr_decay_steps {self.lr_decay_steps} exceeds max_steps {self.max_steps}")
        return self


@dataclass
class TrainResult:
    """What a (possibly resumed) run did. ``losses[i]`` is the loss of step ``i + 1``."""

    step: int
    losses: list[float]
    val_curve: list[tuple[int, float]]
    wall_s: float
    session_wall_s: float
    session_steps: int
    images_per_s: float
    stopped: str
    ema_state: dict[str, Any] = field(repr=False, default_factory=dict)
    device: str = "cpu"
