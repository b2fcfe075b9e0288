"""Mask-guided generation: does the generated lesion sit on the requested mask? (issue #13 item 1)

    nice python bench/bench_mask_guided.py [--model brain-mask-pix2pix-64] [--n 60] [--write-metrics]

Held-out masks: ``mri-brain`` physics subjects with seeds 1000.. (never used in training, which used seeds
0..39), FLAIR at 2 mm, axial slices with a lesion of >= ``--min-pixels`` pixels at 64 x 64
(:mod:`radsynth.generators.mask_guided.data`), ``--n`` of them spread evenly over the subjects. Each mask
(with its brain mask, and again without it) goes to the model with seed = its index; the generated lesion is
segmented and compared with the requested mask (Dice). Segmenter (``--segmenter``): ``threshold`` (default): FLAIR
hyperintensity inside the brain mask, grey > T, T chosen on the simulated TRAINING slices (grid 0.1..0.8,
maximising mean Dice against the physics masks); ``unet``: a small MONAI U-Net
(:func:`~radsynth.generators.mask_guided.model.train_segmenter`, trained on the training slices, seed 0).
Also reported: the segmenter's own Dice on the held-out *simulated* images (its ceiling), a control: the Dice
of each generated image's segmentation against another subject's mask (a derangement), which must be low, and the
lesion-free check: every held-out slice without a lesion, generated from an EMPTY lesion mask (with its brain
mask), segmented; a lesion of >= ``--min-pixels`` there is a false lesion (a normal subject made abnormal). Use
``--segmenter unet`` for it: the threshold rule also fires on normal simulated FLAIR (100 % of the slices).
Mean and 95 % percentile bootstrap CI (2000 resamples) over masks. ``--write-metrics`` writes metrics.json into
the model folder (when it is a folder in this checkout).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def boot_ci(v: np.ndarray, n: int = 2000, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    m = v[rng.integers(0, len(v), (n, len(v)))].mean(1)
    return float(np.percentile(m, 2.5)), float(np.percentile(m, 97.5))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="brain-mask-pix2pix-64")
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--held-out-subjects", type=int, default=16)
    ap.add_argument("--train-subjects", type=int, default=40)
    ap.add_argument("--min-pixels", type=int, default=20)
    ap.add_argument("--seg-steps", type=int, default=2000)  # 600 left it predicting no lesion at all (Dice 0)
    ap.add_argument("--segmenter", choices=("threshold", "unet"), default="threshold")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--write-metrics", action="store_true")
    ap.add_argument("--save", default=None, help="write masks / images / segmentations (.npz) here")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    from radsynth.generators.mask_guided.data import LesionSlicesConfig, simulate_lesion_slices
    from radsynth.generators.mask_guided.model import (dice, load_model, model_path, sample_from_masks, sampler_name, segment,
                                                       train_segmenter)

    t0 = time.perf_counter()
    tr = simulate_lesion_slices(LesionSlicesConfig(n_subjects=a.train_subjects, seed=0))
    ho = simulate_lesion_slices(LesionSlicesConfig(n_subjects=a.held_out_subjects, seed=1000))
    print(f"simulated {len(tr.images)} training / {len(ho.images)} held-out slices, {time.perf_counter() - t0:.0f} s", flush=True)
    t1 = time.perf_counter()
    if a.segmenter == "unet":
        net_s = train_segmenter(tr.images, tr.lesion, steps=a.seg_steps, seed=0)

        def seg_fn(x: np.ndarray, b: np.ndarray) -> np.ndarray:
            return segment(net_s, x)
        seg_desc = f"MONAI U-Net, {a.seg_steps} steps"
    else:
        grid = np.round(np.arange(0.1, 0.81, 0.05), 2)
        lab = tr.lesion.sum((1, 2)) >= a.min_pixels
        score = [np.mean([dice((x > t) & b, m) for x, m, b in zip(tr.images[lab], tr.lesion[lab], tr.brain[lab])])
                 for t in grid]
        thr = float(grid[int(np.argmax(score))])

        def seg_fn(x: np.ndarray, b: np.ndarray) -> np.ndarray:
            return (x > thr) & b
        seg_desc = f"threshold: grey > {thr:g} inside the brain mask (chosen on training slices, Dice {max(score):.3f})"
    print(f"segmenter: {seg_desc}, {time.perf_counter() - t1:.0f} s", flush=True)

    area = ho.lesion.sum((1, 2))
    cand = np.flatnonzero(area >= a.min_pixels)
    pick = cand[np.unique(np.linspace(0, len(cand) - 1, min(a.n, len(cand))).round().astype(int))]
    masks, brains, subj, real = ho.lesion[pick], ho.brain[pick], ho.subject[pick], ho.images[pick]
    n = len(pick)
    ceiling = np.array([dice(s, m) for s, m in zip(seg_fn(real, brains), masks)])

    net, cfg, doc = load_model(a.model)
    how = f"DDIM {cfg.sample_steps} steps" if sampler_name(cfg) == "ddim" else "pix2pix (one generator pass)"
    t2 = time.perf_counter()
    gen_b = sample_from_masks(net, cfg, masks, brains, seed=0)
    gen_nb = sample_from_masks(net, cfg, masks, None, seed=0)
    gen_s = (time.perf_counter() - t2) / (2 * n)
    seg_b, seg_nb = seg_fn(gen_b, brains), seg_fn(gen_nb, brains)
    d_b = np.array([dice(s, m) for s, m in zip(seg_b, masks)])
    d_nb = np.array([dice(s, m) for s, m in zip(seg_nb, masks)])
    # control: another subject's mask (derangement: shift by one subject block)
    order = np.argsort(subj, kind="stable")
    other = np.empty(n, int)
    for k, i in enumerate(order):
        j = order[(k + n // 2) % n]
        other[i] = j
    ctrl = np.array([dice(seg_b[i], masks[other[i]]) for i in range(n)])
    # lesion contrast in the generated image: mean inside the mask minus mean of the rest of the brain
    contrast = np.array([g[m].mean() - g[b & ~m].mean() if (b & ~m).any() else np.nan for g, m, b in zip(gen_b, masks, brains)])
    contrast_real = np.array([g[m].mean() - g[b & ~m].mean() if (b & ~m).any() else np.nan for g, m, b in zip(real, masks, brains)])

    rows = [("generated (lesion + brain mask)", d_b), ("generated (lesion mask only)", d_nb),
            ("segmenter ceiling: held-out simulated images", ceiling), ("control: vs another subject's mask", ctrl)]
    print(f"\nmodel {Path(model_path(a.model)).name}, {n} held-out lesion masks ({len(np.unique(subj))} subjects, "
          f">= {a.min_pixels} px at {cfg.image_size}x{cfg.image_size}), sampler {how}, "
          f"{gen_s:.2f} s/image (1 thread); segmenter {seg_desc}\n")
    print("| Dice vs requested mask | mean [95 % CI] | median | n |")
    print("|---|---|---|---|")
    out = {}
    for name, v in rows:
        lo, hi = boot_ci(v)
        print(f"| {name} | {v.mean():.3f} [{lo:.3f}, {hi:.3f}] | {np.median(v):.3f} | {len(v)} |")
        out[name] = {"mean": round(float(v.mean()), 4), "ci95": [round(lo, 4), round(hi, 4)],
                     "median": round(float(np.median(v)), 4), "n": int(len(v))}
    print(f"\nlesion - brain contrast ([-1, 1] grey): generated {np.nanmean(contrast):.3f}, simulated {np.nanmean(contrast_real):.3f}")
    # lesion-free masks: an empty lesion mask must give a lesion-free image (a normal subject must stay normal)
    free = np.flatnonzero(ho.lesion.sum((1, 2)) == 0)
    gen_free = sample_from_masks(net, cfg, np.zeros((len(free),) + masks.shape[1:], bool), ho.brain[free], seed=0)
    seg_free, seg_free_real = seg_fn(gen_free, ho.brain[free]), seg_fn(ho.images[free], ho.brain[free])
    false_gen = seg_free.sum((1, 2)) >= a.min_pixels
    false_real = seg_free_real.sum((1, 2)) >= a.min_pixels
    print(f"lesion-free masks ({len(free)} held-out slices with no lesion, brain mask given): a lesion of >= {a.min_pixels} px "
          f"segmented in {false_gen.sum()} generated images ({100 * false_gen.mean():.1f} %), in {false_real.sum()} of the "
          f"simulated ones ({100 * false_real.mean():.1f} %); mean segmented area {seg_free.sum((1, 2)).mean():.1f} px vs "
          f"{seg_free_real.sum((1, 2)).mean():.1f} px")
    print(f"total {time.perf_counter() - t0:.0f} s")
    metrics = {"bench": "bench/bench_mask_guided.py", "model": Path(model_path(a.model)).name, "dice": out,
               "n_masks": n, "held_out_subjects": int(len(np.unique(subj))), "held_out_seed": 1000,
               "min_lesion_pixels": a.min_pixels, "segmenter": seg_desc, "seconds_per_image": round(gen_s, 3),
               "lesion_contrast": {"generated": round(float(np.nanmean(contrast)), 4),
                                   "simulated": round(float(np.nanmean(contrast_real)), 4)},
               "lesion_free_masks": {"n": int(len(free)), "false_lesion_generated": int(false_gen.sum()),
                                     "false_lesion_simulated": int(false_real.sum()),
                                     "mean_area_px_generated": round(float(seg_free.sum((1, 2)).mean()), 2),
                                     "mean_area_px_simulated": round(float(seg_free_real.sum((1, 2)).mean()), 2)},
               "sampler": sampler_name(cfg), "sample_steps": getattr(cfg, "sample_steps", None), "threads": a.threads}
    if a.save:
        np.savez_compressed(a.save, masks=masks, brains=brains, real=real, gen_b=gen_b, gen_nb=gen_nb, seg_b=seg_b,
                            seg_nb=seg_nb)
    if a.write_metrics:
        p = Path(model_path(a.model)) / "metrics.json"
        p.write_text(json.dumps(metrics, indent=1, sort_keys=True) + "\n")
        print(f"wrote {p}")


if __name__ == "__main__":
    main()
