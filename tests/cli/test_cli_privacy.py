"""CLI: radsynth deidentify / phi-scan, exit codes and one-line errors."""

from __future__ import annotations

import shutil

from pydicom.data import get_testdata_file
from typer.testing import CliRunner

from radsynth.cli.main import app

runner = CliRunner()


def _src(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for n in ("CT_small.dcm", "MR_small.dcm"):
        shutil.copy(get_testdata_file(n), src / n)
    return src


def test_deidentify_then_phi_scan(tmp_path):
    src = _src(tmp_path)
    key = tmp_path / "key"
    key.write_bytes(b"\7" * 32)
    r = runner.invoke(app, ["deidentify", str(src), "--out", str(tmp_path / "out"), "--key-file", str(key),
                            "--date-shift-days-max", "30", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "de-identified 2 files" in r.output and (tmp_path / "out" / "deid_report.json").is_file()
    r = runner.invoke(app, ["phi-scan", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["phi-scan", str(src)])
    assert r.exit_code == 1 and "(0010,0010) PatientName\tname" in r.output


def test_default_key_is_created_private(tmp_path):
    from radsynth.privacy.deidentify import default_key_path

    r = runner.invoke(app, ["deidentify", str(_src(tmp_path)), "--out", str(tmp_path / "out"), "--no-progress"])
    assert r.exit_code == 0, r.output
    p = default_key_path()
    assert p.stat().st_size == 32 and p.stat().st_mode & 0o777 == 0o600


def test_bad_inputs_exit_2_and_write_nothing(tmp_path):
    src = _src(tmp_path)
    (tmp_path / "short.key").write_bytes(b"\1" * 5)
    (tmp_path / "txt").mkdir()
    (tmp_path / "txt" / "a.txt").write_text("x")
    cases = [
        ["deidentify", str(tmp_path / "missing"), "--out", str(tmp_path / "o1")],
        ["deidentify", str(tmp_path / "txt"), "--out", str(tmp_path / "o2")],
        ["deidentify", str(src), "--out", str(tmp_path / "o3"), "--key-file", str(tmp_path / "short.key")],
        ["deidentify", str(src), "--out", str(tmp_path / "o4"), "--key-file", str(tmp_path / "absent.key")],
        ["deidentify", str(src), "--out", str(tmp_path / "o5"), "--date-shift-days-max", "0"],
    ]
    for args in cases:
        r = runner.invoke(app, args + ["--no-progress"])
        assert r.exit_code == 2, (args, r.output)
        assert r.output.count("\n") == 1 and r.output.startswith("error:"), r.output
        assert not (tmp_path / args[3].rsplit("/", 1)[-1]).exists()
    r = runner.invoke(app, ["phi-scan", str(tmp_path / "missing")])
    assert r.exit_code == 2 and r.output.startswith("error:")
