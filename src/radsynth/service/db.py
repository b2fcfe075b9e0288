"""Service database: API keys and jobs (SQLAlchemy ORM; SQLite in the data root, PostgreSQL by URL).

Where it lives: the ``db_url`` argument, else ``$RADSYNTH_SERVICE_DB``, else
``<data root>/service.sqlite``. A value with ``://`` is an SQLAlchemy URL (e.g.
``postgresql+psycopg://user@host/radsynth``); anything else is a path to an SQLite file.

Times are stored as ISO-8601 UTC strings ending in ``Z`` with microseconds (fixed width, so
they sort as text). The plain API token is never stored: only its sha256 (see
:mod:`radsynth.service.keys`).
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from radsynth.core.errors import RadsynthInputError

ENV_DB = "RADSYNTH_SERVICE_DB"
DB_FILE = "service.sqlite"

ROLES: tuple[str, ...] = ("viewer", "operator", "admin")
JOB_KINDS: tuple[str, ...] = ("cohort-build", "sample", "evaluate")
JOB_STATES: tuple[str, ...] = ("queued", "running", "succeeded", "failed")
ACTIVE_STATES: tuple[str, ...] = ("queued", "running")


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_time(t: _dt.datetime) -> str:
    if t.tzinfo is None:
        raise RadsynthInputError("expires_at", t.isoformat(), "a timezone-aware time (e.g. 2027-01-31T00:00:00Z)")
    return t.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(s: str) -> _dt.datetime:
    return _dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=_dt.timezone.utc)


class Base(DeclarativeBase):
    pass


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)  # public prefix of the token
    name: Mapped[str] = mapped_column(String(64), nullable=False)  # the actor name in the audit log
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    token_sha256: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[str] = mapped_column(String(32), nullable=False)
    expires_at: Mapped[str | None] = mapped_column(String(32), nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    revoked_at: Mapped[str | None] = mapped_column(String(32), nullable=True)
    last_used_at: Mapped[str | None] = mapped_column(String(32), nullable=True)

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "role": self.role, "created_at": self.created_at,
                "expires_at": self.expires_at, "revoked": bool(self.revoked), "revoked_at": self.revoked_at,
                "last_used_at": self.last_used_at}


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    spec: Mapped[str] = mapped_column(Text, nullable=False)  # canonical JSON of the validated spec
    spec_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    progress: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    n_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    n_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)  # e.g. "resumed after a service restart"
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    owner_key_id: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    owner_name: Mapped[str] = mapped_column(String(64), nullable=False)
    output_dir: Mapped[str] = mapped_column(String(256), nullable=False)  # relative to the data root
    worker_pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    worker_host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[str] = mapped_column(String(32), nullable=False)
    started_at: Mapped[str | None] = mapped_column(String(32), nullable=True)
    finished_at: Mapped[str | None] = mapped_column(String(32), nullable=True)
    updated_at: Mapped[str] = mapped_column(String(32), nullable=False)

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "state": self.state, "progress": self.progress,
                "n_done": self.n_done, "n_total": self.n_total, "error": self.error, "note": self.note,
                "attempts": self.attempts, "owner": self.owner_name, "spec_hash": self.spec_hash,
                "output_dir": self.output_dir, "created_at": self.created_at, "started_at": self.started_at,
                "finished_at": self.finished_at, "updated_at": self.updated_at}


class Study(Base):
    """A reader study: cases drawn from a real and a synthetic set (see :mod:`radsynth.study.reader`)."""

    __tablename__ = "studies"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    real: Mapped[str] = mapped_column(String(1024), nullable=False)  # set folders, relative to the data root
    synthetic: Mapped[str] = mapped_column(String(1024), nullable=False)
    seed: Mapped[int] = mapped_column(Integer, nullable=False)
    n_cases: Mapped[int] = mapped_column(Integer, nullable=False)
    owner_name: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[str] = mapped_column(String(32), nullable=False)


class StudyCase(Base):
    __tablename__ = "study_cases"

    study_id: Mapped[str] = mapped_column(String(32), ForeignKey("studies.id"), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    source: Mapped[str] = mapped_column(String(16), nullable=False)  # real | synthetic: hidden from readers
    path: Mapped[str] = mapped_column(String(1024), nullable=False)  # relative to the data root


class StudyRating(Base):
    __tablename__ = "study_ratings"
    __table_args__ = (UniqueConstraint("study_id", "reader", "case_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    study_id: Mapped[str] = mapped_column(String(32), ForeignKey("studies.id"), nullable=False, index=True)
    reader: Mapped[str] = mapped_column(String(64), nullable=False)  # the key's name
    case_id: Mapped[str] = mapped_column(String(32), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    rating: Mapped[int] = mapped_column(Integer, nullable=False)
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[str] = mapped_column(String(32), nullable=False)


def resolve_db_url(data_root: str | os.PathLike[str], db_url: str | None = None) -> str:
    raw = db_url if db_url is not None else (os.environ.get(ENV_DB) or None)
    if raw is None:
        return f"sqlite:///{Path(data_root).resolve() / DB_FILE}"
    raw = str(raw)
    if "://" in raw:
        return raw
    return f"sqlite:///{Path(raw).expanduser().resolve()}"


def make_engine(url: str, *, create: bool = True) -> Engine:
    """Engine for ``url``; SQLite gets WAL, a busy timeout and thread sharing. ``create`` makes the tables."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception as exc:
        raise RadsynthInputError("--db-url", url, "an SQLite path or an SQLAlchemy URL", str(exc).splitlines()[0]) from None
    is_sqlite = parsed.get_backend_name() == "sqlite"
    kw: dict[str, Any] = {}
    if is_sqlite:
        db = parsed.database
        if db and db != ":memory:" and not db.startswith("file:"):
            path = Path(db)
            if not path.exists():
                if not create:
                    raise RadsynthInputError("--db-url", str(path), "an existing service database",
                                             "Create the first key with `radsynth keys create --role admin "
                                             "--name NAME --data-root DIR`.")
                path.parent.mkdir(parents=True, exist_ok=True)
        kw["connect_args"] = {"check_same_thread": False, "timeout": 30}
    try:
        engine = create_engine(url, **kw)
    except Exception as exc:  # unknown dialect, missing driver
        raise RadsynthInputError("--db-url", url, "an SQLite path or an SQLAlchemy URL with an installed driver",
                                 str(exc).splitlines()[0]) from None
    if is_sqlite:
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _rec: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
    try:
        if create:
            Base.metadata.create_all(engine)
        else:
            from sqlalchemy import inspect

            if not inspect(engine).has_table(ApiKey.__tablename__):
                raise RadsynthInputError("--db-url", url, "a radsynth service database (table 'api_keys')")
    except RadsynthInputError:
        engine.dispose()
        raise
    except Exception as exc:  # not a database, server unreachable
        engine.dispose()
        raise RadsynthInputError("--db-url", url, "a reachable, writable database", str(exc).splitlines()[0]) from None
    return engine


def session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)
