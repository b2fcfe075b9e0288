"""Train the shipped undersampled-MRI reconstructor ``mri-recon-4x`` on simulated brain MRI (no real data).

    nice python scripts/train_mri_recon.py [--out src/radsynth/data/models/mri-recon-4x] [--minutes 20]

1. simulates fully sampled slices (:func:`radsynth.generators.enhancement.mri_kspace_pairs.simulate_mri_slices`:
   the ``mri-brain`` physics generator with the shipped label maps, T1w / T2w / FLAIR, axial + coronal + sagittal,
   1.75 mm voxels, 128 x 128 frames, per-slice normalisation); the last subject is the validation hold-out;
2. trains :func:`radsynth.generators.enhancement.mri_recon.train_mri_recon` on one CPU thread with fresh
   random 4x masks (8 % centre) per example;
3. writes the model folder (config.json, weights.safetensors, training.json with the curves).
Deterministic for the seeds (same machine and thread count). The model card and metrics.json (from
``bench/bench_mri_recon.py``) are written separately.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="src/radsynth/data/models/mri-recon-4x")
    ap.add_argument("--minutes", type=float, default=23.0, help="training wall-clock budget (minutes)")
    ap.add_argument("--steps", type=int, default=2200)
    ap.add_argument("--subjects", type=int, default=40)
    ap.add_argument("--slices-per-plane", type=int, default=12)
    ap.add_argument("--cache", default=None, help="npz of simulated slices to reuse / write")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from radsynth.generators.enhancement.mri_kspace_pairs import MRISlicesConfig, simulate_mri_slices
    from radsynth.generators.enhancement.mri_recon import MRIReconConfig, save_recon, train_mri_recon

    scfg = MRISlicesConfig(n_subjects=a.subjects, slices_per_plane=a.slices_per_plane, seed=a.seed)
    t0 = time.perf_counter()
    if a.cache and Path(a.cache).is_file():
        z = np.load(a.cache)
        images, subject, sim_s = z["images"], z["subject"], float(z["seconds"])
    else:
        sl = simulate_mri_slices(scfg, progress=True)
        images, subject, sim_s = sl.images, sl.subject, sl.seconds
        if a.cache:
            np.savez(a.cache, images=images, subject=subject, seconds=sim_s, sequence=sl.sequence, plane=sl.plane)
    print(f"simulated {images.shape[0]} slices {images.shape[1:]} of {a.subjects} subjects in {sim_s:.0f} s")
    cfg = MRIReconConfig.create(max_steps=a.steps, max_minutes=a.minutes, seed=a.seed)
    net, summ = train_mri_recon(images, subject, cfg, progress=True)
    print(f"trained {summ['steps']} steps in {summ['seconds']} s, {summ['params']} parameters")
    extra = {"data": {"source": "simulated only (radsynth mri-brain physics, shipped label maps)",
                      "slices": scfg.model_dump(mode="json"), "n_slices": int(images.shape[0]),
                      "simulation_seconds": round(sim_s, 1)},
             "training": {k: summ[k] for k in ("steps", "seconds", "params", "final_loss", "n_train_slices",
                                               "n_val_slices", "val_subject")},
             "validation_psnr_db": summ["val_curve"][-1][1] if summ["val_curve"] else None,
             "mask": {"pattern": cfg.mask_pattern, "acceleration": cfg.acceleration,
                      "center_fraction": cfg.center_fraction, "axis": "columns (last array axis)",
                      "library": "monai.apps.reconstruction.transforms.array.RandomKspaceMask"}}
    out = save_recon(a.out, net, cfg, extra)
    (out / "training.json").write_text(json.dumps({"losses": [round(v, 6) for v in summ["losses"]],
                                                   "val_curve": summ["val_curve"]}, indent=0) + "\n")
    print(f"wrote {out} ({sum(f.stat().st_size for f in out.iterdir()) / 1e6:.2f} MB) in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
