"""Run a cohort build: local process pool or Ray, atomic and resumable.

Layout of an output folder::

    spec.yaml            the validated spec (canonical YAML)
    build.json           spec hash, generator, subject count (no times: byte-stable)
    subjects/sub-0001/   one folder per subject, written to a temp folder and
                         renamed into place only when complete
    manifest.parquet     one row per file (written when all subjects exist)
    dataset_card.md      what the data is, how it was made, intended use

A build killed at any moment (even SIGKILL) leaves only complete subject folders
(plus temp folders that ``--resume`` removes), so ``--resume`` finishes with
exactly N subjects, none twice. Outputs do not depend on backend or worker count:
each subject is a pure function of (spec, index).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable

from radsynth.cohort.spec import CohortSpec, parse_spec, spec_json, spec_to_yaml, validate_generator
from radsynth.core.errors import RadsynthInputError, ResumeMismatchError

BACKENDS = ("local", "ray")
_TMP_MARK = ".tmp-"


@dataclass(frozen=True)
class BuildResult:
    out: Path
    n_subjects: int
    n_built: int
    n_skipped: int
    manifest: Path
    dataset_card: Path


# ---------------------------------------------------------------- preflight
def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists():
        if p.parent == p:
            break
        p = p.parent
    return p


def preflight(spec: CohortSpec, out: Path, backend: str, workers: int, resume: bool) -> None:
    """Check everything that can be checked before a single byte is written."""
    validate_generator(spec)
    if backend not in BACKENDS:
        raise RadsynthInputError("--backend", backend, f"one of {list(BACKENDS)}")
    if workers < 1:
        raise RadsynthInputError("--workers", workers, "an integer >= 1")
    if backend == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise RadsynthInputError("--backend", backend, "'local', or install Ray: pip install 'radsynth[ray]'") from None
    if out.exists() and not out.is_dir():
        raise RadsynthInputError("--out", str(out), "a folder (this path is a file)")
    anchor = _nearest_existing(out)
    if not anchor.is_dir() or not os.access(anchor, os.W_OK | os.X_OK):
        raise RadsynthInputError("--out", str(out), "a writable folder", hint=f"{anchor} is not writable; choose another --out.")
    # a read-only mount can pass os.access as root: try a real write
    try:
        fd, probe = tempfile.mkstemp(prefix=".radsynth-probe-", dir=anchor)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise RadsynthInputError("--out", str(out), "a writable folder", hint=f"Cannot write in {anchor}: {exc.strerror}.") from None
    build_json = out / "build.json"
    if out.is_dir() and any(out.iterdir()):
        if not build_json.is_file():
            raise RadsynthInputError("--out", str(out), "an empty or new folder, or a radsynth build folder with --resume")
        if not resume:
            raise RadsynthInputError(
                "--out", str(out), "an empty or new folder", hint="It already holds a build: pass --resume to finish it."
            )
        prev = json.loads(build_json.read_text())
        if prev.get("spec_hash") != spec.hash:
            raise ResumeMismatchError(
                f"--out: {out} holds a build of another spec (hash {prev.get('spec_hash', '?')[:12]}, "
                f"this spec {spec.hash[:12]}); accepted: the same spec with --resume, or an empty folder."
            )


# ---------------------------------------------------------------- one subject
@lru_cache(maxsize=4)
def _generator_for(spec_text: str) -> tuple[Any, CohortSpec]:
    spec = parse_spec(json.loads(spec_text))
    cls, config = validate_generator(spec)
    return cls(config), spec


def build_subject(spec_text: str, index: int, out: str) -> int:
    """Generate and write subject ``index``; atomic via a temp folder + rename."""
    from radsynth.cohort.plan import plan_subject
    from radsynth.cohort.writer import write_subject

    generator, spec = _generator_for(spec_text)
    plan = plan_subject(spec, index)
    subjects = Path(out) / "subjects"
    final = subjects / plan.subject_id
    if final.is_dir():
        return index
    tmp = Path(tempfile.mkdtemp(prefix=f".{plan.subject_id}{_TMP_MARK}", dir=subjects))
    try:
        record, plan = generate_plausible(generator, spec, plan)
        write_subject(record, plan, tmp)
        _fsync_tree(tmp)
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.is_dir():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another worker finished it first
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return index


def generate_plausible(generator: Any, spec: CohortSpec, plan: Any) -> tuple[Any, Any]:
    """Generate one subject; with ``plausibility.reject``, redraw flagged anatomy deterministically.

    Redraw ``k`` uses the seed ``child_seed(plan.seed, "redraw:k")``: a pure function of the
    subject's own seed, so the result does not depend on workers or order. The written
    plan (and so the manifest's ``seed``) is the one actually used; ``redraws`` is recorded.
    """
    from dataclasses import replace

    from radsynth.core.rng import child_seed

    record = generator.generate(plan)
    redraws = 0
    while (spec.plausibility.reject and record.plausibility is not None and record.plausibility.get("flags")
           and redraws < spec.plausibility.max_redraws):
        redraws += 1
        plan = replace(plan, seed=child_seed(plan.seed, f"redraw:{redraws}"))
        record = generator.generate(plan)
    if record.plausibility is not None:
        record.plausibility = {**record.plausibility, "redraws": redraws}
    return record, plan


def _fsync_tree(folder: Path) -> None:
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())


# ---------------------------------------------------------------- backends
def _run_local(spec_text: str, todo: list[int], out: Path, workers: int, tick: Callable[[], None]) -> None:
    if workers == 1 or len(todo) <= 1:
        for i in todo:
            build_subject(spec_text, i, str(out))
            tick()
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = mp.get_context("spawn")  # no fork after torch/OpenMP initialised
    with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=ctx, initializer=_worker_init) as pool:
        futures = [pool.submit(build_subject, spec_text, i, str(out)) for i in todo]
        try:
            for f in as_completed(futures):
                f.result()
                tick()
        except BaseException:
            for f in futures:
                f.cancel()
            raise


def _worker_init() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


def _run_ray(spec_text: str, todo: list[int], out: Path, workers: int, address: str | None, tick: Callable[[], None]) -> None:
    import ray

    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
        if address:
            kwargs["address"] = address
        else:
            kwargs["num_cpus"] = workers
        ray.init(**kwargs)
        started = True
    try:
        task = ray.remote(num_cpus=1, max_retries=2)(_ray_build_subject)
        pending: list[Any] = []
        queue = list(todo)
        in_flight = max(1, workers) * 2
        while queue or pending:
            while queue and len(pending) < in_flight:
                pending.append(task.remote(spec_text, queue.pop(0), str(out)))
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                ray.get(ref)
                tick()
    finally:
        if started:
            ray.shutdown()


def _ray_build_subject(spec_text: str, index: int, out: str) -> int:
    _worker_init()
    return build_subject(spec_text, index, out)


# ---------------------------------------------------------------- driver
def completed_subjects(out: Path) -> set[str]:
    subjects = out / "subjects"
    if not subjects.is_dir():
        return set()
    return {p.name for p in subjects.iterdir() if p.is_dir() and _TMP_MARK not in p.name and (p / "subject.json").is_file()}


def _clean_stale(out: Path) -> int:
    n = 0
    for folder in (out, out / "subjects"):
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            if p.name.startswith(".") and _TMP_MARK in p.name:
                shutil.rmtree(p) if p.is_dir() else p.unlink()
                n += 1
    return n


def build_cohort(
    spec: CohortSpec,
    out: str | os.PathLike[str],
    *,
    backend: str = "local",
    workers: int = 1,
    resume: bool = False,
    ray_address: str | None = None,
    progress: bool = True,
) -> BuildResult:
    """Build ``spec`` into ``out``. Raises RadsynthInputError before writing on bad input."""
    from tqdm import tqdm

    from radsynth.cohort.plan import subject_id
    from radsynth.io.atomic import atomic_write_text

    out = Path(out)
    preflight(spec, out, backend, workers, resume)
    (out / "subjects").mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "spec.yaml", spec_to_yaml(spec))
    atomic_write_text(
        out / "build.json",
        json.dumps(
            {"spec_hash": spec.hash, "name": spec.name, "n_subjects": spec.n_subjects, "generator": spec.generator.name},
            indent=1, sort_keys=True,
        ) + "\n",
    )
    _clean_stale(out)
    done = completed_subjects(out)
    todo = [i for i in range(spec.n_subjects) if subject_id(i, spec.n_subjects) not in done]
    text = spec_json(spec)
    bar = tqdm(total=spec.n_subjects, initial=spec.n_subjects - len(todo), desc=spec.name, unit="subject",
               disable=not progress, file=sys.stderr, dynamic_ncols=True)
    try:
        if todo:
            if backend == "ray":
                _run_ray(text, todo, out, workers, ray_address, bar.update)
            else:
                _run_local(text, todo, out, workers, bar.update)
    finally:
        bar.close()
    from radsynth.cohort.finalize import finalize

    manifest, card = finalize(spec, out)
    record_build(spec, out)
    return BuildResult(out, spec.n_subjects, len(todo), spec.n_subjects - len(todo), manifest, card)


def record_build(spec: CohortSpec, out: Path) -> None:
    """Sign the finished folder (Ed25519 over SHA256SUMS of every file) and append a ``build`` record to the audit log."""
    from radsynth.io.atomic import sha256_file
    from radsynth.provenance.audit import log_action
    from radsynth.provenance.signing import sign_dataset

    sums = sign_dataset(out)
    log_action("build", config_hash=spec.hash, inputs={"spec": spec.hash, "generator": spec.generator.name},
               outputs={"folder": str(out.resolve()), "manifest.parquet": sha256_file(out / "manifest.parquet"),
                        "SHA256SUMS": sha256_file(sums)})


def iter_subject_meta(out: Path, names: Iterable[str]) -> Iterable[dict[str, Any]]:
    for name in sorted(names):
        yield json.loads((out / "subjects" / name / "subject.json").read_text())
