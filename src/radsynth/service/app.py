"""The radsynth service: a FastAPI app over the library (``radsynth serve``).

``GET /health`` is public; everything under ``/api/`` needs an API key
(``Authorization: Bearer <key>`` or ``X-API-Key: <key>``): 401 without a valid one (missing,
malformed, unknown, revoked, expired), 403 when the key's role is too low
(viewer: read; operator: + submit jobs; admin: + keys and the audit log).

Errors are JSON ``{"error": code, "detail": one line, "field": the request field or null}``.
Every state change and every data access (job submission, file and archive downloads, key
creation, revocation and listing, audit reads) appends a record to the hash-chained audit log
(:mod:`radsynth.provenance.audit`) with the key's name as actor; status reads are not logged.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Literal, Optional

from fastapi import Depends, FastAPI, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from starlette.exceptions import HTTPException as StarletteHTTPException

from radsynth.core.errors import RadsynthError, RadsynthInputError
from radsynth.service import schemas
from radsynth.service.db import ApiKey, Job, make_engine, resolve_db_url, session_factory
from radsynth.service.files import PathRefused, iter_zip, list_files, resolve_inside
from radsynth.service.jobs import JobRunner, TooManyJobs, recover_jobs, submit_job
from radsynth.service.kinds import validate as validate_kind
from radsynth.service.keys import Principal, authenticate, create_key, list_keys, revoke_key

log = logging.getLogger("radsynth.service")

DEFAULT_MAX_REQUEST_BYTES = 1 << 20
_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="X-API-Key: <API key>")


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail, self.field, self.headers = status, error, detail, field, headers


def _json_error(status: int, error: str, detail: str, field: str | None = None,
                headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": error, "detail": detail, "field": field},
                        headers=headers)


def _input_error(exc: RadsynthInputError) -> ApiError:
    return ApiError(422, "invalid_input", str(exc), field=exc.field)


# ------------------------------------------------------------------------------- request size limit
class BodyLimitMiddleware:
    """413 for a request body over ``max_bytes`` (by Content-Length, or counted while reading a chunked body).

    The body is read (at most ``max_bytes``) before the app sees it and replayed, so an oversized
    request is refused before any handler runs: nothing is written.
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, send: Any, detail: str) -> None:
        resp = _json_error(413, "too_large", detail, field="body")
        await send({"type": "http.response.start", "status": 413, "headers": resp.raw_headers})
        await send({"type": "http.response.body", "body": resp.body})

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = f"request bodies up to {self.max_bytes} bytes"
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                v = value.decode("latin-1").strip()
                if not v.isdigit():
                    resp = _json_error(400, "bad_request", "Content-Length is not a number", field="Content-Length")
                    await resp(scope, receive, send)
                    return
                if int(v) > self.max_bytes:
                    await self._refuse(send, f"body: got {v} bytes; accepted: {limit}")
                    return
        body = bytearray()
        more = True
        while more:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
            if len(body) > self.max_bytes:
                await self._refuse(send, f"body: got more than {self.max_bytes} bytes; accepted: {limit}")
                return
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


