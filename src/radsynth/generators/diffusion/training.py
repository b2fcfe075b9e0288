"""Training loop for the pixel-space DDPM: EMA, autocast, exact-resume checkpoints, wall-clock budget.

One step (Ho et al. 2020, Algorithm 1): draw a batch, a timestep ``t ~ U{0..T-1}``
and noise ``eps ~ N(0, I)`` per image; noise the batch with MONAI's
``DDPMScheduler.add_noise``; replace each class label by the null class with
probability ``p_uncond`` (classifier-free guidance, Ho & Salimans 2022); minimise
``MSE(eps_theta(x_t, t, y), eps)`` with AdamW; update the EMA weights
(``torch.optim.swa_utils.AveragedModel`` with a warm-up decay, :func:`ema_warmup_multi_avg_fn`).

MONAI's ``DiffusionInferer.__call__`` forwards only a cross-attention
``context``, not ``class_labels``, so the noising and the network call are done
here directly with the same two library calls it makes.

Every random draw of the loop (epoch permutations, timesteps, noise, label
dropout) comes from one ``torch.Generator`` seeded with ``seed``. A checkpoint
holds the model, EMA, optimizer, that generator's state, the epoch permutation
and position, and the per-step loss history, so ``train(k); resume -> 2k``
reproduces ``train(2k)`` loss for loss on the same machine and thread count.

Checkpoint layout (``<dir>/``): ``state.safetensors`` (every tensor) and
``state.json`` (step counters, optimizer hyper-parameters, configs); the pair is
written to ``<dir>.tmp`` and swapped in with renames, so a crash leaves either the
old or the new checkpoint.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from radsynth.core.errors import RadsynthError, RadsynthInputError
from radsynth.generators.common import loop
from radsynth.generators.common.checkpoint import CHECKPOINT_FORMAT
from radsynth.generators.common.train_config import TRAIN_INVARIANT, TrainConfig, TrainResult
from radsynth.generators.diffusion.ddpm import DDPMConfig, build_train_scheduler, build_unet

def joint_labels(cfg: DDPMConfig, factors: Any) -> Any:
    """``(n, F)`` int64 factor values (-1 = unknown) -> ``(n,)`` joint embedding indices
    (:meth:`DDPMConfig.condition_index` on tensors)."""
    import torch

    out = torch.zeros(factors.shape[0], dtype=torch.long)
    radix = 1
    for j, (_, vals) in enumerate(cfg.factors):
        col = factors[:, j].long()
        col = torch.where(col < 0, torch.full_like(col, len(vals)), col)
        out += col * radix
        radix *= len(vals) + 1
    return out


def _val_loss(
    ema_module: Any, sched: Any, x: Any, y: Any, cfg: DDPMConfig, tcfg: TrainConfig, device: Any
) -> float:
    """Mean noise-prediction MSE of the EMA model on a fixed draw of (t, eps) per validation image."""
    import torch

    g = loop.val_generator(tcfg)
    total, count = 0.0, 0
    with loop.evaluating(ema_module):
        for b0, nb in loop.val_batches(len(x), tcfg):
            xb = x[b0 : b0 + nb].to(device)
            t = torch.randint(0, cfg.num_train_timesteps, (nb,), generator=g).to(device)
            eps = torch.randn(xb.shape, generator=g).to(device)
            xt = sched.add_noise(original_samples=xb, noise=eps, timesteps=t)
            yb = None if y is None else (y[b0 : b0 + nb] if y.ndim == 1 else joint_labels(cfg, y[b0 : b0 + nb]))
            kw = {} if yb is None else {"class_labels": yb.to(device)}
            with loop.autocast(device, tcfg.precision):
                pred = ema_module(xt, timesteps=t, **kw)
            total += float(torch.nn.functional.mse_loss(pred.float(), eps, reduction="sum"))
            count += eps.numel()
    return total / max(count, 1)


def train(
    model_cfg: DDPMConfig,
    train_cfg: TrainConfig,
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
    on_step: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train (or resume) until ``max_steps`` or the ``max_minutes`` budget; checkpoint at the end.

    ``x_*`` are float32 ``(n, C, H, W)`` (``(n, C, D, H, W)`` for a 3D model) in [-1, 1]; ``y_*`` int class indices
    (None for an unconditional model). ``extra_meta`` (e.g. the data
    fingerprint) is stored in the checkpoint and must match on resume.
    """
    import torch

    t_start = time.perf_counter()
    dev = loop.setup_device(device)
    loop.check_labels_given(model_cfg.conditional, y_train)
    if y_train is not None:
        nf = len(model_cfg.factors)
        want_y = "(n,) class indices" if not model_cfg.attributes else f"(n, {nf}) factor values (-1 = unknown)"
        if (np.ndim(y_train) == 1) != (not model_cfg.attributes) or (np.ndim(y_train) == 2 and np.shape(y_train)[1] != nf):
            raise RadsynthInputError("labels", f"shape {np.shape(y_train)}", want_y)
    n_train = loop.check_images(x_train, (model_cfg.in_channels, *model_cfg.sample_shape))
    meta_expect = loop.expected_meta(model_cfg, train_cfg, extra_meta, TRAIN_INVARIANT)

    # channels-last for 2D (NHWC), channels-last-3d for 3D volumes (NDHWC)
    mf = ((torch.channels_last if model_cfg.spatial_dims == 2 else torch.channels_last_3d)
          if train_cfg.channels_last else torch.contiguous_format)
    (model,) = loop.seeded(train_cfg.seed, lambda: build_unet(model_cfg))
    model = model.to(dev).to(memory_format=mf)
    ema, opt, st = loop.one_network_state(model, train_cfg, checkpoint_dir, CHECKPOINT_FORMAT, meta_expect,
                                          n_train=n_train, t_start=t_start)
    sched = build_train_scheduler(model_cfg)
    gen = st.gen
    xt_all, yt_all, xv, yv = loop.as_tensors(x_train, y_train, x_val, y_val)
    if resume:
        st.resume()
        model.to(dev).to(memory_format=mf)
    losses = st.hist["loss"]
    validate = None if xv is None else (lambda: _val_loss(ema.module, sched, xv, yv, model_cfg, train_cfg, dev))

    prog = loop.Progress(progress, total=train_cfg.max_steps, start_step=st.step, desc="training")
    smooth = float("nan")
    bs = min(train_cfg.batch_size, n_train)
    model.train()
    with prog.saving_on_interrupt(st):
        while st.running(train_cfg.max_steps):
            idx = st.next_indices(bs)
            x0 = xt_all[idx].to(dev).contiguous(memory_format=mf)
            t = torch.randint(0, model_cfg.num_train_timesteps, (bs,), generator=gen)
            eps = torch.randn(x0.shape, generator=gen)
            kw: dict[str, Any] = {}
            if yt_all is not None and yt_all.ndim == 1:  # class only
                drop = torch.rand((bs,), generator=gen) < model_cfg.p_uncond
                y = torch.where(drop, torch.full_like(yt_all[idx], model_cfg.null_label), yt_all[idx])
                kw["class_labels"] = y.to(dev)
            elif yt_all is not None:  # class and attributes: drop all, and each factor, with p_uncond
                fac = yt_all[idx].clone()
                drop_all = torch.rand((bs, 1), generator=gen) < model_cfg.p_uncond
                drop = (torch.rand(fac.shape, generator=gen) < model_cfg.p_uncond) | drop_all
                fac[drop] = -1
                kw["class_labels"] = joint_labels(model_cfg, fac).to(dev)
            t, eps = t.to(dev), eps.to(dev).contiguous(memory_format=mf)
            xt = sched.add_noise(original_samples=x0, noise=eps, timesteps=t)
            loop.set_lr(loop.lr_at(st.step, train_cfg), opt)
            with loop.autocast(dev, train_cfg.precision):
                pred = model(xt, timesteps=t, **kw)
            loss = torch.nn.functional.mse_loss(pred.float(), eps)
            loop.backward_step(opt, loss, model.parameters(), train_cfg.grad_clip)
            ema.update_parameters(model)
            st.step += 1
            lv = float(loss.detach())
            if not math.isfinite(lv):
                raise RadsynthError(f"training diverged at step {st.step} (loss {lv}); lower --lr")
            losses.append(lv)
            smooth = loop.smoothed(smooth, lv)
            if on_step is not None:
                on_step(st.step, lv)
            st.end_step(validate)
            prog.update(st.step, bs, {"loss": f"{smooth:.4f}"},
                        {"val": f"{st.val_curve[-1][1]:.4f}"} if st.val_curve else None)
    return TrainResult(step=st.step, losses=losses, val_curve=st.val_curve, **prog.finish(st, bs),
                       ema_state=loop.ema_weights(ema), device=str(dev))


def train_model(cfg: DDPMConfig, tcfg: Any, x_train: Any, y_train: Any, checkpoint_dir: Any, **kw: Any) -> Any:
    """Train (or resume) the pixel DDPM: :func:`radsynth.generators.diffusion.training.train`."""
    return train(cfg, tcfg, x_train, y_train, checkpoint_dir, **kw)
