"""Train the shipped chest X-ray feature encoder (cxr-encoder-64) and measure its sanity numbers.

Trains ONLY on the ``train`` split of the Kermany et al. (2018) pediatric chest X-rays
(CC BY 4.0, doi:10.17632/rscbjbr9sj.2), with a patient-aware fit/validation split inside
it (radsynth.generators.common.data.patient_split); validation is used for monitoring only (the
final weights are kept, no model selection). The held-out ``test`` split is used for
*evaluation only* (FID between train and test in the model card).

On ONE torch thread (``torch.set_num_threads(1)``), seeded and deterministic at a fixed
thread count. After training the saved encoder is reloaded from disk and measured:

- FID floor: train half A vs train half B (patients split in two);
- FID with Gaussian noise (sigma 0.02 / 0.05 / 0.1 / 0.2, grey units, clipped to [0, 1])
  and Gaussian blur (sigma 0.5 / 1 / 2 pixels at 64x64) added to half B: must grow
  monotonically above the floor;
- FID(NORMAL vs PNEUMONIA) and FID(train vs test) at equal set sizes, each with its
  own floor at the same size; KID (Binkowski et al. 2018) alongside.

Usage:
    .venv/bin/python scripts/train_cxr_encoder.py [--data DIR] [--dest DIR] [--seed 0] [--epochs 16]

DIR defaults: $RADSYNTH_SHARED_DATA/cxr-pneumonia or ../shared/data/cxr-pneumonia;
dest: src/radsynth/data/models/cxr-encoder-64 (config.json, weights.safetensors, MODEL_CARD.md, metrics.json).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from radsynth.generators.common.data import load_class_arrays, patient_split, shared_data_dir  # noqa: E402
from radsynth.core.machine import hardware_text  # noqa: E402
from radsynth.metrics.encoder import EncoderConfig, FeatureEncoder, train_encoder, validation_table  # noqa: E402
from radsynth.metrics.features import PixelEncoder  # noqa: E402
from radsynth.metrics.frechet import frechet_distance  # noqa: E402
from radsynth.metrics.perturb import add_noise, gaussian_blur  # noqa: E402
from radsynth.metrics.kid import kernel_inception_distance  # noqa: E402

NAME = "cxr-encoder-64"
SIZE = 64
VAL_FRACTION = 0.15
NOISE_SIGMAS = (0.02, 0.05, 0.1, 0.2)
BLUR_SIGMAS = (0.5, 1.0, 2.0)
GAMMAS = (0.8, 1.25)  # inside the training augmentation range: the features are meant to be fairly insensitive


def default_data() -> Path:
    return shared_data_dir() / "cxr-pneumonia"


def load_split(root: Path) -> tuple[np.ndarray, np.ndarray, list[str], list[str], tuple[str, ...]]:
    return load_class_arrays(root, SIZE)


def fingerprint(names: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()


def measure(enc, x: np.ndarray, y: np.ndarray, patients: list[str], xt: np.ndarray, seed: int) -> dict:
    """Sanity numbers of an encoder (see module docstring); equal set sizes wherever two numbers are compared."""
    t = time.perf_counter()
    f_all = enc(x)
    feat_per_s = len(x) / (time.perf_counter() - t)
    a_idx, b_idx = patient_split(patients, 0.5, seed=seed + 1)
    a_idx, b_idx = np.array(a_idx), np.array(b_idx)
    m = min(len(a_idx), len(b_idx))
    rng = np.random.default_rng(seed + 2)
    a_idx, b_idx = np.sort(rng.choice(a_idx, m, replace=False)), np.sort(rng.choice(b_idx, m, replace=False))
    fa, fb = f_all[a_idx], f_all[b_idx]
    xb = x[b_idx]

    def both(f1: np.ndarray, f2: np.ndarray) -> dict:
        k = kernel_inception_distance(f1, f2, n_subsets=50, subset_size=min(1000, len(f1), len(f2)), seed=seed)
        return {"fid": frechet_distance(f1, f2), "kid": k.mean, "kid_std": k.std, "n": [len(f1), len(f2)]}

    out: dict = {"features_per_second": feat_per_s, "halves": {"n_each": m}}
    out["halves"]["floor"] = both(fa, fb)
    out["halves"]["noise"] = {str(s): both(fa, enc(add_noise(xb, s, seed + 3))) for s in NOISE_SIGMAS}
    out["halves"]["blur"] = {str(s): both(fa, enc(gaussian_blur(xb, s))) for s in BLUR_SIGMAS}
    out["halves"]["flip_lr"] = both(fa, enc(np.ascontiguousarray(xb[:, :, ::-1])))
    out["halves"]["gamma"] = {str(g): both(fa, enc(xb**g)) for g in GAMMAS}
    # classes at equal size (the smaller class size), with a same-size floor from halves A / B
    n_cls = int(min((y == 0).sum(), (y == 1).sum()))
    i0 = np.sort(rng.choice(np.flatnonzero(y == 0), n_cls, replace=False))
    i1 = np.sort(rng.choice(np.flatnonzero(y == 1), n_cls, replace=False))
    nf = min(n_cls, m)
    out["classes"] = {"normal_vs_pneumonia": both(f_all[i0], f_all[i1]),
                      "floor_same_n": both(fa[rng.choice(m, nf, replace=False)], fb[rng.choice(m, nf, replace=False)])}
    # train vs held-out test at the test size, with a same-size train/train floor
    nt = min(len(xt), m)
    ft = enc(xt[np.sort(rng.choice(len(xt), nt, replace=False))])
    out["train_vs_test"] = {"train_vs_test": both(f_all[np.sort(rng.choice(len(x), nt, replace=False))], ft),
                            "floor_same_n": both(fa[rng.choice(m, nt, replace=False)], fb[rng.choice(m, nt, replace=False)])}
    fl = out["halves"]["floor"]["fid"]
    seq = [fl] + [out["halves"]["noise"][str(s)]["fid"] for s in NOISE_SIGMAS]
    seqb = [fl] + [out["halves"]["blur"][str(s)]["fid"] for s in BLUR_SIGMAS]
    out["monotone_noise"] = bool(all(u < v for u, v in zip(seq, seq[1:], strict=False)))
    out["monotone_blur"] = bool(all(u < v for u, v in zip(seqb, seqb[1:], strict=False)))
    return out



def _row(label: str, r: dict, floor: float | None) -> str:
    ratio = f"{r['fid'] / floor:.2f}x" if floor else "-"
    return f"| {label} | {r['n'][0]} / {r['n'][1]} | {r['fid']:.4g} | {ratio} | {r['kid']:.3g} +- {r['kid_std']:.2g} |"


def table(meas: dict) -> str:
    h = meas["halves"]
    fl = h["floor"]["fid"]
    rows = ["| comparison | N per side | FID | / floor | KID (mean +- std over 50 subsets) |", "|---|---|---|---|---|",
            _row("train half A vs train half B (floor)", h["floor"], fl)]
    rows += [_row(f"A vs B + Gaussian noise sigma {s}", h["noise"][str(s)], fl) for s in NOISE_SIGMAS]
    rows += [_row(f"A vs B blurred, Gaussian sigma {s} px", h["blur"][str(s)], fl) for s in BLUR_SIGMAS]
    rows += [_row("A vs B flipped left-right", h["flip_lr"], fl)]
    rows += [_row(f"A vs B with gamma {g} (x ** {g})", h["gamma"][str(g)], fl) for g in GAMMAS]
    c, tt = meas["classes"], meas["train_vs_test"]
    rows += [_row("floor at the class size (A vs B subsets)", c["floor_same_n"], c["floor_same_n"]["fid"]),
             _row("NORMAL vs PNEUMONIA (train split)", c["normal_vs_pneumonia"], c["floor_same_n"]["fid"]),
             _row("floor at the test size (A vs B subsets)", tt["floor_same_n"], tt["floor_same_n"]["fid"]),
             _row("train split vs held-out test split", tt["train_vs_test"], tt["floor_same_n"]["fid"])]
    return "\n".join(rows)


CARD = """# {name}: chest X-ray feature encoder for FID / KID / PRDC and nearest neighbours, 64x64

