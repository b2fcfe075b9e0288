"""Undersampled-MRI reconstruction on REAL brain MRI: learned (mri-recon-4x) vs zero-filled inverse FFT.

    nice python bench/bench_mri_recon.py [--model mri-recon-4x] [--acceleration 4] [--center-fraction 0.08]
                                         [--size 128] [--out DIR] [--metrics PATH]

Real data (never used for training or tuning; the model saw simulated slices only):
* ``../shared/data/brain-mri-real`` (253 JPEG/PNG slices, mixed T1 / T1c / T2, axial / sagittal / coronal;
  byte-identical duplicates dropped): read as grey [0, 1] (``read_image``), zero-padded to a square (centred) and
  resized to ``size`` x ``size`` (anti-aliased);
* ``../shared/data/mni152`` ICBM 2009a T1 template (an average of 152 real brains: smooth, almost noise-free),
  ``--n-mni`` axial slices through the brain, padded and resized the same way.
Held-out simulated slices: 3 ``mri-brain`` subjects (seed 1000, one never used in training), all planes.

Retrospective undersampling (what the issue asks): the clean magnitude image's centred FFT (single coil), a 1-D
Cartesian column mask drawn with MONAI's ``RandomKspaceMask`` (the training mask family) at the given acceleration
and centre fraction, seeded per image (seed = image index: the same masks for every method); reconstructions:
(a) zero-filled: ``|IFFT(masked k-space)|`` (the baseline); (b) POCS: a classical non-learned projection onto convex
sets, ``--pocs-iters`` alternations of "real, non-negative image" and "measured k-space columns" (hard data
consistency) starting from the zero-filled image (the untrained model, all gains 0, is one such step);
(c) the learned model.
Metrics vs the clean image (skimage.metrics): PSNR and SSIM with data_range = the clean image's max - min.
Differences model - zero-filled and model - POCS: mean and 95 % percentile bootstrap CI over images (2000 resamples).
Timing: both methods in the same run, reported as a ratio. Exits 0 with a message when no real data is found.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("RADSYNTH_SHARED_DATA", ROOT.parent / "shared" / "data"))


def square_resize(img: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad to a centred square, then anti-aliased resize to ``size`` x ``size`` (float32)."""
    from skimage.transform import resize

    h, w = img.shape
    n = max(h, w)
    sq = np.zeros((n, n), np.float32)
    sq[(n - h) // 2:(n - h) // 2 + h, (n - w) // 2:(n - w) // 2 + w] = img
    if n == size:
        return sq
    return resize(sq, (size, size), order=1, anti_aliasing=n > size, preserve_range=True).astype(np.float32)


def load_brain_real(size: int) -> tuple[np.ndarray, list[str]]:
    from radsynth.generators.common.data import read_image

    root = DATA / "brain-mri-real"
    files = sorted(p for sub in ("no", "yes") if (root / sub).is_dir() for p in (root / sub).iterdir() if p.is_file())
    seen, imgs, names = set(), [], []
    for p in files:
        h = hashlib.md5(p.read_bytes()).hexdigest()
        if h in seen:
            continue
        seen.add(h)
        imgs.append(square_resize(read_image(p), size))
        names.append(f"{p.parent.name}/{p.name}")
    return (np.stack(imgs) if imgs else np.zeros((0, size, size), np.float32)), names


def load_mni(size: int, n: int) -> np.ndarray:
    import nibabel as nib

    p = DATA / "mni152" / "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
    if not p.is_file():
        return np.zeros((0, size, size), np.float32)
    vol = np.asarray(nib.as_closest_canonical(nib.load(str(p))).dataobj, np.float32)
    vol = vol / max(float(vol.max()), 1e-6)
    frac = (vol > 0.1).reshape(-1, vol.shape[2]).mean(0)
    cand = np.flatnonzero(frac > 0.25)
    zs = cand[np.unique(np.linspace(0, len(cand) - 1, min(n, len(cand))).round().astype(int))]
    return np.stack([square_resize(np.rot90(vol[..., z]), size) for z in zs])


def metrics(x: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    dr = float(ref.max() - ref.min())
    return (float(peak_signal_noise_ratio(ref, x, data_range=dr)),
            float(structural_similarity(ref, x, data_range=dr)))


def boot_ci(d: np.ndarray, n: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), (n, len(d)))].mean(axis=1)
    return float(d.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def pocs(k: np.ndarray, m: np.ndarray, iters: int) -> np.ndarray:
    """Non-learned baseline: alternate projections onto real non-negative images and onto the measured columns."""
    from radsynth.generators.enhancement.mri_kspace_pairs import fft2c, ifft2c

    x = np.abs(ifft2c(k))
    for _ in range(iters):
        x = np.abs(ifft2c(np.where(m, k, fft2c(np.maximum(x.real, 0.0)))))
    return x.astype(np.float32)


def evaluate(name: str, clean: np.ndarray, net: object, cfg: object, acc: float, cf: float, pattern: str,
             pocs_iters: int) -> tuple[dict, list]:
    from radsynth.generators.enhancement.mri_kspace_pairs import fft2c, ifft2c, mask_array, sample_mask
    from radsynth.generators.enhancement.mri_recon import reconstruct_kspace

    rows: dict[str, dict[str, list[float]]] = {k: {"psnr": [], "ssim": []} for k in ("zero-filled", "POCS", "model")}
    t_zf = t_model = 0.0
    real_acc = []
    example = []
    for i, c in enumerate(clean):
        p = sample_mask(c.shape[1], acc, cf, seed=i, pattern=pattern)
        m = mask_array(p)
        real_acc.append(p.realised_acceleration)
        t = time.perf_counter()
        k = fft2c(c) * m
        zf = np.abs(ifft2c(k))
        t_zf += time.perf_counter() - t
        t = time.perf_counter()
        rec = np.abs(reconstruct_kspace(k, m, net, cfg))
        t_model += time.perf_counter() - t
        for key, img in (("zero-filled", zf), ("POCS", pocs(k, m, pocs_iters)), ("model", rec)):
            ps, ss = metrics(img, c)
            rows[key]["psnr"].append(ps)
            rows[key]["ssim"].append(ss)
        if i in (len(clean) // 3, 2 * len(clean) // 3):
            example.append((name, [zf, pocs(k, m, pocs_iters), rec, c]))
    n = len(clean)
    res = {"n_images": n, "realised_acceleration_mean": float(np.mean(real_acc)),
           "means": {k: {mk: float(np.mean(v)) for mk, v in r.items()} for k, r in rows.items()},
           "model_minus_zero_filled": {}, "model_minus_pocs": {}, "model_over_zero_filled_time": t_model / max(t_zf, 1e-9),
           "model_ms_per_slice": 1000 * t_model / max(n, 1)}
    for base, key in (("zero-filled", "model_minus_zero_filled"), ("POCS", "model_minus_pocs")):
        for met in ("psnr", "ssim"):
            d = np.asarray(rows["model"][met]) - np.asarray(rows[base][met])
            res[key][met] = list(boot_ci(d))
            res[key][f"{met}_fraction_improved"] = float((d > 0).mean())
    return res, example


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="mri-recon-4x")
    ap.add_argument("--acceleration", type=float, default=4.0)
    ap.add_argument("--center-fraction", type=float, default=0.08)
    ap.add_argument("--pattern", default="random", choices=("random", "equispaced"))
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--pocs-iters", type=int, default=10)
    ap.add_argument("--n-mni", type=int, default=40)
    ap.add_argument("--sim-subjects", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--metrics", type=Path, default=None, help="also write the results here (model folder metrics.json)")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from radsynth.generators.enhancement.mri_recon import load_recon

    t0 = time.perf_counter()
    brain, _ = load_brain_real(a.size) if (DATA / "brain-mri-real").is_dir() else (np.zeros((0, a.size, a.size)), [])
    mni = load_mni(a.size, a.n_mni)
    if not len(brain) and not len(mni):
        print(f"no real brain MRI under {DATA} (brain-mri-real/, mni152/); nothing to measure")
        return 0
    net, cfg, doc = load_recon(a.model)
    from radsynth.generators.enhancement.mri_kspace_pairs import MRISlicesConfig, simulate_mri_slices

    sim = simulate_mri_slices(MRISlicesConfig(n_subjects=a.sim_subjects, slices_per_plane=4, seed=1000,
                                              size=a.size)).images
    sets = [("brain-mri-real (real, 2D JPEG/PNG)", brain), ("MNI152 T1 template (real-derived, axial)", mni),
            ("simulated mri-brain, held out (seed 1000)", sim)]
    out = a.out or Path(tempfile.mkdtemp(prefix="bench_mri_recon_"))
    out.mkdir(parents=True, exist_ok=True)
    results: dict = {"model": a.model, "acceleration": a.acceleration, "center_fraction": a.center_fraction,
                     "mask_pattern": a.pattern, "mask_library": "monai RandomKspaceMask / EquispacedKspaceMask",
                     "mask_seed": "image index", "size_px": a.size, "pocs_iters": a.pocs_iters, "sets": {}}
    print(f"\n## {a.model}: {a.acceleration:g}x, {a.center_fraction:.0%} centre, {a.pattern} columns, {a.size}x{a.size}")
    print("| set | n | PSNR zero-filled / POCS / model (dB) | dPSNR model - zf [95% CI] | dPSNR model - POCS "
          "| SSIM zero-filled / POCS / model | dSSIM model - zf [95% CI] | dSSIM model - POCS | model/zf time |")
    print("|---|---|---|---|---|---|---|---|---|")
    grid = []
    for name, clean in sets:
        if not len(clean):
            print(f"| {name} | 0 | (absent) | | | | | | |")
            continue
        r, ex = evaluate(name, clean, net, cfg, a.acceleration, a.center_fraction, a.pattern, a.pocs_iters)
        grid += ex
        results["sets"][name] = r
        mz, mp, mm = r["means"]["zero-filled"], r["means"]["POCS"], r["means"]["model"]

        def ci(key: str, met: str, f: str) -> str:
            v = r[key][met]
            return f"{v[0]:+{f}} [{v[1]:+{f}}, {v[2]:+{f}}]"

        print(f"| {name} | {r['n_images']} | {mz['psnr']:.2f} / {mp['psnr']:.2f} / {mm['psnr']:.2f} "
              f"| {ci('model_minus_zero_filled', 'psnr', '.2f')} | {ci('model_minus_pocs', 'psnr', '.2f')} "
              f"| {mz['ssim']:.4f} / {mp['ssim']:.4f} / {mm['ssim']:.4f} | {ci('model_minus_zero_filled', 'ssim', '.4f')} "
              f"| {ci('model_minus_pocs', 'ssim', '.4f')} | {r['model_over_zero_filled_time']:.0f}x |", flush=True)
    results["seconds"] = round(time.perf_counter() - t0, 1)
    _grid(grid, out / "mri_recon_grid.png")
    text = json.dumps(results, indent=1)
    (out / "results.json").write_text(text + "\n")
    if a.metrics:
        a.metrics.write_text(text + "\n")
    print(f"\nimage grid: {out / 'mri_recon_grid.png'}; numbers: {out / 'results.json'}; total {results['seconds']:.0f} s")
    return 0


def _grid(rows: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        return
    titles = ["zero-filled", "POCS", "model", "clean"]
    fig, axes = plt.subplots(len(rows), 4, figsize=(10, 2.6 * len(rows)), squeeze=False)
    for r, (label, imgs) in enumerate(rows):
        hi = float(np.percentile(imgs[-1], 99.5)) or 1.0
        for c, img in enumerate(imgs):
            axes[r, c].imshow(img, cmap="gray", vmin=0, vmax=hi)
            axes[r, c].set_axis_off()
            axes[r, c].set_title(f"{titles[c]}\n{label[:28]}" if c == 0 else titles[c], fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
