"""Benchmark the longitudinal (progression) brain-MRI example; prints one table.

Builds ``examples/brain-mri-progression.yaml`` (1 subject, 4 sessions) with ``radsynth cohort build``,
then, from the written files only:

* target: the growth model's core volume V(t) (mL), from the growth parameters recorded in
  ``subject.json`` (``provenance.sampled.progression``) evaluated afresh with
  :class:`radsynth.pathology.tumour_growth.TumourGrowth`;
* measured: voxels of the written ``tumour_core`` mask (NIfTI) x voxel volume (mL), and the error (%)
  (acceptance: within 5 % at every timepoint);
* the mass effect on the ipsilateral lateral ventricle: displacement of its wall facing the tumour
  (mm, from the applied field; acceptance: non-decreasing), and, measured on the label maps, the shift
  of that wall from the tumour centre and of the ventricle's centroid (mm), and its volume (mL);
* build time (target < 2 min) and, with ``--repeat 2`` (default), whether a second build of the same spec
  is byte-identical (sha256 of every file).

Usage: python bench/bench_progression.py [--spec examples/brain-mri-progression.yaml] [--repeat 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _build(spec: Path, out: Path) -> float:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "radsynth.cli.main", "cohort", "build", str(spec), "--out", str(out),
                        "--no-progress"], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"build failed ({r.returncode}): {r.stderr.strip()}")
    return time.perf_counter() - t0


def _hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _table(out: Path) -> tuple[list[dict[str, float]], bool, bool]:
    import nibabel as nib

    from radsynth.pathology.tumour_growth import TumourGrowth

    rows = []
    for sub in sorted((out / "subjects").iterdir()):
        meta = json.loads((sub / "subject.json").read_text())
        growth = TumourGrowth.from_dict(meta["provenance"]["sampled"]["progression"]["glioma_progression"]["growth"])
        for ses in meta["sessions"]:
            sid, q = ses["session"], ses["measurements"]
            img = nib.load(sub / sid / "masks" / f"{sub.name}_{sid}_tumour_core.nii.gz")
            measured = float(np.count_nonzero(np.asarray(img.dataobj))) * abs(np.linalg.det(img.affine[:3, :3])) / 1e3
            target = float(growth.volume_ml(ses["time_days"]))
            rows.append({"subject": sub.name, "session": sid, "t_days": ses["time_days"], "target_ml": target,
                         "measured_ml": measured, "error_pct": 100.0 * (measured - target) / target,
                         "radius_mm": q["radius_mm"], "displacement_mm": q["ventricle_displacement_mm"],
                         "wall_shift_mm": q["ventricle_wall_shift_mm"],
                         "centroid_shift_mm": q["ventricle_centroid_shift_mm"], "ventricle_ml": q["ventricle_volume_ml"],
                         "growth": growth.describe()})
    within = all(abs(r["error_pct"]) <= 5.0 for r in rows)
    disp = [r["displacement_mm"] for r in rows]
    monotone = all(b >= a for a, b in zip(disp, disp[1:]))
    return rows, within, monotone


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spec", default=str(REPO / "examples" / "brain-mri-progression.yaml"))
    ap.add_argument("--repeat", type=int, default=2, help="builds of the same spec (2: also check byte identity)")
    ap.add_argument("--keep", default=None, help="folder to keep the builds in (default: a temporary folder)")
    args = ap.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-progression-"))
    outs, times = [], []
    for k in range(max(1, args.repeat)):
        out = root / f"build-{k + 1}"
        times.append(_build(Path(args.spec), out))
        outs.append(out)
    rows, within, monotone = _table(outs[0])
    print(f"spec: {args.spec}")
    print(f"growth model (sampled): {rows[0]['growth']}")
    print()
    print("| t (days) | target mL | measured mL | error % | radius mm | ventricle displacement mm | "
          "wall shift mm (labels) | centroid shift mm (labels) | ventricle mL |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['t_days']:g} | {r['target_ml']:.2f} | {r['measured_ml']:.2f} | {r['error_pct']:+.2f} | "
              f"{r['radius_mm']:.2f} | {r['displacement_mm']:.2f} | {r['wall_shift_mm']:.2f} | "
              f"{r['centroid_shift_mm']:.2f} | {r['ventricle_ml']:.2f} |")
    print()
    print(f"core volume within 5 % at every timepoint: {'PASS' if within else 'FAIL'} "
          f"(largest |error| {max(abs(r['error_pct']) for r in rows):.2f} %)")
    print(f"ventricle displacement non-decreasing: {'PASS' if monotone else 'FAIL'}")
    print(f"build time: {', '.join(f'{t:.1f} s' for t in times)} (target < 120 s): "
          f"{'PASS' if max(times) < 120 else 'FAIL'}")
    if len(outs) > 1:
        hashes = [_hashes(o) for o in outs]
        same = all(h == hashes[0] for h in hashes[1:])
        print(f"byte-identical rebuild ({len(hashes[0])} files, sha256): {'PASS' if same else 'FAIL'}")
    print(f"outputs: {root}")


if __name__ == "__main__":
    main()
