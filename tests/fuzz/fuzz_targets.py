"""Fuzz targets and their verdicts: ok, clean (a one-line radsynth error), crash, hang.

A *crash* is any other exception escaping a public entry point (or a radsynth error whose message spans
several lines), a CLI exit code other than 0/1/2, a traceback in a CLI's output, or an exit-2 error that
is not one line on stderr. A *hang* is an input that runs past the per-input limit: ``signal.setitimer``
raises :class:`Hang` (a BaseException, so readers' ``except Exception`` cannot swallow it) and inputs
stuck in C code past the limit are counted after they return. CLI targets run in-process through
``typer.testing.CliRunner`` (fast); :func:`cli_subprocess` runs a few of them for real.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from radsynth.core.errors import RadsynthError

REPO = Path(__file__).resolve().parents[2]


class Hang(BaseException):
    """Raised by the watchdog when an input runs past its time limit."""


class Crash(Exception):
    """A target's verdict that the input crashed it (detail in the message)."""


@dataclass
class Outcome:
    kind: str  # ok | clean | crash | hang
    detail: str
    seconds: float


def _where(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    return f"{Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else "?"


def _on_alarm(signum: int, frame: Any) -> None:
    raise Hang()


def guarded(fn: Callable[[], Any], timeout_s: float) -> Outcome:
    """Run ``fn()`` under the watchdog and classify what happens."""
    old = signal.signal(signal.SIGALRM, _on_alarm)
    t0 = time.perf_counter()
    kind, detail = "ok", ""
    try:
        signal.setitimer(signal.ITIMER_REAL, timeout_s)
        try:
            said = fn()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if isinstance(said, str):  # a CLI target's clean non-zero exit
            kind, detail = "clean", said
    except Hang:
        kind, detail = "hang", f"ran past {timeout_s:g} s"
    except Crash as exc:
        kind, detail = "crash", str(exc)
    except RadsynthError as exc:
        msg = str(exc)
        kind, detail = ("clean", msg) if "\n" not in msg and msg else ("crash", f"multi-line or empty error: {msg!r}")
    except (Exception, RecursionError, MemoryError) as exc:  # noqa: BLE001 - the point: anything else is a crash
        kind, detail = "crash", f"{type(exc).__name__}: {str(exc)[:160]} at {_where(exc)}"
    finally:
        signal.signal(signal.SIGALRM, old)
    dt = time.perf_counter() - t0
    if kind != "hang" and dt > timeout_s:
        kind, detail = "hang", f"took {dt:.1f} s (stuck outside Python past the {timeout_s:g} s limit)"
    return Outcome(kind, detail, dt)


# ----------------------------------------------------------------------------- library readers


def _write(work: Path, name: str, data: bytes) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    p = work / name
    p.write_bytes(data)
    return p


def t_read_image(work: Path, name: str, data: bytes) -> None:
    from radsynth.generators.common.data import read_image

    read_image(_write(work, name, data))


def t_load_eval_set(work: Path, name: str, data: bytes) -> None:
    """`radsynth evaluate`'s loader on a one-class folder holding the mutant (header probe, then pixels)."""
    from radsynth.evaluate.sets import load_eval_set

    folder = work / "evalset"
    if folder.exists():
        for p in folder.rglob("*"):
            if p.is_file():
                p.unlink()
    _write(folder / "cls", name, data)
    load_eval_set(folder, "real", image_size=8)


def t_read_nifti(work: Path, name: str, data: bytes) -> None:
    from radsynth.io.nifti import read_nifti

    read_nifti(_write(work, name, data))


def _documented(fn: Callable[[], Any]) -> str | None:
    """Run ``fn``; its documented one-line ValueError/OSError ("Raises ValueError (or OSError) for a file ...
    that is not readable", the contract verify's mark check relies on) is a clean refusal, not a crash."""
    try:
        fn()
    except (ValueError, OSError) as exc:
        msg = str(exc)
        if not msg or "\n" in msg:
            raise Crash(f"{type(exc).__name__} with a multi-line or empty message: {msg[:160]!r} at {_where(exc)}")
        return f"documented {type(exc).__name__}: {msg[:160]}"
    return None


def t_read_nifti_marking(work: Path, name: str, data: bytes) -> str | None:
    from radsynth.io.nifti import read_nifti_marking

    return _documented(lambda: read_nifti_marking(_write(work, name, data)))


def t_read_png_marking(work: Path, name: str, data: bytes) -> str | None:
    from radsynth.io.png import read_png_marking

    return _documented(lambda: read_png_marking(_write(work, name, data)))


def t_check_marks(work: Path, name: str, data: bytes) -> None:
    """`radsynth verify`'s per-image mark check (DICOM/NIfTI/PNG/JPEG) must report problems, not raise."""
    from radsynth.provenance.marks import check_file

    _write(work, name, data)
    check_file(work, name)


# ----------------------------------------------------------------------------- CLI


def cli_verdict(result: Any) -> str | None:
    """Raise Crash unless a CliRunner result is a clean exit: 0/1/2, no traceback, exit 2 = one stderr line.

    Returns None for exit 0, else ``"exit N: <first line>"`` (a clean refusal)."""
    exc = result.exception
    if exc is not None and not isinstance(exc, SystemExit):
        raise Crash(f"{type(exc).__name__}: {str(exc)[:160]} at {_where(exc)}")
    if result.exit_code not in (0, 1, 2):
        raise Crash(f"exit code {result.exit_code}")
    if "Traceback (most recent call last)" in result.output:
        raise Crash("traceback in the output")
    if result.exit_code == 2:
        err = result.stderr.strip("\n")
        if not err or "\n" in err:
            raise Crash(f"exit 2 without exactly one stderr line: {err[:200]!r}")
    if result.exit_code:
        first = (result.stderr.strip() or result.stdout.strip()).split("\n")[0]
        return f"exit {result.exit_code}: {first[:200]}"
    return None


def invoke(args: list[str]) -> Any:
    from typer.testing import CliRunner

    from radsynth.cli.main import app

    return CliRunner().invoke(app, [str(a) for a in args])


def t_cohort_validate(work: Path, name: str, data: bytes) -> str | None:
    return cli_verdict(invoke(["cohort", "validate", _write(work, name, data)]))


def t_ingest(work: Path, name: str, data: bytes, key_file: Path, n: int) -> str | None:
    """`radsynth ingest` of SRC/<class>/<mutant> (+ one good file of the same kind) into a fresh folder."""
    src = work / f"ingest_src_{n}"
    _write(src / "normal", name, data)
    return cli_verdict(invoke(["ingest", src, "--out", work / f"ingest_out_{n}", "--key-file", key_file, "--no-progress"]))


def cli_subprocess(args: list[str], timeout_s: float, env: dict[str, str] | None = None) -> Outcome:
    """Run ``python -m radsynth.cli.main ARGS`` for real (exit code, traceback on stderr, hang)."""
    t0 = time.perf_counter()
    cmd = [sys.executable, "-c", "from radsynth.cli.main import main; main()", *map(str, args)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired:
        return Outcome("hang", f"ran past {timeout_s:g} s", time.perf_counter() - t0)
    dt = time.perf_counter() - t0
    err = proc.stderr.strip("\n")
    if proc.returncode not in (0, 1, 2) or "Traceback" in proc.stderr:
        return Outcome("crash", f"exit {proc.returncode}: {err[-300:]!r}", dt)
    if proc.returncode == 2 and (not err or "\n" in err):
        return Outcome("crash", f"exit 2 without exactly one stderr line: {err[:200]!r}", dt)
    return Outcome("clean" if proc.returncode else "ok", err, dt)


#: Library targets per input format (name -> function(work, name, data)).
READER_TARGETS: dict[str, dict[str, Callable[[Path, str, bytes], None]]] = {
    "dicom": {"read_image": t_read_image, "load_eval_set": t_load_eval_set, "check_marks": t_check_marks},
    "nifti": {"read_image": t_read_image, "load_eval_set": t_load_eval_set, "read_nifti": t_read_nifti,
              "read_nifti_marking": t_read_nifti_marking, "check_marks": t_check_marks},
    "png": {"read_image": t_read_image, "load_eval_set": t_load_eval_set, "read_png_marking": t_read_png_marking,
            "check_marks": t_check_marks},
}