# ------------------------------------------------------------------------------- the app
def create_app(
    data_root: str | Path,
    db_url: str | None = None,
    *,
    audit_url: str | None = None,
    max_workers: int = 2,
    max_active_jobs_per_key: int = 2,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    max_subjects: int | None = 10_000,
    max_attempts: int = 3,
    allow_plugins: bool = False,
    build_workers: int = 1,
    start_runner: bool = True,
    poll_s: float = 0.25,
    gallery_dirs: list[str | Path] | tuple[str | Path, ...] = (),
    ray_address: str | None = None,
) -> FastAPI:
    """The service app over ``data_root`` (job outputs in ``data_root/jobs/<id>``, worker logs in ``logs/``).

    ``db_url``: service database (default ``$RADSYNTH_SERVICE_DB``, else ``data_root/service.sqlite``).
    ``audit_url``: audit log (default: the library's, ``$RADSYNTH_AUDIT_DB`` or the config folder).
    ``gallery_dirs``: read-only folders the gallery shows besides the data root (e.g. ``demo-out``).
    ``ray_address``: cohort-build jobs run on this Ray cluster (``ray://host:10001`` or ``auto``); the service
    itself stays stateless over its database.
    Jobs left ``running`` by an earlier instance are recovered here (re-queued to resume, or failed
    with the reason). ``start_runner=False``: jobs stay queued (no worker processes; for API tests).
    """
    from radsynth import __version__
    from radsynth.provenance.audit import AuditLog

    for name, v in (("max_workers", max_workers), ("max_active_jobs_per_key", max_active_jobs_per_key),
                    ("max_request_bytes", max_request_bytes), ("max_attempts", max_attempts),
                    ("build_workers", build_workers)):
        if not isinstance(v, int) or v < 1:
            raise RadsynthInputError(name, v, "an integer >= 1")
    root = Path(data_root).expanduser()
    if root.exists() and not root.is_dir():
        raise RadsynthInputError("--data-root", str(root), "a folder (this path is a file)")
    root.mkdir(parents=True, exist_ok=True)
    root = root.resolve()
    url = resolve_db_url(root, db_url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    audit_log = AuditLog(audit_url)

    def audit(action: str, *, actor: str, inputs: dict[str, Any] | None = None,
              outputs: dict[str, Any] | None = None, config_hash: str = "", command: list[str] | None = None) -> None:
        audit_log.append(action, actor=actor, inputs=inputs, outputs=outputs, config_hash=config_hash,
                         command=command or ["radsynth-service", action])

    recovered = recover_jobs(sessions, root, max_attempts=max_attempts, audit=audit)
    if recovered:
        log.warning("recovered %d job(s) left running: %s", len(recovered), recovered)
    runner = JobRunner(sessions, root, url, max_workers=max_workers, poll_s=poll_s, build_workers=build_workers,
                       audit_url=audit_url, ray_address=ray_address)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if start_runner:
            runner.start()
        try:
            yield
        finally:
            runner.stop()

    app = FastAPI(
        title="radsynth service", version=__version__, lifespan=lifespan,
        openapi_url=None, docs_url=None, redoc_url=None,  # served by radsynth.service.pages, behind a key
        description="Jobs (cohort build, sample, evaluate) over the radsynth library, their outputs, API keys and the audit trail. "
                    "Every /api route needs an API key: `Authorization: Bearer <key>` or `X-API-Key: <key>`.",
        responses={401: {"model": schemas.ErrorOut}, 422: {"model": schemas.ErrorOut}},
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_request_bytes)
    app.state.data_root = root
    app.state.db_url = url
    app.state.engine = engine
    app.state.sessions = sessions
    app.state.runner = runner
    app.state.audit_log = audit_log
    app.state.recovered = recovered

    # -- errors: one JSON shape everywhere
    @app.exception_handler(ApiError)
    async def _api_error(_r: Request, exc: ApiError) -> JSONResponse:
        return _json_error(exc.status, exc.error, exc.detail, exc.field, exc.headers)

    @app.exception_handler(RadsynthInputError)
    async def _radsynth_input(_r: Request, exc: RadsynthInputError) -> JSONResponse:
        return _json_error(422, "invalid_input", str(exc), exc.field)

    @app.exception_handler(RequestValidationError)
    async def _validation(_r: Request, exc: RequestValidationError) -> JSONResponse:
        errs = exc.errors()
        err = errs[0] if errs else {"loc": (), "msg": "invalid request"}
        loc = [str(p) for p in err.get("loc", ())]
        if loc and loc[0] in ("body", "query", "path", "header"):
            loc = loc[1:]
        field = ".".join(loc) or "body"
        return _json_error(422, "invalid_input", f"{field}: {err.get('msg', 'invalid')}", field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_r: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _json_error(exc.status_code, code, str(exc.detail), None, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _internal(_r: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return _json_error(500, "internal", f"internal error: {type(exc).__name__}")

    def authenticate_token(token: Optional[str]) -> tuple[Optional[Principal], str]:
        with sessions() as s:
            return authenticate(s, token)

    # -- auth
    # async: a key lookup is one primary-key read (WAL: readers never wait on writers), cheaper on the event
    # loop than a hop to the thread pool
    async def principal(request: Request,
                        bearer: Optional[HTTPAuthorizationCredentials] = Security(_bearer),
                        x_api_key: Optional[str] = Security(_api_key)) -> Principal:
        token = bearer.credentials if bearer is not None else x_api_key
        with sessions() as s:
            who, why = authenticate(s, token)
        if who is None:
            raise ApiError(401, "unauthorized", why, field="Authorization", headers={"WWW-Authenticate": "Bearer"})
        request.state.principal = who
        return who

    def need(role: str) -> Callable[..., Principal]:
        async def dep(who: Principal = Depends(principal)) -> Principal:
            if not who.allows(role):
                raise ApiError(403, "forbidden", f"role {who.role!r} of key {who.key_id} may not do this; "
                                                 f"accepted: role {role!r} or higher")
            return who

        return dep

    viewer, operator, admin = need("viewer"), need("operator"), need("admin")

    def audited(action: str, who: Principal, **kw: Any) -> None:
        try:
            audit(action, actor=who.name, **kw)
        except RadsynthError as exc:
            raise ApiError(503, "audit_unavailable", f"audit log unavailable, nothing done: {exc}") from None

    def get_job(s: Any, job_id: str) -> Job:
        job = s.get(Job, job_id)
        if job is None:
            raise ApiError(404, "not_found", f"job_id: no job {job_id!r}", field="job_id")
        return job

    # -- routes
    @app.get("/health", response_model=schemas.Health, tags=["service"])
    def health() -> dict[str, Any]:
        """Liveness: public, no key needed."""
        return {"status": "ok", "version": __version__}

    @app.post("/api/jobs", status_code=201, response_model=schemas.JobOut, tags=["jobs"],
              responses={403: {"model": schemas.ErrorOut}, 413: {"model": schemas.ErrorOut},
                         429: {"model": schemas.ErrorOut}})
    def submit(body: schemas.JobSubmit, who: Principal = Depends(operator)) -> dict[str, Any]:
        """Submit a job: `cohort-build` (the spec `radsynth cohort build` takes), `sample` or `evaluate` (the options
        of `radsynth sample` / `radsynth evaluate`, paths relative to the data root); validated before anything is
        stored."""
        try:
            validated = validate_kind(body.kind, body.spec, root, allow_plugins=allow_plugins,
                                      max_subjects=max_subjects)
        except RadsynthInputError as exc:
            raise _input_error(exc) from None
        with sessions() as s:
            try:
                job = submit_job(s, validated=validated, owner_key_id=who.key_id, owner_name=who.name,
                                 max_active_per_key=max_active_jobs_per_key)
            except TooManyJobs as exc:
                raise ApiError(429, "too_many_jobs", str(exc)) from None
            out = job.public()
            try:
                audited("job-submit", who, config_hash=validated.hash,
                        inputs={"key_id": who.key_id, "job_id": job.id, "kind": job.kind, "spec": validated.hash},
                        outputs={"folder": job.output_dir})
            except ApiError:
                s.delete(job)
                s.commit()
                raise
        return out

    @app.get("/api/jobs", response_model=schemas.JobList, tags=["jobs"], responses={403: {"model": schemas.ErrorOut}})
    def jobs_list(state: Optional[Literal["queued", "running", "succeeded", "failed"]] = None,
                  limit: int = Query(100, ge=1, le=1000),
                  _who: Principal = Depends(viewer)) -> dict[str, Any]:
        """Jobs, newest first."""
        q = select(Job).order_by(Job.created_at.desc(), Job.id).limit(limit)
        if state is not None:
            q = q.where(Job.state == state)
        with sessions() as s:
            return {"jobs": [j.public() for j in s.scalars(q)]}

    @app.get("/api/jobs/{job_id}", response_model=schemas.JobOut, tags=["jobs"],
             responses={404: {"model": schemas.ErrorOut}})
    async def job_status(job_id: str, _who: Principal = Depends(viewer)) -> dict[str, Any]:
        """State and progress of one job."""
        # async like the key check: one primary-key read, the route that clients poll
        with sessions() as s:
            return get_job(s, job_id).public()

    @app.get("/api/jobs/{job_id}/files", response_model=schemas.FileList, tags=["jobs"],
             responses={404: {"model": schemas.ErrorOut}})
    def job_files(job_id: str, _who: Principal = Depends(viewer)) -> dict[str, Any]:
        """Every file the job has written so far (path relative to its output folder, size)."""
        with sessions() as s:
            job = get_job(s, job_id)
        files = list_files(root / job.output_dir)
        return {"job_id": job.id, "files": [{"path": p, "size": n} for p, n in files]}

    @app.get("/api/jobs/{job_id}/files/{file_path:path}", tags=["jobs"],
             responses={200: {"content": {"application/octet-stream": {}}}, 400: {"model": schemas.ErrorOut},
                        404: {"model": schemas.ErrorOut}})
    def job_file(job_id: str, file_path: str, who: Principal = Depends(viewer)) -> FileResponse:
        """Download one file of the job's output folder (paths outside it are refused)."""
        with sessions() as s:
            job = get_job(s, job_id)
        try:
            target = resolve_inside(root / job.output_dir, file_path)
        except PathRefused:
            raise ApiError(400, "path_refused", f"file_path: got {file_path!r}; accepted: a path inside the job's "
                                                "output folder (no '..', no absolute paths, no links out)",
                           field="file_path") from None
        except FileNotFoundError:
            raise ApiError(404, "not_found", f"file_path: no file {file_path!r} in job {job_id}",
                           field="file_path") from None
        audited("download", who, inputs={"key_id": who.key_id, "job_id": job.id, "path": file_path},
                outputs={"bytes": str(target.stat().st_size)})
        return FileResponse(target, filename=target.name)

    @app.get("/api/jobs/{job_id}/archive", tags=["jobs"],
             responses={200: {"content": {"application/zip": {}}}, 404: {"model": schemas.ErrorOut},
                        409: {"model": schemas.ErrorOut}})
    def job_archive(job_id: str, who: Principal = Depends(viewer)) -> StreamingResponse:
        """The whole output folder of a succeeded job as a zip, streamed."""
        with sessions() as s:
            job = get_job(s, job_id)
        if job.state != "succeeded":
            raise ApiError(409, "not_ready", f"job {job_id} is {job.state}; accepted: a succeeded job",
                           field="job_id")
        base = root / job.output_dir
        files = [p for p, _n in list_files(base)]
        audited("download", who, inputs={"key_id": who.key_id, "job_id": job.id, "path": "<archive>"},
                outputs={"files": str(len(files))})
        return StreamingResponse(iter_zip(base, files, prefix=f"{job.id}/"), media_type="application/zip",
                                 headers={"Content-Disposition": f'attachment; filename="{job.id}.zip"'})

    @app.post("/api/keys", status_code=201, response_model=schemas.KeyCreated, tags=["keys"],
              responses={403: {"model": schemas.ErrorOut}})
    def keys_create(body: schemas.KeyCreate, who: Principal = Depends(admin)) -> dict[str, Any]:
        """Create an API key; the token is in this answer only."""
        exp = body.expires_at
        if exp is not None and exp.tzinfo is None:
            raise ApiError(422, "invalid_input", "expires_at: got a time without a timezone; accepted: e.g. "
                                                 "2027-01-31T00:00:00Z", field="expires_at")
        with sessions() as s:
            try:
                row, token = create_key(s, body.name, body.role, exp)
            except RadsynthInputError as exc:
                raise _input_error(exc) from None
            try:
                audited("key-create", who, inputs={"key_id": who.key_id},
                        outputs={"new_key_id": row.id, "name": row.name, "role": row.role,
                                 "expires_at": row.expires_at or ""})
            except ApiError:
                s.delete(row)
                s.commit()
                raise
            return {**row.public(), "token": token}

    @app.get("/api/keys", response_model=schemas.KeyList, tags=["keys"], responses={403: {"model": schemas.ErrorOut}})
    def keys_list(who: Principal = Depends(admin)) -> dict[str, Any]:
        """All keys (never their tokens or hashes)."""
        with sessions() as s:
            rows = [k.public() for k in list_keys(s)]
        audited("key-list", who, inputs={"key_id": who.key_id}, outputs={"keys": str(len(rows))})
        return {"keys": rows}

    @app.delete("/api/keys/{key_id}", response_model=schemas.KeyOut, tags=["keys"],
                responses={403: {"model": schemas.ErrorOut}, 404: {"model": schemas.ErrorOut}})
    def keys_revoke(key_id: str, who: Principal = Depends(admin)) -> dict[str, Any]:
        """Revoke a key: every later request with it gets 401."""
        with sessions() as s:
            if s.get(ApiKey, key_id) is None:
                raise ApiError(404, "not_found", f"key_id: no key {key_id!r}", field="key_id")
            audited("key-revoke", who, inputs={"key_id": who.key_id}, outputs={"revoked_key_id": key_id})
            return revoke_key(s, key_id).public()

    @app.get("/api/audit", response_model=schemas.AuditOut, tags=["audit"],
             responses={403: {"model": schemas.ErrorOut}})
    def audit_view(last: int = Query(100, ge=1, le=10_000), verify: bool = False,
                   who: Principal = Depends(admin)) -> dict[str, Any]:
        """The newest audit records (hash-chained); verify=true also checks the whole chain."""
        audited("audit-read", who, inputs={"key_id": who.key_id, "last": str(last)})
        try:
            recs = audit_log.records(last=last)
            seq, h = audit_log.head()
            problems = audit_log.verify() if verify else None
        except RadsynthError as exc:
            raise ApiError(503, "audit_unavailable", str(exc)) from None
        return {"records": recs, "head": {"seq": seq, "hash": h}, "problems": problems}

    # -- pages: gallery and reader studies (server-rendered; not in the OpenAPI schema)
    from radsynth.service.pages import register_pages

    register_pages(app, data_root=root, gallery_dirs=[Path(p) for p in gallery_dirs], sessions=sessions,
                   authenticate_token=authenticate_token, audited=audited)
    return app


def utc_in(days: float) -> _dt.datetime:
    """Now + ``days`` (timezone-aware), for key expiry."""
    return _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(days=days)
