"""Worker process of one service job: ``python -m radsynth.service.worker JOB_ID --attempt N --data-root DIR --db-url URL``.

Started by :class:`radsynth.service.jobs.JobRunner`. Runs the job with the library entry point of
its kind (:func:`radsynth.service.kinds.run`: cohort build and evaluation with ``resume=True``, so
a re-queued job keeps its finished subjects / sections; sample) into ``<data root>/jobs/<id>`` at a
lower CPU priority than the service, then records ``succeeded`` or ``failed`` with the reason. It writes the final state
only while the row is still its own (same attempt, still ``running``), so a stale worker never
overwrites a newer one. Exit 0 on success, 1 on a failed job, 2 when the row is not runnable.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="radsynth.service.worker")
    ap.add_argument("job_id")
    ap.add_argument("--attempt", type=int, required=True)
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--db-url", required=True)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--ray-address", default=None)
    ap.add_argument("--nice", type=int, default=10)
    args = ap.parse_args(argv)

    from sqlalchemy import update

    from radsynth.core.errors import RadsynthError
    from radsynth.service.db import Job, make_engine, session_factory, utc_now

    engine = make_engine(args.db_url, create=False)
    sessions = session_factory(engine)

    def finish(state: str, **values: object) -> bool:
        with sessions() as s:
            res = s.execute(update(Job).where(Job.id == args.job_id, Job.state == "running",
                                              Job.attempts == args.attempt)
                            .values(state=state, finished_at=utc_now(), updated_at=utc_now(), worker_pid=None,
                                    **values))
            s.commit()
            return bool(res.rowcount)

    with sessions() as s:
        job = s.get(Job, args.job_id)
        if job is None or job.state != "running" or job.attempts != args.attempt:
            print(f"job {args.job_id}: not runnable by attempt {args.attempt} "
                  f"({'missing' if job is None else job.state})", file=sys.stderr)
            return 2
        spec_text, kind, output_dir, n_total = job.spec, job.kind, job.output_dir, job.n_total
    if args.nice:
        try:
            os.nice(args.nice)  # the service's HTTP answers stay fast while jobs run
        except OSError:
            pass
    print(f"job {args.job_id} attempt {args.attempt}: {kind} -> {output_dir}", flush=True)
    try:
        from radsynth.service.kinds import run

        done, summary = run(kind, spec_text, Path(args.data_root) / output_dir, Path(args.data_root),
                            workers=args.workers, ray_address=args.ray_address)
    except RadsynthError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        finish("failed", error=str(exc))
        return 1
    except BaseException as exc:  # anything else: the reason goes to the job, the traceback to its log
        traceback.print_exc()
        finish("failed", error=f"{type(exc).__name__}: {exc}".strip())
        return 1
    finish("succeeded", progress=1.0, n_done=done, n_total=n_total, error=None)
    print(f"job {args.job_id}: {summary}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
