"""``radsynth ingest``: a folder of real DICOM/NIfTI/PNG/JPEG -> a de-identified, signed training dataset.

Output ``DIR``::

    DIR/<class>/<pseudonym>_<n>.<png|dcm|nii.gz>   n = 0, 1, ... per (class, patient) in source-path order
    DIR/manifest.parquet, DIR/manifest.csv          see radsynth.ingest.manifest
    DIR/ingest_report.json                          counts per class/modality/format, skipped files
    DIR/SHA256SUMS(.sig), signing_key.pub.pem       radsynth.provenance.signing (``radsynth verify DIR``)

``DIR`` keeps the class-folder layout, so ``radsynth train --data DIR`` and ``radsynth evaluate --real DIR``
read it as a class folder, taking the patient ids from the manifest (patient-aware splits).

Patients: DICOM PatientID, else the labels CSV ``patient``, else the file-name patterns of
:func:`radsynth.generators.common.data.patient_id`, else the file's stem (own patient); every id is replaced by
:meth:`Deidentifier.pseudonym` (HMAC-SHA256 of the secret key: stable across runs with the same key). Real ids
and source file names are never written into DIR: skipped files are reported by their sha256 there and by
path on stderr only. Duplicates (same decoded pixels, or the same raw DICOM pixel data) keep the first file
in source-path order.

Atomicity: everything is built in a hidden sibling ``.<DIR name>.ingest-partial`` and renamed onto DIR at
the end (after signing and the audit record); bad input fails before anything is written. Interrupted
builds resume from the per-file records of the partial folder with ``--resume``; ``--resume`` on a finished
DIR of the same inputs and key is a no-op.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radsynth.core.errors import RadsynthInputError
from radsynth.ingest.convert import Job, run_job
from radsynth.ingest.manifest import (
    MANIFEST_CSV,
    MANIFEST_FILE,
    REPORT_FILE,
    read_report,
    write_manifest,
    write_report,
)
from radsynth.ingest.scan import Skipped, SourceFile, scan_source
from radsynth.io.atomic import sha256_file

INGEST_VERSION = 1
WORK_DIR = ".work"
PARTIAL_MARKER = ".radsynth-ingest-partial"


@dataclass(frozen=True)
class IngestResult:
    """What an ingest did. ``skipped`` holds source paths (for the user's terminal, never written into DIR)."""

    out: Path
    n_sources: int
    n_written: int
    skipped: tuple[Skipped, ...]
    up_to_date: bool
    manifest: Path
    report: Path
    counts: dict[str, int]


def _partial_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.ingest-partial"


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.relative_to(parent)
        return True
    except ValueError:
        return False


def _check_paths(src: Path, out: Path, resume: bool) -> None:
    s, o = src.resolve(), out.resolve()
    if src.is_dir() and _inside(o, s):
        raise RadsynthInputError("--out", str(out), "a folder outside SRC", "Writing into SRC would ingest the "
                                 "outputs as inputs; choose a folder next to SRC.")
    if o.exists() and not o.is_dir():
        raise RadsynthInputError("--out", str(out), "a new or empty folder (or an earlier ingest with --resume)",
                                 "It is a file.")
    if src.is_dir() and _inside(s, o):
        raise RadsynthInputError("--out", str(out), "a folder that does not contain SRC")
    if o.is_dir() and any(o.iterdir()) and not resume:
        raise RadsynthInputError("--out", str(out), "a new or empty folder (or an earlier ingest with --resume)",
                                 "The folder is not empty; pass --resume to check/finish an earlier ingest there.")


def _hash_all(src: Path, rels: Sequence[str], workers: int) -> dict[str, str]:
    with ThreadPoolExecutor(max_workers=max(1, workers)) as ex:  # hashlib releases the GIL
        return dict(zip(rels, ex.map(lambda r: sha256_file(src / r), rels)))


def _mac(key: bytes, obj: Any) -> str:
    return hmac.new(key, json.dumps(obj, sort_keys=True, separators=(",", ":")).encode(), hashlib.sha256).hexdigest()


def _run_jobs(jobs: list[Job], workers: int, progress: bool) -> list[dict[str, Any]]:
    from tqdm.auto import tqdm

    bar = tqdm(total=len(jobs), desc="ingest", unit="file", file=sys.stderr, disable=not progress, leave=False)
    out: list[dict[str, Any]] = []
    try:
        if workers <= 1 or len(jobs) <= 1:
            for j in jobs:
                out.append(run_job(j))
                bar.update(1)
        else:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(max_workers=workers) as ex:
                for rec in ex.map(run_job, jobs, chunksize=max(1, min(16, len(jobs) // (4 * workers)))):
                    out.append(rec)
                    bar.update(1)
    finally:
        bar.close()
    return out


def _load_done(path: Path) -> dict[str, Any] | None:
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(rec, dict):
        return None
    if rec.get("ok") and not (path.parent / str(rec.get("work_file", ""))).is_file():
        return None
    return rec


def _prepare_partial(part: Path, resume: bool) -> None:
    if part.exists():
        if not (part / PARTIAL_MARKER).is_file():
            raise RadsynthInputError("--out", str(part), "no foreign folder at the partial-build path",
                                     "Move it away; radsynth builds there before renaming onto --out.")
        if not resume:
            shutil.rmtree(part)
    (part / WORK_DIR).mkdir(parents=True, exist_ok=True)
    (part / PARTIAL_MARKER).write_bytes(b"")


def _counts(rows: list[dict[str, Any]], key: str) -> dict[str, int]:
    return dict(sorted(Counter(str(r[key]) for r in rows).items()))


def ingest(
    src: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    labels: str | os.PathLike[str] | None = None,
    key_file: str | os.PathLike[str] | None = None,
    workers: int = 1,
    resume: bool = False,
    progress: bool = True,
    command: Sequence[str] | None = None,
    echo: Callable[[str], None] | None = None,
) -> IngestResult:
    """Ingest ``src`` into ``out`` (see the module docstring); bad input raises RadsynthInputError, nothing written."""
    from radsynth.ingest.keys import load_key
    from radsynth.privacy.deidentify import DeidConfig

    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise RadsynthInputError("--workers", workers, "a positive integer")
    src_p, out_p = Path(src), Path(out)
    if not src_p.exists():
        raise RadsynthInputError("SRC", str(src), "an existing folder of DICOM/NIfTI/PNG/JPEG images")
    _check_paths(src_p, out_p, resume)
    files, skipped = scan_source(src_p, labels)
    key, _key_path = load_key(key_file)
    config = DeidConfig(key=key)
    rels = sorted({f.rel for f in files} | {s.rel for s in skipped})
    shas = _hash_all(src_p, rels, workers)
    labels_sha = sha256_file(labels) if labels is not None else None
    fingerprint = hashlib.sha256("".join(sorted(shas[f.rel] + "\n" for f in files)).encode()).hexdigest()
    run_id = _mac(key, {
        "v": INGEST_VERSION, "deid": config.to_json(), "labels": labels_sha,
        "files": [[f.rel, shas[f.rel], f.format, f.label, f.csv_patient, f.csv_modality, list(f.attributes)]
                  for f in files],
        "skipped": [[s.rel, shas[s.rel], s.reason] for s in skipped],
    })[:32]
    manifest_p, report_p = out_p / MANIFEST_FILE, out_p / REPORT_FILE
    if out_p.is_dir() and any(out_p.iterdir()):  # --resume on an earlier ingest
        return _resume_existing(out_p, run_id, len(files), manifest_p, report_p)

    part = _partial_dir(out_p)
    _prepare_partial(part, resume)
    try:
        result = _build(src_p, out_p, part, files, skipped, shas, config, key, run_id, fingerprint, workers,
                        progress, command)
    except KeyboardInterrupt:
        raise  # keep the partial folder: --resume continues from it
    except BaseException:
        shutil.rmtree(part, ignore_errors=True)
        raise
    if echo is not None:
        for s in result.skipped:
            echo(f"skipped {s.rel}: {s.reason}" + (f" ({s.detail})" if s.detail else ""))
    return result


def _resume_existing(out_p: Path, run_id: str, n_sources: int, manifest_p: Path, report_p: Path) -> IngestResult:
    from radsynth.provenance.signing import verify_dataset

    rep = read_report(out_p)
    if rep is None:
        raise RadsynthInputError("--out", str(out_p), "a new or empty folder, or an earlier `radsynth ingest` output",
                                 f"The folder is not empty and has no {REPORT_FILE}.")
    if rep.get("run_id") != run_id:
        raise RadsynthInputError("--out", str(out_p), "an ingest of the same SRC, labels and key for --resume",
                                 "It holds an ingest of other inputs or another key; choose a new --out.")
    problems = verify_dataset(out_p)
    if problems:
        first = problems[0]
        raise RadsynthInputError("--out", str(out_p), "an unmodified earlier ingest for --resume",
                                 f"{len(problems)} problem(s), e.g. {first.get('path')}: {first.get('problem')}; "
                                 "remove the folder and ingest again.")
    return IngestResult(out=out_p, n_sources=n_sources, n_written=0, skipped=(), up_to_date=True,
                        manifest=manifest_p, report=report_p, counts=dict(rep.get("classes", {})))


def _build(src_p: Path, out_p: Path, part: Path, files: list[SourceFile], scan_skipped: list[Skipped],
           shas: dict[str, str], config: Any, key: bytes, run_id: str, fingerprint: str, workers: int,
           progress: bool, command: Sequence[str] | None) -> IngestResult:
    from radsynth.provenance.audit import log_action
    from radsynth.provenance.signing import sign_dataset

    work = part / WORK_DIR
    for stale in part.iterdir():  # outputs of an interrupted attempt are re-placed from the work records
        if stale.name not in (WORK_DIR, PARTIAL_MARKER):
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    job_ids = [_mac(key, {"v": INGEST_VERSION, "run": run_id, "rel": f.rel})[:24] for f in files]
    records: dict[int, dict[str, Any]] = {}
    todo: list[int] = []
    for i, jid in enumerate(job_ids):
        rec = _load_done(work / f"{jid}.json")
        if rec is None:
            todo.append(i)
        else:
            records[i] = rec
    jobs = [Job(config=config, src=str((src_p / files[i].rel).resolve()), format=files[i].format,
                name=Path(files[i].rel).name, csv_patient=files[i].csv_patient, csv_modality=files[i].csv_modality,
                work_stem=str(work / job_ids[i])) for i in todo]
    for i, rec in zip(todo, _run_jobs(jobs, workers, progress)):
        records[i] = rec

    rows: list[dict[str, Any]] = []
    skipped: list[Skipped] = list(scan_skipped)
    seen: dict[str, str] = {}  # pixel sha256 -> output path
    dup_of: dict[str, str] = {}  # skipped source -> output path with the same pixels
    numbers: Counter[tuple[str, str]] = Counter()
    for i, f in enumerate(files):  # source-path order: numbering and duplicate choice are deterministic
        rec = records[i]
        if not rec.get("ok"):
            skipped.append(Skipped(f.rel, rec["reason"], rec.get("detail", "")))
            continue
        if rec["pixel_sha256"] in seen:
            dup_of[f.rel] = seen[rec["pixel_sha256"]]
            skipped.append(Skipped(f.rel, "duplicate by pixel hash", f"same pixels as {dup_of[f.rel]}"))
            continue
        n = numbers[(f.label, rec["patient"])]
        numbers[(f.label, rec["patient"])] += 1
        rel = f"{f.label}/{rec['patient']}_{n}{rec['ext']}"
        seen[rec["pixel_sha256"]] = rel
        (part / f.label).mkdir(exist_ok=True)
        os.replace(work / rec["work_file"], part / rel)
        rows.append({"path": rel, "class": f.label, "patient": rec["patient"], "modality": rec["modality"],
                     "rows": rec["rows"], "columns": rec["columns"], "slices": rec["slices"], "bits": rec["bits"],
                     "source_format": f.format, "sha256": rec["sha256"], "deid_changes": rec["deid_changes"],
                     **dict(f.attributes)})
    if not rows:
        raise RadsynthInputError("SRC", str(src_p), "a folder with at least one readable image",
                                 f"All {len(files)} candidate files were skipped (unreadable or duplicates).")
    attr_names = sorted({a for f in files for a, _ in f.attributes})
    write_manifest(part, rows, attr_names)
    by_sha = {s.rel: shas.get(s.rel, "") for s in skipped}
    report = {
        "version": INGEST_VERSION,
        "run_id": run_id,
        "input_fingerprint": fingerprint,
        "key_id": config.key_id,
        "sources": len(files) + len(scan_skipped),
        "written": len(rows),
        "patients": len({r["patient"] for r in rows}),
        "classes": _counts(rows, "class"),
        "modalities": _counts(rows, "modality"),
        "source_formats": _counts(rows, "source_format"),
        # source paths may hold names: skipped files are identified by their sha256 (`sha256sum` finds them)
        "skipped": sorted(({"source_sha256": by_sha[s.rel], "reason": s.reason,
                            **({"duplicate_of": dup_of[s.rel]} if s.rel in dup_of else {})} for s in skipped),
                          key=lambda d: (d["reason"], d["source_sha256"], d.get("duplicate_of", ""))),
        "skipped_by_reason": dict(sorted(Counter(s.reason for s in skipped).items())),
    }
    write_report(part, report)
    sums = sign_dataset(part)  # hidden entries (.work, the marker) are not signed
    outputs = {str(out_p / n): sha256_file(part / n) for n in
               (sums.name, "SHA256SUMS.sig", MANIFEST_FILE, MANIFEST_CSV, REPORT_FILE)}
    log_action("ingest", config_hash=run_id, command=list(command) if command is not None else None,
               inputs={"source": str(src_p.resolve()), "input_fingerprint": fingerprint, "files": len(files),
                       "key_id": config.key_id}, outputs=outputs)
    shutil.rmtree(work)
    (part / PARTIAL_MARKER).unlink()
    if out_p.is_dir():
        out_p.rmdir()  # empty (checked before); a non-empty DIR never reaches here
    os.replace(part, out_p)
    return IngestResult(out=out_p, n_sources=len(files) + len(scan_skipped), n_written=len(rows),
                        skipped=tuple(sorted(skipped, key=lambda s: s.rel)), up_to_date=False,
                        manifest=out_p / MANIFEST_FILE, report=out_p / REPORT_FILE, counts=report["classes"])

