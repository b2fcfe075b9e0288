"""`radsynth keys create|list|revoke` and `radsynth serve` input errors: one line, exit 2."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import subprocess
import sys

import pytest

pytest.importorskip("fastapi")

RADSYNTH = [sys.executable, "-m", "radsynth.cli.main"]


def run(tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RADSYNTH_CONFIG_DIR": str(tmp_path / "config")}
    env.pop("RADSYNTH_SERVICE_DB", None)
    env.pop("RADSYNTH_DATA_ROOT", None)
    return subprocess.run(RADSYNTH + list(args), capture_output=True, text=True, env=env, timeout=120)


def one_error_line(r: subprocess.CompletedProcess, field: str) -> str:
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"error: {field}:") and "accepted" in lines[0], lines[0]
    return lines[0]


def test_keys_create_list_revoke(tmp_path):
    root = tmp_path / "root"
    r = run(tmp_path, "keys", "create", "--role", "admin", "--name", "ada", "--data-root", str(root))
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    assert token.startswith("rsk_") and "not shown again" in r.stderr
    key_id = token.split("_")[1]
    con = sqlite3.connect(root / "service.sqlite")
    rows = con.execute("select id, role, name, token_sha256 from api_keys").fetchall()
    con.close()
    assert rows == [(key_id, "admin", "ada", hashlib.sha256(token.encode()).hexdigest())]

    r = run(tmp_path, "keys", "create", "--role", "viewer", "--name", "vic", "--expires-days", "30",
            "--data-root", str(root))
    assert r.returncode == 0, r.stderr
    r = run(tmp_path, "keys", "list", "--data-root", str(root))
    assert r.returncode == 0 and "ada" in r.stdout and "vic" in r.stdout and token not in r.stdout
    assert r.stdout.count("active") == 2

    r = run(tmp_path, "keys", "revoke", key_id, "--data-root", str(root))
    assert r.returncode == 0 and f"revoked {key_id}" in r.stdout
    r = run(tmp_path, "keys", "list", "--data-root", str(root), "--json")
    keys = {k["name"]: k for k in json.loads(r.stdout)}
    assert keys["ada"]["revoked"] is True and keys["vic"]["revoked"] is False and keys["vic"]["expires_at"]

    # key management is in the audit trail, with the local user as actor
    r = run(tmp_path, "audit", "show", "--json")
    actions = [x["action"] for x in json.loads(r.stdout)]
    assert actions == ["key-create", "key-create", "key-revoke"]


@pytest.mark.parametrize("args,field", [
    (["keys", "create", "--role", "boss", "--name", "x"], "--role"),
    (["keys", "create", "--role", "admin", "--name", "bad name!"], "--name"),
    (["keys", "create", "--role", "admin", "--name", "x", "--expires-days", "-1"], "--expires-days"),
    (["keys", "revoke", "ffffffffffff"], "--data-root"),  # no database yet
    (["keys", "list"], "--data-root"),
    (["serve", "--port", "70000"], "--port"),
    (["serve", "--max-workers", "0"], "--max-workers"),
    (["serve", "--gallery", "/nonexistent/folder"], "--gallery"),
])
def test_bad_input_one_line_exit_2(tmp_path, args, field):
    root = tmp_path / "root"
    r = run(tmp_path, *args, "--data-root", str(root))
    one_error_line(r, field)
    assert not (root / "service.sqlite").exists()


def test_revoke_unknown_id(tmp_path):
    root = tmp_path / "root"
    assert run(tmp_path, "keys", "create", "--role", "admin", "--name", "ada", "--data-root", str(root)).returncode == 0
    one_error_line(run(tmp_path, "keys", "revoke", "nope", "--data-root", str(root)), "ID")


def test_data_root_that_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    one_error_line(run(tmp_path, "keys", "create", "--role", "admin", "--name", "a", "--data-root", str(f)), "--data-root")
    one_error_line(run(tmp_path, "serve", "--data-root", str(f)), "--data-root")


def test_serve_busy_port_is_one_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        r = run(tmp_path, "serve", "--port", str(port), "--data-root", str(tmp_path / "root"))
    one_error_line(r, "--port")
