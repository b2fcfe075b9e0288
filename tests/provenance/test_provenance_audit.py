"""Hash-chained audit log: edits, deletions and reordering are detected; CLI exit codes 0/1/2."""

from __future__ import annotations

import json
import multiprocessing as mp
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from radsynth.cli.main import app
from radsynth.core.errors import RadsynthInputError
from radsynth.provenance.audit import GENESIS, AuditLog, record_hash

runner = CliRunner()


def _fill(db: Path, n: int = 3) -> list[dict]:
    with AuditLog(str(db)) as log:
        out = []
        for i in range(n):
            out.append(log.append(
                ["train", "build", "sample", "evaluate"][i % 4],
                command=["radsynth", "cmd", str(i)],
                config_hash=f"{i:064x}",
                inputs={f"in{i}": "a" * 64},
                outputs={f"out/{i}.png": "b" * 64, f"out/{i}.json": "c" * 64},
                actor="tester@host",
            ))
        return out


def _verify(db: Path) -> list[dict]:
    with AuditLog(str(db), create=False) as log:
        return log.verify()


def _sql(db: Path, *stmts: str) -> None:
    con = sqlite3.connect(db)
    with con:
        for s in stmts:
            con.execute(s)
    con.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    p = tmp_path / "audit.sqlite"
    _fill(p)
    return p


def test_append_and_verify_ok(db: Path) -> None:
    with AuditLog(str(db)) as log:
        recs = log.records()
        assert [r["seq"] for r in recs] == [1, 2, 3]
        assert recs[0]["prev_hash"] == GENESIS
        assert recs[1]["prev_hash"] == recs[0]["record_hash"]
        assert recs[2]["prev_hash"] == recs[1]["record_hash"]
        assert recs[0]["command"] == ["radsynth", "cmd", "0"]
        assert recs[2]["outputs"] == {"out/2.png": "b" * 64, "out/2.json": "c" * 64}
        assert recs[0]["time_utc"].endswith("Z")
        assert [r["seq"] for r in log.records(last=2)] == [2, 3]
        assert log.head() == (3, recs[2]["record_hash"])
        assert log.verify() == []


def test_default_location_and_actor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RADSYNTH_AUDIT_DB", raising=False)
    monkeypatch.setenv("RADSYNTH_ACTOR", "ci-bot")
    with AuditLog() as log:  # conftest points $RADSYNTH_CONFIG_DIR at a temporary folder
        rec = log.append("export", command="radsynth models export m --out x")
        assert log.path.name == "audit.sqlite" and log.path.is_file()
    assert rec["actor"] == "ci-bot"
    assert rec["command"] == ["radsynth", "models", "export", "m", "--out", "x"]


def test_unknown_action_rejected(tmp_path: Path) -> None:
    with AuditLog(str(tmp_path / "a.sqlite")) as log:
        with pytest.raises(RadsynthInputError) as ei:
            log.append("launch")
        assert ei.value.field == "action"
        assert log.records() == []  # nothing written


def test_edited_field_detected(db: Path) -> None:
    _sql(db, "UPDATE audit SET actor='mallory@evil' WHERE seq=2")
    probs = _verify(db)
    assert [(p["seq"], p["problem"]) for p in probs] == [(2, "edited")]


def test_edited_output_hash_detected(db: Path) -> None:
    _sql(db, "UPDATE audit SET outputs=replace(outputs, 'bbbb', 'bbbc') WHERE seq=3")
    assert [(p["seq"], p["problem"]) for p in _verify(db)] == [(3, "edited")]


def test_edit_with_recomputed_hash_breaks_chain(db: Path) -> None:
    """A forger who also recomputes record 2's hash still breaks record 3's prev_hash link."""
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    row = dict(con.execute("SELECT * FROM audit WHERE seq=2").fetchone())
    row["config_hash"] = "f" * 64
    new = record_hash(row)
    with con:
        con.execute("UPDATE audit SET config_hash=?, record_hash=? WHERE seq=2", (row["config_hash"], new))
    con.close()
    probs = _verify(db)
    assert [(p["seq"], p["problem"]) for p in probs] == [(3, "chain")]


def test_deleted_record_detected(db: Path) -> None:
    _sql(db, "DELETE FROM audit WHERE seq=2")
    probs = _verify(db)
    assert (2, "deleted") in [(p["seq"], p["problem"]) for p in probs]


def test_deleted_first_record_detected(db: Path) -> None:
    _sql(db, "DELETE FROM audit WHERE seq=1")
    assert (1, "deleted") in [(p["seq"], p["problem"]) for p in _verify(db)]


