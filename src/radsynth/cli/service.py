"""``radsynth serve`` (the FastAPI service) and ``radsynth keys create|revoke|list`` (its API keys).

Light imports only at module level: FastAPI, uvicorn and SQLAlchemy are imported when a command runs.
Bad input is one line on stderr, exit code 2.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from radsynth.core.errors import RadsynthInputError
from radsynth.cli.user_errors import user_errors

keys_app = typer.Typer(help="Create, revoke and list API keys of the radsynth service.", no_args_is_help=True)

ENV_DATA_ROOT = "RADSYNTH_DATA_ROOT"
DEFAULT_DATA_ROOT = "radsynth-data"
_ROOT_HELP = f"Service data root (job outputs, service.sqlite); default ${ENV_DATA_ROOT}, else ./{DEFAULT_DATA_ROOT}."
_DB_HELP = "Service database: SQLite path or SQLAlchemy URL (default $RADSYNTH_SERVICE_DB, else DATA_ROOT/service.sqlite)."


_user_errors = user_errors  # the CLI's convention (radsynth.cli.user_errors)


def _data_root(data_root: Optional[Path]) -> Path:
    if data_root is not None:
        return data_root
    return Path(os.environ.get(ENV_DATA_ROOT) or DEFAULT_DATA_ROOT)


def _sessions(data_root: Optional[Path], db_url: Optional[str], *, create: bool) -> Any:
    from radsynth.service.db import make_engine, resolve_db_url, session_factory

    root = _data_root(data_root)
    if root.exists() and not root.is_dir():
        raise RadsynthInputError("--data-root", str(root), "a folder (this path is a file)")
    try:
        return session_factory(make_engine(resolve_db_url(root, db_url), create=create))
    except RadsynthInputError as exc:
        if db_url is None and not os.environ.get("RADSYNTH_SERVICE_DB"):  # name the option the user gave
            raise RadsynthInputError("--data-root", str(root), "a data root with a service database" if not create
                                     else "a writable folder", exc.hint or exc.accepted) from None
        raise


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (default loopback only)."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help=_ROOT_HELP),
    db_url: Optional[str] = typer.Option(None, "--db-url", help=_DB_HELP),
    audit_db: Optional[str] = typer.Option(None, "--audit-db", help="Audit log: SQLite path or SQLAlchemy URL "
                                           "(default $RADSYNTH_AUDIT_DB, else <config dir>/audit.sqlite)."),
    max_workers: int = typer.Option(2, "--max-workers", help="Jobs running at once (one worker process each)."),
    max_jobs_per_key: int = typer.Option(2, "--max-jobs-per-key", help="Queued + running jobs per API key (429 above)."),
    max_request_kb: int = typer.Option(1024, "--max-request-kb", help="Largest request body (413 above)."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
    gallery: Optional[list[Path]] = typer.Option(None, "--gallery", help="Extra read-only folder of datasets the "
                                                 "gallery shows besides the data root (repeatable; default ./demo-out "
                                                 "when it exists, the output of `make demo`)."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Run cohort-build jobs on this Ray "
                                               "cluster (e.g. ray://head:10001, or auto), as `radsynth cohort build "
                                               "--backend ray` does; default: local worker processes."),
) -> None:
    """Run the radsynth service: job API, dataset gallery and reader studies (GET /health public; everything else
    needs an API key: /api/... by header, pages at / after signing in with the key; API docs at /docs)."""
    if not 0 < port < 65536:
        raise RadsynthInputError("--port", port, "an integer 1-65535")
    if max_request_kb < 1:
        raise RadsynthInputError("--max-request-kb", max_request_kb, "an integer >= 1")
    if max_workers < 1:
        raise RadsynthInputError("--max-workers", max_workers, "an integer >= 1")
    if max_jobs_per_key < 1:
        raise RadsynthInputError("--max-jobs-per-key", max_jobs_per_key, "an integer >= 1")
    if gallery:
        for g in gallery:
            if not g.is_dir():
                raise RadsynthInputError("--gallery", str(g), "an existing folder")
        gallery_dirs = list(gallery)
    else:
        gallery_dirs = [Path("demo-out")] if Path("demo-out").is_dir() else []
    import socket

    import uvicorn

    from radsynth.service.app import create_app

    # fail with one line on a busy port, before recovering jobs or starting workers
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise RadsynthInputError("--port", port, "a free port on --host", f"{host}:{port}: {exc.strerror}.") from None
    root = _data_root(data_root)
    app = create_app(root, db_url, audit_url=audit_db, max_workers=max_workers,
                     max_active_jobs_per_key=max_jobs_per_key, max_request_bytes=max_request_kb * 1024,
                     gallery_dirs=gallery_dirs, ray_address=ray_address)
    with app.state.sessions() as s:
        from sqlalchemy import func, select

        from radsynth.service.db import ApiKey

        n_keys = s.scalar(select(func.count()).select_from(ApiKey).where(ApiKey.revoked.is_(False)))
    typer.echo(f"radsynth service: data root {app.state.data_root}, database {app.state.db_url}", err=True)
    extra = [str(p) for n, p in app.state.gallery_roots.roots.items() if n != "data"]
    if extra:
        typer.echo(f"gallery also shows: {', '.join(extra)}", err=True)
    if not n_keys:
        typer.echo(f"no API keys yet: create the first with `radsynth keys create --role admin --name NAME "
                   f"--data-root {root}`", err=True)
    for r in app.state.recovered:
        typer.echo(f"recovered job {r['job']}: {r['state']} ({r['done']} subjects done)", err=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level)


@keys_app.command("create")
@_user_errors
def keys_create(
    role: str = typer.Option(..., "--role", help="viewer (read), operator (+ submit jobs) or admin (+ keys, audit)."),
    name: str = typer.Option(..., "--name", help="Who uses the key: the actor name in the audit log."),
    expires_days: Optional[float] = typer.Option(None, "--expires-days", help="Expire after this many days."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help=_ROOT_HELP),
    db_url: Optional[str] = typer.Option(None, "--db-url", help=_DB_HELP),
) -> None:
    """Create an API key and print it once (only its sha256 is stored)."""
    import datetime as dt

    from radsynth.provenance.audit import default_actor, log_action
    from radsynth.service.keys import check_name, check_role, create_key

    try:
        check_role(role)
        check_name(name)
    except RadsynthInputError as exc:
        raise RadsynthInputError(f"--{exc.field}", exc.value, exc.accepted) from None
    expires = None
    if expires_days is not None:
        if not expires_days > 0:
            raise RadsynthInputError("--expires-days", expires_days, "a number of days > 0")
        expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=expires_days)
    sessions = _sessions(data_root, db_url, create=True)
    with sessions() as s:
        row, token = create_key(s, name, role, expires)
        public = row.public()
    log_action("key-create", actor=default_actor(), inputs={"cli": "radsynth keys create"},
               outputs={"new_key_id": public["id"], "name": name, "role": role, "expires_at": public["expires_at"] or ""})
    typer.echo(token)
    typer.echo(f"key {public['id']} ({role}, {name}){', expires ' + public['expires_at'] if expires else ''}: "
               "store the line above now; it is not shown again.", err=True)


@keys_app.command("revoke")
@_user_errors
def keys_revoke(
    key_id: str = typer.Argument(..., metavar="ID", help="Key id (12 hex digits, see `radsynth keys list`)."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help=_ROOT_HELP),
    db_url: Optional[str] = typer.Option(None, "--db-url", help=_DB_HELP),
) -> None:
    """Revoke a key: every later request with it gets 401."""
    from radsynth.provenance.audit import default_actor, log_action
    from radsynth.service.keys import revoke_key

    sessions = _sessions(data_root, db_url, create=False)
    with sessions() as s:
        try:
            row = revoke_key(s, key_id)
        except KeyError:
            raise RadsynthInputError("ID", key_id, "the id of an existing key (see `radsynth keys list`)") from None
        public = row.public()
    log_action("key-revoke", actor=default_actor(), inputs={"cli": "radsynth keys revoke"},
               outputs={"revoked_key_id": key_id})
    typer.echo(f"revoked {public['id']} ({public['role']}, {public['name']}) at {public['revoked_at']}")


@keys_app.command("list")
@_user_errors
def keys_list(
    data_root: Optional[Path] = typer.Option(None, "--data-root", help=_ROOT_HELP),
    db_url: Optional[str] = typer.Option(None, "--db-url", help=_DB_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the keys as JSON."),
) -> None:
    """List keys: id, role, name, created, expires, state (never the tokens)."""
    import json

    from radsynth.service.db import utc_now
    from radsynth.service.keys import list_keys

    sessions = _sessions(data_root, db_url, create=False)
    with sessions() as s:
        rows = [k.public() for k in list_keys(s)]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, sort_keys=True))
        return
    if not rows:
        typer.echo("no keys")
        return
    header = ("id", "role", "name", "created (UTC)", "expires", "state")
    now = utc_now()
    table = [(r["id"], r["role"], r["name"], r["created_at"][:19], (r["expires_at"] or "-")[:19],
              "revoked" if r["revoked"] else "expired" if r["expires_at"] and r["expires_at"] <= now else "active")
             for r in rows]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(header)]
    for cells in [header, *table]:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip())


def register(app: typer.Typer, user_errors: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    app.command("serve")(user_errors(serve))
    app.add_typer(keys_app, name="keys")
