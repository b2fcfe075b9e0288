"""Train the shipped reference chest X-ray classifier (pneumonia vs normal) at 64x64.

Trains ONLY on the ``train`` split of the Kermany et al. (2018) pediatric chest X-rays
(CC BY 4.0, doi:10.17632/rscbjbr9sj.2), with a patient-aware train/validation split
inside it (radsynth.generators.common.data.patient_split). Early stopping and the decision
threshold use the validation split only; the held-out ``test`` split is evaluated once
at the end and reported in the model card (never used for any choice).

Usage:
    .venv/bin/python scripts/train_cxr_classifier.py [--data DIR] [--dest DIR] [--seed 0] [--max-minutes 10]

DIR defaults: $RADSYNTH_SHARED_DATA/cxr-pneumonia or ../shared/data/cxr-pneumonia;
dest: src/radsynth/data/models/cxr-classifier-64 (config.json, weights.safetensors, MODEL_CARD.md).
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
from radsynth.metrics.classifier import ClassifierConfig, train_classifier  # noqa: E402
from radsynth.metrics.roc import bootstrap_auc_ci, per_class_accuracy, roc_auc  # noqa: E402

NAME = "cxr-classifier-64"
SIZE = 64
VAL_FRACTION = 0.15


def default_data() -> Path:
    return shared_data_dir() / "cxr-pneumonia"


def load_split(root: Path) -> tuple[np.ndarray, np.ndarray, list[str], list[str], tuple[str, ...]]:
    return load_class_arrays(root, SIZE)


def fingerprint(names: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()


def evaluate(model, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> dict:
    p = model.predict_proba(x)[:, 1]
    pred = model.predict(x)
    acc = per_class_accuracy(pred, y, 2)
    lo, hi = bootstrap_auc_ci(p, y, rng, n_boot=2000)
    return {
        "n": {c: int((y == i).sum()) for i, c in enumerate(model.class_names)},
        "accuracy_per_class": {c: acc[i] for i, c in enumerate(model.class_names)},
        "balanced_accuracy": float(np.mean(acc)),
        "accuracy": float((pred == y).mean()),
        "auc": roc_auc(p, y),
        "auc_ci95": [lo, hi],
    }


def fmt_metrics(m: dict, names: tuple[str, ...]) -> str:
    n_txt = ", ".join(f"{c} {m['n'][c]}" for c in names)
    rows = [f"| images | {n_txt} |"]
    for c in names:
        rows.append(f"| accuracy on {c} (recall) | {m['accuracy_per_class'][c]:.3f} |")
    rows += [
        f"| balanced accuracy | {m['balanced_accuracy']:.3f} |",
        f"| accuracy | {m['accuracy']:.3f} |",
        f"| AUC (p({names[1]})) | {m['auc']:.4f} (95% CI {m['auc_ci95'][0]:.4f}-{m['auc_ci95'][1]:.4f}, "
        "stratified bootstrap, 2000 resamples) |",
    ]
    return "| metric | value |\n|---|---|\n" + "\n".join(rows)


CARD = """# {name}: reference chest X-ray classifier (pneumonia vs normal), 64x64

A small CNN shipped with radsynth as a **reference judge**: it checks that a
class-conditional generator produces the class it was asked for, and serves as a
baseline for utility / classifier two-sample tests. **It is not a diagnostic device**
and must not be used on patients.

Load: `from radsynth.metrics import load_shipped; clf = load_shipped("{name}")`;
`clf.predict_proba(images)` takes grey images `(N, H, W)` in [0, 1] (resized to 64x64
by centre crop + anti-aliased resize, then min-max scaled per image) and returns
`(N, 2)` probabilities for `{classes}`; `clf.predict(images)` applies the decision
threshold p({pos}) >= {thr:.4f}, chosen on the validation split (balanced accuracy).

## Data

