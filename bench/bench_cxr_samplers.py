"""Which sampler, how many steps, what guidance: realism of a chest X-ray generator per setting.

For each setting ``sampler:steps:guidance`` the model draws ``--n`` images of each class
(same seed for every setting) and the table gives, per class:

  * FID on the shipped medical encoder ``cxr-encoder-64`` against up to 1,200 real TRAINING
    images of that class (the held-out ``test`` split is never read: this bench chooses the
    model's default sampler, so it must not look at the data the model is evaluated on);
  * precision / coverage (Naeem et al. 2020, k = 5) on the same features;
  * excess grain: fraction of samples with more fine-scale noise than 99 % of real training
    images (:mod:`radsynth.metrics.grain`), with its 95 % Wilson interval;
  * class fidelity: fraction labelled as asked by ``cxr-classifier-64``;
  * images/s of the whole sampling call on this machine.

The first row per class is real validation images (patient-aware 5 % split of train, the
split the generator did not train on) at the same n: what a perfect generator would score,
small-sample bias included.

Usage: python bench/bench_cxr_samplers.py [--model DIR] [--n 48] [--threads 1]
       [--settings dpm++:25:3,ddim:50:3,ddim:100:3] [--classes NORMAL,PNEUMONIA] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=REPO / "src" / "radsynth" / "data" / "models" / "cxr-ddpm-64")
    ap.add_argument("--n", type=int, default=48, help="samples per class and setting")
    ap.add_argument("--settings", default="dpm++:25:3,ddim:25:3,ddim:50:3,ddim:100:3")
    ap.add_argument("--classes", default=None, help="comma-separated subset of the model's classes")
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    import torch

    from bench_generator_archs import _data
    from radsynth.generators.model_dir import load_model
    from radsynth.generators.diffusion.samplers import sample_images
    from radsynth.metrics.class_fidelity import ClassFidelity
    from radsynth.metrics.classifier import load_shipped
    from radsynth.metrics.encoder import load_encoder
    from radsynth.metrics.features import encode
    from radsynth.metrics.frechet import frechet_distance
    from radsynth.metrics.grain import ExcessGrain
    from radsynth.metrics.prdc import prdc

    if a.threads:
        torch.set_num_threads(a.threads)
    settings = []
    for s in a.settings.split(","):
        sampler, steps, w = s.strip().split(":")
        settings.append((sampler, int(steps), float(w)))
    classes, xtr, ytr, xva, yva = _data(64)
    cfg, net, _ = load_model(a.model)
    want = [c.strip() for c in a.classes.split(",")] if a.classes else list(cfg.classes)
    enc = load_encoder("cxr-encoder-64")
    judge = ClassFidelity(load_shipped("cxr-classifier-64"))
    rows = []
    for cls in want:
        ci = classes.index(cls)
        real = (xtr[ytr == ci][:, 0] + 1) / 2
        real = real[np.sort(np.random.default_rng(0).permutation(len(real))[:1200])]
        f_real = encode(enc, real)
        grain = ExcessGrain(real)
        val = (xva[yva == ci][:, 0] + 1) / 2
        val = val[: a.n]

        def score(imgs01: np.ndarray, label: str, ips: float | None) -> dict:
            f = encode(enc, imgs01)
            p = prdc(f_real, f, 5)
            g = grain(imgs01)
            row = {"class": cls, "setting": label, "n": len(imgs01), "fid": round(frechet_distance(f_real, f), 1),
                   "precision": round(p.precision, 3), "coverage": round(p.coverage, 3),
                   "excess_grain": round(g.rate, 3), "grain_ci": [round(g.ci[0], 3), round(g.ci[1], 3)],
                   "fidelity": round(judge(imgs01, [cls] * len(imgs01))[cls]["rate"], 3),
                   "images_per_s": None if ips is None else round(ips, 2)}
            print(json.dumps(row), flush=True)
            return row

        rows.append(score(val, "real validation images", None))
        for sampler, steps, w in settings:
            t0 = time.perf_counter()
            imgs = sample_images(net, cfg, [cfg.classes.index(cls)] * a.n, n=a.n, seed=a.seed, sampler=sampler,
                                 steps=steps, guidance=w, batch_size=a.n, precision="bf16")
            ips = a.n / (time.perf_counter() - t0)
            rows.append(score((imgs + 1) / 2, f"{sampler} {steps} steps, guidance {w:g}", ips))
    head = ["class", "setting", "n", "fid", "precision", "coverage", "excess_grain", "fidelity", "images_per_s"]
    print(f"\nmodel {a.model.name}; FID/precision/coverage vs <= 1,200 real training images of the class "
          f"(cxr-encoder-64); excess grain: share above the real 99th percentile of fine-scale energy")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        cells = [str(r[h]) if h != "excess_grain" else f"{r[h]} [{r['grain_ci'][0]}, {r['grain_ci'][1]}]"
                 for h in head]
        print("| " + " | ".join("-" if c == "None" else c for c in cells) + " |")
    if a.json:
        a.json.write_text(json.dumps({"model": str(a.model), "seed": a.seed, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
