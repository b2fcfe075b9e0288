"""Contrast translation (issue #13 item 3): the learned translators against histogram matching.

    nice python bench/bench_translation.py [--subjects 12] [--write-metrics] [--grid docs/translation_grid.png]

1. **Simulated held-out pairs**: ``mri-brain`` subjects with seeds 1000.. (training used 0..39), every 2nd axial
   brain slice, T1w / T2w / FLAIR of the same anatomy (:mod:`radsynth.generators.translation.pairs`). For each
   shipped translator (T1w -> T2w, T1w -> FLAIR): PSNR and SSIM (data range 2 on [-1, 1], scikit-image) of the
   model's output and of the baseline (histogram matching of the T1w slice to the target's training histogram)
   against the true target slice; mean, and the model - baseline difference with a 95 % bootstrap CI over
   subjects (2,000 resamples).
2. **Real data** (``../shared/data/mni152``, skipped when absent): there is no real T2w / FLAIR partner of any real
   T1w here, so no PSNR on real data. What is checked instead is the contrast a real T1w slice must be turned
   into: on axial slices of the real MNI152 T1 template, the mean output grey level in white matter (WM
   probability > 0.9), grey matter (GM probability > 0.6) and CSF (inside the eroded brain, GM + WM probability
   < 0.3, the darker half of T1w there: mostly the ventricles), and whether their order is the target contrast's
   (T2w: CSF > GM > WM; FLAIR: GM > WM > CSF; T1w, the input: WM > GM > CSF). Histogram matching is monotone: it
   keeps T1w's order, so it fails this check by construction; a translator that only memorised simulated
   anatomy fails it too.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np


def boot_diff(a: np.ndarray, b: np.ndarray, subj: np.ndarray, n: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95 % CI of mean(a - b), resampling subjects."""
    rng = np.random.default_rng(seed)
    ids = np.unique(subj)
    groups = [np.flatnonzero(subj == s) for s in ids]
    d = a - b
    out = np.empty(n)
    for i in range(n):
        idx = np.concatenate([groups[j] for j in rng.integers(0, len(groups), len(groups))])
        out[i] = d[idx].mean()
    return float(np.percentile(out, 2.5)), float(np.percentile(out, 97.5))


