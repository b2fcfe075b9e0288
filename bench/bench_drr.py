"""Benchmark the DRR ray caster; prints one table.

Rows (target from issue #10: a 256x256 DRR from the 512x512x133 chest CT in <= 0.3 s on
2 cores, compared in the same run with a plain NumPy/SciPy baseline):

  * numba Joseph ray caster (radsynth.physics.xray.drr.line_integrals), 2 basis channels,
    PA / AP / LAT, best of 3 after a warm-up call (compilation / cache load excluded);
  * baseline: scipy.ndimage.map_coordinates (order 1) at the same sample points (one per
    voxel plane of the dominant axis along every ray), summed with the same step length;
  * torch.nn.functional.grid_sample (trilinear) at the same points (if torch imports);
  * the physics after the DRR (Radiograph.apply: polychromatic transmission, scatter,
    noise, blur, display) for the same 256^2 image.

Volume: ../shared/data/chest-ct/cxr.nii.gz (HU) if present, converted simply to two
channels: water-equivalent density clip(1 + HU/1000, 0, 1.3) g/cm^3 and a bone channel
(HU - 300)/1500 for HU > 300; otherwise a synthetic ellipsoid phantom of the same size.

Usage: python bench/bench_drr.py [--repeat 3] [--no-baseline] [--no-torch]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

CT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "chest-ct" / "cxr.nii.gz"


def _best(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def load_channels() -> tuple[np.ndarray, np.ndarray, str]:
    """(2, x, y, z) float32 channels, affine, description."""
    if CT.exists():
        import nibabel as nib

        img = nib.load(str(CT))
        hu = np.asarray(img.dataobj, dtype=np.float32)
        aff = np.asarray(img.affine, dtype=np.float64)
        src = f"real chest CT {hu.shape} {tuple(round(float(s), 3) for s in img.header.get_zooms())} mm"
    else:
        shape = (512, 512, 133)
        aff = np.diag([-0.703125, 0.703125, 2.5, 1.0])
        x, y, z = np.meshgrid(*(np.linspace(-1, 1, n, dtype=np.float32) for n in shape), indexing="ij", sparse=True)
        hu = np.full(shape, -1000.0, np.float32)
        body = (x / 0.9) ** 2 + (y / 0.6) ** 2 <= 1
        hu = np.where(body, 40.0, hu)
        lungs = ((np.abs(x) - 0.4) / 0.3) ** 2 + (y / 0.4) ** 2 + (z / 0.9) ** 2 <= 1
        hu = np.where(lungs, -800.0, hu)
        spine = (x / 0.06) ** 2 + ((y + 0.45) / 0.08) ** 2 <= 1
        hu = np.where(spine, 700.0, hu).astype(np.float32)
        src = f"synthetic phantom {shape} (chest CT absent)"
    ch = np.empty((2, *hu.shape), dtype=np.float32)
    np.clip(1.0 + hu / 1000.0, 0.0, 1.3, out=ch[0])
    np.clip((hu - 300.0) / 1500.0, 0.0, None, out=ch[1])
    return ch, aff, src


def sample_points(ch_shape, aff, geometry, cols: slice):
    """Index-space sample points (3, n_rays, n_planes) and step_mm (n_rays,) for detector columns ``cols``.

    The same points as the Joseph caster: one per plane of the dominant index axis.
    Points outside the clipped segment get index -10 (outside -> 0 with cval).
    """
    fr = geometry.frame(aff, ch_shape)
    inv = np.linalg.inv(aff)
    rows = np.arange(geometry.detector_rows)
    cc = np.arange(geometry.detector_cols)[cols]
    pix = (fr.origin_mm[None, None, :] + cc[None, :, None] * fr.col_step_mm + rows[:, None, None] * fr.row_step_mm)
    pix = pix.reshape(-1, 3)
    s = inv[:3, :3] @ fr.source_mm + inv[:3, 3]
    p = pix @ inv[:3, :3].T + inv[:3, 3]
    d = p - s
    ax = int(np.argmax(np.abs(d).mean(axis=0)))
    n = np.asarray(ch_shape, dtype=np.float64)
    j = np.arange(int(n[ax]), dtype=np.float64)
    t = (j[None, :] - s[ax]) / d[:, ax:ax + 1]  # (rays, planes)
    pts = s[:, None, None] + d.T[:, :, None] * t[None]
    inside = (t >= 0) & (t <= 1)
    for a in range(3):
        inside &= (pts[a] >= -0.5) & (pts[a] <= n[a] - 0.5)
    pts = np.where(inside[None], np.clip(pts, 0, (n - 1)[:, None, None]), -10.0)
    step = np.linalg.norm(pix - fr.source_mm, axis=1) / np.abs(d[:, ax])
    return pts, step


def baseline_scipy(ch, aff, geometry, chunk: int = 16) -> np.ndarray:
    from scipy.ndimage import map_coordinates

    out = np.zeros((ch.shape[0], geometry.detector_rows, geometry.detector_cols), np.float32)
    for c0 in range(0, geometry.detector_cols, chunk):
        sl = slice(c0, min(c0 + chunk, geometry.detector_cols))
        pts, step = sample_points(ch.shape[1:], aff, geometry, sl)
        for k in range(ch.shape[0]):
            v = map_coordinates(ch[k], pts.reshape(3, -1), order=1, mode="constant", cval=0.0).reshape(pts.shape[1:])
            out[k, :, sl] = (v.sum(axis=1) * step).reshape(geometry.detector_rows, -1)
    return out


def baseline_torch(ch, aff, geometry, chunk: int = 32) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    vol = torch.from_numpy(ch)[None]  # (1, K, X, Y, Z): grid's (x, y, z) = (Z, Y, X) index order
    n = np.asarray(ch.shape[1:], dtype=np.float64)
    out = np.zeros((ch.shape[0], geometry.detector_rows, geometry.detector_cols), np.float32)
    for c0 in range(0, geometry.detector_cols, chunk):
        sl = slice(c0, min(c0 + chunk, geometry.detector_cols))
        pts, step = sample_points(ch.shape[1:], aff, geometry, sl)
        g = 2.0 * (pts + 0.5) / n[:, None, None] - 1.0  # align_corners=False
        grid = torch.from_numpy(np.stack([g[2], g[1], g[0]], axis=-1).astype(np.float32))[None, None]
        with torch.no_grad():
            v = F.grid_sample(vol, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0, :, 0]
        out[:, :, sl] = (v.numpy().sum(axis=-1) * step).reshape(ch.shape[0], geometry.detector_rows, -1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--no-torch", action="store_true")
    args = ap.parse_args()

    import numba

    from radsynth.physics.xray.drr import line_integrals
    from radsynth.physics.xray.geometry import default_geometry
    from radsynth.physics.xray.radiograph import Radiograph

    t0 = time.perf_counter()
    ch, aff, src = load_channels()
    t_load = time.perf_counter() - t0
    print(f"volume: {src}; 2 channels float32 {ch.nbytes / 2**20:.0f} MiB (load + HU->channels {t_load:.1f} s)")
    print(f"numba {numba.__version__}, threads {numba.get_num_threads()}, cores {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    # warm-up (compilation or cache load) on a tiny volume of the same types
    small = np.ascontiguousarray(ch[:, ::64, ::64, ::16])
    t0 = time.perf_counter()
    line_integrals(small, aff, default_geometry("PA", detector_rows=8, detector_cols=8))
    print(f"warm-up (numba compile / cache load): {time.perf_counter() - t0:.2f} s")

    rows: list[tuple[str, float, str, str]] = []
    ref = None
    for view in ("PA", "AP", "LAT"):
        g = default_geometry(view, detector_rows=256, detector_cols=256, pixel_mm=1.6)
        t, out = _best(lambda: line_integrals(ch, aff, g), args.repeat)
        if view == "PA":
            ref, g_pa, t_pa = out, g, t
        rows.append((f"DRR 256^2 {view}, numba Joseph, 2 ch", t, "<= 0.3 s", "PASS" if t <= 0.3 else "FAIL"))
    numba.set_num_threads(1)
    t1, out1 = _best(lambda: line_integrals(ch, aff, g_pa), args.repeat)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    rows.append(("DRR 256^2 PA, numba, 1 thread", t1, "", f"{t1 / t_pa:.2f}x 2-thread time; bytes identical: "
                 f"{out1.tobytes() == ref.tobytes()}"))
    if not args.no_baseline:
        t, base = _best(lambda: baseline_scipy(ch, aff, g_pa), 1)
        inner = ref[0] > 10
        rel = float(np.abs(base[:, inner] - ref[:, inner]).max() / ref[0].max())
        rows.append(("baseline: scipy map_coordinates, same rays", t, "", f"numba {t / t_pa:.1f}x faster; "
                     f"max |diff| / max = {rel:.1e}"))
    if not args.no_torch:
        try:
            import torch

            torch.set_num_threads(2)
            t, tb = _best(lambda: baseline_torch(ch, aff, g_pa), 1)
            inner = ref[0] > 10
            rel = float(np.abs(tb[:, inner] - ref[:, inner]).max() / ref[0].max())
            rows.append(("baseline: torch grid_sample (2 threads)", t, "", f"numba {t / t_pa:.1f}x faster; "
                         f"max |diff| / max = {rel:.1e}"))
        except ImportError:  # pragma: no cover
            pass
    r = Radiograph(geometry=g_pa)
    lint = ref * np.float32(0.1)
    r.apply(lint, ("water", "cortical_bone"))  # spectrum cache warm-up
    t, _ = _best(lambda: r.apply(lint, ("water", "cortical_bone")), args.repeat)
    rows.append(("Radiograph.apply 256^2 (BL, scatter, noise, display)", t, "", "after the DRR"))

    w = max(len(r_[0]) for r_ in rows)
    print(f"\n| {'step'.ljust(w)} | time (s) | target | result |")
    print(f"|{'-' * (w + 2)}|---------:|--------|--------|")
    for name, t, target, res in rows:
        print(f"| {name.ljust(w)} | {t:8.3f} | {target} | {res} |")


if __name__ == "__main__":
    main()
