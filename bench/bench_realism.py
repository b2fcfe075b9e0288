"""Realism baseline of the simulators: simulated vs real slices, per modality and sequence, in one run.

Issue #14 acceptance item: per modality and sequence, the classifier two-sample test (C2ST AUC, subject-grouped
folds, bootstrap CI) and the Fréchet distance (pixel features, and a learned encoder where one fits) of simulated
vs real images, beside a real-vs-real reference row. Every number comes from a ``radsynth evaluate`` run (runner
API, sections ``fidelity`` and ``detectability``; read back from each run's ``metrics.json``): nothing is
re-implemented here. The bench only builds the cohorts, chooses and splits the real images and writes the
manifests evaluate reads.

Rows (each an evaluate run; its report.html and metrics.json stay in ``--work-dir``):

* **Brain MRI T1w / T2w / FLAIR**: axial slices of the upper-middle slab (``--mri-slices``, default
  ``axial:0.45-0.8:8mm``: slab as fractions of each volume's foreground extent, one slice per 8 mm; until
  2026-12-07 session 8 ``0.3-0.7``, which put about a third of the simulated slices at the level of the orbits and
  skull base, where few real reference slices lie: of 32 random real axial slices, 4 were at that level and the
  rest at or above the lateral ventricles, a developer's visual count; the simulated label maps reach from below
  the cerebellum to the vertex, so 0.45-0.8 covers the ventricles to the centrum semiovale) of a cohort
  built from ``--spec`` (default ``examples/brain-mri.yaml``; ``--subjects`` overrides its subject count; this
  is how an ablation is run: one spec per arm) vs ``brain-mri-real``. The real set is deduplicated by sha256
  (the source has 22 groups of byte-identical files) and every image is its own subject (the source has no
  patient ids). It is a mix of T1, T1c, T2 and FLAIR slices, so by default (``--mri-real matched``) each
  simulated sequence is compared with the axial real slices of its weighting (:data:`MATCH`), read from
  ``bench/data/brain_mri_real_annotations.csv`` (a developer's visual annotation, sha256-checked; see
  ``bench/data/README.md``): T1w with T1 + T1c (82 unique), T2w with T2 (76), FLAIR with FLAIR (63). The C2ST
  of a row is against ALL matched real slices (a second evaluate run, detectability only: more power with
  ~80 real images; since 2026-12-07 session 8 a repeated cross-validation, ``--mri-c2st-repeats`` 3 fold splits
  with the out-of-fold scores averaged, because one 5-fold run of the judge on these few images moved by about
  0.06 between runs on the same images), its FID at matched n against half A with half B as the real-vs-real
  reference, and every
  sequence has its own reference row (half A vs half B). ``--mri-real mixed`` compares every sequence with
  the whole mixed set, as before 2026-12-07 (a sequence-perfect simulator would still score far above 0.5
  there, since most real slices are of other weightings). Cohorts whose spec sets a display window
  (``realism.display_median_grey`` / ``display_window_percentile``) are read through it, as a viewer shows them
  (``:window=header`` is appended to ``--mri-slices`` unless it names a window; since 2026-12-07 session 8, before
  which the docstring said so but the code read them by per-volume min-max). When the spec applies the learned
  grey-level table (``realism.intensity_refiner``, fitted on the train part of the encoder split), each row
  also reports the C2ST against the **held-out** matched real slices alone, which the table never saw.
* **Chest X-ray**: simulated PA radiographs (``examples/chest-xray.yaml``) vs the **train** split of
  ``cxr-pneumonia`` (never the test split), deduplicated by sha256, grouped by patient (file-name id).
* **Chest CT**: simulated CT (``examples/chest-ct.yaml``, full-dose series; the low-dose twin is switched off in
  the build because it is not evaluated: the full-dose series draws its noise from its own spawned stream, so it
  is unchanged, checked byte-identical with the watermark off) vs axial slices of the one
  real chest CT (``chest-ct/cxr.nii.gz``, HU), both sliced with ``--ct-slices`` (default ``axial:0.1-0.9``).
  The real side has ONE subject, so subject-grouped C2ST folds cannot be formed there: its slices are grouped
  in contiguous slabs of ``--ct-slab-mm`` (default 20 mm) instead, and the real "halves" are alternating slabs
  of the same patient: the reference row is a within-subject floor, so the CT FID ratio reads larger than a
  between-patient ratio would, and the CT rows are labelled so. Both CT sides are mapped with one fixed HU window
  (``--ct-window``, default -1024..3071 HU, linear to [0, 1]): evaluate's ``--slices`` min-max scales each
  volume, which maps the real CT (stored minimum -2048 outside the scan circle, maximum 3071) and a simulated CT
  (about -1125 .. 2230) to different grey values for the same HU. A diagnostic row (``CT, per-volume min-max``)
  shows what evaluate gives on the cohort volumes directly (``--slices``, per-volume min-max; real slices
  scaled by evaluate's own :func:`radsynth.evaluate.slicing.volume_slices`).

Per row: images and subjects (groups) per side as evaluate loaded them; C2ST AUC with its 95 % CI and the
images per side the judge saw; FID on 16x16 pixel block means (``--encoder pixel``; "FID pix"); FID on a
learned encoder's features ("FID enc": ``cxr-encoder-64`` for chest X-ray, ``brain-mri-encoder-64`` for brain
MRI; no CT encoder exists yet, so those cells are "n/a"); each at matched n next to the real-vs-real FID at the
same n (evaluate's ``fid_matched_n``: the real half A is the reference set, half B the held-out real set, the
simulated set subsampled to |B|) and their ratio (evaluate's ``fid_ratio_to_heldout``; 1 = as close as new real
images).

Brain MRI encoder FID uses only the real slices the encoder never saw: the ``heldout`` part of the fixed split
shipped with it (``src/radsynth/data/models/brain-mri-encoder-64/split.csv``, matched by content sha256;
byte-identical copies follow their first file; held-out images with a near-duplicate in the encoder's training
part were dropped from it, near-duplicate groups are one subject). Per sequence, the matched axial held-out
slices are split into their own halves A / B (``split_halves``, salt 4), so the "FID enc" cells and their
reference row compare fewer images (about 40 % of the matched set) than the pixel cells; the reference row
of each sequence carries both (pixel: all-matched halves; encoder: held-out halves). The encoder was trained on
``brain-mri-real`` only (its model card: sanity checks, limits), never on simulated images. The real halves A and B are
split deterministically by ``--seed`` (by patient, class-stratified): brain MRI, the whole deduplicated set in
two (``--mri-real-n`` caps a half; about the simulated slice count at the default sizes); chest X-ray, halves
sized to the simulated set (``--cxr-real-n``), so the C2ST, the real-vs-real C2ST and both FIDs compare
(nearly) equal n. The reference row is ``evaluate(real=A, synthetic=B)``.

The simulated side of every row is a CSV manifest (``path``, ``patient`` = subject) of the cohort's images of
one sequence (written by the bench, so the rows do not depend on how ``--sequence`` reads a folder; since
2026-12-07 evaluate also keeps a real set that records no sequence whole under ``--sequence``).

Also written: ``grid.png`` (8 real + 8 simulated brain T1w slices, shuffled, unlabelled, as evaluate sees them
before the resize: centre-cropped squares) with its key in the JSON, and the JSON of every number
(``--out``, default ``realism.json`` in a new temp folder; grid beside it).

Run (2 cores shared: keep it nice; RADSYNTH_CONFIG_DIR keeps the builds' signing key and the audit log out of ~):

    RADSYNTH_CONFIG_DIR=$(mktemp -d) nice .venv/bin/python bench/bench_realism.py [--quick]
        [--spec examples/brain-mri.yaml] [--subjects N] [--modalities mri,cxr,ct] [--cxr-subjects N]
        [--ct-subjects N] [--seed 0] [--threads 2] [--workers 2] [--cache-dir DIR] [--work-dir DIR] [--out FILE.json]

Cohorts are built once per effective spec and simulator code (hash of both in the folder name; the code hash
covers ``src/radsynth/**/*.py`` except evaluate/metrics/report) into ``--cache-dir`` (default: a fixed folder in
the temp dir) and reused. Ablation: one run per arm, ``--modalities mri --spec ARM.yaml`` (and
``--subjects N``); the real halves depend only on ``--seed``, so every arm is measured on the same real images.
``--quick``: tiny cohorts and evaluate's ``quick`` preset (2 folds, 2 epochs; numbers not meant to be read).
Default sizes (12 brain subjects, 40 radiographs, 6 CT subjects, evaluate ``full`` preset) are meant to finish
in about 30 min on 2 cores including the builds. Measured on 2 cores: cold caches 10.5 min (7.5 min of it
cohort builds) with the cores mostly free, 23 min (14 min builds) while another benchmark shared them; cohorts
cached 7 min (shared cores). ``--quick``: 5 min cold, 1.3-2.7 min cached.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

SPECS = {"mri": REPO / "examples" / "brain-mri.yaml", "cxr": REPO / "examples" / "chest-xray.yaml",
         "ct": REPO / "examples" / "chest-ct.yaml"}
#: what each modality's evaluation reads from its cohort (formats written, manifest image rows kept)
FORMATS = {"mri": ["nifti"], "cxr": ["png"], "ct": ["nifti"]}
#: evaluate's C2ST needs folds + 1 groups per set, and every fold's training part 2 groups per class: the full
#: preset (5 folds) needs >= 6 simulated subjects, the quick one (2 folds) >= 4
FULL = {"mri_subjects": None, "cxr_subjects": 40, "ct_subjects": 6, "mri_real_n": None}
QUICK = {"mri_subjects": 4, "cxr_subjects": 8, "ct_subjects": 4, "mri_real_n": 40}
ENCODER_CXR = "cxr-encoder-64"
ENCODER_MRI = "brain-mri-encoder-64"
#: visual annotation of every brain-mri-real image (weighting, plane), checked by sha256 (see its header note)
ANNOTATIONS = REPO / "bench" / "data" / "brain_mri_real_annotations.csv"
#: real weightings that match each simulated sequence (T1-weighted sequences, with and without contrast,
#: against the real T1 and T1c slices: the T1c ones are post-contrast, so enhancement differs; too few
#: plain T1 slices (15) to stand alone)
MATCH = {"T1w": ("T1", "T1c"), "T1c": ("T1", "T1c"), "GRE-T1": ("T1", "T1c"), "T1-IR": ("T1", "T1c"),
         "T2w": ("T2",), "FLAIR": ("FLAIR",)}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def cpu_now() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


# ----------------------------------------------------------------------------- data


def shared_data() -> Path:
    env = os.environ.get("RADSYNTH_SHARED_DATA")
    need = ("brain-mri-real", "cxr-pneumonia/train", "chest-ct/cxr.nii.gz")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if all((cand / n).exists() for n in need):
            return cand
    sys.exit("bench_realism: no shared data (set RADSYNTH_SHARED_DATA to the folder holding "
             f"{', '.join(need)}; default ../shared/data beside the repository)")


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in (".png", ".jpg", ".jpeg"))


def sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def dedup(files: list[Path]) -> tuple[list[Path], list[list[str]]]:
    """First file (sorted order) of every group of byte-identical files; the groups with duplicates."""
    groups: dict[str, list[Path]] = defaultdict(list)
    for p in files:
        groups[sha256(p)].append(p)
    keep = sorted(g[0] for g in groups.values())
    return keep, [[str(p) for p in g] for g in groups.values() if len(g) > 1]


def read_annotations(root: Path) -> dict[str, dict[str, str]]:
    """{absolute path: row} of :data:`ANNOTATIONS`; exits when a file is missing or its sha256 differs (the
    annotation would describe another image)."""
    rows = {}
    with open(ANNOTATIONS, newline="") as fh:
        for r in csv.DictReader(fh):
            f = root / r["file"]
            if not f.is_file() or sha256(f) != r["sha256"]:
                sys.exit(f"bench_realism: {ANNOTATIONS.name}: {r['file']} is missing from {root} or its sha256 "
                         "differs: the annotation describes another image (use --mri-real mixed)")
            rows[str(f)] = r
    return rows


def encoder_heldout(root: Path) -> tuple[dict[str, str] | None, str]:
    """{content sha256: group id} of the ``brain-mri-real`` images in the held-out part of
    :data:`ENCODER_MRI`'s fixed split (its ``split.csv``), and a note; None (encoder cells "n/a") when the
    encoder is not shipped. Exits when a listed file is missing or its sha256 differs (the split would
    describe other images)."""
    from importlib import resources

    from radsynth.metrics.encoder import shipped_encoders

    split = Path(str(resources.files("radsynth").joinpath("data", "models", ENCODER_MRI, "split.csv")))
    if ENCODER_MRI not in shipped_encoders() or not split.is_file():
        return None, f"n/a ({ENCODER_MRI} not shipped)"
    part: dict[str, str] = {}
    group: dict[str, str] = {}
    with open(split, newline="") as fh:
        for r in csv.DictReader(fh):
            f = root / r["file"]
            if not f.is_file() or sha256(f) != r["sha256"]:
                sys.exit(f"bench_realism: {split}: {r['file']} is missing from {root} or its sha256 differs: the "
                         "encoder's split describes other images")
            if r["part"] != "duplicate":
                part[r["sha256"]], group[r["sha256"]] = r["part"], r["group"]
    held = {h: "mri-ho-" + hashlib.sha256(group[h].encode()).hexdigest()[:12]
            for h, p in part.items() if p == "heldout"}
    return held, f"{len(held)} held-out of {len(part)} unique"


def write_manifest(path: Path, rows: list[dict[str, str]]) -> Path:
    """CSV manifest evaluate reads: ``path`` (absolute) and ``patient`` (group id); no class column (unlabelled:
    the real classes are not the simulated ones, and C2ST/FID do not need them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["path", "patient"])
        w.writeheader()
        for r in rows:
            w.writerow({"path": r["path"], "patient": r["patient"]})
    return path


