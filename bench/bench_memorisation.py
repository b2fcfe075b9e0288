"""Memorisation / membership-inference audit on real chest X-rays (issue #4 acceptance); prints flagged rates.

Setup (Kermany et al. 2018 chest X-rays, ``../shared/data/cxr-pneumonia``):

* training set: the ``train`` split minus a patient-disjoint part
  (:func:`radsynth.generators.common.data.patient_split`, ``--standin-fraction``);
* synthetic set: ``--n-synthetic`` images = ``--n-planted`` training images,
  each shifted by 1-2 working pixels (at native resolution), with Gaussian noise
  (sigma 0.02) and JPEG re-encoding (quality 75), mixed into real images of the
  held-back patients. Those real images are a STAND-IN for generator output
  (no generator is used unless ``--synthetic DIR`` is given): they are genuine
  new images of the same population, so any of them flagged is a false positive
  (or a duplicate image in the data set under another patient id);
* the copy threshold is calibrated on the ``test`` split (never trained on):
  distances of test images to their nearest training image;
* membership inference: members = training images, non-members = test split.

Usage: python bench/bench_memorisation.py [--threads 1] [--n-synthetic 2000] [--synthetic DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _shared_data() -> Path | None:
    env = os.environ.get("RADSYNTH_SHARED_DATA")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if (cand / "cxr-pneumonia" / "train").is_dir() and (cand / "cxr-pneumonia" / "test").is_dir():
            return cand
    return None


def _perturb(img: np.ndarray, rng: np.random.Generator, working: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Shift by 1-2 working pixels (integer native pixels, edge-replicated), add noise, JPEG q75 round trip."""
    from PIL import Image
    from scipy.ndimage import shift as nd_shift

    scale = min(img.shape) / working
    while True:
        w = rng.integers(-2, 3, 2)
        if np.abs(w).max() >= 1:
            break
    sh = (int(round(w[0] * scale)), int(round(w[1] * scale)))
    out = nd_shift(img.astype(np.float64), sh, order=0, mode="nearest")
    out = np.clip(out + rng.normal(0.0, 0.02, out.shape), 0.0, 1.0)
    buf = io.BytesIO()
    Image.fromarray(np.round(out * 255).astype(np.uint8)).save(buf, format="JPEG", quality=75)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("L"), dtype=np.float32) / 255.0, (int(w[0]), int(w[1]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n-synthetic", type=int, default=2000)
    ap.add_argument("--n-planted", type=int, default=50)
    ap.add_argument("--standin-fraction", type=float, default=0.4, help="share of train-split patients held back")
    ap.add_argument("--synthetic", type=Path, default=None, help="folder of generated images instead of stand-ins")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--max-shift", type=int, default=3)
    ap.add_argument("--quantile", type=float, default=0.001)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)

    data = _shared_data()
    if data is None:
        print("skipped: ../shared/data/cxr-pneumonia/{train,test} not found (set RADSYNTH_SHARED_DATA)")
        return 0
    import torch

    torch.set_num_threads(a.threads)
    from radsynth.generators.common.data import patient_split, read_image, scan_class_folder
    from radsynth.metrics.class_fidelity import wilson_interval
    from radsynth.privacy import MembershipInference, MemorisationAudit

    rng = np.random.default_rng(a.seed)
    t0 = time.perf_counter()
    train_ds = scan_class_folder(data / "cxr-pneumonia" / "train")
    test_ds = scan_class_folder(data / "cxr-pneumonia" / "test")
    patients = [it.patient for it in train_ds.items]
    tr_idx, standin_idx = patient_split(patients, a.standin_fraction if a.synthetic is None else 0.0, seed=a.seed)
    training = [read_image(train_ds.items[i].path) for i in tr_idx]
    training_patients = [patients[i] for i in tr_idx]
    heldout = [read_image(it.path) for it in test_ds.items]

    planted_src = rng.choice(len(training), a.n_planted, replace=False)
    planted, planted_shift = [], []
    for i in planted_src:
        img, w = _perturb(training[i], rng, a.size)
        planted.append(img)
        planted_shift.append(w)
    if a.synthetic is None:
        n_other = a.n_synthetic - a.n_planted
        if n_other > len(standin_idx):
            print(f"only {len(standin_idx)} held-back images; raise --standin-fraction")
            return 2
        pick = np.sort(rng.choice(len(standin_idx), n_other, replace=False))
        others = [read_image(train_ds.items[standin_idx[j]].path) for j in pick]
        source = "stand-in: real train-split images of held-back patients (no generator used)"
    else:
        gen = scan_class_folder(a.synthetic)
        others = [read_image(it.path) for it in gen.items]
        source = f"generated images from {a.synthetic}"
    synthetic = others + planted
    is_planted = np.r_[np.zeros(len(others), bool), np.ones(len(planted), bool)]
    t_load = time.perf_counter() - t0

    print(f"data: {data / 'cxr-pneumonia'}; training {len(training)} images ({len(set(training_patients))} patients), "
          f"held-out (test split) {len(heldout)}, synthetic {len(synthetic)} = {len(others)} others + "
          f"{len(planted)} planted; others: {source}; threads {a.threads}; loading {t_load:.0f} s")

    t1 = time.perf_counter()
    audit = MemorisationAudit(size=a.size, max_shift=a.max_shift, quantile=a.quantile, n_closest=10)
    res = audit(synthetic, training, heldout, training_patients=training_patients)
    t_mem = time.perf_counter() - t1
    sens = int(res.flagged[is_planted].sum())
    fp = int(res.flagged[~is_planted].sum())
    traced = int((res.nearest_training[is_planted] == planted_src).sum())
    # scipy's shift moves content by +w, so the query crop matching the training centre sits at +w working px
    shift_ok = int((res.nearest_shift[is_planted] == np.array(planted_shift)).all(axis=1).sum())
    s_lo, s_hi = wilson_interval(sens, len(planted))
    f_lo, f_hi = wilson_interval(fp, len(others))
    print(f"memorisation ({res.distance}); {t_mem:.1f} s")
    print(f"  threshold {res.threshold:.4f} = quantile {a.quantile} of test->train NN distances "
          f"(min {res.heldout_summary['min']:.4f}, median {res.heldout_summary['median']:.4f})")
    print(f"  planted flagged {sens}/{len(planted)} = {sens / len(planted):.1%} (95% CI {s_lo:.1%}-{s_hi:.1%}); "
          f"nearest training image is the source for {traced}/{len(planted)}, shift recovered for {shift_ok}; "
          f"planted distance median "
          f"{np.median(res.nearest_distance[is_planted]):.4f}, max {res.nearest_distance[is_planted].max():.4f}")
    print(f"  others flagged {fp}/{len(others)} = {fp / len(others):.2%} (95% CI {f_lo:.2%}-{f_hi:.2%}); "
          f"others' NN distance min {res.nearest_distance[~is_planted].min():.4f}, "
          f"median {np.median(res.nearest_distance[~is_planted]):.4f}")
    print(f"  overall memorised fraction {res.fraction:.2%} (CI {res.ci[0]:.2%}-{res.ci[1]:.2%}); "
          f"patients copied: {res.n_patients_copied}")
    for c in res.closest[:5]:
        kind = "planted" if is_planted[c["synthetic_index"]] else "other"
        print(f"    closest: synthetic {c['synthetic_index']} ({kind}) <-> training {c['training_index']} "
              f"({c['patient']}) d={c['distance']:.4f} shift={c['shift']}")
    non_planted_flags = [c for c in res.closest if c["memorised"] and not is_planted[c["synthetic_index"]]]
    for c in non_planted_flags[:5]:
        print(f"    flagged non-planted: synthetic {c['synthetic_index']} -> training {c['training_index']} "
              f"({c['patient']}) d={c['distance']:.4f}")

    t2 = time.perf_counter()
    mia = MembershipInference(size=a.size, max_shift=a.max_shift, seed=a.seed)(synthetic, training, heldout)
    t_mia = time.perf_counter() - t2
    print(f"membership inference: AUC {mia.auc:.3f} (95% CI {mia.ci[0]:.3f}-{mia.ci[1]:.3f}), TPR at 1% FPR "
          f"{mia.tpr_at_low_fpr:.3f}; {mia.n_members} members (of {mia.n_members_total}) vs {mia.n_nonmembers} "
          f"non-members; {t_mia:.1f} s")
    if a.json:
        a.json.write_text(json.dumps({
            "memorisation": res.to_dict(), "membership": mia.to_dict(), "planted_flagged": sens,
            "n_planted": len(planted), "others_flagged": fp, "n_others": len(others), "others_source": source,
            "seconds": {"load": t_load, "memorisation": t_mem, "membership": t_mia}, "threads": a.threads,
        }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
