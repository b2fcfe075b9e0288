"""Train the shipped low-dose CT denoiser ``ct-denoiser-ld`` on simulated paired CT (no real data).

    nice python scripts/train_ct_denoiser.py [--out src/radsynth/data/models/ct-denoiser-ld] [--minutes 5]

1. simulates paired slices (:mod:`radsynth.generators.enhancement.ct_pairs`, defaults: 6 chest anatomies x
   12 slices of the upper chest, 100 / 25 / 10 / 5 / 2.5 / 1.25 mAs at 120 kVp + the noise-free reconstruction);
   plus, per subject, ``--insertion-slices`` sharp-target pairs (``simulate_insertion_pairs``: the anatomy's
   monochromatic HU + projection-domain noise at the same loads), so that real, sharper edges are kept;
2. trains :func:`radsynth.generators.enhancement.ct_denoiser.train_ct_denoiser` on one CPU thread;
3. writes the model folder (config.json, weights.safetensors, training.json with the curves).
Deterministic for the seeds (same machine and thread count). The model card is written by hand.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="src/radsynth/data/models/ct-denoiser-ld")
    ap.add_argument("--minutes", type=float, default=5.0, help="training wall-clock budget (minutes)")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--subjects", type=int, default=6)
    ap.add_argument("--cache", default=None, help="npz of simulated pairs to reuse / write")
    ap.add_argument("--insertion-slices", type=int, default=8,
                    help="per subject, also this many sharp-target noise-insertion pairs (0: physics pairs only)")
    ap.add_argument("--insertion-cache", default=None, help="npz of insertion pairs to reuse / write")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from radsynth.generators.enhancement.ct_denoiser import CTDenoiserConfig, save_denoiser, train_ct_denoiser
    from radsynth.generators.enhancement.ct_pairs import CTPairsConfig, simulate_ct_pairs

    pcfg = CTPairsConfig(n_subjects=a.subjects)
    t0 = time.perf_counter()
    if a.cache and Path(a.cache).is_file():
        z = np.load(a.cache)
        images, truth, subject, sim_s = z["images"], z["truth"], z["subject"], float(z["seconds"])
    else:
        pairs = simulate_ct_pairs(pcfg, progress=True)
        images, truth, subject, sim_s = pairs.images, pairs.truth, pairs.subject, pairs.seconds
        print("noise SD (HU) per mAs:", {k: round(v, 1) for k, v in pairs.noise_sd_hu().items()})
        if a.cache:
            np.savez(a.cache, images=images, truth=truth, subject=subject, seconds=sim_s)
    n_physics = int(images.shape[0])
    if a.insertion_slices:
        from radsynth.generators.enhancement.ct_pairs import simulate_insertion_pairs

        if a.insertion_cache and Path(a.insertion_cache).is_file():
            z = np.load(a.insertion_cache)
            ins = (z["images"], z["truth"], z["subject"], float(z["seconds"]))
        else:
            ip = simulate_insertion_pairs(CTPairsConfig(n_subjects=a.subjects, slices_per_subject=a.insertion_slices),
                                          progress=True)
            ins = (ip.images, ip.truth, ip.subject, ip.seconds)
            if a.insertion_cache:
                np.savez(a.insertion_cache, images=ins[0], truth=ins[1], subject=ins[2], seconds=ins[3])
        images, truth = np.concatenate([images, ins[0]]), np.concatenate([truth, ins[1]])
        subject, sim_s = np.concatenate([subject, ins[2]]), sim_s + ins[3]
    print(f"simulated {images.shape[0]} slices ({n_physics} physics pairs) x {images.shape[1]} doses in {sim_s:.0f} s")
    cfg = CTDenoiserConfig.create(max_steps=a.steps, max_minutes=a.minutes)
    net, summ = train_ct_denoiser(images, truth, subject, cfg, progress=True)
    print(f"trained {summ['steps']} steps in {summ['seconds']} s, {summ['params']} parameters")
    body = truth[:n_physics] > -500.0
    noise_sd = {str(m): round(float((images[:n_physics, d] - truth[:n_physics])[body].std()), 2)
                for d, m in enumerate(pcfg.doses_mas)}
    extra = {"data": {"source": "simulated only (radsynth ct-chest physics)", "pairs": pcfg.model_dump(mode="json"),
                      "n_slices": int(images.shape[0]), "n_physics_slices": n_physics,
                      "n_insertion_slices": int(images.shape[0]) - n_physics,
                      "insertion_pairs": "simulate_insertion_pairs (sharp monochromatic targets + inserted noise)"
                      if a.insertion_slices else None, "simulation_seconds": round(sim_s, 1),
                      "noise_sd_hu_by_mas": noise_sd},
             "training": {k: summ[k] for k in ("steps", "seconds", "params", "final_loss", "n_train_slices",
                                               "n_val_slices", "val_subject")},
             "validation_rmse_hu": summ["val_curve"][-1][1] if summ["val_curve"] else None,
             "pixel_mm": 1.40625}
    out = save_denoiser(a.out, net, cfg, extra)
    (out / "training.json").write_text(json.dumps({"losses": [round(v, 8) for v in summ["losses"]],
                                                   "val_curve": summ["val_curve"]}, indent=0) + "\n")
    print(f"wrote {out} ({sum(f.stat().st_size for f in out.iterdir()) / 1e6:.2f} MB) in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
