"""Shortcut ("no-cheat") section: is the label predictable from where it should not live?

Runs :class:`radsynth.metrics.shortcut.ShortcutTest` on the synthetic set AND, as the
reference, on the real training set (same views, same classifier, same folds): the full
image, the image with the region of interest (lungs, default central box) masked out, a
thin border frame, and the high-frequency noise residual. A shortcut flagged in the
synthetic set that the real set does not have was introduced by the generator; one that
both have is a dataset shortcut the generator reproduced (the report says which).

Verdict: a synthetic shortcut not present in the real data -> fail; a shortcut inherited
from the real data -> warn; none -> pass.
"""

from __future__ import annotations

from radsynth.evaluate.context import EvalContext, ci_text
from radsynth.report.model import Figure, SectionResult, Table

NAME, TITLE = "shortcut", "Shortcut (no-cheat) test"


def run(ctx: EvalContext) -> SectionResult:
    from radsynth.metrics.shortcut import VIEW_TEXT, ShortcutTest
    from radsynth.report.figures import bars_png

    c = ctx.config
    ctx.require_labels("the shortcut test predicts the class label from label-free views")
    real, syn = ctx.real, ctx.synthetic
    test = ShortcutTest(folds=c.shortcut_folds, seed=c.seed, max_images=c.shortcut_max_images,
                        image_size=c.image_size, epochs=c.shortcut_epochs, max_minutes=c.shortcut_max_minutes,
                        n_boot=c.n_boot, level=c.level, log=ctx.log)
    ctx.say(f"shortcut: {len(test.views)} views x 2 sets x {c.shortcut_folds} folds "
            f"(up to {c.shortcut_max_images} images per set)")
    r = test(syn.images, syn.labels, synthetic_groups=syn.patients, real=real.images, real_labels=real.labels,
             real_groups=real.patients)
    metrics = r.to_dict()
    views = list(dict.fromkeys(row["view"] for row in r.rows))
    by = {(row["set"], row["view"]): row for row in r.rows}
    rows = []
    for v in views:
        s, q = by.get(("synthetic", v)), by.get(("real", v))
        rows.append((v, VIEW_TEXT.get(v, v), ci_text(s["auc"], s["auc_ci"]) if s else "-",
                     ci_text(q["auc"], q["auc_ci"]) if q else "-",
                     "yes" if s and s["flagged"] else "no", "yes" if q and q["flagged"] else "no"))
    table = Table("Label predictability per view (out-of-fold AUC)",
                  ("view", "what the classifier sees", "synthetic AUC [CI]", "real AUC [CI]", "synthetic flagged",
                   "real flagged"), tuple(rows),
                  note=f"A null view (roi_masked, border) is flagged when its CI lower bound exceeds "
                       f"{test.auc_threshold:g}; the noise residual only when it also exceeds the real one.")
    series = {}
    for set_name in ("real", "synthetic"):
        vals, lo, hi = [], [], []
        for v in views:
            row = by.get((set_name, v))
            vals.append(row["auc"] if row else float("nan"))
            lo.append(row["auc_ci"][0] if row else float("nan"))
            hi.append(row["auc_ci"][1] if row else float("nan"))
        series[set_name] = (vals, lo, hi)
    fig = Figure("shortcut_views", bars_png(views, series, ylabel="label AUC (out of fold)"),
                 caption="Label AUC per view; 0.5 = no label information in that view.", alt="bar chart per view")
    introduced = [row["view"] for row in r.rows if row["set"] == "synthetic" and row["flagged"]
                  and not by.get(("real", row["view"]), {}).get("flagged", False)]
    if introduced:
        level = "fail"
    elif r.shortcut:
        level = "warn"
    else:
        level = "pass"
    notes = [f"ROI: {metrics['settings'].get('roi')}. Groups: patients (real) and images (synthetic) stay in one fold.",
             "Never pass a held-out test split as --real: these models train on it."]
    return SectionResult(NAME, TITLE, verdict=r.verdict, level=level, metrics=metrics, tables=[table], figures=[fig],
                         notes=notes)
