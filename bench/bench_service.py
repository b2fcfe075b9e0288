"""Service load and crash check (loopback only, bounded): prints one table.

1. Load: ``radsynth serve`` on 127.0.0.1 with 2 cohort-build jobs running; N concurrent clients
   (default 50, asyncio, one keep-alive connection each) poll ``GET /api/jobs/{id}`` every
   ``--interval`` seconds for ``--seconds``; latency p50/p95/p99/max and errors (non-200 or transport).
2. Crash: ``kill -9`` of the service right after the load phase, while the same 2 jobs still run;
   restart: each job must be resumed (or failed with a reason), finish, keep the subject folders
   finished before the kill byte-identical, and ``radsynth verify`` its folder.

    python bench/bench_service.py [--clients 50] [--seconds 20] [--interval 0.2] [--subjects 80]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

RADSYNTH = [sys.executable, "-m", "radsynth.cli.main"]


def spec(n: int, seed: int) -> dict:
    return {"name": f"bench-{seed}", "seed": seed, "n_subjects": n,
            "generator": {"name": "mri-brain", "params": {"sequences": ["T1w"], "work_resolution_mm": 2,
                                                          "voxel_size_mm": [2.0, 2.0, 2.0]}},
            "outputs": {"formats": ["png"], "watermark": False}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, tmp: Path) -> None:
        self.root, self.port = tmp / "root", free_port()
        self.env = {**os.environ, "RADSYNTH_CONFIG_DIR": str(tmp / "config")}
        self.args = ["serve", "--port", str(self.port), "--data-root", str(self.root), "--audit-db",
                     str(tmp / "audit.sqlite"), "--log-level", "warning", "--max-workers", "2"]
        self.log = open(tmp / "serve.log", "a")
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def key(self, role: str, name: str) -> str:
        r = subprocess.run(RADSYNTH + ["keys", "create", "--role", role, "--name", name, "--data-root", str(self.root)],
                           capture_output=True, text=True, env=self.env, check=True)
        return r.stdout.strip()

    def start(self) -> float:
        t0 = time.monotonic()
        self.proc = subprocess.Popen(RADSYNTH + self.args, stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return time.monotonic() - t0
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() - t0 > 60:
                raise SystemExit(f"service did not start; see {self.log.name}")
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=60)


def job(srv: Server, h: dict, job_id: str) -> dict:
    return httpx.get(f"{srv.url}/api/jobs/{job_id}", headers=h, timeout=10).json()


def wait(srv: Server, h: dict, job_id: str, cond, timeout: float = 600) -> dict:
    t0 = time.monotonic()
    while True:
        j = job(srv, h, job_id)
        if cond(j) or j["state"] in ("succeeded", "failed"):
            return j
        if time.monotonic() - t0 > timeout:
            raise SystemExit(f"timed out waiting on job {job_id}: {j}")
        time.sleep(0.1)


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    """One HTTP/1.1 keep-alive GET over an open connection (a minimal client: the load generator shares the
    machine's 2 cores with the service, so it must cost little CPU); returns the status code."""
    writer.write(request)
    await writer.drain()
    status = int((await reader.readline()).split(b" ", 2)[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def load(port: int, token: str, job_ids: list[str], clients: int, seconds: float, interval: float,
               max_requests: int) -> tuple[list[float], int, int]:
    lat: list[float] = []
    errors = 0
    sent = 0
    stop_at = time.monotonic() + seconds

    async def client(i: int) -> None:
        nonlocal errors, sent
        request = (f"GET /api/jobs/{job_ids[i % len(job_ids)]} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   f"X-API-Key: {token}\r\n\r\n").encode()
        conn = None
        await asyncio.sleep(interval * i / clients)  # spread the first requests
        while time.monotonic() < stop_at and sent < max_requests:
            sent += 1
            t0 = time.perf_counter()
            try:
                if conn is None:
                    conn = await asyncio.open_connection("127.0.0.1", port)
                ok = await asyncio.wait_for(_get(*conn, request), 10) == 200
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError, IndexError):
                ok, conn = False, None
            lat.append(time.perf_counter() - t0)
            errors += not ok
            if interval:
                await asyncio.sleep(interval)
        if conn is not None:
            conn[1].close()

    await asyncio.gather(*(client(i) for i in range(clients)))
    return lat, errors, sent


def tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--interval", type=float, default=0.2, help="Seconds between one client's polls (0: flat out).")
    ap.add_argument("--max-requests", type=int, default=20_000, help="Bound on the total number of requests.")
    ap.add_argument("--subjects", type=int, default=80, help="Subjects per job (enough to outlast the load phase).")
    args = ap.parse_args()
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="radsynth-bench-service-") as td:
        tmp = Path(td)
        srv = Server(tmp)
        admin, op = srv.key("admin", "bench-admin"), srv.key("operator", "bench-op")
        startup = srv.start()
        h = {"X-API-Key": op}
        try:
            ids = [httpx.post(f"{srv.url}/api/jobs", headers=h, json={"spec": spec(args.subjects, s)}, timeout=30)
                   .json()["id"] for s in (1, 2)]
            for j in ids:
                wait(srv, h, j, lambda x: x["state"] == "running")
            load_before = os.getloadavg()[0]
            lat, errors, sent = asyncio.run(load(srv.port, admin, ids, args.clients, args.seconds, args.interval,
                                                 args.max_requests))
            load_after = os.getloadavg()[0]
            states = [job(srv, h, j) for j in ids]
            running_after = sum(s["state"] == "running" for s in states)
            q = statistics.quantiles(lat, n=100, method="inclusive")
            rows += [
                ("service start (to /health 200)", f"{startup:.2f} s", "-"),
                ("machine load average (1 min) before / after the load phase",
                 f"{load_before:.1f} / {load_after:.1f} on {os.cpu_count()} cores", "-"),
                (f"load: {args.clients} clients polling every {args.interval:g} s for {args.seconds:g} s",
                 f"{sent} requests, {sent / args.seconds:.0f}/s", "-"),
                ("jobs running during the whole load phase", f"{running_after} of 2", "2"),
                ("latency p50 / p95 / p99 / max", f"{q[49] * 1e3:.1f} / {q[94] * 1e3:.1f} / {q[98] * 1e3:.1f} / "
                 f"{max(lat) * 1e3:.1f} ms", "p99 < 200 ms"),
                ("errors (non-200 or transport)", str(errors), "0"),
            ]
            # crash: kill -9 of the service while the same 2 jobs are still running
            before = [job(srv, h, j) for j in ids]
            outs = [srv.root / b["output_dir"] for b in before]
            srv.stop(signal.SIGKILL)
            done_before = [{p.name: tree(p) for p in (out / "subjects").iterdir() if not p.name.startswith(".")}
                           for out in outs]
            restart = srv.start()
            after = [wait(srv, h, j, lambda x: False) for j in ids]
            kept = sum(tree(out / "subjects" / name) == t
                       for out, db in zip(outs, done_before) for name, t in db.items())
            n_before = sum(len(db) for db in done_before)
            verdicts = []
            for out in outs:
                v = subprocess.run(RADSYNTH + ["verify", str(out)], capture_output=True, text=True, env=srv.env)
                verdicts.append(v.stdout.strip().splitlines()[0] if v.returncode == 0
                                else f"FAILED: {v.stdout.strip()[:120]}")
            rows += [
                ("kill -9 at " + ", ".join(f"{b['state']} {b['n_done']}/{b['n_total']}" for b in before)
                 + " subjects, restart", f"{restart:.2f} s to /health", "-"),
            ]
            for i, a in enumerate(after):
                rows.append((f"job {i + 1} after restart",
                             f"{a['state']}, attempt {a['attempts']}: {a['note'] or a['error']}",
                             "resumed or failed with reason"))
            rows += [
                ("subjects finished before the kill, byte-identical after", f"{kept} of {n_before}", "all"),
            ]
            for i, verdict in enumerate(verdicts):
                rows.append((f"radsynth verify of job {i + 1}'s folder", verdict, "ok"))
        finally:
            srv.stop()
    w = [max(len(r[i]) for r in rows + [("what", "measured", "target")]) for i in range(3)]
    print(f"{'what':{w[0]}} | {'measured':{w[1]}} | target")
    print(f"{'-' * w[0]}-|-{'-' * w[1]}-|-{'-' * w[2]}")
    for a, b, c in rows:
        print(f"{a:{w[0]}} | {b:{w[1]}} | {c}")


if __name__ == "__main__":
    main()
