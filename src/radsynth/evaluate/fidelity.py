"""Fidelity section: how close is the synthetic set to the real training set, next to new real scans?

Every distance is reported twice: synthetic vs real training, and the REFERENCE real
held-out vs real training (what a perfect generator, one that draws new patients from the
same population, would score at that sample size). Reading a number without its reference
is what makes FID values incomparable across papers (Chong & Forsyth, CVPR 2020: FID is
biased by sample size), so:

* FID (Heusel et al., NeurIPS 2017) on the shipped medical encoder's features (or a plug-in
  encoder, or raw pixels), for the whole synthetic set and for a seeded synthetic subset of
  the held-out set's size ("matched n"), the number compared with the reference; per class
  when labelled;
* KID (Binkowski et al., ICLR 2018; unbiased, so comparable across sizes) with its std over
  subsets;
* precision / recall / density / coverage (Naeem et al., ICML 2020): realism and diversity
  separately;
* encoder-free checks: grey-value histogram distance (W1, Jensen-Shannon), radially
  averaged power spectrum distance (mean |log10| ratio per ring) and excess grain (share of
  images with more fine-scale noise than 99 % of the real training images,
  :mod:`radsynth.metrics.grain`: noise-like samples that global statistics miss).

The plain verdict compares the matched-n FID with the reference: <= 1.5x "close to new real
scans", <= 3x "noticeably further", above "far". These cut-offs are radsynth's reading, not
a published standard, and are stated in the report.
"""

from __future__ import annotations

import numpy as np

from radsynth.evaluate.context import EvalContext, num
from radsynth.report.model import Figure, SectionResult, Table

NAME, TITLE = "fidelity", "Fidelity: distribution distances"
CLOSE, FAR = 1.5, 3.0


def _kid(fa: np.ndarray, fb: np.ndarray, ctx: EvalContext) -> dict:
    from radsynth.metrics.kid import kernel_inception_distance

    c = ctx.config
    r = kernel_inception_distance(fa, fb, n_subsets=c.kid_subsets, subset_size=c.kid_subset_size, seed=c.seed)
    return {"mean": r.mean, "std": r.std, "subset_size": r.subset_size}


def _pair(fa: np.ndarray, fb: np.ndarray, xa: np.ndarray, xb: np.ndarray, ctx: EvalContext) -> dict:
    """All distances of set b against set a (features f, images x)."""
    from radsynth.metrics.frechet import frechet_distance
    from radsynth.metrics.intensity import intensity_distance
    from radsynth.metrics.prdc import prdc
    from radsynth.metrics.spectrum import spectrum_distance

    out: dict = {"n_a": int(fa.shape[0]), "n_b": int(fb.shape[0])}
    out["fid"] = frechet_distance(fa, fb) if min(fa.shape[0], fb.shape[0]) >= 2 else None
    out["kid"] = _kid(fa, fb, ctx) if min(fa.shape[0], fb.shape[0]) >= 2 else None
    k = ctx.config.prdc_k
    if min(fa.shape[0], fb.shape[0]) > k:
        p = prdc(fa, fb, k)
        out["prdc"] = {"precision": p.precision, "recall": p.recall, "density": p.density, "coverage": p.coverage,
                       "k": k}
    else:
        out["prdc"] = None
    it = intensity_distance(xa, xb, seed=ctx.config.seed)
    sp = spectrum_distance(xa, xb)
    out["intensity"] = {"w1": it.w1, "js_divergence_bits": it.js_divergence, "mean_a": it.mean_real,
                        "mean_b": it.mean_synthetic, "std_a": it.std_real, "std_b": it.std_synthetic}
    out["spectrum_distance_log10"] = sp.distance
    if xa.shape[0] >= 20:
        from radsynth.metrics.grain import excess_grain_rate

        g = excess_grain_rate(xa, xb)
        out["excess_grain"] = {"rate": g.rate, "ci": list(g.ci), "n_excess": g.n_excess, "quantile": g.quantile}
    else:
        out["excess_grain"] = None
    out["_plots"] = (it, sp)
    return out


