"""`radsynth serve` as a real process on loopback: keys from the CLI, a job, `kill -9` mid-job, restart."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from service_helpers import tiny_spec

RADSYNTH = [sys.executable, "-m", "radsynth.cli.main"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, tmp: Path) -> None:
        self.root, self.audit, self.port = tmp / "root", tmp / "audit.sqlite", free_port()
        self.env = {**os.environ, "RADSYNTH_CONFIG_DIR": str(tmp / "config")}
        self.log = tmp / "serve.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(RADSYNTH + list(args), capture_output=True, text=True, env=self.env, timeout=120)

    def key(self, role: str, name: str) -> str:
        r = self.cli("keys", "create", "--role", role, "--name", name, "--data-root", str(self.root))
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    def start(self) -> None:
        fh = open(self.log, "a")
        self.proc = subprocess.Popen(RADSYNTH + ["serve", "--port", str(self.port), "--data-root", str(self.root),
                                                 "--audit-db", str(self.audit), "--log-level", "warning"],
                                     stdout=fh, stderr=subprocess.STDOUT, env=self.env)
        t0 = time.monotonic()
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() - t0 < 60, self.log.read_text()
            time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=60)


@pytest.fixture
def server(tmp_path):
    srv = Server(tmp_path)
    yield srv
    srv.stop()


def raw_get(port: int, target: str, token: str) -> bytes:
    """An HTTP request with the target sent as is (no client-side '..' normalisation)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nX-API-Key: {token}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


def test_kill_9_mid_job_then_restart_resumes_it(server):
    admin = server.key("admin", "ada")
    op = server.key("operator", "otto")
    server.start()
    h = {"X-API-Key": op}
    r = httpx.post(f"{server.url}/api/jobs", headers=h, json={"spec": tiny_spec(n_subjects=10)}, timeout=30)
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    t0 = time.monotonic()
    while True:  # wait until the build is under way: at least one subject finished
        job = httpx.get(f"{server.url}/api/jobs/{job_id}", headers=h, timeout=10).json()
        if job["n_done"] >= 1:
            break
        assert job["state"] in ("queued", "running") and time.monotonic() - t0 < 120, job
        time.sleep(0.1)
    assert job["state"] == "running" and job["n_done"] < 10, job
    server.stop(signal.SIGKILL)

    server.start()  # recovery: the orphaned worker is stopped, the job queued again and resumed
    log = server.log.read_text()
    assert f"recovered job {job_id}: queued" in log, log
    t0 = time.monotonic()
    while True:
        job = httpx.get(f"{server.url}/api/jobs/{job_id}", headers=h, timeout=10).json()
        if job["state"] in ("succeeded", "failed"):
            break
        assert time.monotonic() - t0 < 180, job
        time.sleep(0.2)
    assert job["state"] == "succeeded" and job["attempts"] == 2 and "interrupted" in job["note"], job
    out = server.root / job["output_dir"]
    assert sorted(p.name for p in (out / "subjects").iterdir()) == [f"sub-{i:04d}" for i in range(1, 11)]
    v = server.cli("verify", str(out))  # every file intact and signed
    assert v.returncode == 0, v.stdout + v.stderr

    # path traversal over a real socket: the server never normalises '..' into the data root
    for target in (f"/api/jobs/{job_id}/files/../../service.sqlite",
                   f"/api/jobs/{job_id}/files/subjects/../../../service.sqlite",
                   f"/api/jobs/{job_id}/files/..%2f..%2fservice.sqlite"):
        resp = raw_get(server.port, target, admin)
        status = int(resp.split(b" ", 2)[1])
        assert status in (400, 404), (target, resp[:200])
        assert b"SQLite format" not in resp

    # the audit trail has the whole story, with actors
    a = httpx.get(f"{server.url}/api/audit", headers={"X-API-Key": admin}, params={"verify": True}, timeout=10).json()
    assert a["problems"] == []
    acts = [(x["action"], x["actor"]) for x in a["records"]]
    assert ("job-submit", "otto") in acts and ("job-recover", "radsynth-service") in acts and ("build", "otto") in acts


def test_sigterm_requeues_and_the_next_start_finishes(server):
    op = server.key("operator", "otto")
    server.start()
    h = {"X-API-Key": op}
    job_id = httpx.post(f"{server.url}/api/jobs", headers=h, json={"spec": tiny_spec(n_subjects=10)},
                        timeout=30).json()["id"]
    t0 = time.monotonic()
    while httpx.get(f"{server.url}/api/jobs/{job_id}", headers=h, timeout=10).json()["state"] != "running":
        assert time.monotonic() - t0 < 60
        time.sleep(0.1)
    server.stop(signal.SIGTERM)  # graceful: the worker is stopped and its job re-queued
    import sqlite3

    con = sqlite3.connect(server.root / "service.sqlite")
    state, note = con.execute("select state, note from jobs where id = ?", (job_id,)).fetchone()
    con.close()
    if state == "queued":
        assert "shutdown" in note
    else:  # the tiny build may finish before the signal lands
        assert state == "succeeded"
    server.start()
    t0 = time.monotonic()
    while (job := httpx.get(f"{server.url}/api/jobs/{job_id}", headers=h, timeout=10).json())["state"] != "succeeded":
        assert job["state"] != "failed" and time.monotonic() - t0 < 180, job
        time.sleep(0.2)
