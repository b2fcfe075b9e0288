"""Benchmark the MRI pipeline and the cohort runner; prints one table.

Rows (targets from issue #2):
  * 3D 1 mm head volume, per sequence: label map -> noisy image (target <= 1 s);
    baseline in the same run: one scipy Gaussian filter of the same volume, so
    the ratio column is comparable across machines.
  * 2D 256x256 slices per second incl. bias field and noise (target >= 200/s).
  * Cohort build, Ray 2 workers vs 1 worker on 200 subjects (target speed-up >= 1.7x):
    2 mm draft anatomy, T1w/T2w/FLAIR, NIfTI output; Ray start-up is included.

Usage: python bench/bench_mri.py [--subjects 200] [--skip-ray]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def _best(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_3d() -> list[tuple[str, float, str, str]]:
    from scipy import ndimage

    from radsynth.anatomy.labelmaps import available_labelmaps, load_labelmap
    from radsynth.physics.mri.acquisition import Acquisition
    from radsynth.physics.mri.presets import SEQUENCES
    from radsynth.physics.mri.simulator import simulate
    from radsynth.physics.mri.tissue import tissue_table

    labels, affine = load_labelmap(available_labelmaps()[0])
    table = tissue_table(3.0)
    acq = Acquisition(voxel_size_mm=1.0, snr=30.0, bias_field_strength=0.3, gibbs=True)
    base = _best(lambda: ndimage.gaussian_filter(labels.astype(np.float32), 1.0), 2)
    rows = [("baseline: gaussian_filter 3D (s)", base, "", f"{labels.shape}")]
    for seq in SEQUENCES:
        t = _best(lambda: simulate(labels, affine, seq, 3.0, table, acq, np.random.default_rng(0)), 2)
        rows.append((f"3D 1 mm head, {seq} (s)", t, "<= 1.0 s", "PASS" if t <= 1.0 else "FAIL") + ())
        rows[-1] = rows[-1][:3] + (f"{'PASS' if t <= 1.0 else 'FAIL'}; {t / base:.2f}x baseline",)
    return rows


def bench_2d() -> list[tuple[str, float, str, str]]:
    from radsynth.anatomy.labelmaps import available_labelmaps, load_labelmap
    from radsynth.physics.mri.acquisition import Acquisition
    from radsynth.physics.mri.simulator import simulate_slice_batch
    from radsynth.physics.mri.tissue import tissue_table

    labels, _ = load_labelmap(available_labelmaps()[0])
    # 256x256 axial slices: pad the (x, y) plane, take 64 slices through the brain
    z0 = labels.shape[2] // 2 - 32
    sl = np.zeros((64, 256, 256), dtype=np.int16)
    px, py = (256 - labels.shape[0]) // 2, (256 - labels.shape[1]) // 2
    sl[:, px:px + labels.shape[0], py:py + labels.shape[1]] = np.moveaxis(labels[:, :, z0:z0 + 64], 2, 0)
    aff2 = np.eye(4)
    table = tissue_table(3.0)
    acq = Acquisition(voxel_size_mm=1.0, snr=30.0, bias_field_strength=0.3)
    t = _best(lambda: simulate_slice_batch(sl, aff2, "T2w", 3.0, table, acq, np.random.default_rng(0)), 3)
    rate = sl.shape[0] / t
    return [("2D 256x256 slices per second (T2w)", rate, ">= 200/s", "PASS" if rate >= 200 else "FAIL")]


def bench_ray(n_subjects: int) -> list[tuple[str, float, str, str]]:
    from radsynth.cohort.runner import build_cohort
    from radsynth.cohort.spec import parse_spec

    spec = parse_spec({
        "name": "bench-ray",
        "seed": 5,
        "n_subjects": n_subjects,
        "generator": {"name": "mri-brain", "params": {
            "sequences": ["T1w", "T2w", "FLAIR"], "work_resolution_mm": 2, "voxel_size_mm": [2.0, 2.0, 2.0],
            "add_t1c_for_tumour": False}},
        "labels": {"tumour": 0.3},
        "attributes": {"age_years": {"distribution": "uniform", "low": 20, "high": 85}},
        "outputs": {"formats": ["nifti"]},
    })
    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        for w in (1, 2):
            t0 = time.perf_counter()
            build_cohort(spec, Path(tmp) / f"w{w}", backend="ray", workers=w, progress=False)
            times[w] = time.perf_counter() - t0
    speed = times[1] / times[2]
    return [
        (f"Ray 1 worker, {n_subjects} subjects (s)", times[1], "", ""),
        (f"Ray 2 workers, {n_subjects} subjects (s)", times[2], "", ""),
        ("Ray speed-up 2 vs 1 workers (x)", speed, ">= 1.7x", "PASS" if speed >= 1.7 else "FAIL"),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subjects", type=int, default=200)
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--only-ray", action="store_true")
    args = ap.parse_args()
    rows = [] if args.only_ray else bench_3d() + bench_2d()
    if not args.skip_ray:
        rows += bench_ray(args.subjects)
    w = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(w)} | {'value':>9} | {'target':>9} | result")
    print(f"{'-' * w}-|-{'-' * 9}-|-{'-' * 9}-|-------")
    for name, value, target, result in rows:
        print(f"{name.ljust(w)} | {value:9.3f} | {target:>9} | {result}")


if __name__ == "__main__":
    main()