def split_halves(items: list[dict[str, str]], n_half: int | None, seed: int, salt: int) -> tuple[list, list]:
    """Two patient-disjoint, class-stratified halves of ``items`` (dicts with path, patient, class), each of
    about ``n_half`` images (None: everything, split in two). Deterministic by ``seed``."""
    rng = np.random.default_rng([seed, salt])
    by_class: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for it in items:
        by_class[it["class"]][it["patient"]].append(it)
    total = len(items)
    want_total = total / 2 if n_half is None else min(n_half, total / 2)
    a: list[dict] = []
    b: list[dict] = []
    for cls in sorted(by_class):
        pats = sorted(by_class[cls])
        n_cls = sum(len(v) for v in by_class[cls].values())
        target = max(1, int(round(want_total * n_cls / total)))
        na = nb = 0
        for k in rng.permutation(len(pats)):
            imgs = by_class[cls][pats[k]]
            if na >= target and nb >= target:
                break
            fit_a, fit_b = na + len(imgs) <= target, nb + len(imgs) <= target  # no overshoot: sizes stay ~n_half
            if fit_a and (na <= nb or not fit_b):
                a += imgs
                na += len(imgs)
            elif fit_b:
                b += imgs
                nb += len(imgs)
    key = lambda r: r["path"]  # noqa: E731
    return sorted(a, key=key), sorted(b, key=key)