def run(ctx: EvalContext) -> SectionResult:
    from radsynth.report.figures import histogram_png, image_grid_png, spectrum_png

    c = ctx.config
    real, syn, test = ctx.real, ctx.synthetic, ctx.test
    ir = ctx.subset_index(len(real.images), c.fidelity_max_images, 1, real.labels)
    is_ = ctx.subset_index(len(syn.images), c.fidelity_max_images, 2, syn.labels)
    fr, fs = ctx.features("real")[ir], ctx.features("synthetic")[is_]
    xr, xs = real.images[ir], syn.images[is_]
    res = _pair(fr, fs, xr, xs, ctx)
    metrics: dict = {"encoder": getattr(ctx.encoder(), "name", c.encoder), "feature_dim": int(fr.shape[1]),
                     "synthetic_vs_real": {k: v for k, v in res.items() if k != "_plots"}}
    it_s, sp_s = res["_plots"]
    ref = None
    if test is not None:
        it_ = ctx.subset_index(len(test.images), c.fidelity_max_images, 3, test.labels)
        ft, xt = ctx.features("test")[it_], test.images[it_]
        ref = _pair(fr, ft, xr, xt, ctx)
        metrics["heldout_vs_real"] = {k: v for k, v in ref.items() if k != "_plots"}
        # matched n: a synthetic subset the size of the held-out set, so both FIDs carry the same bias
        im = ctx.subset_index(len(fs), len(ft), 4, syn.labels[is_] if syn.labels is not None else None)
        from radsynth.metrics.frechet import frechet_distance

        metrics["fid_matched_n"] = {"n": int(im.size), "synthetic": frechet_distance(fr, fs[im]),
                                    "heldout": ref["fid"]}
    per_class = []
    if real.labels is not None and syn.labels is not None:
        from radsynth.metrics.frechet import frechet_distance

        for k, cname in enumerate(real.classes):
            a, b = fr[real.labels[ir] == k], fs[syn.labels[is_] == k]
            row = {"class": cname, "n_real": int(len(a)), "n_synthetic": int(len(b)),
                   "fid": frechet_distance(a, b) if min(len(a), len(b)) >= 2 else None}
            if test is not None and test.labels is not None:
                t = ft[test.labels[it_] == k]
                row["n_heldout"] = int(len(t))
                row["fid_heldout"] = frechet_distance(a, t) if min(len(a), len(t)) >= 2 else None
            per_class.append(row)
        metrics["per_class"] = per_class

    # ---- tables
    def kid_txt(d):
        return "-" if d is None else f"{1e3 * d['mean']:.2f} ± {1e3 * d['std']:.2f}"

    def prdc_txt(d, key):
        return "-" if d is None else num(d[key])

    def grain_txt(d):
        return "-" if d is None else f"{d['rate']:.3f} [{d['ci'][0]:.3f}, {d['ci'][1]:.3f}]"

    cols = ("metric", "synthetic vs real training", "real held-out vs real training (reference)")
    rows = [
        ("images compared", f"{res['n_b']} vs {res['n_a']}", "-" if ref is None else f"{ref['n_b']} vs {ref['n_a']}"),
        ("FID (all images)", num(res["fid"], 2), "-" if ref is None else num(ref["fid"], 2)),
    ]
    if "fid_matched_n" in metrics:
        m = metrics["fid_matched_n"]
        rows.append((f"FID at matched n = {m['n']}", num(m["synthetic"], 2), num(m["heldout"], 2)))
    rows += [
        ("KID x 1000 (mean ± sd over subsets)", kid_txt(res["kid"]), "-" if ref is None else kid_txt(ref["kid"])),
        *[(f"{k} (k={c.prdc_k})", prdc_txt(res["prdc"], k), "-" if ref is None else prdc_txt(ref["prdc"], k))
          for k in ("precision", "recall", "density", "coverage")],
        ("grey-value W1", num(res["intensity"]["w1"], 4), "-" if ref is None else num(ref["intensity"]["w1"], 4)),
        ("grey-value JS divergence (bits)", num(res["intensity"]["js_divergence_bits"], 4),
         "-" if ref is None else num(ref["intensity"]["js_divergence_bits"], 4)),
        ("power-spectrum distance (mean |log10|)", num(res["spectrum_distance_log10"], 4),
         "-" if ref is None else num(ref["spectrum_distance_log10"], 4)),
        ("excess grain (share noisier than 99 % of real training images)", grain_txt(res["excess_grain"]),
         "-" if ref is None else grain_txt(ref["excess_grain"])),
    ]
    tables = [Table("Distances to the real training set", cols, tuple(rows),
                    note=f"Encoder: {metrics['encoder']} ({metrics['feature_dim']} features). Lower is closer for "
                         "FID, KID, W1, JS and spectrum; precision/recall/density/coverage: higher is better "
                         "(density ~1 and coverage ~1 for a sample of the real distribution).")]
    if per_class:
        tables.append(Table(
            "FID per class", ("class", "real / synthetic / held-out images", "synthetic", "held-out (reference)"),
            tuple((r["class"], f"{r['n_real']} / {r['n_synthetic']} / {r.get('n_heldout', '-')}",
                   num(r["fid"], 2), num(r.get("fid_heldout"), 2)) for r in per_class)))

    # ---- figures
    figs = []
    grid_rows = []
    if real.labels is not None and syn.labels is not None:
        for k, cname in enumerate(real.classes):
            for name, s in (("real", real), ("synthetic", syn)):
                idx = np.flatnonzero(s.labels == k)[: c.grid_per_class]
                if idx.size:
                    grid_rows.append((f"{'synth.' if name == 'synthetic' else name} {cname}"[:20], s.images[idx]))
    else:
        for name, s in (("real", real), ("synthetic", syn)):
            grid_rows.append((name, s.images[: c.grid_per_class]))
    figs.append(Figure("samples", image_grid_png(grid_rows), caption="First images of each set and class "
                       "(grey values shown as stored, [0, 1], no per-image windowing).",
                       alt="grid of real and synthetic images"))
    figs.append(Figure("histogram", histogram_png(it_s.bin_edges, it_s.hist_real, it_s.hist_synthetic),
                       caption="Grey-value histograms (all pixels, normalised to [0, 1]).", alt="grey histogram"))
    figs.append(Figure("spectrum", spectrum_png(sp_s.freqs, sp_s.power_real, sp_s.power_synthetic),
                       caption="Radially averaged power spectra (Hann window); high-frequency excess means noise, "
                               "a deficit means blur.", alt="power spectra"))

    # ---- verdict
    if "fid_matched_n" in metrics and metrics["fid_matched_n"]["heldout"]:
        m = metrics["fid_matched_n"]
        ratio = m["synthetic"] / max(m["heldout"], 1e-12)
        metrics["fid_ratio_to_heldout"] = ratio
        if ratio <= CLOSE:
            level, word = "pass", "close to new real scans"
        elif ratio <= FAR:
            level, word = "warn", "noticeably further from the training data than new real scans are"
        else:
            level, word = "fail", "far from the real distribution"
        verdict = (f"FID {m['synthetic']:.2f} vs {m['heldout']:.2f} for real held-out scans at the same n "
                   f"({ratio:.1f}x): {word}.")
        if res["prdc"] is not None:
            verdict += (f" Precision {res['prdc']['precision']:.2f} (realism), coverage "
                        f"{res['prdc']['coverage']:.2f} (diversity).")
        if res["excess_grain"] is not None and res["excess_grain"]["rate"] > 0.05:
            verdict += (f" {res['excess_grain']['rate']:.0%} of the synthetic images are grainier than 99 % of "
                        "real ones (noise-like texture).")
    else:
        level = "info"
        verdict = (f"FID {num(res['fid'], 2)} to the real training set; no held-out reference "
                   "(--test) to read it against.")
    notes = [
        f"Thresholds of the verdict: FID ratio to the held-out reference <= {CLOSE} pass, <= {FAR} warn, above fail "
        "(radsynth's reading, not a published standard).",
        "FID grows as sample size falls (Chong & Forsyth, CVPR 2020); compare the matched-n row, or KID (unbiased).",
        f"Subsets: at most {c.fidelity_max_images} images per set (class-stratified, seed {c.seed}).",
    ]
    return SectionResult(NAME, TITLE, verdict=verdict, level=level, metrics=metrics, tables=tables, figures=figs,
                         notes=notes)
