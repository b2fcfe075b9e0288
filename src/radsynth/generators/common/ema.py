"""Exponential moving average of model weights with diffusers' warm-up decay, as a torch ``multi_avg_fn``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def ema_warmup_multi_avg_fn(decay: float) -> Callable[..., None]:
    """EMA update for ``AveragedModel`` with decay ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates.

    torch's ``get_ema_multi_avg_fn`` has a fixed decay, so a short run's EMA stays
    close to the random initial weights; this is the warm-up of diffusers'
    ``EMAModel.get_decay`` (``use_ema_warmup=False``) written as a torch
    ``multi_avg_fn`` (lerp of the float tensors), so its state is just
    ``AveragedModel.n_averaged`` and resumes exactly.
    """
    import torch

    def update(ema_params: list[Any], params: list[Any], num_averaged: Any) -> None:
        n = int(num_averaged)
        d = min(decay, (1.0 + n) / (10.0 + n))
        floats = [(e, p) for e, p in zip(ema_params, params) if torch.is_floating_point(e)]
        if floats:
            torch._foreach_lerp_([e for e, _ in floats], [p for _, p in floats], 1.0 - d)
        for e, p in zip(ema_params, params):
            if not torch.is_floating_point(e):
                e.copy_(p)

    return update