# ----------------------------------------------------------------------------- cohorts


def effective_spec(path: Path, modality: str, n_subjects: int | None) -> dict[str, Any]:
    """The spec as built: subject count overridden, output formats cut to what the evaluation reads (no DICOM,
    no previews), CT low-dose twin off (not evaluated; the full-dose series does not change). The spec's own
    ``outputs.watermark`` is kept (the bench measures what ships)."""
    import yaml

    spec = yaml.safe_load(path.read_text())
    if n_subjects is not None:
        spec["n_subjects"] = int(n_subjects)
    wm = (spec.get("outputs") or {}).get("watermark", True)
    spec["outputs"] = {"formats": FORMATS[modality], "watermark": wm}
    if modality == "ct":
        acq = ((spec.get("generator") or {}).get("params") or {}).get("acquisition")
        if isinstance(acq, dict):
            acq.pop("low_dose_fraction", None)
    return spec


#: packages only evaluation uses: a change there does not invalidate built cohorts
EVAL_ONLY = ("evaluate", "metrics", "report")


def code_hash() -> str:
    """sha256 of the Python sources that can change what a cohort build writes (``src/radsynth/**/*.py`` except
    :data:`EVAL_ONLY`): part of the cohort cache key, so a code change (an ablation of the simulator) rebuilds."""
    root = REPO / "src" / "radsynth"
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        rel = f.relative_to(root)
        if rel.parts[0] in EVAL_ONLY:
            continue
        h.update(rel.as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    for f in sorted((root / "data" / "models").glob("*/refiner.json")):  # shipped grey-level tables (mri-brain)
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def build_cohort(spec: dict[str, Any], cache: Path, workers: int, info: dict[str, Any]) -> Path:
    """Build ``spec`` once into ``cache/<name>-n<N>-<hash of spec and code>`` (reused when its manifest exists)."""
    import yaml

    text = yaml.safe_dump(spec, sort_keys=True)
    code = code_hash()
    digest = hashlib.sha256(text.encode() + code.encode()).hexdigest()[:12]
    dest = cache / f"{spec['name']}-n{spec['n_subjects']}-{digest}"
    info.update(spec=spec, folder=str(dest), key_sha256_12=digest, code_sha256=code)
    if (dest / "manifest.parquet").is_file():
        info["built"] = "cached"
        log(f"cohort {spec['name']} x{spec['n_subjects']}: cached {dest}")
        return dest
    cache.mkdir(parents=True, exist_ok=True)
    spec_path = cache / f"{dest.name}.yaml"
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    exe = Path(sys.executable).with_name("radsynth")
    cmd = [str(exe) if exe.exists() else "radsynth", "cohort", "build", str(spec_path), "--out", str(dest),
           "--workers", str(workers), "--no-progress"] + (["--resume"] if dest.exists() else [])
    log(f"cohort {spec['name']} x{spec['n_subjects']}: building -> {dest}")
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"bench_realism: cohort build failed ({' '.join(cmd)}):\n{r.stderr[-3000:]}")
    info["built"] = f"{time.perf_counter() - t:.0f} s"
    log(f"cohort {spec['name']}: built in {info['built']}")
    return dest


def cohort_images(folder: Path, fmt: str, sequence: str) -> list[dict[str, str]]:
    """Image rows of a cohort manifest of one sequence: absolute path and subject."""
    import pyarrow.parquet as pq

    rows = pq.read_table(folder / "manifest.parquet").to_pylist()
    out = [{"path": str((folder / r["path"]).resolve()), "patient": str(r["subject"])} for r in rows
           if r.get("kind") == "image" and r.get("format") == fmt and str(r.get("sequence")) == sequence]
    if not out:
        seqs = sorted({str(r.get("sequence")) for r in rows if r.get("kind") == "image"})
        sys.exit(f"bench_realism: cohort {folder} has no {fmt} image of sequence {sequence!r} (it has {seqs})")
    return sorted(out, key=lambda r: r["path"])


# ----------------------------------------------------------------------------- CT slices


