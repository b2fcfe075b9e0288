"""Train the shipped contrast translators (seeded; 1 CPU thread, ~20 min each):

    nice .venv/bin/python scripts/train_translation.py --target T2w --out src/radsynth/data/models/brain-t1w-to-t2w-64
    nice .venv/bin/python scripts/train_translation.py --target FLAIR --out src/radsynth/data/models/brain-t1w-to-flair-64

Data: simulated brain MRI (``mri-brain`` physics, T1w / T2w / FLAIR of the same anatomy, 2 mm) of ``--subjects``
subjects, seeds 0..N-1, every ``--stride``-th axial brain slice (:mod:`radsynth.generators.translation.pairs`).
Held-out subjects for ``bench/bench_translation.py`` use seeds >= 1000. Writes config.json, weights.safetensors,
training.json (loss curves); MODEL_CARD.md / metrics.json come from the bench.
"""

from __future__ import annotations

import argparse


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--source", default="T1w")
    ap.add_argument("--target", default="T2w")
    ap.add_argument("--subjects", type=int, default=40)
    ap.add_argument("--stride", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--minutes", type=float, default=40.0)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    from radsynth.generators.common.model_folder import training_record, write_training_json
    from radsynth.generators.translation.model import TranslationConfig, save_model, train_translator
    from radsynth.generators.translation.pairs import ContrastPairsConfig, simulate_contrast_pairs

    cfg = TranslationConfig.create(source=a.source, target=a.target, max_steps=a.steps, max_minutes=a.minutes,
                                   lr=a.lr, seed=a.seed)
    dcfg = ContrastPairsConfig(n_subjects=a.subjects, seed=a.seed, slice_stride=a.stride)
    data = simulate_contrast_pairs(dcfg, progress=True)
    print(f"{len(data.brain)} slice pairs, {data.seconds} s", flush=True)
    net, cfg, summary = train_translator(data.images[a.source], data.images[a.target], cfg, brain=data.brain,
                                         progress=True)
    curves = summary.pop("curves")
    record = training_record(summary, dcfg.model_dump(mode="json"), data.seconds, a.threads)
    out = save_model(a.out, net, cfg, {"training": record})
    write_training_json(out, {"curves": curves}, record)
    print(f"wrote {out}: {summary['steps']} steps, {summary['seconds']} s, final L1 {summary['final_l1']:.4f}")


if __name__ == "__main__":
    main()
