"""Memorisation and membership section: did the generator copy its training scans?

* Pixel space (:class:`radsynth.privacy.memorisation.MemorisationAudit`): for every synthetic
  image its nearest real TRAINING image after per-crop standardisation, minimised over
  shifts of up to ``memorisation_max_shift`` px (a copy that moved a few pixels, was
  re-encoded or lightly noised is still a copy). The copy threshold is calibrated on real
  HELD-OUT images: the ``memorisation_quantile`` quantile of their distances to the training
  set (new real patients are, by construction, not copies), so a generator that never
  copies is flagged at about that rate (``null_flag_rate``). Memorised fraction with a
  Wilson CI, the closest pairs side by side, the training patients copied most.
* Feature space: the same audit on the encoder's features (cosine distance): catches
  copies that differ in pixels (e.g. contrast changes) but keep the content.
* Membership inference (:class:`radsynth.privacy.membership.MembershipInference`): can the
  distance to the nearest synthetic image tell training members from held-out non-members?
  AUC 0.5 = no leakage (Hilprecht et al., PoPETs 2019; Chen et al., CCS 2020 "GAN-Leaks").

Verdict: no image flagged -> pass; flagged fraction consistent with the null rate (CI
lower bound <= null rate) -> warn ("look at the pairs"); above -> fail (copies beyond
chance). Membership AUC CI above 0.5 turns a pass into a warn.
"""

from __future__ import annotations

import numpy as np

from radsynth.evaluate.context import EvalContext, ci_text, num
from radsynth.report.model import Figure, SectionResult, Table

NAME, TITLE = "memorisation", "Memorisation and membership inference"


def run(ctx: EvalContext) -> SectionResult:
    from radsynth.privacy.membership import MembershipInference
    from radsynth.privacy.memorisation import MemorisationAudit
    from radsynth.report.figures import pairs_png, scores_png

    c = ctx.config
    test = ctx.require_test("the copy threshold is calibrated on held-out -> training distances")
    real, syn = ctx.real, ctx.synthetic
    size = c.image_size
    ctx.say(f"memorisation: pixel search {len(syn.images)} synthetic x {len(real.images)} training images "
            f"(+{len(test.images)} held-out), shifts +-{c.memorisation_max_shift} px")
    audit = MemorisationAudit(space="pixel", size=size, max_shift=c.memorisation_max_shift,
                              quantile=c.memorisation_quantile, n_closest=c.memorisation_pairs, confidence=c.level)
    pix = audit(syn.images, real.images, test.images, training_patients=[str(p) for p in real.patients])
    feat_audit = MemorisationAudit(space="feature", metric="cosine", quantile=c.memorisation_quantile,
                                   n_closest=c.memorisation_pairs, confidence=c.level)
    feat = feat_audit(ctx.features("synthetic"), ctx.features("real"), ctx.features("test"),
                      training_patients=[str(p) for p in real.patients])
    mia = MembershipInference(space="pixel", size=size, max_shift=c.memorisation_max_shift, n_boot=c.n_boot,
                              confidence=c.level, seed=c.seed)(syn.images, real.images, test.images)

    metrics = {"pixel": pix.to_dict(), "feature": feat.to_dict(), "membership": mia.to_dict()}
    for d in (metrics["pixel"], metrics["feature"]):
        d["per_patient"] = dict(list(d["per_patient"].items())[:50])  # the 50 most-copied patients
    rows = []
    for name, r in (("pixel (shift-invariant)", pix), ("encoder features (cosine)", feat)):
        rows.append((name, f"{r.threshold:.4g}", f"{r.n_memorised} / {r.n_synthetic}",
                     ci_text(r.fraction, r.ci, 4), f"{r.null_flag_rate:.4f}", str(r.n_patients_copied),
                     f"{r.synthetic_summary['min']:.4g} / {r.heldout_summary['min']:.4g}"))
    t1 = Table("Copies of training images", ("space", "copy threshold", "flagged", f"fraction [{100 * c.level:g} % CI]",
                                              "null rate", "patients copied", "min distance synthetic / held-out"),
               tuple(rows), note="Threshold = the held-out images' distance quantile "
                                 f"{c.memorisation_quantile:g}; a generator that never copies is flagged at about "
                                 "the null rate.")
    t2 = Table("Membership inference (distance to the nearest synthetic image)",
               ("AUC [CI]", f"TPR at {100 * mia.low_fpr:g} % FPR", "members / non-members",
                "median distance members / non-members"),
               ((ci_text(mia.auc, mia.ci), num(mia.tpr_at_low_fpr), f"{mia.n_members} / {mia.n_nonmembers}",
                 f"{mia.member_median_distance:.4g} / {mia.nonmember_median_distance:.4g}"),),
               note="AUC 0.5: training members are no closer to the synthetic set than new patients are.")
    tables = [t1, t2]
    top = list(pix.per_patient.items())[:10]
    if top:
        tables.append(Table("Training patients copied most (pixel space)", ("patient", "copies", "training images"),
                            tuple((p, str(e["n_copies"]), str(len(e["training_indices"]))) for p, e in top)))

    pairs = pix.closest
    q = np.stack([syn.images[p["synthetic_index"]] for p in pairs])
    m = np.stack([real.images[p["training_index"]] for p in pairs])
    caps = [f"d={p['distance']:.3f}{' COPY' if p['memorised'] else ''}" for p in pairs]
    figs = [
        Figure("closest_pairs", pairs_png(q, m, caps), caption=(
            f"The {len(pairs)} synthetic images closest to a training image (pixel space), each above its nearest "
            f"training image; COPY = below the threshold {pix.threshold:.3f}."),
            alt="closest synthetic-training pairs"),
        Figure("membership", scores_png(mia.member_distances, mia.nonmember_distances,
                                        labels=("training members", "held-out non-members"),
                                        xlabel="distance to the nearest synthetic image"),
               caption="Membership attack: overlapping distributions = no membership signal.", alt="distances"),
    ]
    if pix.n_memorised == 0 and feat.n_memorised == 0:
        level = "pass"
        verdict = ("No synthetic image is closer to a training image than new real scans are (pixel and feature "
                   "space).")
    else:
        worst = max((pix, feat), key=lambda r: r.ci[0] - r.null_flag_rate)
        beyond = worst.ci[0] > worst.null_flag_rate
        level = "fail" if beyond else "warn"
        tail = ("That is beyond the null rate: the generator memorised training scans." if beyond
                else "Within what the threshold flags by chance: inspect the pairs.")
        verdict = (f"{pix.n_memorised} of {pix.n_synthetic} synthetic images ({100 * pix.fraction:.2f} %) are pixel "
                   f"copies of training images from {pix.n_patients_copied} patients; feature space flags "
                   f"{feat.n_memorised}. {tail}")
    verdict += f" Membership-inference AUC {ci_text(mia.auc, mia.ci)}"
    if mia.leakage_detected:
        verdict += ": training members are detectably closer to the synthetic set."
        if level == "pass":
            level = "warn"
    else:
        verdict += ": no membership signal."
    notes = [f"Pixel distance: {pix.distance}.", "Training = the --real set (assumed to be the generator's training "
             "data); held-out = --test (never trained on).",
             "Held-out patients whose ids also occur in the training set lower the threshold (more conservative)."]
    return SectionResult(NAME, TITLE, verdict=verdict, level=level, metrics=metrics, tables=tables, figures=figs,
                         notes=notes)
