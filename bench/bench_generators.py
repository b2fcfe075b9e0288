"""Benchmark the learned generators (issue #3); prints one table.

Rows (all measured in the same run, so the ratio column is comparable across machines):
  * Sampling images/s at the shipped default size: 64x64, default ``DDPMConfig``
    (channels (32, 64, 64), ~1.1 M parameters), 2 classes, guidance 1 (one network
    pass per step), bf16 autocast, batch = all images. Weights are randomly
    initialised: speed does not depend on the weight values.
    - ``ddpm`` 1000 steps: the per-step cost is timed on the first ``--ddpm-steps``
      steps of the real 1000-step chain (same scheduler and network call as
      ``sample_images``) and extrapolated linearly to 1000 steps.
    - ``dpm++sde`` (the shipped ``cxr-ddpm-64``'s measured default, 25 steps), ``dpm++``
      (the fallback default, 25 steps) and ``ddim`` (50 steps): full ``sample_images``
      calls. Target: >= 20x the images/s of 1000-step DDPM.
  * Training images/s of ``train()`` (same model, batch, data) in fp32 vs bf16
    autocast, timed between steps via ``on_step`` after warm-up steps (the final
    checkpoint write is excluded).

Usage: python bench/bench_generators.py [--quick] [--threads N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def _model(cfg):  # noqa: ANN001, ANN202
    import torch

    from radsynth.generators.diffusion.ddpm import build_unet

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return build_unet(cfg).eval()


def bench_sampling(n: int, ddpm_steps: int, repeat: int) -> list[tuple[str, str, str, str]]:
    import torch

    from radsynth.generators.common.config_base import count_parameters
    from radsynth.generators.diffusion.ddpm import DDPMConfig
    from radsynth.generators.diffusion.samplers import DEFAULT_STEPS, _scheduler, guided_eps, sample_images

    cfg = DDPMConfig.create(classes=("normal", "pneumonia"))
    net = _model(cfg)
    labels = [i % 2 for i in range(n)]
    params = count_parameters(net)

    # DDPM: time the first `ddpm_steps` steps of the 1000-step chain, extrapolate linearly
    def ddpm_partial() -> float:
        gen = torch.Generator().manual_seed(0)
        sch = _scheduler(cfg, "ddpm", cfg.num_train_timesteps)
        x = torch.randn((n, 1, *cfg.sample_shape), generator=gen)
        lab = torch.tensor(labels)
        t0 = time.perf_counter()
        with torch.inference_mode():
            for t in sch.timesteps[:ddpm_steps]:
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    eps = guided_eps(net, x, t, lab, cfg.null_label, 1.0)
                x, _ = sch.step(eps.float(), int(t), x, generator=gen)
        return time.perf_counter() - t0

    def full(sampler: str) -> float:
        t0 = time.perf_counter()
        sample_images(net, cfg, labels, n=n, seed=0, sampler=sampler, steps=DEFAULT_STEPS[sampler],
                      batch_size=n, precision="bf16")
        return time.perf_counter() - t0

    # warm-up (imports, oneDNN primitives for this batch shape), then interleave the three samplers and
    # keep each one's best time, so drifting load on the machine hits all of them alike
    ddpm_partial()
    fast = ("ddim", "dpm++", "dpm++sde")
    for sampler in fast:
        sample_images(net, cfg, labels, n=n, seed=0, sampler=sampler, steps=2, batch_size=n)
    best = {"ddpm": float("inf"), **{s: float("inf") for s in fast}}
    for _ in range(repeat):
        best["ddpm"] = min(best["ddpm"], ddpm_partial() / ddpm_steps)
        for sampler in fast:
            best[sampler] = min(best[sampler], full(sampler))
    t_step = best["ddpm"]
    ips_ddpm = n / (t_step * cfg.num_train_timesteps)
    rows = [("model", f"{params / 1e6:.2f} M params", f"64x64, {n} images, bf16, random init", "")]
    rows.append(("sample ddpm 1000 steps (img/s)", f"{ips_ddpm:.3f}",
                 f"extrapolated from {ddpm_steps} steps ({t_step * 1e3:.0f} ms/step)", "1.0x (baseline)"))
    for sampler in fast:
        steps = DEFAULT_STEPS[sampler]
        ips = n / best[sampler]
        ratio = ips / ips_ddpm
        rows.append((f"sample {sampler} {steps} steps (img/s)", f"{ips:.3f}",
                     f"full sample_images ({best[sampler] / steps * 1e3:.0f} ms/step)",
                     f"{ratio:.1f}x ddpm (NFE ratio {cfg.num_train_timesteps / steps:.0f}x); "
                     + (f"target >= 20x: {'PASS' if ratio >= 20 else 'FAIL'}" if sampler != "ddim"
                        else "no target (not a default sampler)")))
    return rows


def bench_training(batch: int, warmup: int, steps: int) -> list[tuple[str, str, str, str]]:
    from radsynth.generators.diffusion.ddpm import DDPMConfig
    from radsynth.generators.common.train_config import TrainConfig
    from radsynth.generators.diffusion.training import train

    cfg = DDPMConfig.create(classes=("normal", "pneumonia"))
    rng = np.random.default_rng(0)
    n_img = 2 * batch
    x = rng.uniform(-1, 1, (n_img, 1, *cfg.sample_shape)).astype(np.float32)
    y = np.arange(n_img) % 2
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for prec in ("fp32", "bf16"):
            stamps: list[float] = []
            tc = TrainConfig(batch_size=batch, max_steps=warmup + steps, precision=prec, warmup_steps=0,
                             ckpt_every=10_000, val_every=10_000)
            train(cfg, tc, x, y, Path(tmp) / prec, device="cpu",
                  on_step=lambda _s, _l: stamps.append(time.perf_counter()))
            out[prec] = steps * batch / (stamps[-1] - stamps[warmup - 1])
    note = f"train(), batch {batch}, {steps} steps after {warmup} warm-up"
    return [
        ("train fp32 (img/s)", f"{out['fp32']:.2f}", note, "1.0x (baseline)"),
        ("train bf16 autocast (img/s)", f"{out['bf16']:.2f}", note, f"{out['bf16'] / out['fp32']:.2f}x fp32"),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="small run (~1 min): 4 images, 10 timed DDPM steps, batch 16, 5 training steps")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        n, ddpm_steps, repeat, batch, warm, steps = 4, 10, 2, 16, 2, 5
    else:
        n, ddpm_steps, repeat, batch, warm, steps = 8, 50, 3, 32, 3, 20
    t0 = time.perf_counter()
    rows = bench_sampling(n, ddpm_steps, repeat) + bench_training(batch, warm, steps)
    head = ("what", "value", "how", "ratio / target")
    w = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    print(f"radsynth generators bench ({'quick' if args.quick else 'full'}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads)")
    print("  ".join(h.ljust(w[i]) for i, h in enumerate(head)))
    print("  ".join("-" * w[i] for i in range(4)))
    for r in rows:
        print("  ".join(c.ljust(w[i]) for i, c in enumerate(r)))
    print(f"total bench time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
