"""Finish a build: manifest.parquet (one row per file) and dataset_card.md.

Both are derived only from the subjects' ``subject.json`` files and the spec, so
they are byte-identical whatever the backend, worker count or resume history.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from radsynth.cohort.spec import CohortSpec
from radsynth.core.errors import RadsynthError


def manifest_rows(spec: CohortSpec, metas: list[dict[str, Any]]) -> list[dict[str, Any]]:

    rows: list[dict[str, Any]] = []
    attr_names = sorted(set(spec.attributes) | {k for m in metas for k in m["attributes"]})
    for meta in metas:
        sid = meta["subject_id"]
        prov = meta["provenance"]
        base = {
            "subject": sid,
            "seed": int(meta["seed"]),
            "generator": prov["generator"],
            "generator_version": prov["generator_version"],
            "config_hash": prov["config_hash"],
            "plausibility_flags": _n_flags(meta),
        }
        base.update({f"label_{k}": bool(meta["labels"].get(k, False)) for k in sorted(spec.labels)})
        base.update({f"attr_{k}": meta["attributes"].get(k) for k in attr_names})
        entries = list(meta["files"]) + [
            {"path": "subject.json", "kind": "metadata", "format": "json", "modality": "", "sequence": "",
             "sha256": None}
        ]
        for f in entries:
            path = f"subjects/{sid}/{f['path']}"
            row = dict(base)
            row.update(
                path=path,
                kind=f["kind"],
                format=f["format"],
                modality=f.get("modality", ""),
                sequence=f.get("sequence", ""),
                sha256=f["sha256"],
            )
            rows.append(row)
    return rows


def _n_flags(meta: dict[str, Any]) -> int | None:
    p = meta.get("plausibility")
    return None if p is None else len(p.get("flags", []))


def plausibility_lines(metas: list[dict[str, Any]]) -> list[str]:
    """Dataset-card lines: how many subjects were checked, flagged and redrawn, and which checks failed."""
    checked = [m for m in metas if m.get("plausibility") is not None]
    if not checked:
        return ["- Not applicable: this generator has no anatomy to check."]
    ref = sorted({str(m["plausibility"].get("reference", "")) for m in checked})
    flagged = [m for m in checked if m["plausibility"].get("flags")]
    redrawn = [m for m in checked if m["plausibility"].get("redraws")]
    lines = [
        f"- Checked {len(checked)} subjects against the ranges of the real anatomy they came from"
        f" (reference: {', '.join(ref)}): structure volumes, centroids and left/right relations.",
        f"- Flagged: {len(flagged)} subjects; redrawn (cohort option `plausibility.reject`): {len(redrawn)}"
        f" ({sum(int(m['plausibility'].get('redraws', 0)) for m in redrawn)} redraws in all).",
    ]
    checks = Counter(f"{f.get('structure')}: {f.get('check')}" for m in flagged for f in m["plausibility"]["flags"])
    for name, count in sorted(checks.items())[:20]:
        lines.append(f"  - {name}: {count} subjects")
    return lines


def finalize(spec: CohortSpec, out: Path) -> tuple[Path, Path]:
    import json

    from radsynth.cohort.plan import subject_id
    from radsynth.io.atomic import atomic_write_text, sha256_file
    from radsynth.io.manifest import write_manifest

    expected = [subject_id(i, spec.n_subjects) for i in range(spec.n_subjects)]
    missing = [s for s in expected if not (out / "subjects" / s / "subject.json").is_file()]
    if missing:
        raise RadsynthError(f"build incomplete: {len(missing)} subjects missing (e.g. {missing[0]}); run again with --resume")
    metas = [json.loads((out / "subjects" / s / "subject.json").read_text()) for s in expected]
    rows = manifest_rows(spec, metas)
    for r in rows:
        if r["sha256"] is None:
            r["sha256"] = sha256_file(out / r["path"])
    manifest = out / "manifest.parquet"
    write_manifest(manifest, rows)
    card = out / "dataset_card.md"
    atomic_write_text(card, dataset_card(spec, metas, rows))
    return manifest, card


def _generator(spec: CohortSpec) -> Any:
    from radsynth.cohort.spec import validate_generator

    cls, config = validate_generator(spec)
    return cls(config)


def _fmt_counter(c: Counter) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(c.items(), key=lambda kv: str(kv[0]))) or "none"


def dataset_card(spec: CohortSpec, metas: list[dict[str, Any]], rows: list[dict[str, Any]]) -> str:
    """Markdown dataset card: what it is, how it was made, intended use and limits."""
    from radsynth import __version__

    n = len(metas)
    prov = metas[0]["provenance"] if metas else {}
    label_counts = {k: sum(bool(m["labels"].get(k)) for m in metas) for k in sorted(spec.labels)}
    seqs = Counter(im["sequence"] for m in metas for im in m.get("images", []))
    fmts = Counter(r["format"] for r in rows)
    kinds = Counter(r["kind"] for r in rows)
    finding_lines = []
    for m in metas:
        for f in m.get("findings", []):
            vol = f.get("volume_ml")
            vol_s = f"{vol.get('whole', 0):.1f} mL" if isinstance(vol, dict) else (f"{vol:.1f} mL" if vol is not None else "")
            loc = f.get("location") if isinstance(f.get("location"), dict) else {}
            where = f.get("territory") or f.get("region") or loc.get("lobe") or loc.get("region") or ""
            side = f.get("side") or f.get("hemisphere") or loc.get("side") or ""
            finding_lines.append(f"| {m['subject_id']} | {f.get('type', '')} | {f.get('subtype', '')} | "
                                 f"{side} | {where} | {vol_s} |")
    attr_lines = []
    for k in sorted(set(spec.attributes) | {a for m in metas for a in m["attributes"]}):
        vals = [m["attributes"].get(k) for m in metas]
        if all(isinstance(v, (int, float)) for v in vals) and vals:
            attr_lines.append(f"- `{k}`: min {min(vals):g}, median {sorted(vals)[len(vals) // 2]:g}, max {max(vals):g}")
        else:
            attr_lines.append(f"- `{k}`: {_fmt_counter(Counter(vals))}")
    gen = _generator(spec)
    gen_desc = gen.describe() if hasattr(gen, "describe") else ""

    def generator_text(hook: str) -> list[str]:
        return list(getattr(gen, hook)()) if hasattr(gen, hook) else []

    lines = [
        f"# Dataset card: {spec.name}",
        "",
        "**SYNTHETIC DATA.** Every image in this folder was generated by radsynth; none is a scan of a real",
        "person. Files are marked as synthetic (DICOM Conversion Type `SYN`, NIfTI description and header",
        "extension, PNG text chunks) and carry their provenance.",
        "",
        "## What it is",
        f"- {n} synthetic subjects, generator `{spec.generator.name}` version {prov.get('generator_version', '?')}"
        f" (radsynth {__version__}), config sha256 `{prov.get('config_hash', '?')}`.",
        f"- Spec `{spec.name}`, spec sha256 `{spec.hash}`, seed {spec.seed}." + (f" {spec.description}" if spec.description else ""),
        *([f"- Sequences: {_fmt_counter(seqs)}."] if any(seqs) else []),
        f"- Labels (positives / {n}): " + (", ".join(f"{k}: {v}" for k, v in label_counts.items()) or "none") + ".",
        f"- Files: {len(rows)} ({_fmt_counter(fmts)}); by kind: {_fmt_counter(kinds)}. `manifest.parquet` lists"
        " every file with its sha256, subject, sequence, labels, attributes and seed.",
        "",
        "## Attributes",
        *(attr_lines or ["- none"]),
        "",
        "## Findings",
        "| subject | type | subtype | side | region / territory | volume |",
        "|---|---|---|---|---|---|",
        *(finding_lines or ["| - | none | | | | |"]),
        "",
        "## Anatomy plausibility",
        *plausibility_lines(metas),
        "",
        "## How it was made",
        gen_desc or f"Generator `{spec.generator.name}` with the parameters in `spec.yaml`.",
        "Each subject is a pure function of (spec, subject index): its seed is derived from the spec seed, and",
        "every randomly drawn parameter is recorded in `subjects/<id>/subject.json` (`provenance.sampled`), so",
        "any subject can be replayed bit-exactly. Rebuild with `radsynth cohort build spec.yaml --out DIR`.",
        "",
        "## Intended use",
        "- Training and pre-training of models, data augmentation, and stress tests (robustness to contrast,",
        "  noise, artefacts, anatomy and pathology variation); teaching and software testing.",
        "",
        "## Limits: read before use",
        "- Synthetic data is **not** a substitute for real data in final performance claims: any model trained or",
        "  evaluated on it must be confirmed on real, independent, held-out scans before clinical or",
        "  regulatory use.",
        *generator_text("limits"),
        "",
        "## Licences",
        *(generator_text("licences") or ["- Generated data: same terms as the generator's inputs allow (see its model card)."]),
        "",
    ]
    return "\n".join(lines)
