"""Benchmark CT projection + FBP and a full polychromatic noisy slice; prints one table.

Rows (target from issue #10: a 512^2 CT slice with 720 views + FBP <= 1 s on 2 cores):
  * radsynth numba Joseph forward projection, 512^2 -> 720 views x 725 detectors;
  * radsynth FBP (ramp filter + pixel-driven back projection) 720 x 725 -> 512^2;
  * baselines in the same run: scikit-image ``radon`` / ``iradon`` (kept library) and
    torch ``grid_sample`` (rotate-and-sum forward projection), with ratios;
  * ASTRA Toolbox CPU ('linear' = Joseph projector, FBP ram-lak) when ``import astra`` works
    (the PyPI wheel needs libcudart / libcufft from nvidia-cuda-runtime-cu12 / nvidia-cufft-cu12
    on LD_LIBRARY_PATH even for its CPU projectors; not a radsynth dependency);
  * a full polychromatic slice (basis decomposition, 2 basis channels, 120 kVp spectrum,
    Poisson + electronic noise, water BHC, FBP -> HU).

Image: the central axial slice of ``../shared/data/chest-ct/cxr.nii.gz`` (HU -> mu at
E_eff) if present, else a synthetic ellipse phantom. For the polychromatic row the HU
slice is turned into a crude material map by thresholds (bench only; the real mapping is
:mod:`radsynth.physics.xray.tissue_map`) and per-class median HU of the simulated slice
are printed next to the real ones.

Times are the best of several runs (shared machines: the load average is printed).

Usage: python bench/bench_ct.py [--views 720] [--no-torch]
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

import numpy as np

CHEST = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "chest-ct" / "cxr.nii.gz"


def _best(fn, repeat: int = 2) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def load_slice() -> tuple[np.ndarray, float, str]:
    """(512, 512) HU slice indexed (x, y), pixel mm, source description."""
    if CHEST.exists():
        import nibabel as nib

        img = nib.load(str(CHEST))
        data = np.asarray(img.dataobj[:, :, img.shape[2] // 2], dtype=np.float32)
        return data, float(img.header.get_zooms()[0]), f"chest-ct central slice {data.shape}"
    n = 512
    x = (np.arange(n) - (n - 1) / 2) / (n / 2)
    X, Y = np.meshgrid(x, x, indexing="ij")
    hu = np.full((n, n), -1000.0, np.float32)
    hu[(X / 0.9) ** 2 + (Y / 0.65) ** 2 < 1] = 40.0
    hu[((np.abs(X) - 0.4) / 0.25) ** 2 + (Y / 0.4) ** 2 < 1] = -850.0
    hu[X ** 2 + (Y + 0.45) ** 2 < 0.08 ** 2] = 1200.0
    return hu, 0.7, "synthetic ellipse phantom (chest CT not found)"


def torch_fp(img: np.ndarray, angles: np.ndarray, n_det: int) -> np.ndarray:
    """Rotate-and-sum parallel projection with torch grid_sample (bilinear), views in chunks."""
    import torch

    n = img.shape[0]
    pad = (n_det - n) // 2 + 1
    t = torch.from_numpy(np.pad(img, pad))[None, None]
    m = t.shape[-1]
    out = []
    for s in range(0, len(angles), 60):
        a = torch.from_numpy(angles[s:s + 60]).float()
        c, si = torch.cos(a), torch.sin(a)
        theta = torch.stack([torch.stack([c, -si, torch.zeros_like(c)], 1),
                             torch.stack([si, c, torch.zeros_like(c)], 1)], 1)
        grid = torch.nn.functional.affine_grid(theta, (len(a), 1, m, m), align_corners=False)
        rot = torch.nn.functional.grid_sample(t.expand(len(a), -1, -1, -1), grid, align_corners=False)
        out.append(rot.sum(dim=2)[:, 0])
    return torch.cat(out).numpy()


def astra_fp_fbp(img: np.ndarray, angles: np.ndarray, n_det: int):
    """ASTRA Toolbox CPU 'linear' (Joseph) projector: (FP seconds, FBP seconds) or None if not importable."""
    try:
        import astra
    except Exception:  # not installed, or its CUDA runtime libraries are missing
        return None
    n = img.shape[0]
    vg = astra.create_vol_geom(n, n)
    pg = astra.create_proj_geom("parallel", 1.0, n_det, angles)
    pid = astra.create_projector("linear", pg, vg)
    t_fp, (sid, sino) = _best(lambda: astra.create_sino(img, pid), 1)
    rid = astra.data2d.create("-vol", vg)
    cfg = astra.astra_dict("FBP")
    cfg.update(ProjectorId=pid, ProjectionDataId=sid, ReconstructionDataId=rid, FilterType="ram-lak")
    aid = astra.algorithm.create(cfg)
    t_fbp, _ = _best(lambda: astra.algorithm.run(aid), 1)
    astra.algorithm.delete(aid)
    astra.data2d.delete([sid, rid])
    astra.projector.delete(pid)
    return t_fp, t_fbp


def material_slice(hu: np.ndarray, pixel_mm: float, e_eff: float):
    from radsynth.core.material_volume import MaterialVolume
    from radsynth.physics.xray.materials import density_for_hu

    classes = [("air", -2000, -950), ("lung", -950, -200), ("adipose", -200, -30),
               ("soft_tissue", -30, 200), ("cortical_bone", 200, 5000)]
    mat = np.zeros(hu.shape, np.uint8)
    dens = np.zeros(hu.shape, np.float32)
    for i, (name, lo, hi) in enumerate(classes):
        m = (hu >= lo) & (hu < hi)
        mat[m] = i
        dens[m] = np.maximum(density_for_hu(name, hu[m], e_eff), 1e-4)
    aff = np.diag([pixel_mm, pixel_mm, 2.5, 1.0])
    vol = MaterialVolume(mat[..., None], dens[..., None], [c[0] for c in classes], aff,
                         np.zeros(mat.shape + (1,), np.int16))
    return vol, classes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--views", type=int, default=720)
    ap.add_argument("--no-torch", action="store_true")
    args = ap.parse_args()

    import numba
    from skimage.transform import iradon, radon

    from radsynth.physics.ct.ct_scan import CTScan, effective_energy_kev, effective_mu_water_per_mm, simulate_ct
    from radsynth.physics.ct.fbp import fbp
    from radsynth.physics.ct.projector import forward_project, parallel_angles

    hu, px, src = load_slice()
    n = hu.shape[0]
    scan = CTScan(n_views=args.views, mas=100.0, kernel="ramp")
    e_eff = effective_energy_kev(scan)
    mu = np.maximum(effective_mu_water_per_mm(scan) * (1 + hu / 1000.0), 0).astype(np.float32)
    angles = parallel_angles(args.views)
    theta_deg = np.degrees(angles)
    n_det = int(math.ceil(math.hypot(n, n))) + 1  # 725 for 512^2, as skimage radon(circle=False)
    print(f"image: {src}, pixel {px:.3f} mm; {args.views} views, {n_det} detectors; "
          f"numba threads {numba.get_num_threads()}; E_eff(120 kVp) = {e_eff:.2f} keV")

    forward_project(mu[:64, :64], angles[:4], 92, 1.0, 1.0)  # warm up numba (cache / JIT)
    fbp(np.zeros((4, 92)), angles[:4], (64, 64), 1.0, 1.0)
    load0 = os.getloadavg()[0]
    t_fp, sino = _best(lambda: forward_project(mu, angles, n_det, 1.0, 1.0), 5)
    t_fbp, rec = _best(lambda: fbp(sino, angles, (n, n), 1.0, 1.0, "ramp"), 5)
    t_sk_fp, sk_sino = _best(lambda: radon(mu, theta=theta_deg, circle=False), 1)
    t_sk_fbp, sk_rec = _best(lambda: iradon(sk_sino, theta=theta_deg, filter_name="ramp", circle=False,
                                            output_size=n), 1)
    rows = [
        ("forward projection (s)", t_fp, t_sk_fp, "skimage radon"),
        ("FBP ramp (s)", t_fbp, t_sk_fbp, "skimage iradon"),
        ("FP + FBP (s)", t_fp + t_fbp, t_sk_fp + t_sk_fbp, "skimage radon+iradon"),
    ]
    if not args.no_torch:
        import torch

        torch.set_num_threads(numba.get_num_threads())
        torch_fp(mu[:64, :64], angles[:4], 92)
        t_tfp, _ = _best(lambda: torch_fp(mu, angles, n_det), 1)
        rows.append(("forward projection, torch (s)", t_fp, t_tfp, "torch grid_sample"))
    astra_t = astra_fp_fbp(mu, angles, n_det)
    if astra_t is not None:
        rows.append(("forward projection, ASTRA CPU (s)", t_fp, astra_t[0], "astra linear (Joseph)"))
        rows.append(("FBP ramp, ASTRA CPU (s)", t_fbp, astra_t[1], "astra FBP ram-lak"))
    else:
        print("(ASTRA Toolbox not importable: no ASTRA rows)")
    inside = np.hypot(*np.meshgrid(np.arange(n) - n / 2, np.arange(n) - n / 2, indexing="ij")) < n * 0.45
    diff = np.abs(rec - sk_rec)[inside].mean() / np.abs(sk_rec[inside]).mean()

    vol, classes = material_slice(hu, px, e_eff)
    noisy = CTScan(n_views=args.views, mas=100.0, kernel="shepp-logan")
    simulate_ct(vol, CTScan(n_views=8), np.random.default_rng(0))  # warm caches (spectrum, basis)
    t_poly, sim = _best(lambda: simulate_ct(vol, noisy, np.random.default_rng(0)), 3)
    rows.append(("polychromatic noisy slice -> HU (s)", t_poly, float("nan"), "(no baseline)"))

    print(f"\n{'step':38s} {'radsynth':>9s} {'baseline':>9s} {'ratio':>7s}  baseline / check")
    for name, ours, base, bname in rows:
        ratio = base / ours if base == base else float("nan")
        print(f"{name:38s} {ours:9.3f} {base:9.3f} {ratio:6.1f}x  {bname}")
    ok = t_fp + t_fbp <= 1.0
    print(f"target FP+FBP <= 1 s: {'PASS' if ok else 'FAIL'} ({t_fp + t_fbp:.3f} s); "
          f"mean |radsynth - skimage| / mean |skimage| inside FOV = {diff:.4f}")
    print(f"1-min load average: {load0:.2f} at start, {os.getloadavg()[0]:.2f} at end "
          f"(times are best of 5 / 5 / 3 runs for radsynth, 1 run for baselines)")
    sim = sim[..., 0]
    print(f"\nper-class median HU (crude threshold map, {args.views} views, 100 mAs, shepp-logan):")
    for i, (name, _, _) in enumerate(classes):
        m = vol.material[..., 0] == i
        m &= inside
        if m.sum() > 50:
            print(f"  {name:14s} real {np.median(hu[m]):8.1f}  simulated {np.median(sim[m]):8.1f}  (n={int(m.sum())})")


if __name__ == "__main__":
    main()
