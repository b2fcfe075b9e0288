"""Fuzz `radsynth cohort validate`, `radsynth verify` and `radsynth ingest` (CliRunner, bounded Hypothesis).

Exit codes must be 0/1/2 with no traceback and one stderr line on exit 2; nothing may run past the
per-input limit; verify must never say ok for a (validly signed) SHA256SUMS naming a file outside DIR.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz_mutators import MUTATORS, _lol, mutate_yaml
from fuzz_signed import resign, t_verify
from fuzz_targets import cli_subprocess, guarded, invoke, t_cohort_validate, t_ingest

LIMIT_S = 10.0
pytestmark = pytest.mark.filterwarnings("ignore")  # pydicom/nibabel warn on every mutant
FUZZ = dict(deadline=None, derandomize=True, database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _ok(out) -> None:  # type: ignore[no-untyped-def]
    assert out.kind in ("ok", "clean"), f"{out.kind}: {out.detail}"


def test_mutated_specs_validate_or_exit_2(seeds, tmp_path_factory):
    pool = sorted(seeds.spec.items())
    work = tmp_path_factory.mktemp("fuzz_spec")

    @settings(max_examples=40, **FUZZ)
    @given(rng=st.randoms(use_true_random=False), k=st.integers(0, len(pool) - 1))
    def check(rng: random.Random, k: int) -> None:
        name, data = pool[k]
        _ok(guarded(lambda: t_cohort_validate(work, name, mutate_yaml(rng, data)), LIMIT_S))

    check()


@pytest.mark.parametrize("case", ["non_utf8", "deep_nesting", "billion_laughs", "empty", "binary"])
def test_hostile_specs_are_one_line_errors(case, seeds, tmp_path):
    base = seeds.spec["brain-mri.yaml"]
    data = {"non_utf8": base.replace(b"name:", b"na\xffme:", 1),
            "deep_nesting": b"attributes: " + b"[" * 20000 + b"]" * 20000 + b"\n",
            "billion_laughs": base + b"\n" + _lol(12, 10).encode() + b"\nzz: *l11\n",
            "empty": b"", "binary": bytes(range(256)) * 4}[case]
    out = guarded(lambda: t_cohort_validate(tmp_path, "s.yaml", data), LIMIT_S)
    assert out.kind == "clean", f"{out.kind}: {out.detail}"  # exit 2, one line
    assert out.detail.startswith("exit 2: error: ")


def test_regression_spec_non_utf8_and_deep_nesting_raise_input_error(tmp_path):
    """load_spec let UnicodeDecodeError and RecursionError escape (cohort validate crashed)."""
    from radsynth.cohort.spec import load_spec
    from radsynth.core.errors import RadsynthInputError

    p = tmp_path / "s.yaml"
    p.write_bytes(b"name: \xff\n")
    with pytest.raises(RadsynthInputError, match="UTF-8"):
        load_spec(p)
    p.write_bytes(b"a: " + b"[" * 5000 + b"]" * 5000)
    with pytest.raises(RadsynthInputError, match="nested"):
        load_spec(p)


def test_the_signed_template_verifies(signed_template):
    folder, _ = signed_template
    res = invoke(["verify", folder])
    assert res.exit_code == 0, res.output  # else every mutant would be a trivial failure


def test_mutated_signed_folders_never_crash_or_escape(signed_template, signing_key, tmp_path_factory):
    template, outside = signed_template
    work = tmp_path_factory.mktemp("fuzz_verify")
    count = iter(range(10**6))

    @settings(max_examples=40, **FUZZ)
    @given(rng=st.randoms(use_true_random=False))
    def check(rng: random.Random) -> None:
        _ok(guarded(lambda: t_verify(work, rng, template, outside, signing_key, next(count)), LIMIT_S))

    check()


@pytest.mark.parametrize("line", ["../outside.txt", "ABS", "images/../../outside.txt", "link_out"])
def test_signed_sums_naming_a_file_outside_dir_do_not_verify(line, signed_template, signing_key, tmp_path):
    import hashlib
    import shutil

    template, outside = signed_template
    d = tmp_path / "d"
    shutil.copytree(template, d)
    rel = str(outside) if line == "ABS" else line
    if line == "link_out":
        (d / "link_out").symlink_to(outside)
    with open(d / "SHA256SUMS", "a") as fh:
        fh.write(f"{hashlib.sha256(outside.read_bytes()).hexdigest()}  {rel}\n")
    resign(d, signing_key)  # the signature is valid: only the path checks stand in the way
    res = invoke(["verify", d])
    assert res.exit_code in (1, 2), res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)


def test_mutated_images_through_ingest(seeds, tmp_path_factory):
    work = tmp_path_factory.mktemp("fuzz_ingest")
    key = work / "deid.key"
    key.write_text("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n")
    pool = [(f, n, d) for f in ("dicom", "nifti", "png") for n, d in sorted(getattr(seeds, f).items())]
    count = iter(range(10**6))

    @settings(max_examples=12, **FUZZ)
    @given(rng=st.randoms(use_true_random=False), k=st.integers(0, len(pool) - 1))
    def check(rng: random.Random, k: int) -> None:
        fmt, name, data = pool[k]
        _ok(guarded(lambda: t_ingest(work, name, MUTATORS[fmt](rng, data), key, next(count)), LIMIT_S))

    check()


def test_cli_for_real_in_a_subprocess(seeds, signed_template, tmp_path):
    """No traceback, exit 0/1/2, one stderr line, as a user runs it (3 subprocesses)."""
    spec = tmp_path / "s.yaml"
    spec.write_bytes(seeds.spec["brain-mri.yaml"].replace(b"n_subjects: 12", b"n_subjects: [1, 2]"))
    out = cli_subprocess(["cohort", "validate", spec], 60)
    assert out.kind == "clean" and out.detail.startswith("error: n_subjects"), out
    spec.write_bytes(b"\xff\xfe\x00garbage")
    assert cli_subprocess(["cohort", "validate", spec], 60).kind == "clean"
    folder, _ = signed_template
    assert cli_subprocess(["verify", folder], 60).kind == "ok"


def test_regression_ingest_of_dicom_with_unknown_vr_skips_the_file(seeds, tmp_path):
    """An unknown VR reached the de-identifier and its re-raised NotImplementedError crashed `radsynth ingest`."""
    import pydicom
    import pytest as _pytest

    from radsynth.ingest.dicom import convert_dicom
    from radsynth.privacy.deidentify import DeidConfig, Deidentifier

    data = bytearray(seeds.dicom["CT_small.dcm"])
    i = data.index(b"\x08\x00\x16\x00UI")  # SOP Class UID, explicit VR little endian
    data[i + 4:i + 6] = b"ZZ"
    src = tmp_path / "src" / "normal"
    src.mkdir(parents=True)
    (src / "ct.dcm").write_bytes(bytes(data))
    (src / "ok.png").write_bytes(seeds.png["grey8.png"])
    with _pytest.raises(NotImplementedError):  # the input really is one pydicom cannot decode
        pydicom.dcmread(src / "ct.dcm").SOPClassUID
    with _pytest.raises(ValueError, match="undecodable DICOM element"):
        convert_dicom(src / "ct.dcm", Deidentifier(DeidConfig(key=b"k" * 32)), "x")
    key = tmp_path / "deid.key"
    key.write_text("00" * 32)
    res = invoke(["ingest", tmp_path / "src", "--out", tmp_path / "out", "--key-file", key, "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "ingested 1 of 2 files (1 skipped)" in res.stdout
    assert "unreadable (ValueError)" in res.stderr
