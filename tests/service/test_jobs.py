"""Jobs end to end: a cohort build runs in a worker process, its files download, restarts recover it."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile

import pytest
from sqlalchemy import update

from radsynth.provenance.audit import AuditLog
from radsynth.service.db import Job
from service_helpers import Service, tiny_spec


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One service with a worker, one tiny job run to the end; shared by the download tests."""
    tmp = tmp_path_factory.mktemp("svc")
    svc = Service(tmp / "root", tmp / "audit.sqlite", poll_s=0.1)
    with svc.client:  # lifespan: the job runner runs
        r = svc.client.post("/api/jobs", headers=svc.h("operator"), json={"spec": tiny_spec()})
        assert r.status_code == 201, r.text
        job = svc.wait(r.json()["id"])
    yield svc, job
    svc.client.close()
    svc.app.state.engine.dispose()


def test_job_succeeds_with_progress_and_outputs(finished):
    svc, job = finished
    assert job["state"] == "succeeded", job
    assert job["progress"] == 1.0 and job["n_done"] == 2 and job["n_total"] == 2 and job["error"] is None
    assert job["attempts"] == 1 and job["started_at"] and job["finished_at"] >= job["started_at"]
    out = svc.root / job["output_dir"]
    assert (out / "manifest.parquet").is_file() and (out / "SHA256SUMS.sig").is_file()
    assert not (out / "service.sqlite").exists() and (svc.root / "logs" / f"{job['id']}.log").is_file()


def test_file_listing_and_download_match_disk(finished):
    svc, job = finished
    out = svc.root / job["output_dir"]
    r = svc.client.get(f"/api/jobs/{job['id']}/files", headers=svc.h("viewer"))
    assert r.status_code == 200
    listed = {f["path"]: f["size"] for f in r.json()["files"]}
    on_disk = {p.relative_to(out).as_posix(): p.stat().st_size for p in out.rglob("*") if p.is_file()}
    assert listed == on_disk and "dataset_card.md" in listed
    assert any(p.endswith("_T1w_axial.png") for p in listed)
    for rel in ("dataset_card.md", next(p for p in listed if p.endswith(".png"))):
        r = svc.client.get(f"/api/jobs/{job['id']}/files/{rel}", headers=svc.h("viewer"))
        assert r.status_code == 200
        assert r.content == (out / rel).read_bytes()


def test_signed_sums_cover_what_is_served(finished):
    svc, job = finished
    r = svc.client.get(f"/api/jobs/{job['id']}/files/SHA256SUMS", headers=svc.h("viewer"))
    sums = dict(reversed(line.split("  ", 1)) for line in r.text.splitlines() if line.strip())
    for rel, digest in list(sums.items())[:5]:
        got = svc.client.get(f"/api/jobs/{job['id']}/files/{rel}", headers=svc.h("viewer")).content
        assert hashlib.sha256(got).hexdigest() == digest


