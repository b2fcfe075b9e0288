"""The fuzz harness can fail: a real crash or hang in a target is reported as such, never as ok/clean."""

from __future__ import annotations

import time

import pytest

from fuzz_targets import Crash, READER_TARGETS, guarded, t_cohort_validate, t_ingest

pytestmark = pytest.mark.filterwarnings("ignore")


def test_verdicts_of_guarded():
    from radsynth.core.errors import RadsynthInputError

    def raises(exc):
        def f():
            raise exc
        return f

    assert guarded(lambda: None, 5).kind == "ok"
    assert guarded(raises(RadsynthInputError("f", 1, "x")), 5).kind == "clean"
    assert guarded(raises(KeyError("k")), 5).kind == "crash"
    assert guarded(raises(NotImplementedError("Unknown Value Representation")), 5).kind == "crash"
    assert guarded(raises(RecursionError()), 5).kind == "crash"
    assert guarded(raises(Crash("x")), 5).kind == "crash"
    err = RadsynthInputError("f", 1, "x")
    err.args = ("two\nlines",)
    assert guarded(raises(err), 5).kind == "crash"  # a radsynth error must be one line
    out = guarded(lambda: time.sleep(3), 0.2)
    assert out.kind == "hang" and out.seconds < 2


def test_a_crashing_reader_fails_the_reader_targets(seeds, tmp_path, monkeypatch):
    import radsynth.generators.common.data as data
    import radsynth.io.nifti as nifti

    def boom(*a, **k):
        raise IndexError("planted crash")

    monkeypatch.setattr(data, "read_image", boom)
    monkeypatch.setattr(nifti, "read_nifti", boom)
    name, blob = sorted(seeds.nifti.items())[0]
    for tname in ("read_image", "read_nifti"):
        out = guarded(lambda: READER_TARGETS["nifti"][tname](tmp_path, name, blob), 10)
        assert out.kind == "crash" and "planted crash" in out.detail, tname


def test_a_crash_inside_ingest_fails_the_cli_target(seeds, tmp_path, monkeypatch):
    """An exception escaping `radsynth ingest` (here: the per-file converter) is a crash, not exit 1/2."""
    import radsynth.ingest.convert as convert

    key = tmp_path / "deid.key"
    key.write_text("00" * 32)
    name, blob = "grey8.png", seeds.png["grey8.png"]
    assert guarded(lambda: t_ingest(tmp_path, name, blob, key, 0), 30).kind == "ok"

    def boom(*a, **k):
        raise NotImplementedError("planted crash")

    monkeypatch.setattr(convert, "_convert", boom)
    out = guarded(lambda: t_ingest(tmp_path, name, blob, key, 1), 30)
    assert out.kind == "crash" and "planted crash" in out.detail


def test_a_crash_inside_cohort_validate_fails_the_cli_target(seeds, tmp_path, monkeypatch):
    import radsynth.cohort.spec as spec

    data = seeds.spec["brain-mri.yaml"]
    assert guarded(lambda: t_cohort_validate(tmp_path, "s.yaml", data), 30).kind == "ok"
    monkeypatch.setattr(spec, "load_spec", lambda *a, **k: {}["planted"])
    assert guarded(lambda: t_cohort_validate(tmp_path, "s.yaml", data), 30).kind == "crash"
