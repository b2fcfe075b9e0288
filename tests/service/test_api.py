"""Service API without workers: access control, input errors, limits, key storage, audit."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3

import pytest
from sqlalchemy import func, select, update

from radsynth.provenance.audit import AuditLog
from radsynth.service.db import ApiKey, Job
from service_helpers import Service, tiny_spec

DUMMY = {"job_id": "0" * 32, "file_path": "manifest.parquet", "key_id": "0" * 12}


def api_routes(app) -> list[tuple[str, str]]:
    out = []
    for r in app.routes:
        path = getattr(r, "path", "")
        if not path.startswith("/api/"):
            continue
        for m in sorted(getattr(r, "methods", ()) - {"HEAD", "OPTIONS"}):
            out.append((m, path.replace(":path}", "}").format(**DUMMY)))
    return out


def test_health_is_public(service):
    r = service.client.get("/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_every_api_route_needs_a_key(service):
    routes = api_routes(service.app)
    assert len(routes) >= 9  # jobs: submit, list, status, files, file, archive; keys: create, list, revoke; audit
    bad_headers = [
        {},
        {"Authorization": "Bearer nonsense"},
        {"X-API-Key": "rsk_000000000000_" + "A" * 43},  # well-formed, unknown
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ]
    for method, path in routes:
        for h in bad_headers:
            r = service.client.request(method, path, headers=h, json={} if method == "POST" else None)
            assert r.status_code == 401, (method, path, h, r.status_code, r.text)
            body = r.json()
            assert body["error"] == "unauthorized" and body["detail"]
            assert r.headers["WWW-Authenticate"] == "Bearer"


def test_both_header_forms_work(service):
    tok = service.tokens["viewer-user"]
    assert service.client.get("/api/jobs", headers={"X-API-Key": tok}).status_code == 200
    assert service.client.get("/api/jobs", headers={"Authorization": f"Bearer {tok}"}).status_code == 200


ROLE_MATRIX = [
    # (method, path, body, lowest role allowed)
    ("POST", "/api/jobs", {"spec": tiny_spec()}, "operator"),
    ("GET", "/api/jobs", None, "viewer"),
    ("POST", "/api/keys", {"name": "new", "role": "viewer"}, "admin"),
    ("GET", "/api/keys", None, "admin"),
    ("GET", "/api/audit", None, "admin"),
]
RANK = {"viewer": 0, "operator": 1, "admin": 2}


@pytest.mark.parametrize("method,path,body,lowest", ROLE_MATRIX)
def test_role_matrix(tmp_path, method, path, body, lowest):
    svc = Service(tmp_path / "root", tmp_path / "audit.sqlite", start_runner=False, max_active_jobs_per_key=5)
    for role in ("viewer", "operator", "admin"):
        r = svc.client.request(method, path, headers=svc.h(role), json=body)
        if RANK[role] < RANK[lowest]:
            assert r.status_code == 403, (role, r.text)
            assert r.json()["error"] == "forbidden" and lowest in r.json()["detail"]
        else:
            assert r.status_code in (200, 201), (role, r.text)


def test_operator_cannot_revoke_keys(service):
    vid = service.key_ids["viewer-user"]
    r = service.client.delete(f"/api/keys/{vid}", headers=service.h("operator"))
    assert r.status_code == 403
    assert service.client.get("/api/jobs", headers=service.h("viewer")).status_code == 200  # still valid


def test_revoked_and_expired_keys_get_401(service):
    tok = service.add_key("operator", "temp")
    kid = service.key_ids["temp"]
    assert service.client.get("/api/jobs", headers={"X-API-Key": tok}).status_code == 200
    r = service.client.delete(f"/api/keys/{kid}", headers=service.h("admin"))
    assert r.status_code == 200 and r.json()["revoked"] is True
    r = service.client.get("/api/jobs", headers={"X-API-Key": tok})
    assert r.status_code == 401 and "revoked" in r.json()["detail"]

    tok2 = service.add_key("admin", "shortlived", expires_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1))
    assert service.client.get("/api/keys", headers={"X-API-Key": tok2}).status_code == 200
    with service.app.state.sessions() as s:  # time passes
        s.execute(update(ApiKey).where(ApiKey.id == service.key_ids["shortlived"])
                  .values(expires_at="2020-01-01T00:00:00.000000Z"))
        s.commit()
    r = service.client.get("/api/keys", headers={"X-API-Key": tok2})
    assert r.status_code == 401 and "expired" in r.json()["detail"]


def test_plain_token_is_never_stored(service):
    r = service.client.post("/api/keys", headers=service.h("admin"), json={"name": "carol", "role": "operator"})
    assert r.status_code == 201
    token, kid = r.json()["token"], r.json()["id"]
    assert token.startswith(f"rsk_{kid}_")
    assert service.client.get("/api/jobs", headers={"X-API-Key": token}).status_code == 200
    with service.app.state.sessions() as s:
        row = s.get(ApiKey, kid)
        assert row.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    service.app.state.engine.dispose()
    con = sqlite3.connect(service.root / "service.sqlite")
    dump = "\n".join(con.iterdump())
    con.close()
    secret = token.split("_", 2)[2]
    for t in [token, secret] + list(service.tokens.values()):
        assert t not in dump
    for db_file in service.root.glob("service.sqlite*"):  # WAL included
        raw = db_file.read_bytes()
        assert token.encode() not in raw and secret.encode() not in raw
    listing = service.client.get("/api/keys", headers=service.h("admin")).json()["keys"]
    assert {k["id"] for k in listing} >= {kid} and all("token" not in k and "token_sha256" not in k for k in listing)


def test_key_create_bad_input_is_422_naming_the_field(service):
    cases = [({"name": "x", "role": "boss"}, "role"),
             ({"name": "../etc", "role": "viewer"}, "name"),
             ({"role": "viewer"}, "name"),
             ({"name": "x", "role": "viewer", "expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
             ({"name": "x", "role": "viewer", "expires_at": "2030-01-01T00:00:00"}, "expires_at"),
             ({"name": "x", "role": "viewer", "extra": 1}, "extra")]
    for body, field in cases:
        r = service.client.post("/api/keys", headers=service.h("admin"), json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["field"] == field, (body, r.json())
    with service.app.state.sessions() as s:
        assert s.scalar(select(func.count()).select_from(ApiKey)) == 3  # nothing half-created


BAD_SPECS = [
    (lambda s: s.update(n_subjects=-2), "spec.n_subjects"),
    (lambda s: s["generator"].update(name="warp-drive"), "spec.generator.name"),
    (lambda s: s["generator"].update(name="os:system"), "spec.generator.name"),  # plug-ins refused
    (lambda s: s["generator"]["params"].update(sequences=["T1w", "DWI9"]), "spec.generator.params.sequences[1]"),
    (lambda s: s.update(labels={"tumour": 1.4}), "spec.labels.tumour"),
    (lambda s: s.update(colour="blue"), "spec.colour"),
    (lambda s: s.update(n_subjects=10**5), "spec.n_subjects"),  # over the service's max_subjects
]


@pytest.mark.parametrize("i", range(len(BAD_SPECS)))
def test_bad_spec_is_422_naming_the_field_and_nothing_written(service, i):
    mutate, field = BAD_SPECS[i]
    spec = tiny_spec()
    mutate(spec)
    r = service.client.post("/api/jobs", headers=service.h("operator"), json={"spec": spec})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "invalid_input" and body["field"] == field, body
    assert "accepted" in body["detail"]
    assert not (service.root / "jobs").exists()
    with service.app.state.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 0


@pytest.mark.parametrize("body,field", [
    ({"spec": "name: [unclosed"}, "spec"),
    ({"spec": "just a string"}, "spec"),
    ({}, "spec"),
    ({"spec": {}, "kind": "train"}, "kind"),
    ({"spec": {}, "kind": "sample"}, "spec.model"),
    ({"spec": {"real": "a"}, "kind": "evaluate"}, "spec.synthetic"),
    ({"spec": 5}, "spec"),
])
def test_malformed_submissions_422(service, body, field):
    r = service.client.post("/api/jobs", headers=service.h("operator"), json=body)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field, r.json()


def test_yaml_text_spec_is_accepted(service):
    import yaml

    r = service.client.post("/api/jobs", headers=service.h("operator"), json={"spec": yaml.safe_dump(tiny_spec())})
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["state"] == "queued" and job["n_total"] == 2 and job["owner"] == "operator-user"
    from radsynth.cohort.spec import parse_spec

    assert job["spec_hash"] == parse_spec(tiny_spec()).hash  # the same spec as the CLI's


def test_unknown_ids_are_404_json(service):
    h = service.h("admin")
    for path in ("/api/jobs/nope", "/api/jobs/nope/files", "/api/jobs/nope/files/a.txt", "/api/jobs/nope/archive"):
        r = service.client.get(path, headers=h)
        assert r.status_code == 404, path
        assert r.json()["error"] == "not_found" and r.json()["field"] == "job_id"
    r = service.client.delete("/api/keys/ffffffffffff", headers=h)
    assert r.status_code == 404 and r.json()["field"] == "key_id"
    r = service.client.get("/api/nothing-here", headers=h)
    assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_request_size_limit_413_nothing_written(tmp_path):
    svc = Service(tmp_path / "root", tmp_path / "audit.sqlite", start_runner=False, max_request_bytes=4096)
    spec = tiny_spec(description="x" * 10_000)
    r = svc.client.post("/api/jobs", headers=svc.h("operator"), json={"spec": spec})
    assert r.status_code == 413 and r.json()["error"] == "too_large", r.text

    def chunks():  # no Content-Length: counted while reading
        payload = json.dumps({"spec": spec}).encode()
        for i in range(0, len(payload), 1000):
            yield payload[i:i + 1000]

    r = svc.client.post("/api/jobs", headers={**svc.h("operator"), "Content-Type": "application/json"},
                        content=chunks())
    assert r.status_code == 413, r.text
    with svc.app.state.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 0
    r = svc.client.post("/api/jobs", headers=svc.h("operator"), json={"spec": tiny_spec()})
    assert r.status_code == 201  # a small one still passes


def test_concurrent_job_limit_per_key_429(tmp_path):
    svc = Service(tmp_path / "root", tmp_path / "audit.sqlite", start_runner=False, max_active_jobs_per_key=2)
    for _ in range(2):
        assert svc.client.post("/api/jobs", headers=svc.h("operator"), json={"spec": tiny_spec()}).status_code == 201
    r = svc.client.post("/api/jobs", headers=svc.h("operator"), json={"spec": tiny_spec()})
    assert r.status_code == 429 and r.json()["error"] == "too_many_jobs"
    # another key has its own allowance
    assert svc.client.post("/api/jobs", headers=svc.h("admin"), json={"spec": tiny_spec()}).status_code == 201
    # a finished job frees a slot
    with svc.app.state.sessions() as s:
        s.execute(update(Job).where(Job.owner_name == "operator-user").values(state="failed"))
        s.commit()
    assert svc.client.post("/api/jobs", headers=svc.h("operator"), json={"spec": tiny_spec()}).status_code == 201


def test_actions_are_audited_with_the_key_name(service):
    r = service.client.post("/api/jobs", headers=service.h("operator"), json={"spec": tiny_spec()})
    job_id = r.json()["id"]
    service.client.post("/api/keys", headers=service.h("admin"), json={"name": "dave", "role": "viewer"})
    service.client.get("/api/jobs", headers=service.h("viewer"))  # status reads are not logged
    r = service.client.get("/api/audit", headers=service.h("admin"), params={"verify": True})
    assert r.status_code == 200
    body = r.json()
    assert body["problems"] == []
    recs = [(x["action"], x["actor"]) for x in body["records"]]
    assert recs == [("job-submit", "operator-user"), ("key-create", "admin-user"), ("audit-read", "admin-user")]
    submit = body["records"][0]
    assert submit["inputs"]["job_id"] == job_id and submit["config_hash"] == r.json()["records"][0]["config_hash"]
    assert body["head"]["seq"] == 3
    with AuditLog(service.audit, create=False) as log:  # the same log `radsynth audit verify` reads
        assert log.verify() == [] and len(log.records()) == 3


def test_list_jobs_filters(service):
    for _ in range(2):
        service.client.post("/api/jobs", headers=service.h("operator"), json={"spec": tiny_spec()})
    r = service.client.get("/api/jobs", headers=service.h("viewer"), params={"state": "queued", "limit": 1})
    assert r.status_code == 200 and len(r.json()["jobs"]) == 1
    r = service.client.get("/api/jobs", headers=service.h("viewer"), params={"state": "bogus"})
    assert r.status_code == 422 and r.json()["field"] == "state"
