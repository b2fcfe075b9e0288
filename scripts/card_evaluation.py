"""Add the measured ``radsynth evaluate`` numbers of a model's samples to its model card.

Reads ``EVAL_DIR/metrics.json`` (from ``radsynth evaluate --sections fidelity,detectability,
memorisation`` or more) and writes the section "Evaluation (measured)" of ``MODEL_DIR``'s
card and ``config.json`` metrics (replacing an earlier one), every number next to its real
reference.

Usage: .venv/bin/python scripts/card_evaluation.py EVAL_DIR MODEL_DIR --how "COMMAND AND SETTINGS"
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from radsynth.generators.model_dir import add_card_section  # noqa: E402


def _f(v: float | None, nd: int = 2) -> str:
    return "-" if v is None else f"{v:.{nd}f}"


def card_lines(m: dict, how: str) -> tuple[list[str], dict]:
    sec = m["sections"]
    fid = sec["fidelity"]["metrics"]
    sv, hv = fid["synthetic_vs_real"], fid.get("heldout_vs_real", {})
    rows = ["| metric | these samples | real held-out scans (reference) |", "|---|---|---|"]
    if "fid_matched_n" in fid:
        mn = fid["fid_matched_n"]
        rows.append(f"| FID at matched n = {mn['n']} | {_f(mn['synthetic'])} | {_f(mn['heldout'])} |")
    pc = fid.get("per_class") or []
    if pc:
        names = " / ".join(r["class"] for r in pc)
        rows.append(f"| FID per class {names} | {' / '.join(_f(r['fid']) for r in pc)} | "
                    f"{' / '.join(_f(r.get('fid_heldout')) for r in pc)} |")
    if sv.get("prdc"):
        p, q = sv["prdc"], hv.get("prdc") or {}
        rows.append(f"| precision / recall / coverage (k = {p['k']}) | {_f(p['precision'])} / {_f(p['recall'])} / "
                    f"{_f(p['coverage'])} | {_f(q.get('precision'))} / {_f(q.get('recall'))} / {_f(q.get('coverage'))} |")
    if sv.get("excess_grain"):
        g, h = sv["excess_grain"], hv.get("excess_grain") or {}
        rows.append(f"| excess grain (noisier than 99 % of real training images) | {g['rate']:.3f} "
                    f"[{g['ci'][0]:.3f}, {g['ci'][1]:.3f}] | {_f(h.get('rate'), 3)} |")
    if sec.get("detectability", {}).get("status") == "ok":
        d = sec["detectability"]["metrics"]
        rows.append(f"| C2ST AUC ({d['n_real']} real vs {d['n_synthetic']} synthetic, {d['folds']} folds) | "
                    f"{d['auc']:.3f} [{d['ci'][0]:.3f}, {d['ci'][1]:.3f}] | 0.5 |")
    if sec.get("memorisation", {}).get("status") == "ok":
        rows.append(f"| memorised fraction (pixel or feature copies of training images) | "
                    f"{_f(m.get('memorised_fraction'), 4)} | - |")
        if m.get("membership_auc") is not None:
            ci = m.get("membership_auc_ci") or [None, None]
            rows.append(f"| membership-inference AUC | {m['membership_auc']:.3f} [{_f(ci[0], 3)}, {_f(ci[1], 3)}] | 0.5 |")
    verdicts = [f"- {name}: **{v['level']}** — {v['verdict']}" for name, v in m["verdicts"].items()
                if m["status"].get(name) == "ok"]
    lines = [how, "", *rows, "", "Verdicts (`radsynth evaluate`):", "", *verdicts]
    metrics = {k: m.get(k) for k in ("fid_matched_n", "fid_heldout_matched_n", "c2st_auc", "c2st_auc_ci", "precision",
                                     "coverage", "memorised_fraction", "membership_auc", "membership_auc_ci")}
    return lines, metrics


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("eval_dir", type=Path)
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("--how", required=True, help="the command and settings that produced EVAL_DIR (one paragraph)")
    a = ap.parse_args(argv)
    mfile = a.eval_dir / "metrics.json"
    if not mfile.is_file():
        print(f"error: EVAL_DIR: {a.eval_dir} has no metrics.json; run `radsynth evaluate` first", file=sys.stderr)
        return 2
    lines, metrics = card_lines(json.loads(mfile.read_text()), a.how)
    add_card_section(a.model_dir, "Evaluation (measured)", lines, metrics)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
