"""WGAN-GP training loop: critic/generator alternation, EMA generator, exact-resume checkpoints.

Algorithm 1 of Gulrajani et al., "Improved Training of Wasserstein GANs"
(arXiv:1704.00028), class-conditional. One *step* is one generator update,
preceded by ``cfg.n_critic`` critic updates:

* critic update (repeated ``n_critic`` times): draw a real batch ``(x, y)`` from
  the epoch permutation, ``z ~ N(0, I)``, ``x~ = G(z, y)`` (the fake batch uses the
  real batch's labels, so the critic compares like with like), one ``eps ~ U[0, 1]``
  per image and the interpolate ``x^ = eps x + (1 - eps) x~``; minimise
  ``L_D = mean D(x~, y) - mean D(x, y) + lambda * mean (||grad_x^ D(x^, y)||_2 - 1)^2``
  (``lambda = cfg.gp_weight``, 10 in the paper);
* generator update: ``z ~ N(0, I)``, labels drawn uniformly from the training
  labels (the data's class frequencies); minimise ``L_G = -mean D(G(z, y), y)``;
* the EMA of the generator weights (``AveragedModel`` with
  :func:`~radsynth.generators.training.ema_warmup_multi_avg_fn`; Yazici et al.,
  "The Unusual Effectiveness of Averaging in GAN Training", arXiv:1806.04498) is
  what sampling uses: :attr:`TrainResult.ema_state` holds the generator only.

Optimiser: Adam with ``betas = (0.0, 0.9)`` for both networks (the paper's
values) and learning rate ``tcfg.lr`` (the paper uses 1e-4), with ``tcfg.warmup_steps``
of linear warm-up counted in generator steps. ``tcfg.grad_clip`` and
``tcfg.weight_decay`` are not used: the gradient penalty is the WGAN-GP's
Lipschitz constraint and clipping the critic's gradients would fight it.

Reported numbers: ``TrainResult.losses[i]`` is the critic's **Wasserstein
estimate** ``mean D(x, y) - mean D(x~, y)`` of step ``i + 1`` (averaged over its
``n_critic`` critic updates; the negative critic loss without the penalty, the
curve Gulrajani et al. show correlates with sample quality). The gradient
penalty and generator loss per step are kept in the checkpoint
(``history.gp``, ``history.g_loss``). ``val_curve`` is the same Wasserstein
estimate on the validation images against a fixed draw of fakes from the
current generator (a train/validation gap shows critic over-fitting, paper Sec. 5.3).
``images_per_s`` counts real images through the critic (``n_critic * batch``
per step).

Determinism: every random draw (epoch permutations, latents, interpolation
weights, generator-step labels) comes from one ``torch.Generator`` seeded with
``seed``; weights are initialised under ``torch.manual_seed(seed)`` inside
``fork_rng``. The checkpoint holds both networks, the EMA, both Adam states,
the generator's RNG state, the epoch permutation/position and the histories, so
``train(k); resume -> 2k`` reproduces ``train(2k)`` bit for bit (same machine and
thread count).
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from radsynth.core.errors import RadsynthError, RadsynthInputError
from radsynth.generators.gan import GANConfig, build_critic, build_networks
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

CHECKPOINT_FORMAT = "radsynth.generators.gan.checkpoint/1"
ADAM_BETAS = (0.0, 0.9)
#: TrainConfig fields this loop uses that must not change on --resume
_INVARIANT = {"batch_size", "lr", "warmup_steps", "ema_decay", "seed", "precision", "channels_last"}


def _lr_at(step: int, tcfg: TrainConfig) -> float:
    """Linear warm-up over ``warmup_steps`` generator steps, then constant."""
    if tcfg.warmup_steps and step < tcfg.warmup_steps:
        return tcfg.lr * (step + 1) / tcfg.warmup_steps
    return tcfg.lr


def _autocast(dev: Any, precision: str) -> Any:
    import torch

    return torch.autocast(dev.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def gradient_penalty(critic: Any, x_real: Any, x_fake: Any, labels: Any, eps: Any, dev: Any, precision: str) -> Any:
    """``mean_i (||grad_x D(x^_i, y_i)||_2 - 1)^2`` at ``x^ = eps x + (1 - eps) x~`` (differentiable, float32)."""
    import torch

    x_hat = (eps * x_real + (1.0 - eps) * x_fake).detach().requires_grad_(True)
    with _autocast(dev, precision):
        d_hat = critic(x_hat, labels)
    (grad,) = torch.autograd.grad(d_hat.float().sum(), x_hat, create_graph=True)
    return ((grad.float().flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()


def _val_wasserstein(G: Any, D: Any, x: Any, y: Any, cfg: GANConfig, tcfg: TrainConfig, dev: Any, mf: Any) -> float:
    """``mean D(x_val) - mean D(G(z))`` with a fixed latent draw and the validation labels."""
    import torch

    g = torch.Generator().manual_seed(int(tcfg.seed) + 7919)
    n = min(len(x), tcfg.val_images)
    real_sum, fake_sum = 0.0, 0.0
    was = (G.training, D.training)
    G.eval()
    D.eval()
    with torch.inference_mode():
        for b0 in range(0, n, tcfg.batch_size):
            nb = min(tcfg.batch_size, n - b0)
            xb = x[b0 : b0 + nb].to(dev).contiguous(memory_format=mf)
            yb = None if y is None else y[b0 : b0 + nb].to(dev)
            z = torch.randn((nb, cfg.latent_dim), generator=g).to(dev)
            with _autocast(dev, tcfg.precision):
                fake = G(z, yb)
                real_sum += float(D(xb, yb).float().sum())
                fake_sum += float(D(fake.contiguous(memory_format=mf), yb).float().sum())
    G.train(was[0])
    D.train(was[1])
    return (real_sum - fake_sum) / max(n, 1)


def train_gan(
    cfg: GANConfig,
    tcfg: TrainConfig,
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
    """Train (or resume) until ``tcfg.max_steps`` generator steps or the ``max_minutes`` budget; checkpoint at the end.

    ``x_*``: float32 ``(n, C, H, W)`` in [-1, 1]; ``y_*``: int64 class indices (None when unconditional).
    ``extra_meta`` (e.g. the data fingerprint) is stored in the checkpoint and must match on resume.
    """
    import torch
    from torch.optim.swa_utils import AveragedModel

    t_start = time.perf_counter()
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.use_deterministic_algorithms(True, warn_only=True)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = False
    if cfg.conditional != (y_train is not None):
        raise RadsynthInputError("labels", "given" if y_train is not None else "none",
                                 "class labels exactly when the model is class-conditional")
    n_train = int(len(x_train))
    if n_train < 1:
        raise RadsynthInputError("training images", 0, "at least one image in the training split")
    want = (cfg.in_channels, *cfg.sample_shape)
    if tuple(np.shape(x_train)[1:]) != want:
        raise RadsynthInputError("training images", f"shape {tuple(np.shape(x_train))}",
                                 f"(n, {', '.join(map(str, want))})")
    if y_train is not None:
        yy = np.asarray(y_train)
        if yy.shape != (n_train,) or yy.min() < 0 or yy.max() >= len(cfg.classes):
            raise RadsynthInputError("labels", f"shape {yy.shape}, range {yy.min()}..{yy.max()}",
                                     f"one class index 0..{len(cfg.classes) - 1} per training image")

    ckpt = Path(checkpoint_dir)
    meta_expect = {
        "model": cfg.model_dump(mode="json"),
        "extra": extra_meta or {},
        "train_invariant": tcfg.model_dump(mode="json", include=_INVARIANT),
    }
    mf = torch.channels_last if tcfg.channels_last else torch.contiguous_format
    with torch.random.fork_rng(devices=[]):  # weight init from the seed, not the global stream
        torch.manual_seed(int(tcfg.seed))
        G = build_networks(cfg)
        D = build_critic(cfg)
    G = G.to(dev).to(memory_format=mf)
    D = D.to(dev).to(memory_format=mf)
    ema = AveragedModel(G, multi_avg_fn=ema_warmup_multi_avg_fn(tcfg.ema_decay), use_buffers=True)
    opt_g = torch.optim.Adam(G.parameters(), lr=tcfg.lr, betas=ADAM_BETAS, foreach=False)
    opt_d = torch.optim.Adam(D.parameters(), lr=tcfg.lr, betas=ADAM_BETAS, foreach=False)
    gen = torch.Generator().manual_seed(int(tcfg.seed))
    xt_all = torch.from_numpy(np.ascontiguousarray(x_train, dtype=np.float32))
    yt_all = None if y_train is None else torch.from_numpy(np.asarray(y_train, dtype=np.int64))
    xv = None if x_val is None or len(x_val) == 0 else torch.from_numpy(np.ascontiguousarray(x_val, dtype=np.float32))
    yv = None if (xv is None or y_val is None) else torch.from_numpy(np.asarray(y_val, dtype=np.int64))

    step, pos, wall_prev = 0, n_train, 0.0
    perm = torch.arange(n_train)
    w_hist: list[float] = []
    gp_hist: list[float] = []
    g_hist: list[float] = []
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

        def sub(prefix: str) -> dict[str, Any]:
            return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

        G.load_state_dict(sub("gen."), strict=True)
        D.load_state_dict(sub("critic."), strict=True)
        ema.load_state_dict(sub("ema."), strict=True)
        opt_g.load_state_dict(join_tensors(meta["opt_g"], tensors))
        opt_d.load_state_dict(join_tensors(meta["opt_d"], tensors))
        gen.set_state(tensors["rng.generator"])
        torch.set_rng_state(tensors["rng.torch_cpu"])
        perm = tensors["data.perm"].clone()
        if len(perm) != n_train:
            raise RadsynthError(f"--resume: the checkpoint has {len(perm)} training images, the data {n_train}")
        step, pos, wall_prev = int(meta["step"]), int(meta["pos"]), float(meta["wall_s"])
        w_hist = [float(v) for v in tensors["history.wasserstein"].tolist()][:step]
        gp_hist = [float(v) for v in tensors["history.gp"].tolist()][:step]
        g_hist = [float(v) for v in tensors["history.g_loss"].tolist()][:step]
        val_curve = [(int(s), float(v)) for s, v in meta["val_curve"]]
        G.to(dev).to(memory_format=mf)
        D.to(dev).to(memory_format=mf)

    def checkpoint() -> None:
        tensors: dict[str, Any] = {}
        tree_g = split_tensors(opt_g.state_dict(), "opt_g", tensors)
        tree_d = split_tensors(opt_d.state_dict(), "opt_d", tensors)
        for prefix, module in (("gen", G), ("critic", D), ("ema", ema)):
            for k, v in module.state_dict().items():
                tensors[f"{prefix}.{k}"] = v.detach().cpu().contiguous().clone()
        tensors["rng.generator"] = gen.get_state()
        tensors["rng.torch_cpu"] = torch.get_rng_state()
        tensors["data.perm"] = perm.clone()
        tensors["history.wasserstein"] = torch.tensor(w_hist, dtype=torch.float64)
        tensors["history.gp"] = torch.tensor(gp_hist, dtype=torch.float64)
        tensors["history.g_loss"] = torch.tensor(g_hist, dtype=torch.float64)
        meta = dict(meta_expect, format=CHECKPOINT_FORMAT, step=step, pos=pos, opt_g=tree_g, opt_d=tree_d,
                    wall_s=wall_prev + (time.perf_counter() - t_start), val_curve=val_curve,
                    train=tcfg.model_dump(mode="json"))
        save_checkpoint(ckpt, tensors, meta)

    def next_batch(bs: int) -> tuple[Any, Any]:
        nonlocal perm, pos
        if pos + bs > n_train:  # new epoch (drop the ragged tail)
            perm = torch.randperm(n_train, generator=gen)
            pos = 0
        idx = perm[pos : pos + bs]
        pos += bs
        xb = xt_all[idx].to(dev).contiguous(memory_format=mf)
        yb = None if yt_all is None else yt_all[idx].to(dev)
        return xb, yb

    budget_s = None if tcfg.max_minutes is None else tcfg.max_minutes * 60.0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=tcfg.max_steps, initial=step, desc="training (WGAN-GP)", unit="step", dynamic_ncols=True)
    bs = min(tcfg.batch_size, n_train)
    start_step = step
    t_loop = time.perf_counter()
    stopped = "max_steps"
    smooth_w = smooth_g = float("nan")
    G.train()
    D.train()
    try:
        while step < tcfg.max_steps:
            if budget_s is not None and time.perf_counter() - t_start >= budget_s:
                stopped = "max_minutes"
                break
            lr = _lr_at(step, tcfg)
            for opt in (opt_g, opt_d):
                for group in opt.param_groups:
                    group["lr"] = lr
            # ---- critic updates
            D.requires_grad_(True)
            w_sum = gp_sum = 0.0
            for _ in range(cfg.n_critic):
                x_real, y = next_batch(bs)
                z = torch.randn((bs, cfg.latent_dim), generator=gen).to(dev)
                eps = torch.rand((bs, 1, 1, 1), generator=gen).to(dev)
                with torch.no_grad(), _autocast(dev, tcfg.precision):
                    x_fake = G(z, y).float().contiguous(memory_format=mf)
                with _autocast(dev, tcfg.precision):
                    d = D(torch.cat([x_real, x_fake]), None if y is None else torch.cat([y, y])).float()
                w_est = d[:bs].mean() - d[bs:].mean()
                gp = gradient_penalty(D, x_real, x_fake, y, eps, dev, tcfg.precision)
                loss_d = -w_est + cfg.gp_weight * gp
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                opt_d.step()
                w_sum += float(w_est.detach())
                gp_sum += float(gp.detach())
            # ---- generator update
            D.requires_grad_(False)
            z = torch.randn((bs, cfg.latent_dim), generator=gen).to(dev)
            y_g = None
            if yt_all is not None:
                y_g = yt_all[torch.randint(0, n_train, (bs,), generator=gen)].to(dev)
            with _autocast(dev, tcfg.precision):
                loss_g = -D(G(z, y_g).contiguous(memory_format=mf), y_g).float().mean()
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            ema.update_parameters(G)
            step += 1
            wv, gpv, gv = w_sum / cfg.n_critic, gp_sum / cfg.n_critic, float(loss_g.detach())
            if not all(math.isfinite(v) for v in (wv, gpv, gv)):
                raise RadsynthError(
                    f"training diverged at step {step} (Wasserstein estimate {wv}, gradient penalty {gpv}, "
                    f"generator loss {gv}); lower --lr"
                )
            w_hist.append(wv)
            gp_hist.append(gpv)
            g_hist.append(gv)
            smooth_w = wv if math.isnan(smooth_w) else 0.98 * smooth_w + 0.02 * wv
            smooth_g = gv if math.isnan(smooth_g) else 0.98 * smooth_g + 0.02 * gv
            if xv is not None and step % tcfg.val_every == 0:
                val_curve.append((step, _val_wasserstein(G, D, xv, yv, cfg, tcfg, dev, mf)))
            if step % tcfg.ckpt_every == 0:
                checkpoint()
            if bar is not None:
                dt = time.perf_counter() - t_loop
                ips = (step - start_step) * bs * cfg.n_critic / dt if dt > 0 else 0.0
                post = {"W": f"{smooth_w:.3f}", "G": f"{smooth_g:.3f}", "img/s": f"{ips:.1f}"}
                if val_curve:
                    post["val W"] = f"{val_curve[-1][1]:.3f}"
                bar.set_postfix(post, refresh=False)
                bar.update(1)
    except KeyboardInterrupt:
        checkpoint()
        if bar is not None:
            bar.close()
        raise
    if bar is not None:
        bar.close()
    D.requires_grad_(True)
    checkpoint()
    dt_loop = time.perf_counter() - t_loop
    n_img = (step - start_step) * bs * cfg.n_critic
    ema_state = {k[len("module."):]: v.detach().cpu().contiguous().clone()
                 for k, v in ema.state_dict().items() if k.startswith("module.")}
    return TrainResult(
        step=step,
        losses=w_hist,
        val_curve=val_curve,
        wall_s=wall_prev + (time.perf_counter() - t_start),
        session_wall_s=time.perf_counter() - t_start,
        session_steps=step - start_step,
        images_per_s=n_img / dt_loop if dt_loop > 0 else 0.0,
        stopped=stopped,
        ema_state=ema_state,
        device=str(dev),
    )
