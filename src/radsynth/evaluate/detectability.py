"""Detectability section: can a CNN tell synthetic images from real training images?

Classifier two-sample test (:class:`radsynth.metrics.c2st.C2ST`; Lopez-Paz & Oquab, ICLR
2017): up to ``c2st_max_per_side`` images per side (balanced, seeded), patient-grouped
stratified folds, out-of-fold AUC with a bootstrap CI. ``metrics.json`` carries the AUC
under the top-level key ``c2st_auc``. Optional control (``c2st_real_control``): the same
test between two patient-disjoint halves of the real training set, which should give 0.5
within its CI; it shows what "indistinguishable" looks like for this judge and sample size.

Verdict: the CI's lower bound <= 0.55 reads "not detectable by this judge" (0.5 is the
limit; radiologists scored about 0.54 on good synthetic chest X-rays, per the issue brief);
AUC < 0.75 "partly detectable"; above "easily detectable". The judge is a small CNN: a low
AUC means no gross artefact, not proof of realism.

A human check beside the CNN: a blinded grid of ``BLIND_PER_SIDE`` real and as many synthetic images
(seeded choice, shuffled, unlabelled; 4 per row), its key (row-major ``real``/``synthetic``) in the
metrics (``blind_grid_key``) and in the caption below it. ``radsynth evaluate`` also writes it as
``blind_grid.png`` beside ``metrics.json``, and the dataset card of the evaluated cohort shows it with
the key below.
"""

from __future__ import annotations

import numpy as np

from radsynth.evaluate.context import EvalContext, ci_text
from radsynth.report.model import Figure, SectionResult, Table

NAME, TITLE = "detectability", "Detectability: classifier two-sample test"
NOT_DETECTABLE_LOWER = 0.55
PARTLY = 0.75
BLIND_PER_SIDE = 8
BLIND_PER_ROW = 4


def blind_grid(real: np.ndarray, synthetic: np.ndarray, seed: int, per_side: int = BLIND_PER_SIDE
               ) -> tuple[bytes, list[str]]:
    """(PNG bytes, key) of a shuffled, unlabelled grid of ``per_side`` images from each stack ``(n, h, w)`` in
    [0, 1]; the key lists ``real``/``synthetic`` row-major. Seeded: same inputs and seed, same grid."""
    from radsynth.report.figures import image_grid_png

    rng = np.random.default_rng([int(seed), 404])
    ir = rng.choice(len(real), size=min(per_side, len(real)), replace=False)
    js = rng.choice(len(synthetic), size=min(per_side, len(synthetic)), replace=False)
    tiles = [("real", real[i]) for i in ir] + [("synthetic", synthetic[j]) for j in js]
    order = rng.permutation(len(tiles))
    tiles = [tiles[int(k)] for k in order]
    rows = [(f"row {r // BLIND_PER_ROW + 1}", np.stack([t[1] for t in tiles[r:r + BLIND_PER_ROW]]))
            for r in range(0, len(tiles), BLIND_PER_ROW)]
    return image_grid_png(rows), [t[0] for t in tiles]