def test_swapped_contents_detected(db: Path) -> None:
    """Swap every field but seq between records 2 and 3 (reordering)."""
    cols = "time_utc, actor, action, command, config_hash, inputs, outputs, prev_hash, record_hash"
    sets = ", ".join(f"{c}=(SELECT {c} FROM tmp WHERE tmp.seq=5-audit.seq)" for c in cols.split(", "))
    # prev_hash is UNIQUE: stage the update through a temp copy in one statement
    _sql(db, f"CREATE TEMP TABLE tmp AS SELECT seq, {cols} FROM audit WHERE seq IN (2,3)",
         "UPDATE audit SET prev_hash='x'||seq WHERE seq IN (2,3)",
         f"UPDATE audit SET {sets} WHERE seq IN (2,3)")
    probs = _verify(db)
    kinds = {(p["seq"], p["problem"]) for p in probs}
    assert (2, "reordered") in kinds
    assert {2, 3} <= {p["seq"] for p in probs}


def test_swapped_seq_detected(db: Path) -> None:
    """Renumber records 2 and 3 so they appear in the other order."""
    _sql(db, "UPDATE audit SET seq=-2 WHERE seq=2", "UPDATE audit SET seq=2 WHERE seq=3",
         "UPDATE audit SET seq=3 WHERE seq=-2")
    kinds = {(p["seq"], p["problem"]) for p in _verify(db)}
    assert (2, "reordered") in kinds and (2, "edited") in kinds and (3, "edited") in kinds


def test_truncated_tail_needs_checkpoint(db: Path) -> None:
    with AuditLog(str(db)) as log:
        head = log.head()
    _sql(db, "DELETE FROM audit WHERE seq=3")
    assert _verify(db) == []  # a shorter chain is valid on its own ...
    with AuditLog(str(db), create=False) as log:  # ... but not against the checkpoint
        assert [(p["seq"], p["problem"]) for p in log.verify(expect_head=head)] == [(3, "truncated")]


def _worker(db: str, k: int) -> None:
    with AuditLog(db) as log:
        for i in range(8):
            log.append("sample", command=["w", str(k), str(i)], actor=f"w{k}")


def test_concurrent_processes_do_not_fork_chain(tmp_path: Path) -> None:
    db = str(tmp_path / "c.sqlite")
    AuditLog(db).close()
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_worker, args=(db, k)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    with AuditLog(db) as log:
        assert len(log.records()) == 32
        assert log.verify() == []


# ----------------------------------------------------------------------------------------- CLI


def test_cli_show(db: Path) -> None:
    r = runner.invoke(app, ["audit", "show", "--db", str(db)])
    assert r.exit_code == 0, r.output
    lines = r.output.strip().splitlines()
    assert lines[0].split()[:4] == ["seq", "time", "(UTC)", "actor"]
    assert len(lines) == 4
    assert "tester@host" in lines[1] and "train" in lines[1] and ("0" * 12) in lines[1]
    r = runner.invoke(app, ["audit", "show", "--db", str(db), "--last", "1", "--json"])
    assert r.exit_code == 0, r.output
    recs = json.loads(r.output)
    assert [x["seq"] for x in recs] == [3] and recs[0]["action"] == "sample"


def test_cli_verify_ok_and_tampered(db: Path) -> None:
    r = runner.invoke(app, ["audit", "verify", "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert "ok: 3 records, chain intact" in r.output
    _sql(db, "UPDATE audit SET action='export' WHERE seq=2")
    r = runner.invoke(app, ["audit", "verify", "--db", str(db)])
    assert r.exit_code == 1
    assert "seq 2: edited" in r.output


def test_cli_head_checkpoint(db: Path) -> None:
    r = runner.invoke(app, ["audit", "head", "--db", str(db)])
    assert r.exit_code == 0
    head = r.output.strip()
    assert head.startswith("3:")
    _sql(db, "DELETE FROM audit WHERE seq=3")
    r = runner.invoke(app, ["audit", "verify", "--db", str(db), "--expect-head", head])
    assert r.exit_code == 1 and "seq 3: truncated" in r.output


def test_cli_missing_db_exit_2_and_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nope.sqlite"
    for cmd in ("show", "verify"):
        r = runner.invoke(app, ["audit", cmd, "--db", str(missing)])
        assert r.exit_code == 2, r.output
        assert "error: db:" in r.output and len(r.output.strip().splitlines()) == 1
    assert not missing.exists()


def test_cli_not_an_audit_db_exit_2(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    r = runner.invoke(app, ["audit", "verify", "--db", str(junk)])
    assert r.exit_code == 2 and "error: db:" in r.output
    other = tmp_path / "other.sqlite"
    _sql(other, "CREATE TABLE t (x INTEGER)")
    r = runner.invoke(app, ["audit", "show", "--db", str(other)])
    assert r.exit_code == 2 and "not a radsynth audit log" in r.output
