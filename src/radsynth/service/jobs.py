"""Jobs: validate a submission, run it in a worker process, follow it, recover it after a restart.

A job is a row in the service database (:class:`radsynth.service.db.Job`). Life cycle::

    queued --(runner starts a worker process)--> running --> succeeded | failed

* Submission validates the spec with the library (:mod:`radsynth.service.kinds`: cohort build, sample,
  evaluate) and writes only the database row; the output folder ``<data root>/jobs/<id>`` is made by the job.
* :class:`JobRunner` (a thread in the service) starts at most ``max_workers`` worker processes
  (``python -m radsynth.service.worker``), records each job's progress (finished subjects, counted by
  :func:`radsynth.cohort.runner.completed_subjects`) and fails a job whose worker died without
  reporting (exit code and the end of its log as the reason).
* :func:`recover_jobs` runs when the service starts: a job left ``running`` by a killed or stopped
  service (its worker, if still alive, is stopped first) is queued again and resumes (cohort builds
  keep finished subjects, evaluations finished sections) or, after ``max_attempts`` launches or for a
  sample job (not resumable), is marked failed with the reason. Nothing is silently lost.

One service instance per database and host: recovery only touches jobs whose worker ran on
this host.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from radsynth.core.errors import RadsynthInputError
from radsynth.service.db import ACTIVE_STATES, Job, utc_now

log = logging.getLogger("radsynth.service")

SUPPORTED_KINDS: tuple[str, ...] = ("cohort-build", "sample", "evaluate")  # see radsynth.service.kinds
RESUMABLE_KINDS: tuple[str, ...] = ("cohort-build", "evaluate")
JOBS_DIR = "jobs"
LOGS_DIR = "logs"
SERVICE_ACTOR = "radsynth-service"
WORKER_MODULE = "radsynth.service.worker"
UNITS = {"cohort-build": "subjects", "sample": "images", "evaluate": "sections"}


class TooManyJobs(Exception):
    """The key already has its maximum of queued + running jobs."""


# ------------------------------------------------------------------------------------------ submission
def submit_job(session: Session, *, validated: Any, owner_key_id: str, owner_name: str,
               max_active_per_key: int) -> Job:
    """Insert a queued job for a validated submission (:class:`radsynth.service.kinds.Validated`).

    Raises :class:`TooManyJobs` when the key already has ``max_active_per_key`` queued or running jobs.
    """
    if validated.kind not in SUPPORTED_KINDS:
        raise RadsynthInputError("kind", validated.kind, f"one of {list(SUPPORTED_KINDS)}")
    active = session.scalar(select(func.count()).select_from(Job).where(
        Job.owner_key_id == owner_key_id, Job.state.in_(ACTIVE_STATES)))
    if active >= max_active_per_key:
        raise TooManyJobs(f"key has {active} queued or running jobs (limit {max_active_per_key}); "
                          "wait for one to finish")
    job_id = secrets.token_hex(16)
    now = utc_now()
    job = Job(id=job_id, kind=validated.kind, spec=validated.json(), spec_hash=validated.hash, state="queued",
              progress=0.0, n_done=0, n_total=validated.n_total, attempts=0, owner_key_id=owner_key_id,
              owner_name=owner_name, output_dir=f"{JOBS_DIR}/{job_id}", created_at=now, updated_at=now)
    session.add(job)
    session.commit()
    return job


def count_done(kind: str, out: Path) -> int:
    from radsynth.service.kinds import count_done as _count

    return _count(kind, out)


# ------------------------------------------------------------------------------------------ processes
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_our_worker(pid: int, job_id: str) -> bool:
    """True when ``pid`` runs ``radsynth.service.worker`` for this job (checked before any kill)."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    args = [a.decode("utf-8", "replace") for a in cmd]
    return WORKER_MODULE in args and job_id in args


def _stop_process(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; waits for the pid to go."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    t0 = time.monotonic()
    while _pid_alive(pid) and time.monotonic() - t0 < timeout:
        try:  # our own child: reap it so it does not linger as a zombie
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            pass
        time.sleep(0.05)
    if _pid_alive(pid):
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def _log_tail(path: Path, n: int = 400) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][-n:] if lines else ""


def recover_jobs(sessions: sessionmaker, data_root: Path, *, max_attempts: int,
                 audit: Callable[..., Any] | None = None) -> list[dict[str, Any]]:
    """Re-queue (resumable, attempts left) or fail (with the reason) every job left ``running`` on this host."""
    host = socket.gethostname()
    changed: list[dict[str, Any]] = []
    with sessions() as s:
        for job in s.scalars(select(Job).where(Job.state == "running").order_by(Job.created_at)):
            if job.worker_host not in (None, host):
                continue  # another service instance's worker: not ours to judge
            pid = job.worker_pid
            if pid and _pid_alive(pid) and _is_our_worker(pid, job.id):
                _stop_process(pid)  # an orphan of a killed service: stop it, then resume cleanly
            done = count_done(job.kind, data_root / job.output_dir)
            lost = f"interrupted: service stopped or restarted while worker {pid or '?'} was running"
            if job.kind in RESUMABLE_KINDS and job.attempts < max_attempts:
                job.state, job.note = "queued", f"{lost}; resumes with {done} of {job.n_total} {UNITS.get(job.kind, 'steps')} done"
            else:
                why = (f"{job.kind} jobs are not resumable" if job.kind not in RESUMABLE_KINDS
                       else f"gave up after {job.attempts} attempts")
                job.state, job.error, job.finished_at = "failed", f"{lost}; {why}", utc_now()
            job.worker_pid, job.n_done = None, done
            job.progress = done / job.n_total if job.n_total else 0.0
            job.updated_at = utc_now()
            changed.append({"job": job.id, "state": job.state, "done": done, "attempts": job.attempts})
        s.commit()
    if audit is not None:
        for c in changed:
            audit("job-recover", actor=SERVICE_ACTOR, inputs={"job_id": c["job"]},
                  outputs={"state": c["state"], "subjects_done": str(c["done"])})
    return changed