- Kermany, Zhang, Goldbaum (2018), *Labeled Optical Coherence Tomography (OCT) and Chest X-Ray Images
  for Classification*, Mendeley Data v2, doi:10.17632/rscbjbr9sj.2, **CC BY 4.0**: pediatric AP chest
  X-rays (Guangzhou Women and Children's Medical Center), a 224x224 resized copy.
- Trained on the **train split only**: {n_train_total} images ({train_counts}),
  {n_patients} patients; sha256 of the sorted `CLASS/file` list: `{fp_train}`.
- Split **by patient** (id from the file name; `NORMAL2-IM-NNNN` merged with `IM-NNNN`) with
  `patient_split(val_fraction={vf}, seed={seed})`: fit {n_fit} images ({fit_counts}),
  validation {n_val} images ({val_counts}); no patient on both sides.
- Held-out **test split** (never used for training, early stopping or threshold): {n_test} images
  ({test_counts}); sha256 of its file list: `{fp_test}`.

## Model

- MONAI `Classifier` (residual units, batch norm, ReLU, dropout {dropout}); channels {channels},
  strides {strides}; {params:,} parameters; weights float32 safetensors, {wsize_kb:.0f} kB.
- Input: 1x64x64, per-image min-max to [0, 1], then (x - {mean}) / {std}.
- Training: class-weighted cross-entropy, AdamW (lr {lr}, weight decay 1e-4, one-cycle schedule),
  batch 64, augmentation = shifts up to 4 px, zoom 0.9-1.1, gamma 0.75-1.33, Gaussian noise sigma <= 0.02
  (no flips or rotations: laterality matters in chest X-rays); weights of the epoch with the best
  validation AUC kept ({best_epoch} of {epochs} epochs run; stop reason: {stopped}); seed {seed}.
- Training time: {train_s:.0f} s wall ({train_min:.1f} min) on {hardware}, torch {torch} (CPU, fp32;
  bf16 autocast was measured slower on this CPU).

## Validation metrics (train split, held-out patients; used for model selection)

{val_table}

## Held-out test metrics (test split, evaluated once)

{test_table}

## Against the 85 %-per-class target (issue #3)

{target}

## Intended use and limits

- Intended: reference judge for class-conditioning checks (e.g. ">= 85 % of generated 'pneumonia'
  images are labelled pneumonia") and utility baselines in radsynth's evaluations, at 64x64.
- Not intended: any clinical or diagnostic use. Trained on one hospital's pediatric AP films; it will
  not transfer to adult, PA or other-site images. At 64x64 fine findings are lost.
- Known dataset caveat: the Kermany test split is known to be distributed somewhat differently from
  its train split (the normal-class test accuracy of models trained on it is typically lower than
  validation accuracy).

## License

Weights: Apache-2.0 (as radsynth), derived from data under CC BY 4.0: cite Kermany D, Zhang K,
Goldbaum M (2018), doi:10.17632/rscbjbr9sj.2, and Kermany et al., Cell 172(5):1122-1131, 2018.

Reproduce: `.venv/bin/python scripts/train_cxr_classifier.py --seed {seed}` (results depend slightly
on the torch thread count).
"""


def target_text(m_val: dict, m_test: dict, names: tuple[str, ...]) -> str:
    lines = []
    for label, m in (("validation", m_val), ("held-out test", m_test)):
        acc = m["accuracy_per_class"]
        ok = all(acc[c] >= 0.85 for c in names)
        lines.append(f"- {label}: " + ", ".join(f"{c} {acc[c]:.3f}" for c in names) + (" -> met." if ok else " -> **not met**."))
    lines.append(
        "- The decision threshold was chosen on validation only and was not re-tuned on the test split (that would\n"
        "  leak it). Where the test target is missed while the test AUC stays high, the ranking transfers but the\n"
        "  operating point does not: test-split images of one class score differently from validation images of\n"
        "  that class (a known shift between the Kermany train and test splits). Generated images imitate the\n"
        "  train distribution, so validation numbers are the closer guide for judging them; checks that must\n"
        "  hold on test-like images should prefer threshold-free criteria (AUC)."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=default_data())
    ap.add_argument("--dest", type=Path, default=REPO / "src" / "radsynth" / "data" / "models" / NAME)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-minutes", type=float, default=10.0)
    ap.add_argument("--max-epochs", type=int, default=24)
    ap.add_argument("--lr", type=float, default=2e-3)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    x, y, patients, names, classes = load_split(args.data / "train")
    xt, yt, _, names_t, classes_t = load_split(args.data / "test")
    assert classes == classes_t == ("NORMAL", "PNEUMONIA"), (classes, classes_t)
    print(f"read {len(y)} train + {len(yt)} test images in {time.perf_counter() - t0:.0f} s", flush=True)
    fit, val = patient_split(patients, VAL_FRACTION, seed=args.seed)
    assert not {patients[i] for i in fit} & {patients[i] for i in val}

    cfg = ClassifierConfig(image_size=SIZE, class_names=classes)
    model, rep = train_classifier(
        x[fit], y[fit], x[val], y[val], cfg, seed=args.seed, max_minutes=args.max_minutes,
        max_epochs=args.max_epochs, lr=args.lr, log=lambda s: print(s, flush=True),
    )
    print(f"trained {rep.epochs} epochs in {rep.seconds:.0f} s; best epoch {rep.best_epoch} "
          f"val AUC {rep.best_val_auc:.4f}; threshold {rep.threshold}", flush=True)
    rng = np.random.default_rng(args.seed)
    m_val = evaluate(model, x[val], y[val], rng)
    m_test = evaluate(model, xt, yt, rng)
    print("val", json.dumps(m_val), "\ntest", json.dumps(m_test), flush=True)

    d = model.save(args.dest)
    counts = lambda yy: ", ".join(f"{c} {int((yy == i).sum())}" for i, c in enumerate(classes))  # noqa: E731
    hardware = hardware_text(torch.get_num_threads())
    card = CARD.format(
        name=NAME, classes=list(classes), pos=classes[1], thr=model.config.threshold,
        n_train_total=len(y), train_counts=counts(y), n_patients=len(set(patients)), fp_train=fingerprint(names),
        vf=VAL_FRACTION, seed=args.seed, n_fit=len(fit), fit_counts=counts(y[fit]), n_val=len(val),
        val_counts=counts(y[val]), n_test=len(yt), test_counts=counts(yt), fp_test=fingerprint(names_t),
        dropout=cfg.dropout, channels=list(cfg.net_channels), strides=list(cfg.net_strides),
        params=model.n_parameters(), wsize_kb=(d / "weights.safetensors").stat().st_size / 1024,
        mean=cfg.norm_mean, std=cfg.norm_std, lr=args.lr, best_epoch=rep.best_epoch, epochs=rep.epochs,
        stopped=rep.stopped, train_s=rep.seconds, train_min=rep.seconds / 60, hardware=hardware,
        torch=torch.__version__, val_table=fmt_metrics(m_val, classes), test_table=fmt_metrics(m_test, classes),
        target=target_text(m_val, m_test, classes),
    )
    (d / "MODEL_CARD.md").write_text(card)
    (d / "metrics.json").write_text(json.dumps(
        {"val": m_val, "test": m_test, "train_seconds": rep.seconds, "history": rep.history}, indent=1) + "\n")
    print(f"wrote {d} in {time.perf_counter() - t0:.0f} s total", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
