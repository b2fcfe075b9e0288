"""Bad input fails before anything is written: one line, field + value + accepted, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parents[1] / "cohort"))
from fast_spec import FAST_SPEC  # noqa: E402

RADSYNTH = [sys.executable, "-m", "radsynth.cli.main"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(RADSYNTH + list(args), capture_output=True, text=True, timeout=120)


def spec_file(tmp_path: Path, mutate) -> Path:
    import copy

    spec = copy.deepcopy(FAST_SPEC)
    mutate(spec)
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(spec))
    return p


CASES = {
    "unknown generator": (lambda s: s["generator"].update(name="warp-drive"), "generator.name", "warp-drive"),
    "negative count": (lambda s: s.update(n_subjects=-2), "n_subjects", "-2"),
    "prevalence > 1": (lambda s: s["labels"].update(tumour=1.4), "labels.tumour", "1.4"),
    "unknown sequence": (lambda s: s["generator"]["params"].update(sequences=["T1w", "DWI9"]),
                         "generator.params.sequences[1]", "DWI9"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_invalid_spec_exit_2_one_line_nothing_written(tmp_path, case):
    mutate, field, value = CASES[case]
    spec = spec_file(tmp_path, mutate)
    out = tmp_path / "out"
    for cmd in (["cohort", "validate", str(spec)], ["cohort", "build", str(spec), "--out", str(out)]):
        r = run(*cmd)
        assert r.returncode == 2, (case, r.stdout, r.stderr)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1, r.stderr
        assert lines[0].startswith(f"error: {field}:") and value in lines[0] and "accepted" in lines[0]
    assert not out.exists()


def test_unwritable_output_fails_before_writing(tmp_path):
    spec = spec_file(tmp_path, lambda s: None)
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o555)
    try:
        if os.access(locked, os.W_OK) and os.geteuid() == 0:
            # root ignores permission bits: use a path under a regular file instead
            blocker = tmp_path / "file"
            blocker.write_text("x")
            target = blocker / "out"
        else:
            target = locked / "out"
        r = run("cohort", "build", str(spec), "--out", str(target))
        assert r.returncode == 2, r.stderr
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: --out:"), r.stderr
        assert not target.exists()
    finally:
        os.chmod(locked, 0o755)


def test_existing_build_without_resume_is_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "build.json").write_text("{}")
    spec = spec_file(tmp_path, lambda s: None)
    r = run("cohort", "build", str(spec), "--out", str(out))
    assert r.returncode == 2 and "--resume" in r.stderr


def test_help_lists_subcommands():
    r = run("--help")
    assert r.returncode == 0 and "cohort" in r.stdout
