"""Append-only, hash-chained audit log of radsynth actions (SQLite by default).

Every record holds who (``actor``), when (``time_utc``, ISO-8601 ``Z``), what (``action``,
``command`` as a JSON argv), the config hash, the input fingerprints and the output sha256s.
Each record's ``record_hash`` is the sha256 of the canonical JSON of all its other fields,
including ``seq`` and ``prev_hash`` (the previous record's ``record_hash``; the first record
chains from 64 zeros). :meth:`AuditLog.verify` therefore detects an edited field (hash
mismatch), a deleted record (seq gap / broken chain) and reordered records (a record chaining
from a later one). Deleting the *newest* records leaves a valid shorter chain: keep
:meth:`AuditLog.head` somewhere else and pass it to ``verify(expect_head=...)`` to detect that.

Where the log lives: the ``url`` argument, else ``$RADSYNTH_AUDIT_DB``, else
``config_dir()/audit.sqlite``. A value with ``://`` is an SQLAlchemy URL (e.g.
``postgresql+psycopg://...``); anything else is a path to an SQLite file.

Appends are atomic: one transaction that reads the last record and inserts the next one under
a write lock (``BEGIN IMMEDIATE`` on SQLite, ``LOCK TABLE`` on PostgreSQL), so two processes
cannot fork the chain; ``prev_hash`` is also UNIQUE as a backstop on other databases.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import hashlib
import json
import os
import shlex
import socket
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from radsynth.core.errors import RadsynthError, RadsynthInputError
from radsynth.core.records import canonical_json

ACTIONS: tuple[str, ...] = (
    "train", "build", "sample", "evaluate", "export", "deidentify", "ingest", "verify", "watermark",
    # edits of real images by learned models (radsynth inpaint, radsynth denoise, radsynth reconstruct)
    "inpaint", "denoise", "reconstruct",
    # radsynth.service (``radsynth serve`` / ``radsynth keys``): actor = the API key's name
    "job-submit", "job-recover", "download", "key-create", "key-revoke", "key-list", "audit-read",
    "study-create",
)
GENESIS = "0" * 64
DB_FILE = "audit.sqlite"
ENV_DB = "RADSYNTH_AUDIT_DB"
ENV_ACTOR = "RADSYNTH_ACTOR"
TABLE = "audit"
# Fields covered by record_hash, in the order they are shown.
HASHED_FIELDS: tuple[str, ...] = (
    "seq", "time_utc", "actor", "action", "command", "config_hash", "inputs", "outputs", "prev_hash",
)
FIELDS: tuple[str, ...] = HASHED_FIELDS + ("record_hash",)
_JSON_FIELDS = ("command", "inputs", "outputs")


# --------------------------------------------------------------------------------------------
# helpers


def record_hash(row: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of a stored row's hashed fields (JSON fields as stored text)."""
    payload = {k: row.get(k) for k in HASHED_FIELDS}
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def file_sha256(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def sha256_files(paths: Iterable[str | os.PathLike[str]]) -> dict[str, str]:
    """``{path: sha256}`` for the given files (for ``outputs=`` / ``inputs=``)."""
    out: dict[str, str] = {}
    for p in paths:
        if not Path(p).is_file():
            raise RadsynthInputError("outputs", str(p), "existing files", "Hash only files that were written.")
        out[str(p)] = file_sha256(p)
    return out


def default_actor() -> str:
    env = os.environ.get(ENV_ACTOR)
    if env:
        return env
    try:
        user = getpass.getuser()
    except Exception:  # no login name (containers without passwd entry)
        user = f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()}"


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _norm_time(value: Any) -> str:
    if value is None:
        return utc_now()
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            raise RadsynthInputError("time_utc", value, "a timezone-aware datetime or an ISO-8601 string ending in Z")
        return value.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, str) and value.endswith("Z"):
        try:
            _dt.datetime.fromisoformat(value[:-1])
        except ValueError:
            pass
        else:
            return value
    raise RadsynthInputError("time_utc", value, "ISO-8601 UTC like 2026-01-31T12:00:00Z")


