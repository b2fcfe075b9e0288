"""Fairness section: per-subgroup performance of the utility study's models on the held-out set.

For every attribute column of the held-out set (sex, age group, site, pathogen, ...; all of
them or ``fairness_attributes``) and every utility arm trained on 100 % of the real data
(and the synthetic-only TSTR model), :func:`radsynth.metrics.fairness.subgroup_metrics`
gives AUC (patient-bootstrap CI), accuracy, TPR and FPR (Wilson CIs) per group, and the gap
between the best and worst group (groups below ``fairness_min_n`` images are shown, flagged
and left out of the gap; Seyyed-Kalantari et al., Nat Med 2021, found such under-diagnosis
gaps in chest X-ray classifiers). Scores are the mean p(class 1) over the study's seeds, and
decisions use the mean of their validation-chosen thresholds.

When the synthetic set carries the same attribute, its group proportions are compared with
the real training set's (representation).

Verdict: the TPR gap (under-diagnosis) of real+synthetic vs real only: grows by more than
0.05 -> warn; otherwise pass; no judgeable groups -> info.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from radsynth.evaluate.context import EvalContext, SectionSkipped, ci_text, num
from radsynth.report.model import Figure, SectionResult, Table

NAME, TITLE = "fairness", "Fairness: subgroup performance"
GAP_TOLERANCE = 0.05
ARM_ORDER = ("real", "real+synthetic", "real+duplicated", "synthetic")


def _attributes(ctx: EvalContext) -> list[str]:
    test = ctx.require_test("subgroup metrics are measured on real held-out scans")
    asked = list(ctx.config.fairness_attributes)
    have = {k: v for k, v in test.attributes.items() if len({x for x in v.tolist() if x != ""}) >= 2}
    if asked:
        missing = [a for a in asked if a not in test.attributes]
        if missing:
            raise SectionSkipped(f"attribute(s) {missing} are not columns of the held-out set (it has "
                                 f"{sorted(test.attributes) or 'none'})")
        return asked
    if not have:
        raise SectionSkipped("the held-out set has no attribute column with two or more values (give --test as a "
                             "CSV/Parquet manifest with columns such as sex, age_group or site)")
    return sorted(have)


def run(ctx: EvalContext) -> SectionResult:
    from radsynth.metrics.fairness import subgroup_metrics
    from radsynth.report.figures import bars_png

    c = ctx.config
    attrs = _attributes(ctx)
    test = ctx.test
    art = ctx.artifacts.get("utility")
    if not art:
        raise SectionSkipped("it reuses the utility study's models, and the utility section did not run")
    thresholds = {k.split(":", 1)[1]: float(v) for k, v in art.items() if k.startswith("threshold:")}
    y = np.asarray(art["labels"], dtype=np.int64)
    arms = [a for a in ARM_ORDER if a in art]
    values = {a: test.attributes[a] for a in attrs}
    reports = {}
    for arm in arms:
        thr = float(thresholds.get(arm, 0.5))
        reports[arm] = subgroup_metrics(art[arm], y, values, threshold=thr, patients=test.patients,
                                        min_n=c.fairness_min_n, seed=c.seed, n_boot=c.n_boot, level=c.level)
    metrics = {"attributes": attrs, "arms": {a: r.to_dict() for a, r in reports.items()},
               "thresholds": {a: float(thresholds.get(a, 0.5)) for a in arms}}
    tables, figs = [], []
    for a in attrs:
        groups = list(reports[arms[0]].attributes[a]["groups"])
        rows = []
        for g in groups:
            cells = [g, str(reports[arms[0]].attributes[a]["groups"][g]["n"])]
            for arm in arms:
                st = reports[arm].attributes[a]["groups"][g]
                cells.append(f"{ci_text(st['auc'], st['auc_ci'])} / {num(st['tpr'])} / {num(st['fpr'])}"
                             + (" (small)" if st["too_small"] else ""))
            rows.append(tuple(cells))
        gap_row = ["gap (TPR)", ""] + [num(reports[arm].attributes[a]["gaps"]["tpr"]["gap"]) for arm in arms]
        rows.append(tuple(gap_row))
        tables.append(Table(f"{a}: AUC [CI] / TPR / FPR per group", ("group", "images", *arms), tuple(rows),
                            note=f"Groups with fewer than {c.fairness_min_n} images are marked small and left out "
                                 "of the gap."))
        series = {}
        for arm in arms:
            st = [reports[arm].attributes[a]["groups"][g] for g in groups]
            series[arm] = ([s["tpr"] if s["tpr"] is not None else np.nan for s in st],
                           [s["tpr_ci"][0] if s["tpr_ci"] else np.nan for s in st],
                           [s["tpr_ci"][1] if s["tpr_ci"] else np.nan for s in st])
        figs.append(Figure(f"fairness_{a}", bars_png(groups, series, ylabel="sensitivity (TPR)"),
                           caption=f"Sensitivity per {a} group and arm (Wilson CIs).", alt=f"TPR per {a} group"))
        syn_vals = ctx.synthetic.attributes.get(a)
        if syn_vals is not None:
            rc, sc = Counter(ctx.real.attributes.get(a, np.array([])).tolist()), Counter(syn_vals.tolist())
            keys = sorted(set(rc) | set(sc))
            nr, ns = max(sum(rc.values()), 1), max(sum(sc.values()), 1)
            tables.append(Table(f"{a}: representation (share of images)", ("group", "real training", "synthetic"),
                                tuple((k or "(unknown)", f"{rc[k] / nr:.3f}", f"{sc[k] / ns:.3f}") for k in keys)))
            metrics.setdefault("representation", {})[a] = {k: {"real": rc[k] / nr, "synthetic": sc[k] / ns}
                                                          for k in keys}
    level, parts = "info", []
    if "real" in reports and "real+synthetic" in reports:
        for a in attrs:
            g0 = reports["real"].attributes[a]["gaps"]["tpr"]["gap"]
            g1 = reports["real+synthetic"].attributes[a]["gaps"]["tpr"]["gap"]
            if g0 is None or g1 is None:
                parts.append(f"{a}: too few judgeable groups for a gap.")
                continue
            d = g1 - g0
            if d > GAP_TOLERANCE:
                level = "warn"
                parts.append(f"{a}: the sensitivity gap grows from {g0:.3f} (real only) to {g1:.3f} with synthetic "
                             "augmentation.")
            else:
                if level == "info":
                    level = "pass"
                parts.append(f"{a}: sensitivity gap {g0:.3f} (real only) vs {g1:.3f} (real+synthetic).")
    verdict = " ".join(parts) or "Subgroup metrics are listed per arm; no real-only reference to compare with."
    notes = [f"Verdict: warn when the TPR gap grows by more than {GAP_TOLERANCE} (radsynth's reading).",
             f"Models: the utility study's arms at {100 * float(art.get('fraction', 1.0)):g} % real data (scores "
             "averaged over seeds) and the synthetic-only model."]
    return SectionResult(NAME, TITLE, verdict=verdict, level=level, metrics=metrics, tables=tables, figures=figs,
                         notes=notes)