def ct_slices_png(path: Path, spec: str, window: tuple[float, float] | None, out_dir: Path,
                  prefix: str) -> list[tuple[int, Path, float]]:
    """Axial slices of a CT volume as 16-bit PNG, sliced by evaluate's own ``volume_slices`` (orientation,
    slab, step, empty slices, square pixels). ``window``: the per-volume min-max of ``volume_slices`` is undone
    (it is linear; the square-pixel resampling too) and HU are mapped linearly from the window to [0, 1]
    (clipped); None keeps evaluate's per-volume min-max. Returns (slice index, file, position along S in mm)."""
    from PIL import Image

    from radsynth.evaluate.slicing import load_volume, parse_slices, volume_slices
    from radsynth.io.nifti import read_nifti

    sp = parse_slices(spec)
    sl = volume_slices(path, sp)
    data, _, _ = read_nifti(path)
    a = np.asarray(data, dtype=np.float32)
    fin = a[np.isfinite(a)]
    lo, hi = float(fin.min()), float(fin.max())
    _, geom = load_volume(path)
    dz = float(geom.spacing[2])
    out_dir.mkdir(parents=True, exist_ok=True)
    res = []
    for k, img in sl:
        x = img.astype(np.float64)
        if window is not None:
            hu = lo + x * (hi - lo)
            x = np.clip((hu - window[0]) / (window[1] - window[0]), 0.0, 1.0)
        f = out_dir / f"{prefix}_z{k:04d}.png"
        Image.fromarray(np.round(x * 65535.0).astype(np.uint16)).save(f)
        res.append((k, f, k * dz))
    return res


# ----------------------------------------------------------------------------- evaluate


def run_evaluate(name: str, real: Path, synthetic: Path, test: Path | None, work: Path, *, encoder: str,
                 sections: tuple[str, ...], preset: str, args: argparse.Namespace, slices: str | None = None,
                 c2st_repeats: int = 1) -> dict[str, Any]:
    """One ``radsynth evaluate`` run through the runner API; returns its metrics.json (plus timing)."""
    from radsynth.evaluate.config import EvaluateConfig
    from radsynth.evaluate.runner import evaluate

    out = work / "eval" / name
    cfg = EvaluateConfig.preset(preset, sections=sections, encoder=encoder, image_size=args.image_size,
                                seed=args.seed, threads=args.threads, c2st_repeats=c2st_repeats)
    log(f"evaluate {name}: {', '.join(sections)} ({encoder})")
    t, c = time.perf_counter(), cpu_now()
    evaluate(real, synthetic, test, out, config=cfg, resume=True, log=None, progress=False, slices=slices)
    m = json.loads((out / "metrics.json").read_text())
    m["_bench"] = {"out": str(out), "wall_s": time.perf_counter() - t, "cpu_s": cpu_now() - c}
    st = m["status"]
    log(f"evaluate {name}: {m['_bench']['wall_s']:.0f} s; " + ", ".join(f"{s} {st[s]}" for s in sections))
    return m


def _inp(m: dict[str, Any], role: str) -> dict[str, Any] | None:
    for d in m.get("inputs", []):
        if d.get("name") == role:
            return d
    return None


def summarise(pix: dict[str, Any], enc: dict[str, Any] | None) -> dict[str, Any]:
    """The numbers of one row, read from evaluate's metrics.json (pixel run, optional encoder run)."""
    row: dict[str, Any] = {}
    r, s, t = _inp(pix, "real"), _inp(pix, "synthetic"), _inp(pix, "test")
    row["real"] = {"images": r["images"], "subjects": r["patients"]} if r else None
    row["simulated"] = {"images": s["images"], "subjects": s["patients"]} if s else None
    row["heldout"] = {"images": t["images"], "subjects": t["patients"]} if t else None
    det = pix["sections"]["detectability"]
    if det["status"] == "ok":
        dm = det["metrics"]
        row["c2st"] = {"auc": dm["auc"], "ci": dm["ci"], "level": dm["level"], "n_real": dm["n_real"],
                       "n_synthetic": dm["n_synthetic"], "folds": dm["folds"], "fold_aucs": dm["fold_aucs"],
                       "accuracy_at_0.5": dm["accuracy_at_0.5"]}
    else:
        row["c2st"] = {"status": det["status"], "reason": det.get("reason")}
    for key, m in (("pixel", pix), ("encoder", enc)):
        if m is None:
            continue
        f = m["sections"]["fidelity"]
        if f["status"] != "ok":
            row[f"fid_{key}"] = {"status": f["status"], "reason": f.get("reason")}
            continue
        fm = f["metrics"]
        d = {"encoder": fm["encoder"], "fid_all": fm["synthetic_vs_real"]["fid"],
             "n_all": [fm["synthetic_vs_real"]["n_a"], fm["synthetic_vs_real"]["n_b"]]}
        if "fid_matched_n" in fm:
            d.update(n_matched=fm["fid_matched_n"]["n"], fid=fm["fid_matched_n"]["synthetic"],
                     fid_ref=fm["fid_matched_n"]["heldout"], n_ref=fm["heldout_vs_real"]["n_b"],
                     ratio=fm.get("fid_ratio_to_heldout"))
        else:  # the reference row: B against A, all images
            d.update(n_matched=fm["synthetic_vs_real"]["n_b"], fid=fm["synthetic_vs_real"]["fid"])
        d["kid"] = fm["synthetic_vs_real"]["kid"]
        d["intensity_w1"] = fm["synthetic_vs_real"]["intensity"]["w1"]
        row[f"fid_{key}"] = d
    row["notes"] = pix.get("notes", [])
    row["metrics_json"] = pix["_bench"]["out"] + "/metrics.json"
    row["wall_s"] = pix["_bench"]["wall_s"] + (enc["_bench"]["wall_s"] if enc else 0.0)
    return row


# ----------------------------------------------------------------------------- grid