A small CNN shipped with radsynth that maps grey chest X-rays to {dim}-d feature vectors,
for distribution metrics (Fréchet distance, KID, precision / recall / density / coverage)
and feature-space nearest neighbours (memorisation / privacy audits). It replaces
Inception-v3 (not shipped, trained on photographs): numbers computed with it are **not
comparable with published Inception FIDs**; always name the encoder with the number
(e.g. "FID_{name}"). **Not a diagnostic device.**

Load: `from radsynth.metrics.encoder import load_encoder; enc = load_encoder("{name}")`;
`enc(images)` takes grey images `(N, H, W)` in [0, 1] (centre-cropped and resized to 64x64
as in `radsynth.generators.common.data.resize_image`, then `(x - {mean:.4f}) / {std:.4f}`) and
returns `(N, {dim})` float64 features; use with
`radsynth.metrics.frechet.FrechetDistance(encoder=enc)` etc.

## Data

- Kermany, Zhang, Goldbaum (2018), *Labeled Optical Coherence Tomography (OCT) and Chest X-Ray Images
  for Classification*, Mendeley Data v2, doi:10.17632/rscbjbr9sj.2, **CC BY 4.0**: pediatric AP chest
  X-rays (Guangzhou Women and Children's Medical Center), a 224x224 resized copy.
- Data fingerprint (train split, the only data trained on): {n_train_total} images ({train_counts}),
  {n_patients} patients; sha256 of the sorted `CLASS/file` list: `{fp_train}`.
- Split **by patient** with `patient_split(val_fraction={vf}, seed={seed})`: fit {n_fit} images
  ({fit_counts}), validation {n_val} images ({val_counts}), used for monitoring only (final weights kept).
- Held-out test split (evaluation only, never trained on): {n_test} images ({test_counts}); its file-list
  hash: `{fp_test}`.

## Model

- MONAI `ResNet` (2D, basic residual blocks, layers {layers}, widths {widths}, 3x3 stride-2 stem, no
  max-pool, batch norm, ReLU), global average pooling -> {dim}-d features; {params:,} parameters;
  weights float32 safetensors, {wsize_kb:.0f} kB. A different network, loss and run from the reference
  classifier `cxr-classifier-64` (MONAI `Classifier`), so the two judge independently.
- Objective: SimCLR NT-Xent (Chen et al., ICML 2020, arXiv:2002.05709; same value as MONAI `ContrastiveLoss`,
  computed as a masked-similarity cross-entropy; temperature {temp}) on a 2-layer projection head (dropped after training) + {cew} x class-balanced
  cross-entropy on a linear NORMAL / PNEUMONIA head (dropped) over both views.
- Views: random resized crop (area 60-100 %, aspect 3/4-4/3), rotation +-10 deg, gamma 0.75-1.33;
  deliberately **no noise, no blur, no flips**, so that noise, over-smoothing and laterality errors
  move the features (an encoder is blind to what its augmentations vary).
- Optimiser: AdamW (lr {lr}, weight decay 1e-4, 10 % linear warm-up then cosine decay), {epochs} epochs x {steps} steps of
  {bs} images (2 views each); seed {seed}; stop reason: {stopped}.

## Training cost

- {train_s:.0f} s wall ({train_min:.1f} min) for training on **one torch thread** of {hardware},
  torch {torch} (CPU, fp32, channels-last); {total_min:.1f} min for the whole script (reading images,
  training, measurements).
- Feature extraction: about {fps:.0f} images/s on one thread.

## Validation during training (held-out patients of the train split)

{val_table}

`knn` = balanced accuracy of a 5-nearest-neighbour vote (cosine) of validation features among fit
features (chance 0.5); `view top-1` = fraction of validation images whose augmented view (crop,
rotation, gamma) has its own image as nearest neighbour among all {n_val} validation images.

## Sanity numbers (measured with the shipped weights, reloaded from disk)

Halves A / B: the whole train split divided by patient (`patient_split(0.5, seed={seed1})`), subsampled
to equal size. Degradations are applied to half B only (noise clipped to [0, 1]; blur = Gaussian
filter with the given sigma in pixels of the 64x64 image). FID is biased upwards at small N (Chong &
Forsyth 2020), so each comparison is listed with a floor at the same N; KID is unbiased (0 = same
distribution).

{sanity}

- Noise: FID {noise_mono} monotonically with sigma ({noise_seq}).
- Blur: FID {blur_mono} monotonically with sigma ({blur_seq}); blur sigma 0.5 is
  {blur05:.2f}x the floor.
- Left-right flip: {flip:.2f}x the floor (no flips in training: laterality is seen). Gamma 0.8 / 1.25
  (inside the training augmentation range): {g08:.2f}x / {g125:.2f}x the floor, i.e. global intensity
  changes of this size are seen only weakly; check intensity distributions with `radsynth.metrics.intensity`.
- Scale: the encoder is very sensitive to pixel noise. Noise sigma 0.05 moves FID about as far as the
  NORMAL vs PNEUMONIA difference; a generator that leaves faint residual noise will score badly
  however right its anatomy. Read FID together with class fidelity and the noise / blur rows above.
- For comparison, the weight-free `PixelEncoder(16)` (16x16 block means, 256-d) gives floor {pfloor:.4g},
  noise 0.02 -> {pnoise:.4g}, blur 0.5 -> {pblur:.4g} (its own units): blind to both.

## Intended use and limits

- Intended: FID / KID / PRDC between real and generated 64x64 pediatric chest X-rays, and
  feature-space nearest neighbours (is a generated image a near copy of a training image?).
- Trained on the same train split that generators are trained on: train-vs-generated distances are
  measured in a space fitted to the real training images. Compare generators with each other and with
  the floors above, not with numbers from other encoders.
- Not for adult, PA or other-site images without retraining; at 64x64 fine findings are lost.
  Features are made largely insensitive to moderate crops, rotations and gamma (the training views).
- Any clinical or diagnostic use is out of scope.

## License

Weights: Apache-2.0 (as radsynth), derived from data under CC BY 4.0: cite Kermany D, Zhang K,
Goldbaum M (2018), doi:10.17632/rscbjbr9sj.2, and Kermany et al., Cell 172(5):1122-1131, 2018.

Reproduce: `.venv/bin/python scripts/train_cxr_encoder.py --seed {seed} --epochs {epochs_arg}` (runs on one torch
thread; {repro}). On another CPU or torch build the float rounding differs and training drifts to a slightly
different, statistically equivalent model: compare numbers only when computed with the same weights
(sha256 of weights.safetensors: `{wsha}`).
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=default_data())
    ap.add_argument("--dest", type=Path, default=REPO / "src" / "radsynth" / "data" / "models" / NAME)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--temperature", type=float, default=0.2)
    ap.add_argument("--ce-weight", type=float, default=1.0)
    ap.add_argument("--max-minutes", type=float, default=15.0, help="training time cap (the run stops early if hit)")
    ap.add_argument("--expect-sha256", default=None,
                    help="sha256 of weights.safetensors from an earlier run with the same arguments: the card reports "
                         "whether this run reproduced it bit for bit")
    ap.add_argument("--max-images", type=int, default=0, help="use only this many train images (quick checks; 0 = all)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # one core is reserved for other work; also makes the run reproducible

    t0 = time.perf_counter()
    x, y, patients, names, classes = load_split(args.data / "train")
    xt, yt, _, names_t, classes_t = load_split(args.data / "test")
    assert classes == classes_t == ("NORMAL", "PNEUMONIA"), (classes, classes_t)
    fp_train = fingerprint(names)
    if args.max_images:
        keep = np.sort(np.random.default_rng(args.seed).choice(len(x), min(args.max_images, len(x)), replace=False))
        x, y, patients, names = x[keep], y[keep], [patients[i] for i in keep], [names[i] for i in keep]
    print(f"read {len(y)} train + {len(yt)} test images in {time.perf_counter() - t0:.0f} s", flush=True)
    fit, val = patient_split(patients, VAL_FRACTION, seed=args.seed)
    assert not {patients[i] for i in fit} & {patients[i] for i in val}

    xf = x[fit]
    cfg = EncoderConfig(image_size=SIZE, norm_mean=round(float(xf.mean()), 4), norm_std=round(float(xf.std()), 4),
                        class_names=classes)
    enc, rep = train_encoder(
        xf, y[fit], x[val], y[val], cfg, seed=args.seed, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        temperature=args.temperature, ce_weight=args.ce_weight, max_minutes=args.max_minutes,
        log=lambda s: print(s, flush=True),
    )
    print(f"trained {rep.epochs} epochs in {rep.seconds:.0f} s ({rep.stopped})", flush=True)
    d = enc.save(args.dest)
    enc = FeatureEncoder.load(d)  # measure exactly what ships
    meas = measure(enc, x, y, patients, xt, args.seed)
    pix = measure(PixelEncoder(16), x, y, patients, xt, args.seed)
    print(table(meas), flush=True)
    print("pixel-16:\n" + table(pix), flush=True)

    wsha = hashlib.sha256((d / "weights.safetensors").read_bytes()).hexdigest()
    if args.expect_sha256 is None:
        repro = "seeded; this run was not compared with an earlier one"
    elif args.expect_sha256.lower() == wsha:
        repro = "a second run on the same machine reproduced the weights bit for bit"
    else:
        repro = f"this run's weights differ from the expected sha256 {args.expect_sha256[:12]}...: NOT reproduced"
    print(f"weights sha256 {wsha}; {repro}", flush=True)
    counts = lambda yy: ", ".join(f"{c} {int((yy == i).sum())}" for i, c in enumerate(classes))  # noqa: E731
    h = meas["halves"]
    noise_seq = " < ".join(f"{v:.3g}" for v in [h["floor"]["fid"]] + [h["noise"][str(s)]["fid"] for s in NOISE_SIGMAS])
    blur_seq = " < ".join(f"{v:.3g}" for v in [h["floor"]["fid"]] + [h["blur"][str(s)]["fid"] for s in BLUR_SIGMAS])
    total_s = time.perf_counter() - t0
    card = CARD.format(
        name=NAME, dim=cfg.feature_dim, mean=cfg.norm_mean, std=cfg.norm_std,
        n_train_total=len(y), train_counts=counts(y), n_patients=len(set(patients)), fp_train=fp_train,
        vf=VAL_FRACTION, seed=args.seed, n_fit=len(fit), fit_counts=counts(y[fit]), n_val=len(val),
        val_counts=counts(y[val]), n_test=len(yt), test_counts=counts(yt), fp_test=fingerprint(names_t),
        layers=list(cfg.layers), widths=list(cfg.block_inplanes), params=enc.n_parameters(),
        wsize_kb=(d / "weights.safetensors").stat().st_size / 1024, temp=args.temperature, cew=args.ce_weight,
        lr=args.lr, epochs=rep.epochs, epochs_arg=args.epochs, steps=len(fit) // args.batch_size, bs=args.batch_size,
        stopped=rep.stopped, train_s=rep.seconds, train_min=rep.seconds / 60, hardware=hardware_text(),
        torch=torch.__version__, total_min=total_s / 60, fps=meas["features_per_second"],
        val_table=validation_table(rep.history), seed1=args.seed + 1, sanity=table(meas),
        noise_mono="grows" if meas["monotone_noise"] else "does **not** grow",
        blur_mono="grows" if meas["monotone_blur"] else "does **not** grow",
        noise_seq=noise_seq if meas["monotone_noise"] else noise_seq.replace(" < ", ", "),
        blur_seq=blur_seq if meas["monotone_blur"] else blur_seq.replace(" < ", ", "),
        blur05=h["blur"]["0.5"]["fid"] / h["floor"]["fid"], flip=h["flip_lr"]["fid"] / h["floor"]["fid"],
        g08=h["gamma"]["0.8"]["fid"] / h["floor"]["fid"], g125=h["gamma"]["1.25"]["fid"] / h["floor"]["fid"],
        repro=repro, wsha=wsha, pfloor=pix["halves"]["floor"]["fid"],
        pnoise=pix["halves"]["noise"]["0.02"]["fid"], pblur=pix["halves"]["blur"]["0.5"]["fid"],
    )
    if args.max_images:
        card = card.replace("# " + NAME, f"# {NAME} (QUICK CHECK on {len(y)} images: not for shipping)", 1)
    (d / "MODEL_CARD.md").write_text(card)
    (d / "metrics.json").write_text(json.dumps(
        {"encoder": meas, "pixel16": pix, "train_seconds": rep.seconds, "total_seconds": total_s,
         "stopped": rep.stopped, "history": rep.history, "args": {k: str(v) for k, v in vars(args).items()}},
        indent=1) + "\n")
    print(f"wrote {d} in {total_s:.0f} s total", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