def run(ctx: EvalContext) -> SectionResult:
    from radsynth.metrics.c2st import C2ST
    from radsynth.report.figures import scores_png

    c = ctx.config
    real, syn = ctx.real, ctx.synthetic
    ir = ctx.subset_index(len(real.images), c.c2st_max_per_side, 11, real.labels)
    js = ctx.subset_index(len(syn.images), c.c2st_max_per_side, 12, syn.labels)
    test = C2ST(folds=c.c2st_folds, seed=c.seed, image_size=c.image_size, max_minutes=c.c2st_max_minutes,
                epochs=c.c2st_epochs, n_boot=c.n_boot, level=c.level, repeats=c.c2st_repeats, log=ctx.log)
    ctx.say(f"detectability: C2ST on {min(ir.size, js.size)} images per side, {c.c2st_folds} folds"
            + (f", {c.c2st_repeats} repeats" if c.c2st_repeats > 1 else ""))
    r = test(real.images[ir], syn.images[js], real_groups=real.patients[ir], synthetic_groups=syn.patients[js])
    metrics = {k: v for k, v in r.to_dict(include_scores=False).items()}
    rows = [("real training vs synthetic", f"{r.n_real} + {r.n_synthetic}", ci_text(r.auc, r.ci),
             f"{r.accuracy:.3f}", ", ".join(f"{a:.3f}" for a in r.fold_aucs))]
    if c.c2st_real_control:
        ctl = test.real_vs_real(real.images[ir], real.patients[ir])
        metrics["real_vs_real"] = ctl.to_dict(include_scores=False)
        rows.append(("control: real half A vs half B", f"{ctl.n_real} + {ctl.n_synthetic}", ci_text(ctl.auc, ctl.ci),
                     f"{ctl.accuracy:.3f}", ", ".join(f"{a:.3f}" for a in ctl.fold_aucs)))
    lo = r.ci[0]
    if lo <= NOT_DETECTABLE_LOWER:
        level, word = "pass", "not detectable by this judge at this sample size"
    elif r.auc < PARTLY:
        level, word = "warn", "partly detectable: the judge finds a systematic difference"
    else:
        level, word = "fail", "easily detectable: the synthetic images carry a learnable artefact"
    verdict = f"C2ST AUC {ci_text(r.auc, r.ci)} ({100 * c.level:g} % CI): {word}."
    table = Table("Classifier two-sample test (out-of-fold)",
                  ("comparison", "images (real + synthetic)", f"AUC [{100 * c.level:g} % CI]", "accuracy at 0.5",
                   "fold AUCs"), tuple(rows),
                  note="0.5 = cannot tell apart (the limit; below 0.5 is chance). The judge min-max scales each "
                       "image, so global brightness differences are left to the fidelity section.")
    real_scores = r.scores[r.labels == 0]
    syn_scores = r.scores[r.labels == 1]
    fig = Figure("c2st_scores", scores_png(real_scores, syn_scores, labels=("real", "synthetic"),
                                           xlabel="judge p(synthetic), out of fold"),
                 caption="Out-of-fold judge scores: overlapping histograms mean the judge cannot separate the sets.",
                 alt="histograms of judge scores")
    png, key = blind_grid(real.images[ir], syn.images[js], c.seed)
    metrics["blind_grid_key"] = key
    rows_txt = "; ".join(f"row {r // BLIND_PER_ROW + 1}: " + " ".join("R" if k == "real" else "S"
                                                                 for k in key[r:r + BLIND_PER_ROW])
                         for r in range(0, len(key), BLIND_PER_ROW))
    blind = Figure("blind_grid", png, caption=f"Blinded: {key.count('real')} real and {key.count('synthetic')} "
                   "synthetic images, shuffled. Try to tell them apart before reading the key. Key (R = real, "
                   f"S = synthetic, left to right): {rows_txt}.", alt="shuffled unlabelled grid of real and "
                   "synthetic images")
    notes = [f"Verdict thresholds: CI lower bound <= {NOT_DETECTABLE_LOWER} pass, AUC < {PARTLY} warn, else fail "
             "(radsynth's reading).",
             "The bootstrap CI treats images as independent and fold models as fixed: a lower bound on the "
             "uncertainty.", f"Judge: {r.settings.get('net_channels')} channels at {c.image_size} px, "
             f"{c.c2st_epochs} epochs max, {c.c2st_max_minutes:g} min per fold; real images are the training set "
             "(grouped by patient)."
             + (f" Repeated cross-validation: {c.c2st_repeats} fold splits, out-of-fold scores averaged; fold AUCs "
                "are the first split's." if c.c2st_repeats > 1 else "")]
    if np.isnan(r.scores).any():  # pragma: no cover - C2ST scores every sample once
        notes.append("some samples were not scored")
    return SectionResult(NAME, TITLE, verdict=verdict, level=level, metrics=metrics, tables=[table], figures=[fig, blind],
                         notes=notes)
