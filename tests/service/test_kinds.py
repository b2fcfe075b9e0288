"""Sample and evaluate jobs: validated like the CLI's options, paths confined to the data root, run by the library."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import func, select

from radsynth.service.db import Job
from service_helpers import Service, tiny_spec


@pytest.mark.parametrize("spec,field", [
    ({"n": 2}, "spec.model"),
    ({"model": "cxr-ddpm-64", "n": 0}, "spec.n"),
    ({"model": "cxr-ddpm-64", "n": 2, "precision": "fp8"}, "spec.precision"),
    ({"model": "cxr-ddpm-64", "n": 2, "out": "/tmp/x"}, "spec.out"),  # the output folder is the job's own
    ({"model": "no-such-model", "n": 2}, "spec.model"),
    ({"model": "../../etc", "n": 2}, "spec.model"),
    ({"model": "/etc", "n": 2}, "spec.model"),
    ("[1, 2]", "spec"),
    ({"model": "cxr-ddpm-64", "n": 2, "prompt": "chest CT, pneumonia"}, "spec.prompt"),  # the model makes DX
    ({"model": "cxr-ddpm-64", "n": 2, "prompt": "pneumonia", "label": "normal"}, "spec.prompt"),
])
def test_bad_sample_spec_is_422_naming_the_field(service, spec, field):
    r = service.client.post("/api/jobs", headers=service.h("operator"), json={"kind": "sample", "spec": spec})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field, r.json()
    with service.app.state.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 0
    assert not (service.root / "jobs").exists()


def _sets(root):
    for name in ("real", "synth"):
        (root / "sets" / name).mkdir(parents=True, exist_ok=True)


@pytest.mark.parametrize("spec,field", [
    ({"real": "sets/real"}, "spec.synthetic"),
    ({"real": "sets/real", "synthetic": "sets/nothing"}, "spec.synthetic"),
    ({"real": "../outside", "synthetic": "sets/synth"}, "spec.real"),
    ({"real": "/etc", "synthetic": "sets/synth"}, "spec.real"),
    ({"real": "sets/real", "synthetic": "sets/synth", "test": "sets/../../x"}, "spec.test"),
    ({"real": "sets/real", "synthetic": "link/out"}, "spec.synthetic"),  # a link planted in the data root
    ({"real": "sets/real", "synthetic": "sets/synth", "sections": ["vibes"]}, "spec.sections"),
    ({"real": "sets/real", "synthetic": "sets/synth", "preset": "huge"}, "spec.preset"),
    ({"real": "sets/real", "synthetic": "sets/synth", "slices": "diagonal"}, "spec.slices"),
])
def test_bad_evaluate_spec_is_422_naming_the_field(service, tmp_path, spec, field):
    _sets(service.root)
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    (service.root / "link").mkdir(exist_ok=True)
    if not (service.root / "link" / "out").exists():
        os.symlink(outside, service.root / "link" / "out")
    r = service.client.post("/api/jobs", headers=service.h("operator"), json={"kind": "evaluate", "spec": spec})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field, r.json()
    with service.app.state.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 0


def test_evaluate_spec_is_queued_with_its_sections(service):
    _sets(service.root)
    r = service.client.post("/api/jobs", headers=service.h("operator"), json={
        "kind": "evaluate", "spec": {"real": "sets/real", "synthetic": "sets/synth", "preset": "quick",
                                     "sections": ["fidelity", "detectability"]}})
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["kind"] == "evaluate" and job["n_total"] == 2 and job["state"] == "queued"


@pytest.mark.slow  # two worker processes that import torch: ~25 s on 2 idle cores
def test_sample_and_evaluate_jobs_run_the_library(tmp_path):
    """A sample job (the shipped cxr-ddpm-64, 1 step) and an evaluation of its output against a tiny cohort."""
    svc = Service(tmp_path / "root", tmp_path / "audit.sqlite", poll_s=0.1, max_active_jobs_per_key=3)
    with svc.client:
        r = svc.client.post("/api/jobs", headers=svc.h("operator"), json={
            "kind": "sample", "spec": {"model": "cxr-ddpm-64", "n": 3, "steps": 1, "watermark": False, "seed": 5}})
        assert r.status_code == 201, r.text
        sample = svc.wait(r.json()["id"])
        assert sample["state"] == "succeeded", (sample, (svc.root / "logs" / f"{sample['id']}.log").read_text())
        out = svc.root / sample["output_dir"]
        assert sorted(p.name for p in (out / "images").glob("*.png")) == [f"sample-{i:05d}.png" for i in range(3)]
        assert (out / "manifest.parquet").is_file() and sample["n_done"] == 3 and sample["progress"] == 1.0
        r = svc.client.post("/api/jobs", headers=svc.h("operator"), json={
            "kind": "evaluate", "spec": {"real": sample["output_dir"], "synthetic": sample["output_dir"],
                                         "preset": "quick", "sections": ["fidelity"], "encoder": "pixel",
                                         "image_size": 16}})
        assert r.status_code == 201, r.text
        ev = svc.wait(r.json()["id"])
    log = (svc.root / "logs" / f"{ev['id']}.log").read_text()
    assert ev["state"] == "succeeded" and ev["n_done"] == ev["n_total"] == 1, (ev, log)
    report = svc.root / ev["output_dir"]
    assert (report / "report.html").is_file() and (report / "metrics.json").is_file()


def test_unknown_kind_is_422(service):
    r = service.client.post("/api/jobs", headers=service.h("operator"), json={"kind": "train", "spec": tiny_spec()})
    assert r.status_code == 422 and r.json()["field"] == "kind"


def test_cohort_build_jobs_go_to_ray_when_the_service_has_an_address(tmp_path, monkeypatch):
    """`radsynth serve --ray-address ADDR`: the worker runs the library's build with backend "ray" on ADDR (the
    build itself is the library's, tested with Ray in tests/cohort); without an address, the local backend."""
    import json

    import radsynth.cohort.runner as runner
    from radsynth.service import kinds
    from radsynth.service.jobs import JobRunner

    calls = []

    class Res:
        n_subjects, n_built, n_skipped = 2, 2, 0

    monkeypatch.setattr(runner, "build_cohort", lambda spec, out, **kw: calls.append(kw) or Res())
    spec = json.dumps(tiny_spec())
    kinds.run("cohort-build", spec, tmp_path / "a", tmp_path, workers=2, ray_address="ray://head:10001")
    kinds.run("cohort-build", spec, tmp_path / "b", tmp_path)
    assert calls[0]["backend"] == "ray" and calls[0]["ray_address"] == "ray://head:10001" and calls[0]["workers"] == 2
    assert calls[1]["backend"] == "local" and calls[1]["ray_address"] is None
    # the runner hands the address to every worker process it starts
    cmd = JobRunner(None, tmp_path, "sqlite://", ray_address="auto").worker_command("j1", 2)
    assert cmd[cmd.index("--ray-address") + 1] == "auto" and cmd[cmd.index("--attempt") + 1] == "2"
    assert "--ray-address" not in JobRunner(None, tmp_path, "sqlite://").worker_command("j1", 1)