def brain_grid(real: list[dict[str, str]], t1w: list[dict[str, str]], spec: str, out: Path, seed: int
               ) -> list[dict[str, Any]]:
    """4 x 4 grid of 8 real and 8 simulated T1w slices (centre-cropped squares, 128 px, grey as evaluate reads
    them), shuffled, unlabelled; returns the key (row-major positions)."""
    from PIL import Image

    from radsynth.evaluate.slicing import parse_slices, volume_slices
    from radsynth.generators.common.data import read_image, resize_image

    rng = np.random.default_rng([seed, 99])
    tiles: list[tuple[str, str, np.ndarray]] = []
    for i in rng.choice(len(real), size=min(8, len(real)), replace=False):
        p = real[int(i)]["path"]
        tiles.append(("real", p, resize_image(read_image(p), 128)))
    sim = [(v["path"], k, a) for v in t1w for k, a in volume_slices(v["path"], parse_slices(spec))]
    for i in rng.choice(len(sim), size=min(8, len(sim)), replace=False):
        p, k, a = sim[int(i)]
        tiles.append(("simulated", f"{p}#{spec}@{k}", resize_image(a, 128)))
    order = rng.permutation(len(tiles))
    side, gap, ncol = 128, 4, 4
    nrow = (len(tiles) + ncol - 1) // ncol
    canvas = np.zeros((nrow * side + (nrow - 1) * gap, ncol * side + (ncol - 1) * gap), np.uint8)
    key = []
    for pos, j in enumerate(order):
        rr, cc = divmod(pos, ncol)
        kind, src, img = tiles[int(j)]
        canvas[rr * (side + gap): rr * (side + gap) + side, cc * (side + gap): cc * (side + gap) + side] = \
            np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)
        key.append({"position": pos, "row": rr, "col": cc, "side": kind, "source": src})
    Image.fromarray(canvas).save(out)
    return key


# ----------------------------------------------------------------------------- table


def _f(x: Any, d: int = 2) -> str:
    return "-" if x is None else f"{x:.{d}f}"