def _norm_command(command: Any) -> list[str]:
    if command is None:
        return [str(a) for a in sys.argv]
    if isinstance(command, str):
        return shlex.split(command)
    if isinstance(command, Sequence):
        return [str(a) for a in command]
    raise RadsynthInputError("command", command, "an argv list or a command string")


def _norm_mapping(field: str, value: Any) -> Any:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return list(value)
    raise RadsynthInputError(field, value, "a mapping {name: fingerprint} or a list of fingerprints")


def resolve_url(url: str | os.PathLike[str] | None = None, create: bool = True) -> tuple[str, Path | None]:
    """(SQLAlchemy URL, SQLite file path or None)."""
    from radsynth.provenance.config_dir import config_dir

    raw = url if url is not None else os.environ.get(ENV_DB) or None
    if raw is None:
        path = config_dir(create=create) / DB_FILE
        return f"sqlite:///{path}", path
    raw = str(raw)
    if "://" in raw:
        if raw.startswith("sqlite"):
            from sqlalchemy.engine import make_url

            db = make_url(raw).database
            if db and db != ":memory:" and not db.startswith("file:"):
                return raw, Path(db)
        return raw, None
    path = Path(raw).expanduser().resolve()
    return f"sqlite:///{path}", path


# --------------------------------------------------------------------------------------------
# the log


