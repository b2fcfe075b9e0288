"""`radsynth models export` and `radsynth evaluate` append audit records (config hash, inputs, output sha256s)."""

from __future__ import annotations

import hashlib
import json

from typer.testing import CliRunner

from radsynth.cli.main import app
from radsynth.provenance.audit import AuditLog


def _sha(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_models_export_is_audited(tmp_path):
    with AuditLog() as log:
        before = log.head()[0]
    out = tmp_path / "exp"
    r = CliRunner().invoke(app, ["models", "export", "cxr-classifier-64", "--out", str(out)])
    assert r.exit_code == 0, r.output
    with AuditLog() as log:
        recs = log.records()
        assert log.verify() == []
    new = [x for x in recs if x["seq"] > before]
    assert [x["action"] for x in new] == ["export"]
    rec = new[0]
    assert rec["config_hash"] == _sha(out / "config.json")
    assert rec["inputs"]["model"] == "cxr-classifier-64" and rec["inputs"]["weights_sha256"] == _sha(
        out / "weights.safetensors")
    files = sorted(p.name for p in out.iterdir())
    assert sorted(k for k in rec["outputs"] if k != "folder") == files
    assert all(rec["outputs"][n] == _sha(out / n) for n in files)
    # a failed export (non-empty --out) writes no record
    r = CliRunner().invoke(app, ["models", "export", "cxr-classifier-64", "--out", str(out)])
    assert r.exit_code == 2
    with AuditLog() as log:
        assert log.head()[0] == new[0]["seq"]


def test_evaluate_record(tmp_path):
    from radsynth.core.records import config_hash
    from radsynth.evaluate.config import EvaluateConfig
    from radsynth.evaluate.runner import record_evaluation

    (tmp_path / "metrics.json").write_text(json.dumps({"c2st_auc": 0.6}))
    (tmp_path / "report.html").write_text("<html></html>")
    cfg = EvaluateConfig.preset("quick")
    record_evaluation(cfg, {"real": "r" * 64, "synthetic": "s" * 64}, {"real": "/r", "synthetic": "/s"}, tmp_path)
    with AuditLog() as log:
        rec = log.records(last=1)[0]
    assert rec["action"] == "evaluate" and rec["config_hash"] == config_hash(cfg.to_json_dict())
    assert rec["inputs"] == {"real_fingerprint": "r" * 64, "synthetic_fingerprint": "s" * 64,
                             "real_source": "/r", "synthetic_source": "/s"}
    assert rec["outputs"]["metrics.json"] == _sha(tmp_path / "metrics.json")
    assert rec["outputs"]["report.html"] == _sha(tmp_path / "report.html")