def test_archive_is_a_zip_of_every_file(finished):
    svc, job = finished
    out = svc.root / job["output_dir"]
    r = svc.client.get(f"/api/jobs/{job['id']}/archive", headers=svc.h("viewer"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    assert zf.testzip() is None
    names = {n.split("/", 1)[1]: n for n in zf.namelist()}
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert set(names) == on_disk
    for rel in ("manifest.parquet", "dataset_card.md"):
        assert zf.read(names[rel]) == (out / rel).read_bytes()


TRAVERSALS = [
    "../../service.sqlite",
    "..%2F..%2Fservice.sqlite",
    "%2e%2e/%2e%2e/service.sqlite",
    "subjects/../../../service.sqlite",
    "%2Fetc%2Fpasswd",
    "..%5C..%5Cservice.sqlite",
    "subjects/%00/x",
    "escape/service.sqlite",  # a symlink planted in the output folder, pointing at the data root
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_is_refused(finished, path):
    svc, job = finished
    out = svc.root / job["output_dir"]
    link = out / "escape"
    if not link.exists():
        os.symlink(svc.root, link)
    try:
        r = svc.client.get(f"/api/jobs/{job['id']}/files/{path}", headers=svc.h("admin"))
        assert r.status_code in (400, 404), (path, r.status_code)
        assert b"SQLite format" not in r.content and b"root:" not in r.content
        assert r.json()["error"] in ("path_refused", "not_found")
    finally:
        link.unlink()


def test_archive_of_unfinished_job_is_409(tmp_path):
    svc = Service(tmp_path / "root", tmp_path / "audit.sqlite", start_runner=False)
    r = svc.client.post("/api/jobs", headers=svc.h("operator"), json={"spec": tiny_spec()})
    job_id = r.json()["id"]
    r = svc.client.get(f"/api/jobs/{job_id}/archive", headers=svc.h("viewer"))
    assert r.status_code == 409 and r.json()["error"] == "not_ready"
    r = svc.client.get(f"/api/jobs/{job_id}/files", headers=svc.h("viewer"))
    assert r.status_code == 200 and r.json()["files"] == []


def test_build_and_downloads_are_audited_with_the_key_name(finished):
    svc, job = finished
    svc.client.get(f"/api/jobs/{job['id']}/files/dataset_card.md", headers=svc.h("viewer"))
    with AuditLog(svc.audit, create=False) as log:
        recs = log.records()
        assert log.verify() == []
    by_action = {}
    for rec in recs:
        by_action.setdefault(rec["action"], []).append(rec)
    assert by_action["job-submit"][0]["actor"] == "operator-user"
    build = by_action["build"][0]  # written by the library's cohort build inside the worker
    assert build["actor"] == "operator-user" and build["outputs"]["folder"] == str(svc.root / job["output_dir"])
    assert any(r["actor"] == "viewer-user" and r["inputs"]["path"] == "dataset_card.md" for r in by_action["download"])


def test_failed_build_reports_the_reason(tmp_path):
    svc = Service(tmp_path / "root", tmp_path / "audit.sqlite", poll_s=0.1)
    with svc.client:
        r = svc.client.post("/api/jobs", headers=svc.h("operator"), json={"spec": tiny_spec()})
        job_id = r.json()["id"]
        # make the output path unusable before the worker starts: a file where the folder goes
        (svc.root / "jobs").mkdir(exist_ok=True)
        (svc.root / "jobs" / job_id).write_text("in the way")
        job = svc.wait(job_id)
    assert job["state"] == "failed" and "--out" in job["error"] and "folder" in job["error"], job


def _fake_running(svc: Service, attempts: int) -> str:
    """A job row as a killed service leaves it: 'running', its worker gone."""
    r = svc.client.post("/api/jobs", headers=svc.h("operator"), json={"spec": tiny_spec()})
    job_id = r.json()["id"]
    with svc.app.state.sessions() as s:
        s.execute(update(Job).where(Job.id == job_id).values(state="running", attempts=attempts,
                                                             worker_pid=2**22 + 17, started_at="2026-01-01T00:00:00.000000Z"))
        s.commit()
    return job_id


def test_restart_resumes_a_running_job(tmp_path):
    root, audit = tmp_path / "root", tmp_path / "audit.sqlite"
    svc = Service(root, audit, start_runner=False)
    job_id = _fake_running(svc, attempts=1)
    svc.app.state.engine.dispose()

    svc2 = Service(root, audit, poll_s=0.1)  # a new service on the same data root
    with svc2.app.state.sessions() as s:
        job = s.get(Job, job_id)
        assert job.state == "queued" and "interrupted" in job.note and "resumes" in job.note
    assert svc2.app.state.recovered == [{"job": job_id, "state": "queued", "done": 0, "attempts": 1}]
    with svc2.client:
        done = svc2.wait(job_id)
    assert done["state"] == "succeeded" and done["attempts"] == 2 and done["n_done"] == 2, done
    with AuditLog(audit, create=False) as log:
        rec = [r for r in log.records() if r["action"] == "job-recover"]
    assert rec and rec[0]["actor"] == "radsynth-service" and rec[0]["inputs"]["job_id"] == job_id


def test_restart_fails_a_job_out_of_attempts_with_the_reason(tmp_path):
    root, audit = tmp_path / "root", tmp_path / "audit.sqlite"
    svc = Service(root, audit, start_runner=False, max_attempts=2)
    job_id = _fake_running(svc, attempts=2)
    svc2 = Service(root, audit, start_runner=False, max_attempts=2)
    r = svc2.client.get(f"/api/jobs/{job_id}", headers=svc2.h("viewer"))
    job = r.json()
    assert job["state"] == "failed" and "interrupted" in job["error"] and "gave up after 2 attempts" in job["error"]
    assert job["finished_at"]


def test_resume_keeps_finished_subjects(tmp_path):
    """A re-queued job continues the build in its folder: subjects already there are not rebuilt."""
    root, audit = tmp_path / "root", tmp_path / "audit.sqlite"
    svc = Service(root, audit, start_runner=False)
    job_id = _fake_running(svc, attempts=1)
    import json

    from radsynth.cohort.runner import build_subject, preflight
    from radsynth.cohort.spec import parse_spec, spec_json
    from radsynth.io.atomic import atomic_write_text

    spec = parse_spec(tiny_spec())
    out = root / "jobs" / job_id
    # what the lost worker had done: the folder set up and subject 1 written
    preflight(spec, out, "local", 1, True)
    (out / "subjects").mkdir(parents=True)
    atomic_write_text(out / "build.json", json.dumps({"spec_hash": spec.hash, "name": spec.name,
                                                      "n_subjects": spec.n_subjects, "generator": spec.generator.name},
                                                     indent=1, sort_keys=True) + "\n")
    build_subject(spec_json(spec), 0, str(out))
    first = (out / "subjects" / "sub-0001" / "subject.json").stat().st_mtime_ns
    svc2 = Service(root, audit, poll_s=0.1)
    assert svc2.app.state.recovered[0]["done"] == 1
    with svc2.client:
        done = svc2.wait(job_id)
    assert done["state"] == "succeeded", done
    assert (out / "subjects" / "sub-0001" / "subject.json").stat().st_mtime_ns == first
    log = (root / "logs" / f"{job_id}.log").read_text()
    assert "built 1, kept 1 of 2 subjects" in log
