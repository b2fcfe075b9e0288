"""Compare the four learned-generator architectures on real chest X-rays: realism, diversity, compute.

The comparison table the seeds quote (diffusion: best realism and diversity, slow
sampling; GAN: sharp but mode-dropping, fast; VAE: blurry, fast; latent diffusion:
diffusion quality at lower cost), measured here on equal terms: every architecture
trains for the same wall-clock budget on the same patient-aware split of
``cxr-pneumonia/train`` (64x64, class-conditional), then samples the same number of
images per class. The held-out ``test`` split is not read.

Columns (all from this one run):
  * params: sampling-network parameters.
  * train img/s: training throughput (CPU, this machine).
  * sample img/s: sampling throughput (diffusion: DPM-Solver++ 25 steps, guidance 1).
  * fidelity N / P: fraction of samples the shipped reference classifier ``cxr-classifier-64`` labels as asked.
  * hist W1: 1-Wasserstein distance between the grey-value histograms of samples and real validation
    images (0 = same intensity distribution), pixel units of [0, 1].
  * NN dist: mean L2 distance (per pixel RMS) from each sample to its nearest real training image
    (too small = copying; large = unrealistic); real validation images give the reference row.
  * diversity: mean pairwise RMS distance between samples of one class divided by the same for real
    validation images of that class (1 = as diverse as real data; << 1 = mode collapse).
  * FID / precision / coverage: on the shipped medical encoder ``cxr-encoder-64`` against up to 2,000 real
    training images (Naeem et al. 2020 for precision/coverage, k = 5); the reference row is the real
    validation images (same count as the samples, so both FIDs carry the same small-sample bias).
The full evaluation (C2ST, utility, memorisation) of one set: ``radsynth evaluate`` / ``bench/bench_cxr.py``.

Usage: python bench/bench_generator_archs.py [--minutes 10] [--archs ddpm,ldm,gan,vae] [--n 100] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _data(size: int):  # noqa: ANN202
    from radsynth.generators.common.data import load_images, patient_split, scan_class_folder

    root = Path(os.environ.get("RADSYNTH_SHARED_DATA", REPO.parent / "shared" / "data")) / "cxr-pneumonia" / "train"
    if not root.is_dir():
        sys.exit(f"skip: {root} not found (set RADSYNTH_SHARED_DATA)")
    ds = scan_class_folder(root, require_classes=2)
    x = load_images(ds.items, size)
    y = np.array([it.label_index for it in ds.items])
    tr, va = patient_split([it.patient for it in ds.items], 0.05, 0)
    return ds.classes, x[tr], y[tr], x[va], y[va]


def hist_w1(a: np.ndarray, b: np.ndarray) -> float:
    """1-Wasserstein distance between the grey-value distributions of two image sets in [0, 1]."""
    from scipy.stats import wasserstein_distance

    rng = np.random.default_rng(0)
    fa, fb = a.ravel(), b.ravel()
    fa = rng.choice(fa, min(fa.size, 200_000), replace=False)
    fb = rng.choice(fb, min(fb.size, 200_000), replace=False)
    return float(wasserstein_distance(fa, fb))


def rms_nn(q: np.ndarray, ref: np.ndarray) -> float:
    """Mean over ``q`` of the per-pixel RMS distance to the nearest image in ``ref``."""
    qf, rf = q.reshape(len(q), -1).astype(np.float64), ref.reshape(len(ref), -1).astype(np.float64)
    d2 = (qf**2).sum(1)[:, None] + (rf**2).sum(1)[None] - 2 * qf @ rf.T
    return float(np.sqrt(np.maximum(d2.min(1), 0) / qf.shape[1]).mean())


def mean_pairwise(a: np.ndarray) -> float:
    f = a.reshape(len(a), -1).astype(np.float64)
    d2 = (f**2).sum(1)[:, None] + (f**2).sum(1)[None] - 2 * f @ f.T
    iu = np.triu_indices(len(f), 1)
    return float(np.sqrt(np.maximum(d2[iu], 0) / f.shape[1]).mean())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="training budget per architecture")
    ap.add_argument("--archs", default="ddpm,ldm,gan,vae")
    ap.add_argument("--n", type=int, default=100, help="samples per class")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None, help="also write the table as JSON")
    a = ap.parse_args()
    import torch

    from radsynth.generators.archs import arch_module
    from radsynth.generators.common.train_config import TrainConfig
    from radsynth.metrics.class_fidelity import ClassFidelity
    from radsynth.metrics.classifier import load_shipped

    if a.threads:
        torch.set_num_threads(a.threads)
    classes, xtr, ytr, xva, yva = _data(a.size)
    judge = ClassFidelity(load_shipped("cxr-classifier-64"))
    real_tr01, real_va01 = (xtr[:, 0] + 1) / 2, (xva[:, 0] + 1) / 2
    ref_nn = rms_nn(real_va01, real_tr01)
    from radsynth.metrics.encoder import load_encoder
    from radsynth.metrics.features import encode
    from radsynth.metrics.frechet import frechet_distance
    from radsynth.metrics.prdc import prdc

    enc = load_encoder("cxr-encoder-64")
    sub = np.sort(np.random.default_rng(0).choice(len(real_tr01), min(2000, len(real_tr01)), replace=False))
    f_tr = encode(enc, real_tr01[sub])
    f_va = encode(enc, real_va01[: 2 * a.n])
    ref_p = prdc(f_tr, f_va, 5)
    ref_enc = {"fid": round(frechet_distance(f_tr, f_va), 2), "precision": round(ref_p.precision, 3),
               "coverage": round(ref_p.coverage, 3)}
    rows = []
    for arch in [s.strip() for s in a.archs.split(",") if s.strip()]:
        mod = arch_module(arch)
        cfg = mod.config_for_training(image_size=a.size, classes=classes, channels=None)
        tcfg = TrainConfig(max_minutes=a.minutes, max_steps=10**7, batch_size=32, lr=2e-4 if arch != "ddpm" else 5e-4)
        with tempfile.TemporaryDirectory() as tmp:
            res = mod.train_model(cfg, tcfg, xtr, ytr, Path(tmp) / "ckpt", device="cpu", progress=False)
        net = mod.build_networks(cfg)
        net.load_state_dict(res.ema_state)
        net.eval()
        labels = [i % len(classes) for i in range(2 * a.n)]
        kw = {"sampler": "dpm++", "steps": 25, "guidance": 1.0} if "sampler" in mod.SAMPLING_OPTIONS else {}
        t0 = time.perf_counter()
        imgs = mod.sample(net, cfg, labels, n=len(labels), seed=1, batch_size=64, precision="bf16", **kw)
        s_ips = len(labels) / (time.perf_counter() - t0)
        s01 = (imgs + 1) / 2
        fid = judge(s01, [classes[i] for i in labels])
        lab = np.array(labels)
        div = np.mean([mean_pairwise(s01[lab == c]) / mean_pairwise(real_va01[yva == c][: a.n])
                       for c in range(len(classes))])
        f_s = encode(enc, s01)
        p_s = prdc(f_tr, f_s, 5)
        rows.append({
            "arch": arch, "params": sum(p.numel() for p in net.parameters()), "steps": res.step,
            "train_img_s": round(res.images_per_s, 1), "sample_img_s": round(s_ips, 2),
            **{f"fidelity_{c}": round(fid[c]["rate"], 3) for c in classes},
            "hist_w1": round(hist_w1(s01, real_va01), 4), "nn_rms": round(rms_nn(s01, real_tr01), 4),
            "diversity": round(float(div), 3), "fid": round(frechet_distance(f_tr, f_s), 2),
            "precision": round(p_s.precision, 3), "coverage": round(p_s.coverage, 3),
        })
        print(json.dumps(rows[-1]), flush=True)
    head = ["arch", "params", "steps", "train_img_s", "sample_img_s", *[f"fidelity_{c}" for c in classes],
            "hist_w1", "nn_rms", "diversity", "fid", "precision", "coverage"]
    print(f"\nbudget {a.minutes:g} min per architecture, {a.size}x{a.size}, {a.n} samples per class; "
          f"real validation images: nn_rms {ref_nn:.4f} (reference), diversity 1 by definition, FID "
          f"{ref_enc['fid']}, precision {ref_enc['precision']}, coverage {ref_enc['coverage']}")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(str(r[h]) for h in head) + " |")
    if a.json:
        a.json.write_text(json.dumps({"rows": rows, "real_val_nn_rms": ref_nn, "real_val_encoder": ref_enc,
                                             "minutes": a.minutes}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
