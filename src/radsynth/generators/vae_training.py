"""Training loop for the conditional VAE: negative ELBO, EMA, autocast, exact-resume checkpoints, budget.

One step (Kingma & Welling 2014, Algorithm 1, one ``eps`` draw per image): take a batch
``(x, y)``, draw ``eps ~ N(0, I)`` of shape ``(batch, latent_size)``, encode
``(mu, logvar) = q(x, y)``, reparameterise ``z = mu + eps * exp(logvar / 2)``, decode
``x_hat = p(z, y)`` and minimise :func:`radsynth.generators.vae.vae_loss`
(per-pixel reconstruction sum + ``beta`` * KL, divided by ``C*H*W``) with AdamW; then
update the EMA weights (``torch.optim.swa_utils.AveragedModel`` with
:func:`radsynth.generators.training.ema_warmup_multi_avg_fn`; with batch norm the
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
from pathlib import Path
from typing import Any

import numpy as np

from radsynth.core.errors import RadsynthError, RadsynthInputError
from radsynth.generators.training import (
    TrainConfig,
    TrainResult,
    ema_warmup_multi_avg_fn,
    has_checkpoint,
    join_tensors,
    load_checkpoint,
    save_checkpoint,
    split_tensors,
)
from radsynth.generators.vae import VAEConfig, build_networks, vae_loss

CHECKPOINT_FORMAT = "radsynth.generators.vae.checkpoint/1"
_TRAIN_INVARIANT = {"batch_size", "lr", "warmup_steps", "weight_decay", "ema_decay", "seed", "precision",
                    "channels_last", "grad_clip"}


def _lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up over ``warmup_steps`` then constant (step counts from 0)."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    return cfg.lr


def _autocast(device: Any, precision: str) -> Any:
    import torch

    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def _val_loss(net: Any, x: Any, y: Any, cfg: VAEConfig, tcfg: TrainConfig, device: Any, mf: Any) -> float:
    """Mean loss (negative ELBO per pixel) of ``net`` in eval mode on a fixed ``eps`` draw per validation image."""
    import torch

    g = torch.Generator().manual_seed(int(tcfg.seed) + 7919)
    n = min(len(x), tcfg.val_images)
    total, count = 0.0, 0
    was_training = net.training
    net.eval()
    with torch.inference_mode():
        for b0 in range(0, n, tcfg.batch_size):
            xb = x[b0 : min(n, b0 + tcfg.batch_size)].to(device).contiguous(memory_format=mf)
            nb = xb.shape[0]
            eps = torch.randn((nb, cfg.latent_size), generator=g).to(device)
            yb = None if y is None else y[b0 : b0 + nb].to(device)
            with _autocast(device, tcfg.precision):
                recon, mu, logvar = net(xb, yb, eps)
            loss, _, _ = vae_loss(recon, xb, mu, logvar, cfg)
            total += float(loss) * nb
            count += nb
    net.train(was_training)
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
    from torch.optim.swa_utils import AveragedModel

    t_start = time.perf_counter()
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.use_deterministic_algorithms(True, warn_only=True)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = False
    if model_cfg.conditional != (y_train is not None):
        raise RadsynthInputError("labels", "given" if y_train is not None else "none",
                                 "class labels exactly when the model is class-conditional")
    n_train = int(len(x_train))
    if n_train < 1:
        raise RadsynthInputError("training images", 0, "at least one image in the training split")
    want = (model_cfg.in_channels, *model_cfg.sample_shape)
    if tuple(np.shape(x_train)[1:]) != want:
        raise RadsynthInputError("training images", f"shape {tuple(np.shape(x_train))}",
                                 f"(n, {', '.join(map(str, want))})")
    if y_train is not None:
        yy = np.asarray(y_train)
        if yy.shape != (n_train,) or (n_train and (yy.min() < 0 or yy.max() >= model_cfg.n_classes)):
            raise RadsynthInputError("labels", f"shape {yy.shape}",
                                     f"({n_train},) class indices 0..{model_cfg.n_classes - 1}")
    if model_cfg.norm == "batch" and min(train_cfg.batch_size, n_train) < 2:
        raise RadsynthInputError("batch size", min(train_cfg.batch_size, n_train),
                                 "at least 2 images per batch with batch norm (and at least 2 training images)")

    ckpt = Path(checkpoint_dir)
    meta_expect = {
        "model": model_cfg.model_dump(mode="json"),
        "extra": extra_meta or {},
        "train_invariant": train_cfg.model_dump(mode="json", include=_TRAIN_INVARIANT),
    }

    mf = torch.channels_last if train_cfg.channels_last else torch.contiguous_format
    with torch.random.fork_rng(devices=[]):  # weight init from the seed, not the global stream
        torch.manual_seed(int(train_cfg.seed))
        model = build_networks(model_cfg)
    model = model.to(dev).to(memory_format=mf)
    ema = AveragedModel(model, multi_avg_fn=ema_warmup_multi_avg_fn(train_cfg.ema_decay), use_buffers=True)
    opt = torch.optim.AdamW(model.parameters(), lr=train_cfg.lr, weight_decay=train_cfg.weight_decay,
                            foreach=False)
    gen = torch.Generator().manual_seed(int(train_cfg.seed))
    xt_all = torch.from_numpy(np.ascontiguousarray(x_train, dtype=np.float32))
    yt_all = None if y_train is None else torch.from_numpy(np.asarray(y_train, dtype=np.int64))
    xv = None if x_val is None or len(x_val) == 0 else torch.from_numpy(np.ascontiguousarray(x_val, dtype=np.float32))
    yv = None if (xv is None or y_val is None) else torch.from_numpy(np.asarray(y_val, dtype=np.int64))
    if xv is not None and model_cfg.conditional and yv is None:
        raise RadsynthInputError("validation labels", "none", "class labels for a class-conditional model")

    step, pos, wall_prev = 0, n_train, 0.0
    perm = torch.arange(n_train)
    losses: list[float] = []
    val_curve: list[tuple[int, float]] = []
    if resume:
        if not has_checkpoint(ckpt):
            raise RadsynthInputError("--resume", str(ckpt), "a folder with a training checkpoint",
                                     "Run without --resume to start training.")
        tensors, meta = load_checkpoint(ckpt, expected_format=CHECKPOINT_FORMAT)
        for key in ("model", "extra", "train_invariant"):
            if meta.get(key) != meta_expect[key]:
                raise RadsynthError(
                    f"--resume: the checkpoint in {ckpt} was made with another {key.replace('_', ' ')} "
                    f"({'data' if key == 'extra' else 'settings'} differ); use a new --out folder"
                )
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, strict=True)
        ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")}, strict=True)
        opt.load_state_dict(join_tensors(meta["optimizer"], tensors))
        gen.set_state(tensors["rng.generator"])
        torch.set_rng_state(tensors["rng.torch_cpu"])
        perm = tensors["data.perm"].clone()
        if len(perm) != n_train:
            raise RadsynthError(f"--resume: the checkpoint has {len(perm)} training images, the data {n_train}")
        step, pos, wall_prev = int(meta["step"]), int(meta["pos"]), float(meta["wall_s"])
        losses = [float(v) for v in tensors["history.loss"].tolist()][:step]
        val_curve = [(int(s), float(v)) for s, v in meta["val_curve"]]
        model.to(dev).to(memory_format=mf)

    def checkpoint() -> None:
        tensors: dict[str, Any] = {}
        opt_tree = split_tensors(opt.state_dict(), "opt", tensors)
        for k, v in model.state_dict().items():
            tensors[f"model.{k}"] = v.detach().cpu().contiguous().clone()
        for k, v in ema.state_dict().items():
            tensors[f"ema.{k}"] = v.detach().cpu().contiguous().clone()
        tensors["rng.generator"] = gen.get_state()
        tensors["rng.torch_cpu"] = torch.get_rng_state()
        tensors["data.perm"] = perm.clone()
        tensors["history.loss"] = torch.tensor(losses, dtype=torch.float64)
        meta = dict(meta_expect, format=CHECKPOINT_FORMAT, step=step, pos=pos, optimizer=opt_tree,
                    wall_s=wall_prev + (time.perf_counter() - t_start), val_curve=val_curve,
                    train=train_cfg.model_dump(mode="json"))
        save_checkpoint(ckpt, tensors, meta)

    budget_s = None if train_cfg.max_minutes is None else train_cfg.max_minutes * 60.0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=train_cfg.max_steps, initial=step, desc="training (VAE)", unit="step", dynamic_ncols=True)
    start_step = step
    t_loop = time.perf_counter()
    stopped = "max_steps"
    smooth = float("nan")
    bs = min(train_cfg.batch_size, n_train)
    model.train()
    try:
        while step < train_cfg.max_steps:
            if budget_s is not None and time.perf_counter() - t_start >= budget_s:
                stopped = "max_minutes"
                break
            if pos + bs > n_train:  # new epoch (drop the ragged tail)
                perm = torch.randperm(n_train, generator=gen)
                pos = 0
            idx = perm[pos : pos + bs]
            pos += bs
            x0 = xt_all[idx].to(dev).contiguous(memory_format=mf)
            y = None if yt_all is None else yt_all[idx].to(dev)
            eps = torch.randn((bs, model_cfg.latent_size), generator=gen).to(dev)
            for g in opt.param_groups:
                g["lr"] = _lr_at(step, train_cfg)
            with _autocast(dev, train_cfg.precision):
                recon, mu, logvar = model(x0, y, eps)
            loss, _, _ = vae_loss(recon, x0, mu, logvar, model_cfg)
            lv = float(loss.detach())
            if not math.isfinite(lv):
                raise RadsynthError(f"training diverged at step {step + 1} (loss {lv}); lower --lr")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.grad_clip, foreach=False)
            opt.step()
            ema.update_parameters(model)
            step += 1
            losses.append(lv)
            smooth = lv if math.isnan(smooth) else 0.98 * smooth + 0.02 * lv
            if xv is not None and step % train_cfg.val_every == 0:
                val_curve.append((step, _val_loss(ema.module, xv, yv, model_cfg, train_cfg, dev, mf)))
            if step % train_cfg.ckpt_every == 0:
                checkpoint()
            if bar is not None:
                dt = time.perf_counter() - t_loop
                ips = (step - start_step) * bs / dt if dt > 0 else 0.0
                post = {"loss": f"{smooth:.4f}", "img/s": f"{ips:.1f}"}
                if val_curve:
                    post["val"] = f"{val_curve[-1][1]:.4f}"
                bar.set_postfix(post, refresh=False)
                bar.update(1)
    except KeyboardInterrupt:
        checkpoint()
        if bar is not None:
            bar.close()
        raise
    if bar is not None:
        bar.close()
    checkpoint()
    dt_loop = time.perf_counter() - t_loop
    n_img = (step - start_step) * bs
    ema_state = {k[len("module."):]: v.detach().cpu().contiguous().clone()
                 for k, v in ema.state_dict().items() if k.startswith("module.")}
    return TrainResult(
        step=step,
        losses=losses,
        val_curve=val_curve,
        wall_s=wall_prev + (time.perf_counter() - t_start),
        session_wall_s=time.perf_counter() - t_start,
        session_steps=step - start_step,
        images_per_s=n_img / dt_loop if dt_loop > 0 else 0.0,
        stopped=stopped,
        ema_state=ema_state,
        device=str(dev),
    )
