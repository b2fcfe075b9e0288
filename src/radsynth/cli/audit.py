"""``radsynth audit show|verify|head``: read and check the hash-chained audit log.

Neither command creates a database: a missing log is a one-line error, exit 2.
``verify`` exits 0 when the chain is intact, 1 with one line per problem otherwise.
"""

from __future__ import annotations

from typing import Any, Optional

import typer

from radsynth.cli.user_errors import user_errors

audit_app = typer.Typer(help="Show and verify the hash-chained audit log of radsynth actions.", no_args_is_help=True)

EXIT_TAMPERED = 1
_DB_HELP = "Audit DB: SQLite path or SQLAlchemy URL (default $RADSYNTH_AUDIT_DB, else <config dir>/audit.sqlite)."


_user_errors = user_errors  # the CLI's convention (radsynth.cli.user_errors)


def _count(v: Any) -> str:
    return str(len(v)) if isinstance(v, (dict, list)) else "?"


@audit_app.command("show")
@_user_errors
def audit_show(
    db: Optional[str] = typer.Option(None, "--db", help=_DB_HELP),
    last: Optional[int] = typer.Option(None, "--last", help="Only the newest N records."),
    as_json: bool = typer.Option(False, "--json", help="Print the records as JSON."),
) -> None:
    """List audit records: seq, time, actor, action, config hash, #inputs, #outputs."""
    import json

    from radsynth.provenance.audit import AuditLog

    with AuditLog(db, create=False) as log:
        recs = log.records(last=last)
    if as_json:
        typer.echo(json.dumps(recs, indent=2, sort_keys=True))
        return
    if not recs:
        typer.echo("no records")
        return
    header = ("seq", "time (UTC)", "actor", "action", "config", "#in", "#out")
    rows = [(str(r["seq"]), str(r["time_utc"])[:19] + "Z", str(r["actor"]), str(r["action"]),
             (str(r["config_hash"])[:12] or "-"), _count(r["inputs"]), _count(r["outputs"])) for r in recs]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    right = {0, 5, 6}

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    typer.echo(fmt(header))
    for row in rows:
        typer.echo(fmt(row))


@audit_app.command("verify")
@_user_errors
def audit_verify(
    db: Optional[str] = typer.Option(None, "--db", help=_DB_HELP),
    expect_head: Optional[str] = typer.Option(None, "--expect-head", help="Checkpoint SEQ:HASH from `radsynth audit "
                                              "head`, kept elsewhere: also detects deleted newest records."),
) -> None:
    """Check the hash chain: edited, deleted or reordered records. Exit 1 if any."""
    from radsynth.core.errors import RadsynthInputError
    from radsynth.provenance.audit import AuditLog

    head = None
    if expect_head is not None:
        seq_s, _, h = expect_head.partition(":")
        if not seq_s.isdigit() or len(h) != 64:
            raise RadsynthInputError("--expect-head", expect_head, "SEQ:HASH (64 hex digits), as printed by `audit head`")
        head = (int(seq_s), h)
    with AuditLog(db, create=False) as log:
        problems = log.verify(expect_head=head)
        n = len(log.records())
    if not problems:
        typer.echo(f"ok: {n} records, chain intact")
        return
    for p in problems:
        typer.echo(f"seq {p['seq']}: {p['problem']}: {p['detail']}")
    typer.echo(f"FAILED: {len(problems)} problem(s) in {n} records", err=True)
    raise typer.Exit(EXIT_TAMPERED)


@audit_app.command("head")
@_user_errors
def audit_head(db: Optional[str] = typer.Option(None, "--db", help=_DB_HELP)) -> None:
    """Print SEQ:HASH of the newest record: keep it elsewhere, pass it to `verify --expect-head`."""
    from radsynth.provenance.audit import AuditLog

    with AuditLog(db, create=False) as log:
        seq, h = log.head()
    typer.echo(f"{seq}:{h}")
