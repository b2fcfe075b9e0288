"""Finish a build: manifest.parquet (one row per file) and dataset_card.md.

Both are derived only from the subjects' ``subject.json`` files and the spec (plus, for
the card, an evaluation ``metrics.json`` found in or next to the folder, see
:func:`find_evaluation`), so they are byte-identical whatever the backend, worker count
or resume history. NIfTI JSON sidecars (:func:`radsynth.io.nifti.sidecar_path`) are
listed as ``sidecar`` rows (kind) when the subject's file list does not already hold them.

Card sections added for issue #11: intended use and limits, bias notes computed from
the attribute and label distributions (:func:`bias_lines`), provenance and how to verify
(:func:`provenance_lines`), and the measured evaluation (:func:`evaluation_lines`).
"""

from __future__ import annotations

import json
import math
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
            if f.get("session") is not None:  # longitudinal subjects: BIDS session and its time
                row.update(session=f["session"], time_days=float(f["time_days"]))
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


def progression_lines(metas: list[dict[str, Any]]) -> list[str]:
    """Dataset-card section of longitudinal subjects: per session the target and painted tumour-core volume,
    the error and the ventricle displacement (empty when no subject has sessions)."""
    rows = []
    for m in metas:
        for ses in m.get("sessions") or []:
            q = ses.get("measurements", {})
            if "target_core_volume_ml" not in q:
                continue
            rows.append(f"| {m['subject_id']} | {ses['session']} | {ses['time_days']:g} | {q['target_core_volume_ml']:.2f} | "
                        f"{q['core_volume_ml']:.2f} | {q['core_volume_error_pct']:+.2f} | "
                        f"{q.get('ventricle_displacement_mm', float('nan')):.2f} |")
    if not rows:
        return []
    return ["## Progression",
            "Tumour-core volume (necrosis + enhancing rim) against the growth model at each session; ventricle "
            "displacement: mean displacement of the ipsilateral lateral ventricle's tissue by the mass effect.",
            "",
            "| subject | session | day | target mL | painted mL | error % | ventricle displacement mm |",
            "|---|---|---|---|---|---|---|", *rows, ""]


def add_sidecar_rows(rows: list[dict[str, Any]], out: Path) -> list[dict[str, Any]]:
    """Rows plus one ``sidecar``/``json`` row per NIfTI JSON sidecar present on disk and not yet listed."""
    from radsynth.io.nifti import sidecar_path

    listed = {r["path"] for r in rows}
    out_rows: list[dict[str, Any]] = []
    for r in rows:
        out_rows.append(r)
        if r["format"] != "nifti":
            continue
        side = sidecar_path(r["path"]).as_posix()
        if side in listed or not (out / side).is_file():
            continue
        listed.add(side)
        out_rows.append(dict(r, path=side, kind="sidecar", format="json", sha256=None))
    return out_rows


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
    rows = add_sidecar_rows(manifest_rows(spec, metas), out)
    for r in rows:
        if r["sha256"] is None:
            r["sha256"] = sha256_file(out / r["path"])
    manifest = out / "manifest.parquet"
    write_manifest(manifest, rows)
    card = out / "dataset_card.md"
    atomic_write_text(card, dataset_card(spec, metas, rows, evaluation=find_evaluation(out), card_dir=out))
    return manifest, card


def _generator(spec: CohortSpec) -> Any:
    from radsynth.cohort.spec import validate_generator

    cls, config = validate_generator(spec)
    return cls(config)


#: Where the anatomy of the physics generators comes from (single-source bias note).
ANATOMY_SOURCES = {
    "ct-chest": "all chest anatomy derives from ONE real adult chest CT (src/radsynth/data/chest): anatomy varies "
                "only by deformation, habitus and inspiration, not by the variety of real patients",
    "xray-chest": "all chest anatomy derives from ONE real adult chest CT (src/radsynth/data/chest), projected: "
                  "anatomy varies only by deformation, habitus and inspiration, not by the variety of real patients",
    "mri-brain": "all head anatomy derives from SIX real adult brain MRI label maps (SynthSeg training maps, "
                 "src/radsynth/data/brain), deformed: far fewer distinct anatomies than subjects",
    "ct-head": "all head anatomy derives from SIX real adult brain MRI label maps (SynthSeg training maps, "
               "src/radsynth/data/brain), deformed: far fewer distinct anatomies than subjects",
}
#: A category holding more than this share of the subjects is reported as an imbalance.
IMBALANCE_SHARE = 0.6
#: Below this many subjects, subgroup counts are flagged as too small to support subgroup claims.
SMALL_N = 30
_SEX_NAMES = ("sex", "gender", "patient_sex")
_AGE_PREFIX = "age"