def print_table(rows: list[dict[str, Any]]) -> None:
    print("\n| row | real: images / subjects | simulated: images / subjects | C2ST AUC [95 % CI] (n per side, folds) "
          "| FID pix (n) | ref FID pix (n) | ratio pix | FID enc (n) | ref FID enc (n) | ratio enc |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        s = r["summary"]
        re_, si = s.get("real"), s.get("simulated")
        c = s["c2st"]
        ctxt = (f"{c['auc']:.3f} [{c['ci'][0]:.3f}, {c['ci'][1]:.3f}] ({min(c['n_real'], c['n_synthetic'])}, "
                f"{c['folds']})" if "auc" in c else f"{c['status']}: {c.get('reason')}")
        cells = []
        for key in ("fid_pixel", "fid_encoder"):
            d = s.get(key)
            if d is None:
                cells += [r.get("encoder_note", "n/a"), "", ""]
            elif "fid" not in d:
                cells += [f"{d['status']}", "", ""]
            else:
                ref = f"{_f(d['fid_ref'], 3)} ({d['n_ref']})" if "fid_ref" in d else "="
                ratio = _f(d["ratio"], 2) if d.get("ratio") is not None else ("1 (ref)" if r["reference"] else "-")
                cells += [f"{_f(d['fid'], 3)} ({d['n_matched']})", ref, ratio]
        print(f"| {r['label']} | {re_['images']} / {re_['subjects']} | {si['images']} / {si['subjects']} | {ctxt} | "
              + " | ".join(cells) + " |")
    for r in rows:
        h = r.get("c2st_heldout")
        if h and "auc" in h:
            print(f"\n{r['key']}: C2ST against the held-out real part only (the grey-level table never saw it): "
                  f"{h['auc']:.3f} [{h['ci'][0]:.3f}, {h['ci'][1]:.3f}] ({min(h['n_real'], h['n_synthetic'])} a side)")


# ----------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny cohorts, evaluate's quick preset (smoke run)")
    ap.add_argument("--spec", type=Path, default=SPECS["mri"], help="brain-MRI cohort spec (an ablation arm)")
    ap.add_argument("--subjects", type=int, default=None, help="override the brain spec's n_subjects")
    ap.add_argument("--sequences", default=None, help="comma-separated (default: the spec's generator sequences)")
    ap.add_argument("--cxr-spec", type=Path, default=SPECS["cxr"])
    ap.add_argument("--cxr-subjects", type=int, default=None)
    ap.add_argument("--ct-spec", type=Path, default=SPECS["ct"])
    ap.add_argument("--ct-subjects", type=int, default=None)
    ap.add_argument("--modalities", default="mri,cxr,ct", help="subset of mri,cxr,ct")
    ap.add_argument("--mri-slices", default="axial:0.45-0.8:8mm")
    ap.add_argument("--mri-real-n", type=int, default=None, help="cap on brain real images per half")
    ap.add_argument("--mri-c2st-repeats", type=int, default=3,
                    help="repeated cross-validation of the brain rows' C2ST (evaluate's c2st_repeats; 1: one 5-fold run)")
    ap.add_argument("--mri-real", choices=("matched", "mixed"), default="matched",
                    help="matched: per sequence the axial real slices of the matching weighting (bench/data/"
                         "brain_mri_real_annotations.csv); mixed: every sequence against the whole real set")
    ap.add_argument("--cxr-real-n", type=int, default=None, help="real images per half (default: simulated count)")
    ap.add_argument("--ct-slices", default="axial:0.1-0.9")
    ap.add_argument("--ct-slab-mm", type=float, default=20.0, help="real CT slices grouped in slabs this thick")
    ap.add_argument("--ct-window", default="-1024,3071", help="HU mapped linearly to [0, 1] on both CT sides")
    ap.add_argument("--no-ct-minmax-row", action="store_true", help="skip the per-volume min-max diagnostic row")
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="torch threads of evaluate")
    ap.add_argument("--workers", type=int, default=2, help="cohort build workers")
    ap.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "radsynth-bench-realism-cohorts")
    ap.add_argument("--work-dir", type=Path, default=None, help="manifests, slices, evaluate outputs (default: temp; "
                    "an earlier one resumes its finished evaluate sections)")
    ap.add_argument("--out", type=Path, default=None, help="JSON of every number (default: a new temp folder)")
    a = ap.parse_args()
    os.environ.setdefault("RADSYNTH_CONFIG_DIR", tempfile.mkdtemp(prefix="bench-realism-config-"))
    sizes = dict(QUICK if a.quick else FULL)
    for k, v in (("mri_subjects", a.subjects), ("cxr_subjects", a.cxr_subjects), ("ct_subjects", a.ct_subjects),
                 ("mri_real_n", a.mri_real_n)):
        if v is not None:
            sizes[k] = v
    preset = "quick" if a.quick else "full"
    mods = [m.strip() for m in a.modalities.split(",") if m.strip()]
    bad = [m for m in mods if m not in SPECS]
    if bad:
        sys.exit(f"bench_realism: unknown modality {bad} (mri, cxr, ct)")
    window = tuple(float(x) for x in a.ct_window.split(","))
    data = shared_data()
    out = a.out or Path(tempfile.mkdtemp(prefix="bench-realism-")) / "realism.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    work = a.work_dir or out.parent / "work"
    work.mkdir(parents=True, exist_ok=True)
    t_all, c_all = time.perf_counter(), cpu_now()
    timings: dict[str, float] = {}
    cohorts: dict[str, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    real_info: dict[str, Any] = {}
    grid_key = None

    # ---- cohorts (one build call each, cached by effective spec)
    t = time.perf_counter()
    folders = {}
    for m in mods:
        spec_path = a.spec if m == "mri" else (a.cxr_spec if m == "cxr" else a.ct_spec)
        spec = effective_spec(spec_path, m, sizes[f"{m}_subjects"])
        cohorts[m] = {"spec_file": str(spec_path)}
        folders[m] = build_cohort(spec, a.cache_dir, a.workers, cohorts[m])
    timings["cohorts"] = time.perf_counter() - t
    mri_realism = {}
    if "mri" in mods:
        mri_realism = ((cohorts["mri"]["spec"].get("generator") or {}).get("params") or {}).get("realism") or {}
        has_window = mri_realism.get("display_median_grey") is not None or \
            mri_realism.get("display_window_percentile") is not None
        if has_window and "window=" not in a.mri_slices:  # read as a viewer shows it: through the spec's window
            a.mri_slices += ":window=header"
            log(f"brain MRI: the spec sets a display window, volumes read with --mri-slices {a.mri_slices}")
        cohorts["mri"]["slices"] = a.mri_slices
    refined = mri_realism.get("intensity_refiner") is not None

    def add(label: str, key: str, modality: str, pix: dict, enc: dict | None, reference: bool,
            c2st_from: dict | None = None, **extra: Any) -> None:
        summary = summarise(pix, enc)
        if c2st_from is not None:  # the C2ST of another run (the whole matched real set); keep the halves' one
            other = summarise(c2st_from, None)
            summary["c2st_half_A"], summary["c2st"], summary["real_c2st"] = summary["c2st"], other["c2st"], other["real"]
            summary["wall_s"] += other["wall_s"]
        rows.append({"label": label, "key": key, "modality": modality, "reference": reference,
                     "summary": summary, **extra})

    # ---- brain MRI
    if "mri" in mods:
        t = time.perf_counter()
        files = image_files(data / "brain-mri-real")
        keep, dups = dedup(files)
        items = [{"path": str(p), "patient": f"mri-{sha256(p)[:12]}", "class": p.parent.name, "sha256": sha256(p)}
                 for p in keep]
        held, held_note = encoder_heldout(data / "brain-mri-real")

        def encoder_runs(name: str, its: list[dict[str, str]], ms: Path | None, info: dict[str, Any]
                         ) -> tuple[dict | None, dict | None]:
            """Encoder FID of the simulated manifest ``ms`` against the held-out part of ``its`` (halves A / B,
            near-duplicate groups as subjects) and the real-vs-real reference on the same halves."""
            if held is None:
                return None, None
            ho = [{**it, "patient": held[it["sha256"]]} for it in its if it["sha256"] in held]
            ea, eb = split_halves(ho, sizes["mri_real_n"], a.seed, 4)
            mea = write_manifest(work / "manifests" / f"mri-real-{name}-heldout-A.csv", ea)
            meb = write_manifest(work / "manifests" / f"mri-real-{name}-heldout-B.csv", eb)
            info.update(encoder=ENCODER_MRI, encoder_heldout=len(ho), encoder_half_A=len(ea), encoder_half_B=len(eb))
            enc = None if ms is None else run_evaluate(
                f"mri-{name}-encoder", mea, ms, meb, work, encoder=ENCODER_MRI, sections=("fidelity",), preset=preset,
                args=a, slices=a.mri_slices)
            ref = run_evaluate(f"mri-{name}-real-vs-real-encoder", mea, meb, None, work, encoder=ENCODER_MRI,
                               sections=("fidelity",), preset=preset, args=a)
            return enc, ref

        enc_note = held_note if held is None else "n/a"
        ra, rb = split_halves(items, sizes["mri_real_n"], a.seed, 1)
        ma = write_manifest(work / "manifests" / "mri-real-A.csv", ra)
        mb = write_manifest(work / "manifests" / "mri-real-B.csv", rb)
        real_info["mri"] = {"files": len(files), "unique": len(keep), "duplicate_groups": dups,
                            "encoder_split": held_note,
                            "half_A": len(ra), "half_B": len(rb),
                            "classes_A": {c: sum(r["class"] == c for r in ra) for c in ("yes", "no")},
                            "classes_B": {c: sum(r["class"] == c for r in rb) for c in ("yes", "no")}}
        import yaml

        spec_seq = (((yaml.safe_load(a.spec.read_text()).get("generator") or {}).get("params") or {})
                    .get("sequences") or ["T1w", "T2w", "FLAIR"])
        seqs = [s.strip() for s in a.sequences.split(",")] if a.sequences else list(spec_seq)
        t1w, grid_real = None, ra + rb
        if a.mri_real == "matched":
            ann = read_annotations(data / "brain-mri-real")
            real_info["mri"]["matched"] = {}
            for seq in seqs:
                want = MATCH.get(seq)
                if want is None:
                    log(f"brain MRI {seq}: no matching real weighting annotated; row skipped")
                    continue
                its = [it for it in items if ann[it["path"]]["plane"] == "axial" and ann[it["path"]]["weighting"] in want]
                for it in its:
                    it["class"] = "all"
                sa, sb = split_halves(its, sizes["mri_real_n"], a.seed, 3)
                mall = write_manifest(work / "manifests" / f"mri-real-{seq}-all.csv", its)
                msa = write_manifest(work / "manifests" / f"mri-real-{seq}-A.csv", sa)
                msb = write_manifest(work / "manifests" / f"mri-real-{seq}-B.csv", sb)
                real_info["mri"]["matched"][seq] = {"weightings": list(want), "plane": "axial", "unique": len(its),
                                                    "half_A": len(sa), "half_B": len(sb)}
                eref_info = real_info["mri"]["matched"][seq]
                vols = cohort_images(folders["mri"], "nifti", seq)
                if seq == "T1w":
                    t1w, grid_real = vols, its
                ms = write_manifest(work / "manifests" / f"mri-sim-{seq}.csv", vols)
                pix = run_evaluate(f"mri-{seq}", msa, ms, msb, work, encoder="pixel",
                                   sections=("fidelity", "detectability"), preset=preset, args=a, slices=a.mri_slices)
                whole = run_evaluate(f"mri-{seq}-c2st-all", mall, ms, None, work, encoder="pixel",
                                     sections=("detectability",), preset=preset, args=a, slices=a.mri_slices,
                                     c2st_repeats=a.mri_c2st_repeats)
                enc, enc_ref = encoder_runs(seq, its, ms, eref_info)
                extra: dict[str, Any] = {}
                if refined and held is not None:
                    # the grey-level table was fitted on the encoder split's train part: C2ST against the
                    # held-out part alone too, where the table has never seen a real image
                    ho = [it for it in its if it["sha256"] in held]
                    mho = write_manifest(work / "manifests" / f"mri-real-{seq}-heldout.csv", ho)
                    hm = run_evaluate(f"mri-{seq}-c2st-heldout", mho, ms, None, work, encoder="pixel",
                                      sections=("detectability",), preset=preset, args=a, slices=a.mri_slices,
                                      c2st_repeats=a.mri_c2st_repeats)
                    extra["c2st_heldout"] = summarise(hm, None)["c2st"]
                w = "+".join(want)
                add(f"brain MRI {seq} (sim axial {a.mri_slices}) vs brain-mri-real axial {w} "
                    f"(C2ST vs all {len(its)}, FID halves; enc: held-out halves)", f"mri-{seq}", "mri", pix, enc,
                    False, encoder_note=enc_note, c2st_from=whole, **extra)
                ref = run_evaluate(f"mri-{seq}-real-vs-real", msa, msb, None, work, encoder="pixel",
                                   sections=("fidelity", "detectability"), preset=preset, args=a)
                add(f"brain MRI reference: axial {w} half A vs half B (enc: held-out half A vs B)", f"mri-{seq}-ref",
                    "mri", ref, enc_ref, True, encoder_note=enc_note)
        else:
            for seq in seqs:
                vols = cohort_images(folders["mri"], "nifti", seq)
                t1w = vols if seq == "T1w" else t1w
                ms = write_manifest(work / "manifests" / f"mri-sim-{seq}.csv", vols)
                pix = run_evaluate(f"mri-{seq}", ma, ms, mb, work, encoder="pixel",
                                   sections=("fidelity", "detectability"), preset=preset, args=a, slices=a.mri_slices)
                enc, _ = encoder_runs(f"mixed-{seq}", items, ms, {})
                add(f"brain MRI {seq} (sim axial {a.mri_slices}) vs brain-mri-real (mixed; enc: held-out halves)",
                    f"mri-{seq}", "mri", pix, enc, False, encoder_note=enc_note)
            _, enc_ref = encoder_runs("mixed", items, None, real_info["mri"])
            pix = run_evaluate("mri-real-vs-real", ma, mb, None, work, encoder="pixel",
                               sections=("fidelity", "detectability"), preset=preset, args=a)
            add("brain MRI reference: brain-mri-real half A vs half B (enc: held-out half A vs B)", "mri-ref", "mri",
                pix, enc_ref, True, encoder_note=enc_note)
        if t1w is not None:
            grid_key = brain_grid(grid_real, t1w, a.mri_slices, out.with_name("grid.png"), a.seed)
        timings["mri"] = time.perf_counter() - t

    # ---- chest X-ray
    if "cxr" in mods:
        from radsynth.generators.common.data import patient_id

        t = time.perf_counter()
        sim = cohort_images(folders["cxr"], "png", "PA")
        files = image_files(data / "cxr-pneumonia" / "train")
        keep, dups = dedup(files)
        items = [{"path": str(p), "patient": patient_id(p.name), "class": p.parent.name} for p in keep]
        n_half = a.cxr_real_n or len(sim)
        ra, rb = split_halves(items, n_half, a.seed, 2)
        ma = write_manifest(work / "manifests" / "cxr-real-A.csv", ra)
        mb = write_manifest(work / "manifests" / "cxr-real-B.csv", rb)
        ms = write_manifest(work / "manifests" / "cxr-sim-PA.csv", sim)
        real_info["cxr"] = {"split": "train", "files": len(files), "unique": len(keep),
                            "duplicate_groups": len(dups), "half_A": len(ra), "half_B": len(rb),
                            "patients_A": len({r["patient"] for r in ra}),
                            "patients_B": len({r["patient"] for r in rb}),
                            "patient_overlap": len({r["patient"] for r in ra} & {r["patient"] for r in rb}),
                            "classes_A": {c: sum(r["class"] == c for r in ra) for c in ("NORMAL", "PNEUMONIA")},
                            "classes_B": {c: sum(r["class"] == c for r in rb) for c in ("NORMAL", "PNEUMONIA")}}
        pix = run_evaluate("cxr-PA", ma, ms, mb, work, encoder="pixel", sections=("fidelity", "detectability"),
                           preset=preset, args=a)
        enc = run_evaluate("cxr-PA-encoder", ma, ms, mb, work, encoder=ENCODER_CXR, sections=("fidelity",),
                           preset=preset, args=a)
        add("chest X-ray PA (sim) vs cxr-pneumonia train", "cxr-PA", "cxr", pix, enc, False)
        pix = run_evaluate("cxr-real-vs-real", ma, mb, None, work, encoder="pixel",
                           sections=("fidelity", "detectability"), preset=preset, args=a)
        enc = run_evaluate("cxr-real-vs-real-encoder", ma, mb, None, work, encoder=ENCODER_CXR,
                           sections=("fidelity",), preset=preset, args=a)
        add("chest X-ray reference: train half A vs half B (by patient)", "cxr-ref", "cxr", pix, enc, True)
        timings["cxr"] = time.perf_counter() - t

    # ---- chest CT
    if "ct" in mods:
        t = time.perf_counter()
        vols = cohort_images(folders["ct"], "nifti", "CT")
        real_ct = data / "chest-ct" / "cxr.nii.gz"
        variants = [("window", window)] + ([] if a.no_ct_minmax_row else [("minmax", None)])
        halves: dict[str, tuple[Path, Path]] = {}
        for vname, win in variants:
            sl = ct_slices_png(real_ct, a.ct_slices, win, work / "ct" / f"real-{vname}", "chest-ct")
            z0 = min(z for _, _, z in sl)
            slab = {k: int((z - z0) // a.ct_slab_mm) for k, _, z in sl}
            items = [{"path": str(f), "patient": f"ct-slab-{slab[k]:02d}"} for k, f, _ in sl]
            ra = [r for r, (k, _, _) in zip(items, sl) if slab[k] % 2 == 0]
            rb = [r for r, (k, _, _) in zip(items, sl) if slab[k] % 2 == 1]
            halves[vname] = (write_manifest(work / "manifests" / f"ct-real-{vname}-A.csv", ra),
                             write_manifest(work / "manifests" / f"ct-real-{vname}-B.csv", rb))
            real_info.setdefault("ct", {}).update({f"{vname}": {"slices": len(sl), "slabs": len(set(slab.values())),
                                                                "half_A": len(ra), "half_B": len(rb)}})
        real_info["ct"].update(subjects=1, slab_mm=a.ct_slab_mm, window_hu=list(window),
                               halves="alternating slabs of the same CT (within-subject)")
        sim_rows = []
        for v in vols:
            sub = v["patient"]
            for k, f, _ in ct_slices_png(Path(v["path"]), a.ct_slices, window, work / "ct" / "sim-window", sub):
                sim_rows.append({"path": str(f), "patient": sub})
        ms = write_manifest(work / "manifests" / "ct-sim-window.csv", sim_rows)
        ma, mb = halves["window"]
        lab = f"1 real subject: C2ST folds grouped by {a.ct_slab_mm:g} mm slab, not by subject"
        pix = run_evaluate("ct-window", ma, ms, mb, work, encoder="pixel", sections=("fidelity", "detectability"),
                           preset=preset, args=a)
        add(f"chest CT (sim) vs the real chest CT, HU window {window[0]:g}..{window[1]:g} [{lab}]", "ct-window",
            "ct", pix, None, False, encoder_note="n/a (no CT encoder)")
        if not a.no_ct_minmax_row:
            ma2, mb2 = halves["minmax"]
            msv = write_manifest(work / "manifests" / "ct-sim-volumes.csv", vols)
            pix = run_evaluate("ct-minmax", ma2, msv, mb2, work, encoder="pixel",
                               sections=("fidelity", "detectability"), preset=preset, args=a, slices=a.ct_slices)
            add(f"diagnostic: chest CT, evaluate --slices per-volume min-max [{lab}]", "ct-minmax", "ct", pix, None,
                False, encoder_note="n/a (no CT encoder)")
        pix = run_evaluate("ct-real-vs-real", ma, mb, None, work, encoder="pixel",
                           sections=("fidelity", "detectability"), preset=preset, args=a)
        add("chest CT reference: alternating slabs of the one real CT (within-subject floor)", "ct-ref", "ct", pix,
            None, True, encoder_note="n/a (no CT encoder)")
        timings["ct"] = time.perf_counter() - t

    timings["total"] = time.perf_counter() - t_all
    cpu_total = cpu_now() - c_all
    print(f"\n## Realism baseline ({'quick' if a.quick else 'full'}; evaluate preset {preset}, image size "
          f"{a.image_size}, seed {a.seed})")
    print_table(rows)
    print("\nC2ST: 0.5 = the judge cannot tell simulated from real; ~1 = trivially separable. FID at matched n: "
          "the simulated set subsampled to the size of real half B; 'ref' = FID(real half B, real half A) at that "
          "n; ratio = FID / ref (1 = as close as new real images). 'pix' = 16x16 pixel block means; 'enc' = "
          f"chest X-ray: {ENCODER_CXR} features (trained on the cxr-pneumonia train split, which the real halves "
          f"come from); brain MRI: {ENCODER_MRI} features, real halves drawn only from the held-out part of its "
          "split (never trained on), so fewer images than the pixel cells. "
          "The C2ST judge min-max scales each image, so global brightness differences show in FID, not in the AUC.")
    if "mri" in real_info:
        r = real_info["mri"]
        print(f"brain-mri-real: {r['files']} files, {r['unique']} after sha256 dedup ({len(r['duplicate_groups'])} "
              f"duplicate groups), every image its own subject; a mix of T1, T1c, T2 and FLAIR, mostly axial.")
        if "matched" in r:
            print("matched (--mri-real matched): per sequence the axial slices of the matching weighting, from "
                  f"{ANNOTATIONS.relative_to(REPO)} (a developer's visual read, not a radiologist's); C2ST against all "
                  "of them (more power), FID on halves A/B: " + "; ".join(
                      f"{q}: {v['unique']} ({'+'.join(v['weightings'])}), halves {v['half_A']}/{v['half_B']}"
                      + (f"; {ENCODER_MRI} held-out {v['encoder_heldout']}, halves {v['encoder_half_A']}/"
                         f"{v['encoder_half_B']}" if "encoder" in v else "")
                      for q, v in r["matched"].items()))
        else:
            print(f"mixed (--mri-real mixed): halves {r['half_A']} / {r['half_B']}; every simulated sequence against "
                  "the same mix of weightings and orientations (a sequence-perfect simulator would still be told "
                  "apart: most real slices are of other weightings)."
                  + (f" {ENCODER_MRI}: held-out halves {r['encoder_half_A']} / {r['encoder_half_B']}."
                     if "encoder" in r else ""))
        print(f"{ENCODER_MRI} split: {r['encoder_split']}.")
    if "cxr" in real_info:
        r = real_info["cxr"]
        print(f"cxr-pneumonia train: {r['unique']} unique images; halves {r['half_A']} / {r['half_B']} images, "
              f"{r['patients_A']} / {r['patients_B']} patients (overlap {r['patient_overlap']}); test split unused.")
    if "ct" in real_info:
        r = real_info["ct"]
        print(f"chest CT: the real side is ONE subject ({r['window']['slices']} slices, {r['window']['slabs']} slabs "
              f"of {r['slab_mm']:g} mm); C2ST folds group real slices by slab, so real test-fold slices share the "
              "patient with training slices; the reference row and the CT ratios are within-subject (a floor).")
    print("\nwall s: " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()) + f"; cpu s total {cpu_total:.0f}")
    doc = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()}, "sizes": sizes,
           "preset": preset, "cohorts": cohorts, "real": real_info, "rows": rows, "grid": {
               "png": str(out.with_name("grid.png")) if grid_key else None, "key": grid_key,
               "what": "8 real (brain-mri-real) and 8 simulated T1w slices, shuffled, unlabelled; key row-major"},
           "timings_s": timings, "cpu_s": cpu_total, "shared_data": str(data), "work_dir": str(work)}
    out.write_text(json.dumps(doc, indent=1, default=float))
    print(f"JSON: {out}" + (f"\ngrid: {out.with_name('grid.png')}" if grid_key else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
