"""`radsynth ingest`: success output, resume no-op, one-line errors with exit 2 and nothing written."""

from __future__ import annotations

import sys
from pathlib import Path

from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parents[1] / "ingest"))
from ingest_fixtures import make_source

from radsynth.cli.main import app

KEY = "00112233445566778899aabbccddeeff0123456789abcdef0123456789abcdef"


def _run(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_ingest_resume_and_verify(tmp_path):
    src = make_source(tmp_path)
    key = tmp_path / "k.key"
    key.write_text(KEY)
    out = tmp_path / "out"
    r = _run("ingest", src, "--out", out, "--key-file", key, "--no-progress")
    assert r.exit_code == 0, r.output
    assert "ingested 7 of 10 files (3 skipped)" in r.stdout and "NORMAL 4, PNEUMONIA 3" in r.stdout
    assert "skipped PNEUMONIA/broken.png: unreadable" in r.stderr  # source names on the terminal only
    r = _run("ingest", src, "--out", out, "--key-file", key, "--resume", "--no-progress")
    assert r.exit_code == 0 and r.stdout.startswith("up to date:")
    r = _run("verify", out)
    assert r.exit_code == 0, r.output
    r = _run("ingest", src, "--out", out, "--key-file", key, "--no-progress")
    assert r.exit_code == 2 and r.stderr.startswith("error: --out:") and r.stderr.count("\n") == 1


def test_cli_ingest_bad_key_and_labels_exit_2(tmp_path):
    src = make_source(tmp_path)
    bad = tmp_path / "bad.key"
    bad.write_bytes(b"abc")
    for args, field in (
        (("--key-file", bad), "--key-file"),
        (("--labels", tmp_path / "missing.csv"), "--labels"),
        (("--workers", "0"), "--workers"),
    ):
        r = _run("ingest", src, "--out", tmp_path / "out", "--no-progress", *args)
        assert r.exit_code == 2, r.output
        assert r.stderr.startswith(f"error: {field}:") and r.stderr.count("\n") == 1
        assert not (tmp_path / "out").exists() and not (tmp_path / ".out.ingest-partial").exists()
    r = _run("ingest", tmp_path / "nope", "--out", tmp_path / "out")
    assert r.exit_code == 2 and r.stderr.startswith("error: SRC:")