class AuditLog:
    """Hash-chained audit log. ``create=False`` refuses to create a missing SQLite file."""

    def __init__(self, url: str | os.PathLike[str] | None = None, *, create: bool = True) -> None:
        import sqlalchemy as sa
        from sqlalchemy import event
        from sqlalchemy.pool import NullPool

        self.url, self.path = resolve_url(url, create=create)
        if self.path is not None and not self.path.is_file():
            if not create:
                raise RadsynthInputError("db", str(self.path), "an existing audit database",
                                         "Nothing has been logged there yet; pass --db or set $RADSYNTH_AUDIT_DB.")
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.is_sqlite = self.url.startswith("sqlite")
        kw: dict[str, Any] = {}
        if self.is_sqlite:
            kw = {"poolclass": NullPool, "connect_args": {"timeout": 30}}
        try:
            self.engine = sa.create_engine(self.url, **kw)
        except Exception as exc:  # bad URL / missing driver
            raise RadsynthInputError("db", self.url, "an SQLite path or an SQLAlchemy URL", str(exc).splitlines()[0]) from None

        if self.is_sqlite:
            # pysqlite's own transaction handling is off; we emit BEGIN ourselves (SQLAlchemy recipe),
            # IMMEDIATE for appends so the read of the last record and the insert are one locked step.
            @event.listens_for(self.engine, "connect")
            def _connect(dbapi_conn: Any, _rec: Any) -> None:
                dbapi_conn.isolation_level = None

            @event.listens_for(self.engine, "begin")
            def _begin(conn: Any) -> None:
                mode = conn.get_execution_options().get("sqlite_begin", "")
                conn.exec_driver_sql(f"BEGIN {mode}".strip())

        md = sa.MetaData()
        self.table = sa.Table(
            TABLE, md,
            sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("time_utc", sa.Text, nullable=False),
            sa.Column("actor", sa.Text, nullable=False),
            sa.Column("action", sa.Text, nullable=False),
            sa.Column("command", sa.Text, nullable=False),
            sa.Column("config_hash", sa.Text, nullable=False),
            sa.Column("inputs", sa.Text, nullable=False),
            sa.Column("outputs", sa.Text, nullable=False),
            sa.Column("prev_hash", sa.Text, nullable=False, unique=True),
            sa.Column("record_hash", sa.Text, nullable=False),
            sqlite_autoincrement=True,
        )
        try:
            if create:
                md.create_all(self.engine)
            elif not sa.inspect(self.engine).has_table(TABLE):
                raise RadsynthInputError("db", self.path or self.url, "an audit database (table 'audit')",
                                         "This file is not a radsynth audit log.")
        except RadsynthError:
            self.engine.dispose()
            raise
        except Exception as exc:  # not a database, unreachable server, ...
            self.engine.dispose()
            raise RadsynthInputError("db", str(self.path or self.url), "a readable audit database",
                                     str(exc).splitlines()[0]) from None

    # context manager / cleanup
    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "AuditLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------------------------------
    def append(
        self,
        action: str,
        *,
        command: Sequence[str] | str | None = None,
        config_hash: str = "",
        inputs: Mapping[str, Any] | Sequence[Any] | None = None,
        outputs: Mapping[str, str] | Sequence[Any] | None = None,
        actor: str | None = None,
        time_utc: str | _dt.datetime | None = None,
    ) -> dict[str, Any]:
        """Append one record atomically; returns it as stored (JSON fields parsed)."""
        import sqlalchemy as sa

        if action not in ACTIONS:
            raise RadsynthInputError("action", action, ", ".join(ACTIONS))
        if not isinstance(config_hash, str):
            raise RadsynthInputError("config_hash", config_hash, "a hex string (or empty)")
        row: dict[str, Any] = {
            "time_utc": _norm_time(time_utc),
            "actor": actor if actor is not None else default_actor(),
            "action": action,
            "command": canonical_json(_norm_command(command)),
            "config_hash": config_hash,
            "inputs": canonical_json(_norm_mapping("inputs", inputs)),
            "outputs": canonical_json(_norm_mapping("outputs", outputs)),
        }
        if not isinstance(row["actor"], str) or not row["actor"]:
            raise RadsynthInputError("actor", row["actor"], "a non-empty string")
        t = self.table
        last_exc: Exception | None = None
        for _attempt in range(5):  # retries only matter on databases without a table lock
            try:
                with self.engine.connect() as conn:
                    conn = conn.execution_options(sqlite_begin="IMMEDIATE")
                    with conn.begin():
                        if self.engine.dialect.name == "postgresql":
                            conn.exec_driver_sql(f"LOCK TABLE {TABLE} IN SHARE ROW EXCLUSIVE MODE")
                        last = conn.execute(
                            sa.select(t.c.seq, t.c.record_hash).order_by(t.c.seq.desc()).limit(1)
                        ).first()
                        row["seq"] = (int(last.seq) + 1) if last else 1
                        row["prev_hash"] = last.record_hash if last else GENESIS
                        row["record_hash"] = record_hash(row)
                        conn.execute(t.insert().values(**row))
                return _parse(row)
            except sa.exc.IntegrityError as exc:  # a concurrent writer took this seq / prev_hash
                last_exc = exc
                continue
            except sa.exc.OperationalError as exc:
                raise RadsynthError(f"audit log {self.path or self.url}: {str(exc).splitlines()[0]}") from None
        raise RadsynthError(f"audit log {self.path or self.url}: could not append: {last_exc}")

    def _rows(self, last: int | None = None) -> list[dict[str, Any]]:
        import sqlalchemy as sa

        t = self.table
        q = sa.select(*[t.c[f] for f in FIELDS])
        if last is not None:
            if not isinstance(last, int) or isinstance(last, bool) or last < 1:
                raise RadsynthInputError("last", last, "a positive integer")
            q = q.order_by(t.c.seq.desc()).limit(last)
        else:
            q = q.order_by(t.c.seq)
        try:
            with self.engine.connect() as conn:
                rows = [dict(r._mapping) for r in conn.execute(q)]
        except sa.exc.DBAPIError as exc:
            raise RadsynthError(f"audit log {self.path or self.url}: {str(exc).splitlines()[0]}") from None
        if last is not None:
            rows.reverse()
        return rows

    def records(self, last: int | None = None) -> list[dict[str, Any]]:
        """All records (or the newest ``last``) in seq order; command/inputs/outputs parsed."""
        return [_parse(r) for r in self._rows(last)]

    def head(self) -> tuple[int, str]:
        """(seq, record_hash) of the newest record, (0, GENESIS) when empty: a checkpoint to keep elsewhere."""
        rows = self._rows(last=1)
        return (int(rows[0]["seq"]), rows[0]["record_hash"]) if rows else (0, GENESIS)

    def verify(self, expect_head: tuple[int, str] | None = None) -> list[dict[str, Any]]:
        """Problems found, ``[]`` when the chain is intact. Each: ``{seq, problem, detail}``.

        problem is one of ``edited`` (stored record_hash does not match the fields),
        ``deleted`` (seq gap), ``reordered`` (a record chains from a later one),
        ``chain`` (prev_hash does not match the previous record), ``truncated`` /
        ``rewritten`` (against ``expect_head``), ``malformed``.
        """
        rows = self._rows()
        problems: list[dict[str, Any]] = []

        def add(seq: Any, problem: str, detail: str) -> None:
            problems.append({"seq": seq, "problem": problem, "detail": detail})

        pos_of_hash = {r["record_hash"]: i for i, r in enumerate(rows)}
        expected_seq, expected_prev, prev_seq = 1, GENESIS, 0
        for i, r in enumerate(rows):
            seq = r["seq"]
            if not isinstance(seq, int):
                add(seq, "malformed", f"seq is {type(seq).__name__}, not an integer")
                continue
            got = record_hash(r)
            if got != r["record_hash"]:
                add(seq, "edited", f"record_hash mismatch: stored {str(r['record_hash'])[:16]}, "
                                   f"fields hash to {got[:16]}")
            if r["action"] not in ACTIONS:
                add(seq, "malformed", f"unknown action {r['action']!r}")
            for f in _JSON_FIELDS:
                try:
                    json.loads(r[f])
                except (TypeError, ValueError):
                    add(seq, "malformed", f"{f} is not JSON")
            gap = seq > expected_seq
            if gap:
                missing = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}..{seq - 1}"
                add(expected_seq, "deleted", f"record(s) {missing} missing before seq {seq}")
            if r["prev_hash"] != expected_prev:
                j = pos_of_hash.get(r["prev_hash"])
                if j is not None and j > i:
                    add(seq, "reordered", f"chains from seq {rows[j]['seq']}, which comes after it")
                elif not gap:
                    add(seq, "chain", f"prev_hash {str(r['prev_hash'])[:16]} does not match seq {prev_seq}'s "
                                      f"record_hash {expected_prev[:16]}")
            expected_seq = seq + 1  # rows come ordered by seq (the primary key)
            expected_prev, prev_seq = r["record_hash"], seq
        if expect_head is not None:
            h_seq, h_hash = int(expect_head[0]), str(expect_head[1])
            if h_seq > 0:
                match = [r for r in rows if r["seq"] == h_seq]
                if not match:
                    add(h_seq, "truncated", f"checkpoint seq {h_seq} is not in the log (newest is "
                                            f"{rows[-1]['seq'] if rows else 0})")
                elif match[0]["record_hash"] != h_hash:
                    add(h_seq, "rewritten", f"record_hash {match[0]['record_hash'][:16]} differs from the "
                                            f"checkpoint {h_hash[:16]}")
        return problems


def _parse(row: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: row.get(k) for k in FIELDS}
    for f in _JSON_FIELDS:
        try:
            out[f] = json.loads(out[f])
        except (TypeError, ValueError):
            pass  # keep the raw text; verify() reports it
    return out


def log_action(action: str, **kwargs: Any) -> dict[str, Any]:
    """Append one record to the default audit log (``$RADSYNTH_AUDIT_DB`` / config folder)."""
    url = kwargs.pop("url", None)
    with AuditLog(url) as log:
        return log.append(action, **kwargs)
