"""`radsynth evaluate` on the Kermany chest X-rays with the shipped generator; prints one table.

Steps (all on ``../shared/data/cxr-pneumonia``; nothing is downloaded):

1. Synthetic set: ``--n-per-class`` images per class sampled from ``--model`` (default the
   shipped ``cxr-ddpm-64``; the model's measured default sampler, steps and guidance) into
   ``WORK/synthetic/<CLASS>`` (reused when present; ``--synthetic DIR`` uses a folder you made).
2. Held-out manifest ``WORK/test_manifest.csv``: the ``test`` split with a ``pathogen``
   attribute read from the file names (none / bacteria / virus) for the fairness section.
3. ``radsynth evaluate --real train --synthetic ... --test WORK/test_manifest.csv`` with the
   full preset into ``WORK/report`` (``--resume`` continues an interrupted run).
4. Optional baseline (``--baseline-model DIR``, e.g. the MONAI 2d_ddpm tutorial recipe
   trained by ``scripts/train_monai_tutorial_ddpm.py`` for the same CPU minutes): the same
   number of samples, then FID / KID / PRDC / C2ST only, side by side with the shipped model.

Usage: python bench/bench_cxr.py [--work runs/bench-cxr] [--threads 2] [--n-per-class 1000]
       [--synthetic DIR] [--baseline-model DIR] [--preset full|quick] [--resume]
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _shared_data() -> Path | None:
    from radsynth.generators.common.data import shared_data_dir

    d = shared_data_dir()
    return d if (d / "cxr-pneumonia" / "train").is_dir() and (d / "cxr-pneumonia" / "test").is_dir() else None


def _pathogen(name: str) -> str:
    low = name.lower()
    return "bacteria" if "bacteria" in low else ("virus" if "virus" in low else "none")


def write_test_manifest(test_dir: Path, dest: Path) -> Path:
    from radsynth.generators.common.data import patient_id, scan_class_folder

    cf = scan_class_folder(test_dir, require_classes=2)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "class", "patient", "pathogen"])
        for it in cf.items:
            w.writerow([str(it.path), it.label, patient_id(it.path.name), _pathogen(it.path.name)])
    return dest


def sample_set(model: str, dest: Path, n: int, threads: int, classes: tuple[str, ...], seed0: int) -> Path:
    """``n`` samples per class with ``radsynth sample`` (reused when the folder is complete); an unconditional
    model (no classes in its config, e.g. the MONAI tutorial recipe) gives ``n * len(classes)`` unlabelled images."""
    cfg_file = Path(model) / "config.json"
    conditional = True
    if cfg_file.is_file():
        conditional = bool(json.loads(cfg_file.read_text()).get("model", {}).get("classes"))
    jobs = [(cls, n, ["--label", cls]) for cls in classes] if conditional else [("unlabelled", n * len(classes), [])]
    for k, (name, count, extra) in enumerate(jobs):
        d = dest / name
        if (d / "manifest.parquet").is_file():
            continue
        cmd = [sys.executable, "-m", "radsynth.cli.main", "sample", "--model", model, "--n", str(count), *extra,
               "--seed", str(seed0 + k), "--threads", str(threads), "--out", str(d)]
        print("+", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
    return dest if conditional else dest / "unlabelled"


def fmt(v, digits=3):
    return "-" if v is None else f"{v:.{digits}f}"


def ci(v, c, digits=3):
    return "-" if v is None else f"{v:.{digits}f} [{c[0]:.{digits}f}, {c[1]:.{digits}f}]"


def print_table(m: dict, title: str) -> None:
    s = m["sections"]
    rows = [("section", "metric", "value", "reference / note")]
    fid = s["fidelity"]["metrics"]
    if s["fidelity"]["status"] == "ok":
        sv = fid["synthetic_vs_real"]
        rows += [("fidelity", "FID matched n (encoder)", fmt(m["fid_matched_n"], 2),
                  f"real held-out {fmt(m['fid_heldout_matched_n'], 2)}"),
                 ("fidelity", "KID x1000", fmt(None if m["kid"] is None else 1e3 * m["kid"], 2),
                  f"held-out {fmt(1e3 * fid['heldout_vs_real']['kid']['mean'], 2)}"
                  if "heldout_vs_real" in fid else ""),
                 ("fidelity", "precision / recall", f"{fmt(m['precision'])} / {fmt(m['recall'])}", ""),
                 ("fidelity", "density / coverage", f"{fmt(m['density'])} / {fmt(m['coverage'])}", ""),
                 ("fidelity", "grey W1 / spectrum", f"{fmt(sv['intensity']['w1'], 4)} / "
                  f"{fmt(sv['spectrum_distance_log10'], 4)}", "")]
    if m["c2st_auc"] is not None:
        rows.append(("detectability", "C2ST AUC", ci(m["c2st_auc"], m["c2st_auc_ci"]), "0.5 = indistinguishable"))
    if s["utility"]["status"] == "ok":
        for r in m["utility"]:
            frac = "TSTR" if r["fraction"] == 0 else f"{100 * r['fraction']:g} %"
            rows.append(("utility", f"{r['arm']} @ {frac} AUC", ci(r["auc_mean"], r["auc_mean_ci"]),
                         f"acc {ci(r['accuracy_mean'], r['accuracy_mean_ci'])}"))
        for r in m["utility_vs_duplicated"]:
            rows.append(("utility", f"real+syn - real+dup @ {100 * r['fraction']:g} %", f"{r['estimate']:+.3f}",
                         f"CI {r['ci'][0]:+.3f} to {r['ci'][1]:+.3f}: {r['verdict']}"))
    if s["shortcut"]["status"] == "ok":
        for r in s["shortcut"]["metrics"]["rows"]:
            rows.append(("shortcut", f"{r['set']} {r['view']} AUC", ci(r["auc"], r["auc_ci"]),
                         "FLAGGED" if r["flagged"] else ""))
    if s["fairness"]["status"] == "ok":
        for arm, d in s["fairness"]["metrics"]["arms"].items():
            for a, dd in d["attributes"].items():
                tpr = ", ".join(f"{g} {fmt(x['tpr'])}" for g, x in dd["groups"].items())
                rows.append(("fairness", f"{arm}: TPR by {a}", tpr, f"gap {fmt(dd['gaps']['tpr']['gap'])}"))
    if m["memorised_fraction"] is not None:
        mm = s["memorisation"]["metrics"]
        rows += [("memorisation", "pixel copies", f"{mm['pixel']['n_memorised']} / {mm['pixel']['n_synthetic']}",
                  f"null rate {mm['pixel']['null_flag_rate']:.4f}"),
                 ("memorisation", "feature copies", f"{mm['feature']['n_memorised']} / {mm['feature']['n_synthetic']}",
                  ""),
                 ("memorisation", "membership AUC", ci(m["membership_auc"], m["membership_auc_ci"]), "0.5 = no leak")]
    for name, st in m["status"].items():
        if st != "ok":
            rows.append((name, "NOT RUN" if st == "not run" else "FAILED", "", s[name]["reason"][:90]))
    w = [max(len(str(r[i])) for r in rows) for i in range(4)]
    print(f"\n{title}")
    for i, r in enumerate(rows):
        print(" | ".join(str(c).ljust(w[j]) for j, c in enumerate(r)))
        if i == 0:
            print("-+-".join("-" * x for x in w))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "bench-cxr")
    ap.add_argument("--model", default="cxr-ddpm-64")
    ap.add_argument("--synthetic", type=Path, default=None)
    ap.add_argument("--n-per-class", type=int, default=1000)
    ap.add_argument("--baseline-model", type=Path, default=None)
    ap.add_argument("--preset", default="full")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--resume", action="store_true")
    a = ap.parse_args(argv)
    data = _shared_data()
    if data is None:
        print("skipped: ../shared/data/cxr-pneumonia/{train,test} not found (set RADSYNTH_SHARED_DATA)")
        return 0
    import torch

    torch.set_num_threads(a.threads)
    from radsynth.evaluate.config import EvaluateConfig
    from radsynth.evaluate.runner import evaluate

    cxr = data / "cxr-pneumonia"
    classes = ("NORMAL", "PNEUMONIA")
    t0 = time.perf_counter()
    syn = a.synthetic or sample_set(a.model, a.work / "synthetic", a.n_per_class, a.threads, classes, 11)
    t_sample = time.perf_counter() - t0
    test_manifest = write_test_manifest(cxr / "test", a.work / "test_manifest.csv")
    cfg = EvaluateConfig.preset(a.preset, threads=a.threads)
    t1 = time.perf_counter()
    res = evaluate(cxr / "train", syn, test_manifest, a.work / "report", config=cfg, resume=a.resume)
    t_eval = time.perf_counter() - t1
    timings = json.loads((a.work / "report" / "timings.json").read_text())
    print_table(res.metrics, f"radsynth evaluate: {syn} vs cxr-pneumonia (train / test), preset {a.preset}, "
                             f"{a.threads} threads")
    print("\nsection times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))
    print(f"sampling {t_sample:.0f} s, evaluation {t_eval:.0f} s; report {res.report}")
    if a.baseline_model:
        bsyn = sample_set(str(a.baseline_model), a.work / "baseline-synthetic", a.n_per_class, a.threads, classes, 21)
        bcfg = EvaluateConfig.preset(a.preset, threads=a.threads, sections=("fidelity", "detectability"))
        b = evaluate(cxr / "train", bsyn, test_manifest, a.work / "baseline-report", config=bcfg, resume=a.resume)
        rows = [("metric", str(a.model), str(a.baseline_model.name)),
                ("FID matched n", fmt(res.metrics["fid_matched_n"], 2), fmt(b.metrics["fid_matched_n"], 2)),
                ("KID x1000", fmt(1e3 * res.metrics["kid"], 2), fmt(1e3 * b.metrics["kid"], 2)),
                ("precision / coverage", f"{fmt(res.metrics['precision'])} / {fmt(res.metrics['coverage'])}",
                 f"{fmt(b.metrics['precision'])} / {fmt(b.metrics['coverage'])}"),
                ("C2ST AUC", ci(res.metrics["c2st_auc"], res.metrics["c2st_auc_ci"]),
                 ci(b.metrics["c2st_auc"], b.metrics["c2st_auc_ci"]))]
        print("\nshipped model vs baseline")
        for r in rows:
            print(" | ".join(f"{c:<28s}" for c in r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
