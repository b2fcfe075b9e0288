"""Fit the brain-MRI grey-level refinement (``brain-mri-histogram-v1``) on the training part of brain-mri-real.

Issue #14 item 3. :class:`radsynth.physics.mri.histogram_refiner.HistogramRefiner` learns, per weighting (T1 =
T1 + T1c, T2, FLAIR), one monotone map of display grey from the simulator's head-pixel distribution to the real
exports'. The two sides:

* **Real**: the axial slices of ``brain-mri-real`` in the ``train`` part of the fixed split that ships with
  ``brain-mri-encoder-64`` (``src/radsynth/data/models/brain-mri-encoder-64/split.csv``), weighting from
  ``bench/data/brain_mri_real_annotations.csv``; the held-out part (what ``bench/bench_realism.py`` scores
  the encoder FID on) is never read. Read as ``radsynth evaluate`` reads 2D images (grey, min-max).
* **Simulated**: a cohort of ``--spec`` (default ``examples/brain-mri.yaml``) built with ``--seed`` (default 7;
  the bench's cohorts use the spec's own seed, 2026, so the fit and the bench never share a subject) and
  the refiner switched off, sliced as the bench slices it (through each volume's display
  window: ``window=header``). Default ``--slices axial:0.45-0.8:8mm:window=header``.

Writes ``refiner.json`` (the tables and what they were fitted on) into ``--out`` (default: the shipped folder).

    RADSYNTH_CONFIG_DIR=$(mktemp -d) nice .venv/bin/python scripts/fit_brain_mri_refiner.py [--subjects 12]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
SPLIT = REPO / "src/radsynth/data/models/brain-mri-encoder-64/split.csv"
ANNOTATIONS = REPO / "bench/data/brain_mri_real_annotations.csv"
OUT = REPO / "src/radsynth/data/models/brain-mri-histogram-v1"
REAL_WEIGHTING = {"T1": "T1", "T1c": "T1", "T2": "T2", "FLAIR": "FLAIR"}
SLICES = "axial:0.45-0.8:8mm:window=header"  # as bench/bench_realism.py reads the cohort


def real_images(root: Path) -> tuple[dict[str, list[np.ndarray]], dict[str, int]]:
    from radsynth.generators.common.data import read_image

    part = {r["file"]: r["part"] for r in csv.DictReader(SPLIT.open())}
    out: dict[str, list[np.ndarray]] = {}
    for r in csv.DictReader(ANNOTATIONS.open()):
        w = REAL_WEIGHTING.get(r["weighting"])
        if w is None or r["plane"] != "axial" or part.get(r["file"]) != "train":
            continue
        path = root / r["file"]
        if hashlib.sha256(path.read_bytes()).hexdigest() != r["sha256"]:
            sys.exit(f"fit_brain_mri_refiner: {path} is not the annotated file (sha256 differs)")
        out.setdefault(w, []).append(read_image(path))
    return out, {w: len(v) for w, v in out.items()}


def build(spec_path: Path, seed: int, subjects: int, work: Path) -> Path:
    spec = yaml.safe_load(spec_path.read_text())
    spec.update(seed=seed, n_subjects=subjects, name=f"{spec['name']}-refiner-fit")
    spec.setdefault("outputs", {})["formats"] = ["nifti"]
    spec["outputs"].pop("dicom_subjects", None)
    realism = spec["generator"]["params"].setdefault("realism", {})
    realism.pop("intensity_refiner", None)
    if realism.get("display_median_grey") is None and realism.get("display_window_percentile") is None:
        sys.exit("fit_brain_mri_refiner: the spec sets no display window (realism.display_median_grey)")
    path = work / "fit-spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    exe = Path(sys.executable).with_name("radsynth")
    out = work / "cohort"
    if (out / "manifest.parquet").is_file() and (out / "fit-spec.yaml").is_file() \
            and (out / "fit-spec.yaml").read_text() == path.read_text():
        print(f"reusing {out} (built from the same spec)", flush=True)
        return out
    cmd = [str(exe) if exe.exists() else "radsynth", "cohort", "build", str(path), "--out", str(out), "--workers", "2"]
    print("building", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    (out / "fit-spec.yaml").write_text(path.read_text())
    return out


def simulated_images(cohort: Path, slices: str) -> dict[str, list[np.ndarray]]:
    from radsynth.evaluate.slicing import parse_slices, volume_slices
    from radsynth.physics.mri.histogram_refiner import WEIGHTING

    spec = parse_slices(slices)
    out: dict[str, list[np.ndarray]] = {}
    for p in sorted(cohort.glob("subjects/*/anat/*.nii.gz")):
        seq = p.name.split("_")[-1].removesuffix(".nii.gz")
        w = WEIGHTING.get(seq)
        if w is not None:
            out.setdefault(w, []).extend(img for _, img in volume_slices(p, spec))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", type=Path, default=REPO / "examples/brain-mri.yaml")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--subjects", type=int, default=12)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared/data/brain-mri-real")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--slices", default=SLICES, help="how the simulated volumes are sliced (as bench_realism reads them)")
    a = ap.parse_args()
    from radsynth.physics.mri.histogram_refiner import HistogramRefiner

    t = time.perf_counter()
    work = a.work or Path(tempfile.mkdtemp(prefix="refiner-fit-"))
    work.mkdir(parents=True, exist_ok=True)
    real, counts = real_images(a.data)
    sim = simulated_images(build(a.spec, a.seed, a.subjects, work), a.slices)
    spec_sha = hashlib.sha256(a.spec.read_bytes()).hexdigest()
    ref = HistogramRefiner.fit(real, sim, info={
        "real": "brain-mri-real, axial, train part of brain-mri-encoder-64/split.csv", "real_images": counts,
        "simulated": f"{a.spec.relative_to(REPO) if a.spec.is_relative_to(REPO) else a.spec} (sha256 {spec_sha[:12]}), "
                     f"seed {a.seed}, {a.subjects} subjects, {a.slices}",
        "levels": "100 quantiles, 0.5-99.5 %", "head_grey": "> 0.1"})
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "refiner.json").write_text(ref.to_json() + "\n")
    for w, s in ref.fit_info["weightings"].items():
        print(f"{w}: {s}")
    print(f"wrote {a.out / 'refiner.json'} (sha256 {ref.sha256[:12]}) in {time.perf_counter() - t:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