class JobRunner:
    """Background thread: launches queued jobs as worker processes, tracks progress, reaps the dead."""

    def __init__(self, sessions: sessionmaker, data_root: Path, db_url: str, *, max_workers: int = 2,
                 poll_s: float = 0.25, build_workers: int = 1, audit_url: str | None = None,
                 ray_address: str | None = None) -> None:
        self.sessions = sessions
        self.data_root = data_root
        self.db_url = db_url
        self.max_workers = max_workers
        self.poll_s = poll_s
        self.build_workers = build_workers
        self.ray_address = ray_address  # cohort builds on this Ray cluster (None: local worker processes)
        self.audit_url = audit_url
        self.procs: dict[str, tuple[subprocess.Popen, int]] = {}  # job id -> (process, attempt)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.host = socket.gethostname()

    # -- thread control

    def worker_command(self, job_id: str, attempt: int) -> list[str]:
        """The worker process of one job attempt (``python -m radsynth.service.worker ...``)."""
        cmd = [sys.executable, "-m", WORKER_MODULE, job_id, "--attempt", str(attempt),
               "--data-root", str(self.data_root), "--db-url", self.db_url, "--workers", str(self.build_workers)]
        return cmd + (["--ray-address", self.ray_address] if self.ray_address else [])
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="radsynth-job-runner", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and the workers; their jobs go back to ``queued`` and resume on the next start."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        for job_id, (proc, attempt) in list(self.procs.items()):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            with self.sessions() as s:
                res = s.execute(update(Job).where(Job.id == job_id, Job.state == "running", Job.attempts == attempt)
                                .values(state="queued", worker_pid=None, updated_at=utc_now(),
                                        note="interrupted by a service shutdown; resumes on the next start"))
                s.commit()
            if res.rowcount:
                log.info("job %s re-queued at shutdown", job_id)
        self.procs.clear()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # keep serving; the next tick retries
                log.exception("job runner tick failed")
            self._stop.wait(self.poll_s)

    # -- one round
    def tick(self) -> None:
        self._reap()
        self._progress()
        while len(self.procs) < self.max_workers and not self._stop.is_set():
            if not self._launch_next():
                break

    def _launch_next(self) -> bool:
        with self.sessions() as s:
            job = s.scalars(select(Job).where(Job.state == "queued").order_by(Job.created_at, Job.id).limit(1)).first()
            if job is None:
                return False
            attempt = job.attempts + 1
            now = utc_now()
            claimed = s.execute(update(Job).where(Job.id == job.id, Job.state == "queued").values(
                state="running", attempts=attempt, started_at=job.started_at or now, updated_at=now,
                worker_host=self.host, worker_pid=None))
            s.commit()
            if not claimed.rowcount:
                return True  # someone else took it; look again
            owner = job.owner_name
        logs = self.data_root / LOGS_DIR
        logs.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["RADSYNTH_ACTOR"] = owner  # the library's own audit record (build) carries the key's name
        if self.audit_url is not None:
            env["RADSYNTH_AUDIT_DB"] = self.audit_url
        env.setdefault("OMP_NUM_THREADS", "1")
        cmd = self.worker_command(job.id, attempt)
        with open(logs / f"{job.id}.log", "ab") as fh:
            proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        self.procs[job.id] = (proc, attempt)
        with self.sessions() as s:
            s.execute(update(Job).where(Job.id == job.id, Job.attempts == attempt).values(worker_pid=proc.pid))
            s.commit()
        log.info("job %s started (worker pid %d, attempt %d)", job.id, proc.pid, attempt)
        return True

    def _reap(self) -> None:
        for job_id, (proc, attempt) in list(self.procs.items()):
            rc = proc.poll()
            if rc is None:
                continue
            del self.procs[job_id]
            reason = (f"worker exited with code {rc} without reporting"
                      + (f" (killed by signal {-rc})" if rc < 0 else ""))
            tail = _log_tail(self.data_root / LOGS_DIR / f"{job_id}.log")
            if tail:
                reason += f"; last log line: {tail}"
            with self.sessions() as s:  # no-op when the worker reported its own end
                s.execute(update(Job).where(Job.id == job_id, Job.state == "running", Job.attempts == attempt)
                          .values(state="failed", error=reason, finished_at=utc_now(), updated_at=utc_now()))
                s.commit()

    def _progress(self) -> None:
        if not self.procs:
            return
        with self.sessions() as s:
            for job in s.scalars(select(Job).where(Job.id.in_(list(self.procs)), Job.state == "running")):
                done = count_done(job.kind, self.data_root / job.output_dir)
                if done != job.n_done:
                    job.n_done = done
                    # the last step (manifest, card, signature) is not a subject: 1.0 only when it succeeded
                    job.progress = min(done / job.n_total, 0.99) if job.n_total else 0.0
                    job.updated_at = utc_now()
            s.commit()


def job_spec(job: Job) -> dict[str, Any]:
    return json.loads(job.spec)
