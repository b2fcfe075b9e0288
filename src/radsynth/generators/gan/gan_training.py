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
  :func:`~radsynth.generators.common.ema.ema_warmup_multi_avg_fn`; Yazici et al.,
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
from typing import Any

import numpy as np

from radsynth.core.errors import RadsynthError, RadsynthInputError
from radsynth.generators.common import loop
from radsynth.generators.common.train_config import TrainConfig, TrainResult
from radsynth.generators.gan.gan import GANConfig, build_critic, build_networks

CHECKPOINT_FORMAT = "radsynth.generators.gan.checkpoint/1"
ADAM_BETAS = (0.0, 0.9)
#: TrainConfig fields this loop uses that must not change on --resume
_INVARIANT = {"batch_size", "lr", "warmup_steps", "ema_decay", "seed", "precision", "channels_last"}


def gradient_penalty(critic: Any, x_real: Any, x_fake: Any, labels: Any, eps: Any, dev: Any, precision: str) -> Any:
    """``mean_i (||grad_x D(x^_i, y_i)||_2 - 1)^2`` at ``x^ = eps x + (1 - eps) x~`` (differentiable, float32)."""
    import torch

    x_hat = (eps * x_real + (1.0 - eps) * x_fake).detach().requires_grad_(True)
    with loop.autocast(dev, precision):
        d_hat = critic(x_hat, labels)
    (grad,) = torch.autograd.grad(d_hat.float().sum(), x_hat, create_graph=True)
    return ((grad.float().flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()


def _val_wasserstein(G: Any, D: Any, x: Any, y: Any, cfg: GANConfig, tcfg: TrainConfig, dev: Any, mf: Any) -> float:
    """``mean D(x_val) - mean D(G(z))`` with a fixed latent draw and the validation labels."""
    import torch

    g = loop.val_generator(tcfg)
    real_sum, fake_sum, n = 0.0, 0.0, 0
    with loop.evaluating(G, D):
        for b0, nb in loop.val_batches(len(x), tcfg):
            xb = x[b0 : b0 + nb].to(dev).contiguous(memory_format=mf)
            yb = None if y is None else y[b0 : b0 + nb].to(dev)
            z = torch.randn((nb, cfg.latent_dim), generator=g).to(dev)
            with loop.autocast(dev, tcfg.precision):
                fake = G(z, yb)
                real_sum += float(D(xb, yb).float().sum())
                fake_sum += float(D(fake.contiguous(memory_format=mf), yb).float().sum())
            n += nb
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

    t_start = time.perf_counter()
    dev = loop.setup_device(device)
    loop.check_labels_given(cfg.conditional, y_train)
    n_train = loop.check_images(x_train, (cfg.in_channels, *cfg.sample_shape))
    if y_train is not None:
        yy = np.asarray(y_train)
        if yy.shape != (n_train,) or yy.min() < 0 or yy.max() >= len(cfg.classes):
            raise RadsynthInputError("labels", f"shape {yy.shape}, range {yy.min()}..{yy.max()}",
                                     f"one class index 0..{len(cfg.classes) - 1} per training image")

    meta_expect = loop.expected_meta(cfg, tcfg, extra_meta, _INVARIANT)
    mf = torch.channels_last if tcfg.channels_last else torch.contiguous_format
    G, D = loop.seeded(tcfg.seed, lambda: build_networks(cfg), lambda: build_critic(cfg))
    G = G.to(dev).to(memory_format=mf)
    D = D.to(dev).to(memory_format=mf)
    ema = loop.ema_of(G, tcfg.ema_decay)
    opt_g = torch.optim.Adam(G.parameters(), lr=tcfg.lr, betas=ADAM_BETAS, foreach=False)
    opt_d = torch.optim.Adam(D.parameters(), lr=tcfg.lr, betas=ADAM_BETAS, foreach=False)
    gen = torch.Generator().manual_seed(int(tcfg.seed))
    xt_all, yt_all, xv, yv = loop.as_tensors(x_train, y_train, x_val, y_val)

    st = loop.LoopState(checkpoint_dir, CHECKPOINT_FORMAT, meta_expect, tcfg, n_train=n_train, gen=gen,
                        modules={"gen": G, "critic": D, "ema": ema},
                        optimizers={"opt_g": ("opt_g", opt_g), "opt_d": ("opt_d", opt_d)},
                        histories=("wasserstein", "gp", "g_loss"), t_start=t_start)
    if resume:
        st.resume()
        G.to(dev).to(memory_format=mf)
        D.to(dev).to(memory_format=mf)
    w_hist, gp_hist, g_hist = st.hist["wasserstein"], st.hist["gp"], st.hist["g_loss"]
    validate = None if xv is None else (lambda: _val_wasserstein(G, D, xv, yv, cfg, tcfg, dev, mf))

    prog = loop.Progress(progress, total=tcfg.max_steps, start_step=st.step, desc="training (WGAN-GP)")
    bs = min(tcfg.batch_size, n_train)
    smooth_w = smooth_g = float("nan")
    G.train()
    D.train()
    with prog.saving_on_interrupt(st):
        while st.running(tcfg.max_steps):
            loop.set_lr(loop.lr_at(st.step, tcfg), opt_g, opt_d)
            # ---- critic updates
            D.requires_grad_(True)
            w_sum = gp_sum = 0.0
            for _ in range(cfg.n_critic):
                idx = st.next_indices(bs)
                x_real = xt_all[idx].to(dev).contiguous(memory_format=mf)
                y = None if yt_all is None else yt_all[idx].to(dev)
                z = torch.randn((bs, cfg.latent_dim), generator=gen).to(dev)
                eps = torch.rand((bs, 1, 1, 1), generator=gen).to(dev)
                with torch.no_grad(), loop.autocast(dev, tcfg.precision):
                    x_fake = G(z, y).float().contiguous(memory_format=mf)
                with loop.autocast(dev, tcfg.precision):
                    d = D(torch.cat([x_real, x_fake]), None if y is None else torch.cat([y, y])).float()
                w_est = d[:bs].mean() - d[bs:].mean()
                gp = gradient_penalty(D, x_real, x_fake, y, eps, dev, tcfg.precision)
                loop.backward_step(opt_d, -w_est + cfg.gp_weight * gp)
                w_sum += float(w_est.detach())
                gp_sum += float(gp.detach())
            # ---- generator update
            D.requires_grad_(False)
            z = torch.randn((bs, cfg.latent_dim), generator=gen).to(dev)
            y_g = None
            if yt_all is not None:
                y_g = yt_all[torch.randint(0, n_train, (bs,), generator=gen)].to(dev)
            with loop.autocast(dev, tcfg.precision):
                loss_g = -D(G(z, y_g).contiguous(memory_format=mf), y_g).float().mean()
            loop.backward_step(opt_g, loss_g)
            ema.update_parameters(G)
            st.step += 1
            wv, gpv, gv = w_sum / cfg.n_critic, gp_sum / cfg.n_critic, float(loss_g.detach())
            if not all(math.isfinite(v) for v in (wv, gpv, gv)):
                raise RadsynthError(
                    f"training diverged at step {st.step} (Wasserstein estimate {wv}, gradient penalty {gpv}, "
                    f"generator loss {gv}); lower --lr"
                )
            w_hist.append(wv)
            gp_hist.append(gpv)
            g_hist.append(gv)
            smooth_w = loop.smoothed(smooth_w, wv)
            smooth_g = loop.smoothed(smooth_g, gv)
            st.end_step(validate)
            prog.update(st.step, bs * cfg.n_critic, {"W": f"{smooth_w:.3f}", "G": f"{smooth_g:.3f}"},
                        {"val W": f"{st.val_curve[-1][1]:.3f}"} if st.val_curve else None)
    D.requires_grad_(True)
    return TrainResult(step=st.step, losses=w_hist, val_curve=st.val_curve, **prog.finish(st, bs * cfg.n_critic),
                       ema_state=loop.ema_weights(ema), device=str(dev))


def train_model(cfg: GANConfig, tcfg: Any, x_train: np.ndarray, y_train: np.ndarray | None, checkpoint_dir: Any,
                **kw: Any) -> Any:
    """Train (or resume) the WGAN-GP; see :func:`radsynth.generators.gan.gan_training.train_gan`
    (keywords: ``x_val``, ``y_val``, ``resume``, ``extra_meta``, ``device``, ``progress``)."""
    return train_gan(cfg, tcfg, x_train, y_train, checkpoint_dir, **kw)
