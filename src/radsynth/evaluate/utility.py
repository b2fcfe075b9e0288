"""Utility section: does the synthetic set help a classifier on REAL held-out scans?

Runs :class:`radsynth.metrics.utility.UtilityStudy`: the same classifier trained on real
only, synthetic only (TSTR), real + synthetic, and real + duplicated real to the same count
(the control synthetic augmentation has to beat), at several patient-level fractions of the
real training data and several seeds, tested on the held-out set; AUC and accuracy with
patient-bootstrap CIs. The study estimates its run time before training anything and
refuses to start above ``utility_max_total_minutes``.

Verdict: real+synthetic beats the duplicated control (paired CI above 0) at some fraction
-> pass; worse at some fraction and better at none -> fail; otherwise warn ("no detectable
gain over duplicating real data", the common outcome per the issue's Pink & Sykes 2026).
The test-set scores of the 100 % models (mean over seeds) are left for the fairness section.
"""

from __future__ import annotations

import numpy as np

from radsynth.evaluate.context import EvalContext, SectionSkipped, ci_text
from radsynth.report.model import Figure, SectionResult, Table

NAME, TITLE = "utility", "Utility on real held-out scans"


def run(ctx: EvalContext) -> SectionResult:
    from radsynth.metrics.utility import UtilityStudy
    from radsynth.report.figures import curves_png

    c = ctx.config
    test = ctx.require_test("utility is measured on real held-out scans")
    ctx.require_labels("the utility study trains class-label classifiers", roles=("real", "synthetic", "test"))
    real, syn = ctx.real, ctx.synthetic
    study = UtilityStudy(fractions=c.utility_fractions, n_seeds=c.utility_seeds, seed=c.seed,
                         image_size=c.image_size, class_names=tuple(real.classes), max_epochs=c.utility_max_epochs,
                         min_steps=c.utility_min_steps, max_minutes_per_model=c.utility_max_minutes_per_model,
                         max_total_minutes=c.utility_max_total_minutes, n_boot=c.n_boot, level=c.level,
                         progress=ctx.progress, log=ctx.log)
    r = study(real.images, real.labels, real.patients, test.images, test.labels, test.patients,
              syn.images, syn.labels, synthetic_groups=syn.patients)
    metrics = r.to_dict()
    comp = r.compare("real+synthetic", "real+duplicated", "auc")
    metrics["verdict_rows"] = comp
    lvl = f"{100 * c.level:g} % CI"
    rows = tuple(
        (s["arm"], "synthetic only" if s["fraction"] == 0 else f"{100 * s['fraction']:g} %", str(s["n_train"]),
         str(s["n_seeds"]), ci_text(s["auc_mean"], s["auc_mean_ci"]), f"{s['auc_sd']:.3f}",
         ci_text(s["accuracy_mean"], s["accuracy_mean_ci"]))
        for s in r.summary)
    tables = [Table("All arms (mean over seeds, tested on the real held-out set)",
                    ("arm", "real data", "training images", "seeds", f"AUC [{lvl}]", "AUC sd", f"accuracy [{lvl}]"),
                    rows, note="CIs resample held-out patients and seeds (paired). real data = fraction of real "
                               "training patients per class; TSTR rows use no real image.")]
    tables.append(Table("real+synthetic vs real+duplicated (paired by seed)",
                        ("real data", "AUC difference", lvl, "verdict"),
                        tuple((f"{100 * d['fraction']:g} %", f"{d['estimate']:+.3f}",
                               f"{d['ci'][0]:+.3f} to {d['ci'][1]:+.3f}", d["verdict"]) for d in comp)))
    # learning curves
    fr = sorted({s["fraction"] for s in r.summary if s["fraction"] > 0})
    series = {}
    for arm in ("real", "real+synthetic", "real+duplicated", "synthetic"):
        pts = {s["fraction"]: s for s in r.summary if s["arm"] == arm}
        if not pts:
            continue
        if arm == "synthetic" and 0.0 in pts:  # strict TSTR: one value, drawn flat for reference
            s = pts[0.0]
            series["synthetic only (TSTR)"] = ([s["auc_mean"]] * len(fr), [s["auc_mean_ci"][0]] * len(fr),
                                               [s["auc_mean_ci"][1]] * len(fr))
            continue
        nan = float("nan")
        series[arm] = ([pts[f]["auc_mean"] if f in pts else nan for f in fr],
                       [pts[f]["auc_mean_ci"][0] if f in pts else nan for f in fr],
                       [pts[f]["auc_mean_ci"][1] if f in pts else nan for f in fr])
    figs = [Figure("utility_curves", curves_png(fr, series, xlabel="fraction of real training patients",
                                                 ylabel="AUC on real held-out scans"),
                   caption=f"AUC vs real-data fraction per arm ({lvl} bands).", alt="learning curves")]
    # scores for fairness: mean p(class 1) over seeds of the 100 % (and TSTR) models
    art = {"labels": r.test_labels.astype(np.int64)}
    top = max(fr) if fr else None
    for (arm, f, _seed), p in sorted(r.scores.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2])):
        if f == top or (arm == "synthetic" and f == 0.0):
            art.setdefault(arm, []).append(p)
    thresholds = {}
    for arm in list(art):
        if arm != "labels":
            art[arm] = np.mean(np.stack(art[arm]), axis=0)
            ths = [row["threshold"] for row in r.rows if row["arm"] == arm
                   and (row["fraction"] == top or (arm == "synthetic" and row["fraction"] == 0.0))]
            thresholds[arm] = float(np.mean(ths)) if ths else 0.5
    for arm, t in thresholds.items():
        art[f"threshold:{arm}"] = np.array(t)
    art["fraction"] = np.array(np.nan if top is None else top)
    ctx.artifacts[NAME] = art
    metrics["fairness_thresholds"] = thresholds
    metrics["fairness_fraction"] = top
    words = [d["verdict"] for d in comp]
    if "beats" in words:
        level = "pass"
        best = max((d for d in comp if d["verdict"] == "beats"), key=lambda d: d["estimate"])
        verdict = f"Synthetic augmentation helps: {best['text']}"
    elif "worse" in words:
        level = "fail"
        verdict = "Synthetic augmentation hurts: " + " ".join(d["text"] for d in comp if d["verdict"] == "worse")
    elif comp:
        level = "warn"
        verdict = ("Synthetic augmentation does not detectably beat duplicating the real images at any real-data "
                   "fraction (" + "; ".join(f"{100 * d['fraction']:g} %: {d['estimate']:+.3f}" for d in comp) + ").")
    else:
        raise SectionSkipped("the study produced no paired real+synthetic / real+duplicated rows")
    tstr = next((s for s in r.summary if s["arm"] == "synthetic"), None)
    full = next((s for s in r.summary if s["arm"] == "real" and s["fraction"] == top), None)
    if tstr and full:
        verdict += (f" Synthetic only (TSTR): AUC {tstr['auc_mean']:.3f} vs {full['auc_mean']:.3f} for all real "
                    "training data.")
    notes = list(r.notes) + [f"Estimated {r.estimate_seconds / 60:.1f} min before the run; took {r.seconds / 60:.1f} "
                             "min.", "Classifier: MONAI Classifier at the evaluation size; threshold chosen on each "
                             "model's validation split (balanced accuracy)."]
    return SectionResult(NAME, TITLE, verdict=verdict, level=level, metrics=metrics, tables=tables, figures=figs,
                         notes=notes)
