"""Training loop for the conditional VAE: negative ELBO, EMA, autocast, exact-resume checkpoints, budget.

One step (Kingma & Welling 2014, Algorithm 1, one ``eps`` draw per image): take a batch
``(x, y)``, draw ``eps ~ N(0, I)`` of shape ``(batch, latent_size)``, encode
``(mu, logvar) = q(x, y)``, reparameterise ``z = mu + eps * exp(logvar / 2)``, decode
``x_hat = p(z, y)`` and minimise :func:`radsynth.generators.vae.vae.vae_loss`
(per-pixel reconstruction sum + ``beta`` * KL, divided by ``C*H*W``) with AdamW; then
update the EMA weights (``torch.optim.swa_utils.AveragedModel`` with
:func:`radsynth.generators.common.ema.ema_warmup_multi_avg_fn`; with batch norm the
running statistics are averaged too, ``use_buffers=True``).

Every random draw (epoch permutations, ``eps``) comes from one ``torch.Generator``
seeded with ``seed`` (weight init: ``torch.manual_seed(seed)`` inside ``fork_rng``), and
the checkpoint holds model, EMA, optimizer, that generator's state, the permutation and
position and the loss history, so ``train(k); resume -> 2k`` reproduces ``train(2k)``
bit for bit on the same machine and thread count.

``val_curve``: the same loss of the EMA model (eval mode) on the validation images with a
fixed ``eps`` draw (generator seeded ``seed + 7919``), so points are comparable over time.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import numpy as np

from radsynth.core.errors import RadsynthError, RadsynthInputError
from radsynth.generators.common import loop
from radsynth.generators.common.train_config import TRAIN_INVARIANT, TrainConfig, TrainResult
from radsynth.generators.vae.vae import VAEConfig, build_networks, vae_loss

CHECKPOINT_FORMAT = "radsynth.generators.vae.checkpoint/1"


def _val_loss(net: Any, x: Any, y: Any, cfg: VAEConfig, tcfg: TrainConfig, device: Any, mf: Any) -> float:
    """Mean loss (negative ELBO per pixel) of ``net`` in eval mode on a fixed ``eps`` draw per validation image."""
    import torch

    g = loop.val_generator(tcfg)
    total, count = 0.0, 0
    with loop.evaluating(net):
        for b0, nb in loop.val_batches(len(x), tcfg):
            xb = x[b0 : b0 + nb].to(device).contiguous(memory_format=mf)
            eps = torch.randn((nb, cfg.latent_size), generator=g).to(device)
            yb = None if y is None else y[b0 : b0 + nb].to(device)
            with loop.autocast(device, tcfg.precision):
                recon, mu, logvar = net(xb, yb, eps)
            loss, _, _ = vae_loss(recon, xb, mu, logvar, cfg)
            total += float(loss) * nb
            count += nb
    return total / max(count, 1)


def train(
    model_cfg: VAEConfig,
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
) -> TrainResult:
    """Train (or resume) until ``max_steps`` or the ``max_minutes`` budget; checkpoint at the end.

    ``x_*``: float32 ``(n, C, H, W)`` in [-1, 1]; ``y_*``: int64 class indices (None for an
    unconditional model). ``extra_meta`` (e.g. the data fingerprint) is stored in the
    checkpoint and must match on resume, as must the model config and the invariant
    training settings. ``losses[i]`` is the loss of step ``i + 1``.
    """
    import torch

    t_start = time.perf_counter()
    dev = loop.setup_device(device)
    loop.check_labels_given(model_cfg.conditional, y_train)
    n_train = loop.check_images(x_train, (model_cfg.in_channels, *model_cfg.sample_shape))
    if y_train is not None:
        yy = np.asarray(y_train)
        if yy.shape != (n_train,) or (n_train and (yy.min() < 0 or yy.max() >= model_cfg.n_classes)):
            raise RadsynthInputError("labels", f"shape {yy.shape}",
                                     f"({n_train},) class indices 0..{model_cfg.n_classes - 1}")
    if model_cfg.norm == "batch" and min(train_cfg.batch_size, n_train) < 2:
        raise RadsynthInputError("batch size", min(train_cfg.batch_size, n_train),
                                 "at least 2 images per batch with batch norm (and at least 2 training images)")
    meta_expect = loop.expected_meta(model_cfg, train_cfg, extra_meta, TRAIN_INVARIANT)

    mf = torch.channels_last if train_cfg.channels_last else torch.contiguous_format
    (model,) = loop.seeded(train_cfg.seed, lambda: build_networks(model_cfg))
    model = model.to(dev).to(memory_format=mf)
    ema, opt, st = loop.one_network_state(model, train_cfg, checkpoint_dir, CHECKPOINT_FORMAT, meta_expect,
                                          n_train=n_train, t_start=t_start)
    gen = st.gen
    xt_all, yt_all, xv, yv = loop.as_tensors(x_train, y_train, x_val, y_val)
    if xv is not None and model_cfg.conditional and yv is None:
        raise RadsynthInputError("validation labels", "none", "class labels for a class-conditional model")
    if resume:
        st.resume()
        model.to(dev).to(memory_format=mf)
    losses = st.hist["loss"]
    validate = None if xv is None else (lambda: _val_loss(ema.module, xv, yv, model_cfg, train_cfg, dev, mf))

    prog = loop.Progress(progress, total=train_cfg.max_steps, start_step=st.step, desc="training (VAE)")
    smooth = float("nan")
    bs = min(train_cfg.batch_size, n_train)
    model.train()
    with prog.saving_on_interrupt(st):
        while st.running(train_cfg.max_steps):
            idx = st.next_indices(bs)
            x0 = xt_all[idx].to(dev).contiguous(memory_format=mf)
            y = None if yt_all is None else yt_all[idx].to(dev)
            eps = torch.randn((bs, model_cfg.latent_size), generator=gen).to(dev)
            loop.set_lr(loop.lr_at(st.step, train_cfg), opt)
            with loop.autocast(dev, train_cfg.precision):
                recon, mu, logvar = model(x0, y, eps)
            loss, _, _ = vae_loss(recon, x0, mu, logvar, model_cfg)
            lv = float(loss.detach())
            if not math.isfinite(lv):
                raise RadsynthError(f"training diverged at step {st.step + 1} (loss {lv}); lower --lr")
            loop.backward_step(opt, loss, model.parameters(), train_cfg.grad_clip)
            ema.update_parameters(model)
            st.step += 1
            losses.append(lv)
            smooth = loop.smoothed(smooth, lv)
            st.end_step(validate)
            prog.update(st.step, bs, {"loss": f"{smooth:.4f}"},
                        {"val": f"{st.val_curve[-1][1]:.4f}"} if st.val_curve else None)
    return TrainResult(step=st.step, losses=losses, val_curve=st.val_curve, **prog.finish(st, bs),
                       ema_state=loop.ema_weights(ema), device=str(dev))


def train_model(cfg: VAEConfig, tcfg: Any, x_train: np.ndarray, y_train: np.ndarray | None, checkpoint_dir: Any,
                **kw: Any) -> Any:
    """Train (or resume) the VAE; see :func:`radsynth.generators.vae.vae_training.train`
    (keywords: ``x_val``, ``y_val``, ``resume``, ``extra_meta``, ``device``, ``progress``)."""
    return train(cfg, tcfg, x_train, y_train, checkpoint_dir, **kw)
