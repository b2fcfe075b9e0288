"""The pix2pix training loop shared by the paired image-to-image families (mask-guided generation, contrast
translation): a generator ``G([condition, noise]) -> image`` and a patch discriminator ``D([image, condition])``,
least-squares GAN loss (Mao et al., ICCV 2017) plus ``lambda_l1 |G - target|_1`` (Isola et al., CVPR 2017).
Imports no generator family: each family builds its networks and hands over its targets and a function that
makes a batch's condition.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Pix2PixSettings:
    """Optimisation settings (a family's config carries them; here they are only passed on)."""

    steps: int
    lr: float
    batch_size: int
    lambda_l1: float = 100.0
    noise_std: float = 1.0
    seed: int = 0
    max_minutes: float | None = None
    progress: bool = False
    log_every: int = 200


def train_pix2pix(
    gen_net: Any,
    disc: Any,
    targets: np.ndarray,
    make_batch: Callable[[np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]],
    settings: Pix2PixSettings,
    l1_weight: Callable[[Any], Any] | None = None,
) -> dict[str, Any]:
    """Train ``gen_net`` / ``disc`` in place; returns a summary with the loss curves (``l1``, ``g_adv``, ``d``).

    ``targets``: (S, H, W) float32 in [-1, 1]. ``make_batch(idx, rng) -> (target batch (B, H, W), condition
    (B, C, H, W))`` draws a batch's augmentations from ``rng`` (flips, dropped channels). The generator sees the
    condition and one noise channel (``noise_std``). ``l1_weight(condition) -> (B, 1, H, W)`` weights the L1 term
    (a weighted mean; None: plain mean). Adam (beta1 0.5, as pix2pix), constant learning rate for the first half
    then linear decay to 0. Deterministic for a seed (same machine and thread count). Eval mode at the end."""
    import torch

    x_all = np.asarray(targets, np.float32)
    h, w = x_all.shape[1:]
    s = settings
    opt_g = torch.optim.Adam(gen_net.parameters(), lr=s.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=s.lr, betas=(0.5, 0.999))
    rng = np.random.default_rng(s.seed)
    gen = torch.Generator().manual_seed(s.seed)
    curves: dict[str, list[float]] = {"l1": [], "g_adv": [], "d": []}
    t0 = time.perf_counter()
    step = 0
    gen_net.train()
    disc.train()

    def d_out(x: Any, c: Any) -> Any:
        out = disc(torch.cat([x, c], 1))
        return out[-1] if isinstance(out, (list, tuple)) else out

    while step < s.steps:
        if s.max_minutes is not None and time.perf_counter() - t0 > 60.0 * s.max_minutes:
            break
        half = s.steps / 2
        lr = s.lr if step < half else s.lr * max(0.0, (s.steps - step) / max(1.0, half))
        for o in (opt_g, opt_d):
            for g in o.param_groups:
                g["lr"] = lr
        idx = rng.integers(0, len(x_all), s.batch_size)
        xb, cb = make_batch(idx, rng)
        x = torch.from_numpy(np.ascontiguousarray(xb[:, None], dtype=np.float32))
        cond = torch.from_numpy(np.ascontiguousarray(cb, dtype=np.float32))
        z = torch.randn((s.batch_size, 1, h, w), generator=gen) * s.noise_std
        fake = gen_net(torch.cat([cond, z], 1))
        # discriminator: least squares, real -> 1, fake -> 0
        d_real, d_fake = d_out(x, cond), d_out(fake.detach(), cond)
        loss_d = 0.5 * (torch.mean((d_real - 1.0) ** 2) + torch.mean(d_fake**2))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        # generator: fool the discriminator, stay close to the paired target
        g_adv = torch.mean((d_out(fake, cond) - 1.0) ** 2)
        err = torch.abs(fake - x)
        if l1_weight is not None:
            wgt = l1_weight(cond)
            l1 = torch.sum(err * wgt) / torch.sum(wgt.expand_as(err))
        else:
            l1 = torch.mean(err)
        loss_g = g_adv + s.lambda_l1 * l1
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        curves["l1"].append(float(l1.detach()))
        curves["g_adv"].append(float(g_adv.detach()))
        curves["d"].append(float(loss_d.detach()))
        step += 1
        if s.progress and step % s.log_every == 0:
            print(f"  step {step}: L1 {np.mean(curves['l1'][-s.log_every:]):.4f}, G {np.mean(curves['g_adv'][-s.log_every:]):.3f}, "
                  f"D {np.mean(curves['d'][-s.log_every:]):.3f}, lr {lr:.2e}, {time.perf_counter() - t0:.0f} s", flush=True)
    gen_net.eval()
    disc.eval()
    return {"steps": step, "seconds": round(time.perf_counter() - t0, 1),
            "final_l1": float(np.mean(curves["l1"][-100:])) if curves["l1"] else None,
            "curves": {k: [round(v, 5) for v in vals] for k, vals in curves.items()}}


def sample_pix2pix(gen_net: Any, cond: np.ndarray, seed: int, noise_std: float, batch_size: int = 32) -> np.ndarray:
    """Images (N, H, W) float32 in [-1, 1] of conditions (N, C, H, W): image ``i`` uses the noise image of
    ``torch.Generator().manual_seed(seed + i)`` (independent of the batch)."""
    import torch

    c_all = torch.from_numpy(np.ascontiguousarray(cond, dtype=np.float32))
    n, _, h, w = c_all.shape
    out = np.empty((n, h, w), np.float32)
    with torch.no_grad():
        for b0 in range(0, n, batch_size):
            c = c_all[b0:b0 + batch_size]
            z = torch.cat([torch.randn((1, 1, h, w), generator=torch.Generator().manual_seed(int(seed) + b0 + i)) * noise_std
                           for i in range(len(c))])
            out[b0:b0 + len(c)] = np.clip(gen_net(torch.cat([c, z], 1))[:, 0].numpy(), -1.0, 1.0)
    return out
