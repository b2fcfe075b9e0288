"""Train the shipped mask-guided models (seeded; 1 CPU thread):

    nice .venv/bin/python scripts/train_mask_guided.py --arch pix2pix --steps 3000 --minutes 30 \
        --out src/radsynth/data/models/brain-mask-pix2pix-64          # the conditional GAN (default model)
    nice .venv/bin/python scripts/train_mask_guided.py --out src/radsynth/data/models/brain-mask-ddpm-64  # DDPM, ~20 min

Data: simulated brain MRI (``mri-brain`` physics, FLAIR, 2 mm) of ``--subjects`` subjects, seeds 0..N-1
(:mod:`radsynth.generators.mask_guided.data`). Held-out subjects for the bench use seeds >= 1000.
Writes config.json, weights.safetensors, training.json (loss curve); MODEL_CARD.md / metrics.json are written by
``bench/bench_mask_guided.py --write-metrics``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--subjects", type=int, default=40)
    ap.add_argument("--steps", type=int, default=1100)
    ap.add_argument("--minutes", type=float, default=18.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=None, help="default: 1.5e-3 (ddpm), 2e-4 (pix2pix)")
    ap.add_argument("--arch", choices=("ddpm", "pix2pix"), default="ddpm")
    ap.add_argument("--lesion-weight", type=float, default=0.0, help="pix2pix: extra L1 weight on the lesion and its rim")
    ap.add_argument("--normal-per-subject", type=int, default=3, help="lesion-free slices per subject in the training data")
    ap.add_argument("--init", default=None, help="continue from this model folder's weights (a second stage)")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    from radsynth.generators.common.model_folder import training_record, write_training_json
    from radsynth.generators.mask_guided.data import LesionSlicesConfig, simulate_lesion_slices
    from radsynth.generators.mask_guided.model import MaskDDPMConfig, save_model, train_mask_ddpm

    dcfg = LesionSlicesConfig(n_subjects=a.subjects, seed=a.seed, normal_per_subject=a.normal_per_subject)
    data = simulate_lesion_slices(dcfg, progress=True)
    print(f"{len(data.images)} slices ({int((data.lesion.sum((1, 2)) > 0).sum())} with lesion), {data.seconds} s", flush=True)
    if a.arch == "pix2pix":
        if a.init:
            sys.exit("--init: continued runs are for the DDPM only")
        from radsynth.generators.mask_guided import pix2pix

        pcfg = pix2pix.MaskPix2PixConfig(channels=(16, 32, 64, 128), max_steps=a.steps, max_minutes=a.minutes,
                                         lr=a.lr or 2e-4, seed=a.seed, lesion_weight=a.lesion_weight)
        net, summary = pix2pix.train_mask_pix2pix(data.images, data.lesion, data.brain, pcfg, progress=True)
        curves = summary.pop("curves")
        record = training_record(summary, dcfg.model_dump(mode="json"), data.seconds, a.threads)
        out = pix2pix.save_model(a.out, net, pcfg, {"training": record})
        write_training_json(out, {"curves": curves}, record)
        print(f"wrote {out}: {summary['steps']} steps, {summary['seconds']} s, final L1 {summary['final_l1']:.4f}")
        return
    a.lr = a.lr or 1.5e-3
    cfg = MaskDDPMConfig(channels=(16, 32, 64), max_steps=a.steps, max_minutes=a.minutes, lr=a.lr, seed=a.seed,
                         warmup_steps=0 if a.init else 100)
    init = None
    stages = []
    if a.init:
        from safetensors.torch import load_file

        init = load_file(str(Path(a.init) / "weights.safetensors"))
        prev = json.loads((Path(a.init) / "training.json").read_text())
        stages = prev.get("stages", []) + [{k: prev[k] for k in ("steps", "seconds", "final_loss") if k in prev}
                                           | {"lr": prev.get("lr")}]
    net, summary = train_mask_ddpm(data.images, data.lesion, data.brain, cfg, progress=True, init_state=init)
    summary["lr"] = a.lr
    if stages:
        summary["stages"] = stages
    losses = summary.pop("losses")
    record = training_record(summary, dcfg.model_dump(mode="json"), data.seconds, a.threads)
    out = save_model(a.out, net, cfg, {"training": record})
    write_training_json(out, {"losses": losses}, record)
    print(f"wrote {out}: {summary['steps']} steps, {summary['seconds']} s, final loss {summary['final_loss']:.4f}")


if __name__ == "__main__":
    main()