def metrics(pred: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    psnr = np.array([peak_signal_noise_ratio(t, p, data_range=2.0) for p, t in zip(pred, true)])
    ssim = np.array([structural_similarity(t, p, data_range=2.0) for p, t in zip(pred, true)])
    return psnr, ssim


def shared_data() -> Path | None:
    env = os.environ.get("RADSYNTH_SHARED_DATA")
    for cand in ([Path(env)] if env else []) + [Path(__file__).resolve().parents[2] / "shared" / "data"]:
        if (cand / "mni152").is_dir():
            return cand
    return None


def mni_slices(data: Path, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Axial slices of the real MNI152 T1 (normalised as the translator's input) and WM / GM / CSF masks."""
    import nibabel as nib

    from radsynth.generators.common.slices import resize_area
    from radsynth.generators.translation.pairs import normalise_slice

    d = data / "mni152"
    t1 = np.asarray(nib.load(str(d / "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz")).dataobj, np.float32)
    gm = np.asarray(nib.load(str(d / "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz")).dataobj, np.float32)
    wm = np.asarray(nib.load(str(d / "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz")).dataobj, np.float32)
    gm, wm = gm / max(float(gm.max()), 1e-6), wm / max(float(wm.max()), 1e-6)
    xs, ms = [], []
    for z in range(60, 121, 6):  # through the ventricles and the cortex above them
        x = normalise_slice(resize_area(np.rot90(t1[:, :, z]), size))
        g = resize_area(np.rot90(gm[:, :, z]), size)
        w = resize_area(np.rot90(wm[:, :, z]), size)
        from scipy.ndimage import binary_erosion, binary_fill_holes

        brain = binary_erosion(binary_fill_holes((g + w) > 0.5), iterations=2)
        low = brain & (g + w < 0.3)
        csf = low & (x <= np.percentile(x[low], 50)) if low.sum() >= 4 else low
        xs.append(x)
        ms.append(np.stack([w > 0.9, g > 0.6, csf]))
    m = np.stack(ms)
    return np.stack(xs), m[:, 0], m[:, 1], m[:, 2]


ORDER = {"T1w": ("WM", "GM", "CSF"), "T2w": ("CSF", "GM", "WM"), "FLAIR": ("GM", "WM", "CSF")}


def tissue_order(img: np.ndarray, wm: np.ndarray, gm: np.ndarray, csf: np.ndarray) -> dict:
    means = {"WM": float(img[wm].mean()), "GM": float(img[gm].mean()), "CSF": float(img[csf].mean())}
    return {"means": {k: round(v, 3) for k, v in means.items()},
            "order": tuple(sorted(means, key=lambda k: -means[k]))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=12)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--model", action="append", default=None, help="translator folder(s) (default: the shipped ones)")
    ap.add_argument("--write-metrics", action="store_true")
    ap.add_argument("--grid", default=None, help="write a PNG grid: T1w | true target | model | histogram match")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    from radsynth.generators.translation.model import SHIPPED_MODELS, histogram_match, load_model, model_path, translate_slices
    from radsynth.generators.translation.pairs import ContrastPairsConfig, simulate_contrast_pairs

    t0 = time.perf_counter()
    ho = simulate_contrast_pairs(ContrastPairsConfig(n_subjects=a.subjects, seed=1000, slice_stride=2))
    print(f"held-out: {len(ho.brain)} slices of {a.subjects} simulated subjects (seeds 1000..), {time.perf_counter() - t0:.0f} s\n")
    data = shared_data()
    real = mni_slices(data, 64) if data is not None else None
    results, grids, folders = {}, [], {}
    print("| pair | model | n | PSNR dB model / histogram match | difference [95 % CI] | SSIM model / histogram match | difference [95 % CI] |")
    print("|---|---|---|---|---|---|---|")
    for name in a.model or list(SHIPPED_MODELS.values()):
        net, cfg, _ = load_model(name)
        src, tgt = cfg.source, cfg.target
        folder = Path(model_path(name))
        name = folder.name
        folders[name] = folder
        x, y = ho.images[src], ho.images[tgt]
        pred = translate_slices(net, cfg, x, seed=0)
        base = histogram_match(x, cfg.target_quantiles)
        (pm, sm), (pb, sb) = metrics(pred, y), metrics(base, y)
        dp, ds = boot_diff(pm, pb, ho.subject), boot_diff(sm, sb, ho.subject)
        print(f"| {src} -> {tgt} | {name} | {len(y)} | {pm.mean():.2f} / {pb.mean():.2f} | {pm.mean() - pb.mean():+.2f} "
              f"[{dp[0]:+.2f}, {dp[1]:+.2f}] | {sm.mean():.3f} / {sb.mean():.3f} | {sm.mean() - sb.mean():+.3f} [{ds[0]:+.3f}, {ds[1]:+.3f}] |")
        res = {"n_slices": int(len(y)), "n_subjects": int(a.subjects), "held_out_seed": 1000,
               "psnr_db": {"model": round(float(pm.mean()), 3), "histogram_match": round(float(pb.mean()), 3),
                           "difference_ci95": [round(v, 3) for v in dp]},
               "ssim": {"model": round(float(sm.mean()), 4), "histogram_match": round(float(sb.mean()), 4),
                        "difference_ci95": [round(v, 4) for v in ds]}}
        if real is not None:
            xr, wm, gm, csf = real
            out_r, base_r = translate_slices(net, cfg, xr, seed=0), histogram_match(xr, cfg.target_quantiles)
            res["real_mni152"] = {"expected_order": ORDER[tgt], "input_t1w": tissue_order(xr, wm, gm, csf),
                                  "model": tissue_order(out_r, wm, gm, csf),
                                  "histogram_match": tissue_order(base_r, wm, gm, csf), "n_slices": int(len(xr))}
        results[name] = res
        pick = np.linspace(0, len(x) - 1, 4).round().astype(int)
        grids.append(np.concatenate([np.concatenate([x[i], y[i], pred[i], base[i]], 1) for i in pick], 0))
        if real is not None:
            k = len(xr) // 2
            grids[-1] = np.concatenate([grids[-1], np.concatenate([xr[k], np.full_like(xr[k], -1), out_r[k], base_r[k]], 1)], 0)
    if real is not None:
        print("\nReal MNI152 T1 (no real target exists here): mean output grey level per tissue, and their order")
        print("\n| model | expected order | input T1w order | model: WM / GM / CSF, order | histogram match: order |")
        print("|---|---|---|---|---|")
        for name, res in results.items():
            r = res["real_mni152"]
            mm = r["model"]["means"]
            print(f"| {name} | {' > '.join(r['expected_order'])} | {' > '.join(r['input_t1w']['order'])} | "
                  f"{mm['WM']:.2f} / {mm['GM']:.2f} / {mm['CSF']:.2f}, {' > '.join(r['model']['order'])} | "
                  f"{' > '.join(r['histogram_match']['order'])} |")
    else:
        print("\nreal-data check skipped: ../shared/data/mni152 not found")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    if a.grid:
        from PIL import Image

        g = np.concatenate(grids, 1)
        Image.fromarray(((g + 1) * 127.5).clip(0, 255).astype(np.uint8)).resize((g.shape[1] * 2, g.shape[0] * 2), 0).save(a.grid)
        print(f"wrote {a.grid}")
    if a.write_metrics:
        for name, res in results.items():
            p = folders[name] / "metrics.json"
            p.write_text(json.dumps({"bench": "bench/bench_translation.py", "model": name, **res}, indent=1, default=list) + "\n")
            print(f"wrote {p}")


if __name__ == "__main__":
    main()