def wilson_interval(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval (95 % by default) of a binomial proportion k/n."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


def bias_lines(spec: CohortSpec, metas: list[dict[str, Any]]) -> list[str]:
    """Bias notes computed from the subjects: categorical imbalance (sex first), age range, label
    prevalence against the requested prevalence, and where the anatomy comes from."""
    n = len(metas)
    lines: list[str] = []
    names = sorted({a for m in metas for a in m["attributes"]}, key=lambda k: (k.lower() not in _SEX_NAMES, k))
    for k in names:
        vals = [m["attributes"].get(k) for m in metas]
        if vals and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            if k.lower().startswith(_AGE_PREFIX):
                lo, hi = min(vals), max(vals)
                med = sorted(vals)[n // 2]
                gaps = []
                if lo >= 18:
                    gaps.append("no children (all >= 18 years)")
                if hi < 80:
                    gaps.append("no subjects aged 80 or over")
                lines.append(f"- Age (`{k}`): {lo:g}-{hi:g} years, median {med:g}"
                             + (f"; {'; '.join(gaps)}." if gaps else "."))
            continue
        c = Counter(str(v) for v in vals)
        top, top_n = max(sorted(c.items()), key=lambda kv: kv[1])
        shares = ", ".join(f"{v} {cnt}/{n} ({100 * cnt / n:.0f}%)" for v, cnt in sorted(c.items()))
        what = "Sex" if k.lower() in _SEX_NAMES else "Attribute"
        if len(c) == 1:
            verdict = f"only `{top}` present: the other groups are not represented at all"
        elif top_n / n > IMBALANCE_SHARE:
            verdict = f"imbalanced: `{top}` is {100 * top_n / n:.0f}% of subjects (over {100 * IMBALANCE_SHARE:.0f}%)"
        else:
            verdict = f"balanced within {100 * IMBALANCE_SHARE:.0f}% (largest group {100 * top_n / n:.0f}%)"
        lines.append(f"- {what} (`{k}`): {shares}; {verdict}.")
    for k, want in sorted(spec.labels.items()):
        got = sum(bool(m["labels"].get(k)) for m in metas)
        lo, hi = wilson_interval(got, n)
        ok = lo <= want <= hi
        lines.append(f"- Label `{k}`: {got}/{n} positive ({100 * got / max(n, 1):.1f}%, 95% CI "
                     f"{100 * lo:.1f}-{100 * hi:.1f}%) vs {100 * want:.1f}% requested"
                     + ("." if ok else "; OUTSIDE the interval: prevalence differs from the request more than chance."))
    if n < SMALL_N:
        lines.append(f"- Only {n} subjects (< {SMALL_N}): subgroup counts are too small for subgroup conclusions.")
    src = ANATOMY_SOURCES.get(spec.generator.name)
    if src:
        lines.append(f"- Single anatomy source: {src}.")
    elif metas and _is_learned(metas[0].get("provenance", {})):
        lines.append("- Learned generator: images imitate its training data, including that data's population, "
                     "scanners and biases (see the model card for its fingerprint and class counts).")
    return lines or ["- No attributes or labels to assess."]


def _is_learned(prov: dict[str, Any]) -> bool:
    from radsynth.io import TRAINED_ALGORITHMIC_MEDIA, digital_source_type

    return digital_source_type(prov) == TRAINED_ALGORITHMIC_MEDIA


def _watermarks(metas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for m in metas:
        for doc in (m.get("watermark"), (m.get("provenance") or {}).get("watermark")):
            if isinstance(doc, dict):
                out.append(doc)
                break
    return out


def provenance_lines(metas: list[dict[str, Any]]) -> list[str]:
    """Provenance section: digital source type, marks, signed manifest, watermark, how to verify."""
    from radsynth.io import digital_source_type

    prov = metas[0]["provenance"] if metas else {}
    dst = digital_source_type(prov)
    lines = [
        f"- IPTC digital source type: `{dst}`.",
        "- Every file marks itself synthetic: DICOM Conversion Type `SYN` and the `RADSYNTH 1.0` private block; "
        "NIfTI `descrip` prefix `radsynth SYNTHETIC`, a JSON header extension and a `<name>.json` sidecar with "
        '`"SyntheticData": true`; PNG `radsynth:provenance` iTXt chunk and an XMP packet with the digital source type.',
        "- Signed manifest: `SHA256SUMS` lists the sha256 of every file; `SHA256SUMS.sig` is its Ed25519 signature "
        "and `signing_key.pub.pem` the signer's public key.",
    ]
    wms = _watermarks(metas)
    if wms:
        schemes = Counter(str(w.get("scheme", w.get("method", "?"))) for w in wms)
        payloads = sorted({str(w.get("payload")) for w in wms if w.get("payload") is not None})
        lines.append(f"- Invisible watermark in {len(wms)}/{len(metas)} subjects' images: scheme "
                     f"{_fmt_counter(schemes)}" + (f"; payload {', '.join(f'`{p}`' for p in payloads[:3])}"
                                                   + (f" (+{len(payloads) - 3} more)" if len(payloads) > 3 else "")
                                                   if payloads else "") + ". Masks, label maps and SEG carry none. "
                     "Check a file with `radsynth watermark detect FILE --payload PAYLOAD` (it survives JPEG, "
                     "resizing, cropping, noise and window changes; images under 192 px a side, volumes under "
                     "128, are marked but too small for a reliable check).")
    else:
        lines.append("- Invisible watermark: none recorded in the subjects' metadata.")
    lines += [
        "- C2PA content credentials: not embedded by default (C2PA claims carry random ids and signatures, which "
        "would break byte-identical rebuilds); add them with `radsynth c2pa sign DIR`.",
        "- How to verify: `radsynth verify DIR` checks the signature, every sha256, files added since, the synthetic "
        "marks of every image, C2PA manifests and watermarks (exit 0 ok, 1 problems); add `--public-key KEY` with "
        "a key you trust to check origin, not just integrity.",
    ]
    return lines


#: Evaluation headline numbers shown on the card: (metrics.json key, label).
EVAL_KEYS = (
    ("c2st_auc", "C2ST AUC, real vs synthetic (0.5: indistinguishable)"),
    ("fid", "FID, synthetic vs real"),
    ("kid", "KID, synthetic vs real"),
    ("precision", "precision (fidelity)"),
    ("recall", "recall (diversity)"),
    ("coverage", "coverage"),
    ("memorised_fraction", "memorised fraction (near copies of training images)"),
    ("membership_auc", "membership-inference AUC (0.5: no leak)"),
)


def find_evaluation(folder: Path) -> Path | None:
    """An evaluation ``metrics.json`` (written by ``radsynth evaluate``) in or next to ``folder``.

    Looked for, first match wins: ``folder/metrics.json``, ``folder/*/metrics.json``, then sibling
    folders ``folder.parent/*/metrics.json`` whose synthetic input (``inputs[].source``) is ``folder``.
    """
    folder = Path(folder)
    cands = [folder / "metrics.json", *sorted(folder.glob("*/metrics.json"))]
    for p in cands:
        if p.is_file() and _is_eval(p):
            return p
    try:
        target = folder.resolve()
    except OSError:
        return None
    for p in sorted(folder.parent.glob("*/metrics.json")):
        if p.parent.resolve() == target or not p.is_file():
            continue
        doc = _is_eval(p)
        if doc and any(_same(i.get("source"), target) for i in doc.get("inputs", []) if i.get("name") == "synthetic"):
            return p
    return None


def _same(source: Any, target: Path) -> bool:
    if not isinstance(source, str):
        return False
    try:
        return Path(source).expanduser().resolve() == target
    except OSError:
        return False


def _is_eval(p: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and "sections" in doc and "status" in doc else None


def _fmt_num(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def evaluation_lines(metrics: dict[str, Any] | None, where: str = "") -> list[str]:
    """The measured evaluation (headline numbers with CIs, section verdicts) of a ``metrics.json``."""
    if not metrics:
        return ["- Not evaluated yet: run `radsynth evaluate --real TRAIN --synthetic DIR --test HELDOUT --out "
                "DIR-evaluation` (a folder beside DIR, so DIR's signature stays valid), then `radsynth cohort build "
                "spec.yaml --out DIR --resume` to add fidelity, detectability, utility and memorisation to this card "
                "(the folder is re-signed)."]
    lines = [f"- From `{where or 'metrics.json'}` (radsynth {metrics.get('radsynth_version', '?')} evaluate)."]
    for key, label in EVAL_KEYS:
        v = metrics.get(key)
        if v is None:
            continue
        ci = metrics.get(f"{key}_ci")
        ci_s = f" (95% CI {_fmt_num(ci[0])}-{_fmt_num(ci[1])})" if isinstance(ci, (list, tuple)) and len(ci) == 2 else ""
        lines.append(f"- {label}: {_fmt_num(v)}{ci_s}")
    for name, st in (metrics.get("status") or {}).items():
        verdict = ((metrics.get("verdicts") or {}).get(name) or {}).get("verdict") or ""
        lines.append(f"- {name}: {st}" + (f": {verdict}" if verdict else ""))
    return lines


def blind_grid_lines(metrics: dict[str, Any] | None, evaluation: Path | None, card_dir: Path | None) -> list[str]:
    """The evaluation's blinded grid (real and synthetic, shuffled, unlabelled) with its key below it."""
    import os

    if not metrics or evaluation is None or card_dir is None:
        return []
    png = Path(evaluation).parent / "blind_grid.png"
    key = ((((metrics.get("sections") or {}).get("detectability") or {}).get("metrics") or {}).get("blind_grid_key"))
    if not png.is_file() or not isinstance(key, list) or not key:
        return []
    rel = Path(os.path.relpath(png.resolve(), Path(card_dir).resolve())).as_posix()
    per_row = 4
    rows = [f"row {r // per_row + 1}: " + " ".join("R" if k == "real" else "S" for k in key[r:r + per_row])
            for r in range(0, len(key), per_row)]
    return ["", f"Blinded grid: {key.count('real')} real and {key.count('synthetic')} synthetic images of the evaluation, "
            "shuffled and unlabelled, as the judge saw them. Try to tell them apart before reading the key.", "",
            f"![blinded grid of real and synthetic images]({rel})", "",
            "<details><summary>Key (R = real, S = synthetic, left to right)</summary>", "",
            *[f"- {r}" for r in rows], "", "</details>"]


def _fmt_counter(c: Counter) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(c.items(), key=lambda kv: str(kv[0]))) or "none"


def dataset_card(spec: CohortSpec, metas: list[dict[str, Any]], rows: list[dict[str, Any]],
                 evaluation: Path | None = None, card_dir: Path | None = None) -> str:
    """Markdown dataset card: what it is, how it was made, bias notes, provenance, evaluation, intended use, limits.

    ``evaluation``: a ``metrics.json`` of ``radsynth evaluate`` (see :func:`find_evaluation`) to report; its
    blinded real/synthetic grid (``blind_grid.png`` beside it) is shown with the key below it, linked relative
    to ``card_dir`` (the folder the card is written to).
    """
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
            who = f"{m['subject_id']} {f['session']}" if f.get("session") else m["subject_id"]
            finding_lines.append(f"| {who} | {f.get('type', '')} | {f.get('subtype', '')} | "
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
    eval_doc = _is_eval(Path(evaluation)) if evaluation is not None else None
    # folder/file name only: the card must not depend on where the folder lives
    eval_where = f"{Path(evaluation).parent.name}/{Path(evaluation).name}" if evaluation is not None else ""

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
        *progression_lines(metas),
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
        "  noise, artefacts, anatomy and pathology variation); education, teaching and software testing.",
        "",
        "## Limits: read before use",
        "- Synthetic data is **not** a substitute for real data in final performance claims: any model trained or",
        "  evaluated on it must be confirmed on real, independent, held-out scans before clinical or",
        "  regulatory use.",
        "- **Not** for safety-critical edge cases (rare presentations, failure modes a model must not miss)",
        "  without confirmation on real data: the generator only produces what it models, so rare real",
        "  appearances can be missing or wrong.",
        *generator_text("limits"),
        "",
        "## Bias notes",
        *bias_lines(spec, metas),
        "",
        "## Provenance and verification",
        *provenance_lines(metas),
        "",
        "## Measured evaluation",
        *evaluation_lines(eval_doc, eval_where),
        *blind_grid_lines(eval_doc, evaluation, card_dir),
        "",
        "## Licences",
        *(generator_text("licences") or ["- Generated data: same terms as the generator's inputs allow (see its model card)."]),
        "",
    ]
    return "\n".join(lines)
