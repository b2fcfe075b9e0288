"""Run every evaluation section and write ``report.html`` and ``metrics.json``.

Order of work (:func:`evaluate`):

1. Check ``out`` (new or empty, or ``resume``) and the settings; load the three sets
   (:func:`radsynth.evaluate.sets.load_eval_set`) and check they are comparable
   (:func:`radsynth.evaluate.sets.harmonise`: modality, classes). Any problem here is one
   :class:`RadsynthInputError` and nothing has been written.
2. Run the sections in dependency order (fairness reuses the utility study's models). A
   section that cannot run on these inputs (no held-out set, no labels, no attribute
   column, a budget the study would exceed) is reported as "not run" with the reason; a
   section that crashes is reported as "failed" with the error (traceback in
   ``out/errors.log``) and the others still run.
3. Each finished section is cached in ``out/.cache/`` (its JSON, figures and the arrays later
   sections need) under a key of the settings and the input fingerprints, so ``resume=True``
   after an interruption recomputes only what is missing; failed sections are retried.
4. ``metrics.json`` (every number, the settings, the inputs; headline keys at the top level,
   ``c2st_auc`` among them) and ``report.html`` (self-contained) are written atomically at
   the end; run times go to ``timings.json`` so that the two main files depend only on the
   inputs and settings.
"""

from __future__ import annotations

import importlib
import json
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from radsynth.core.errors import RadsynthInputError
from radsynth.evaluate.config import RUN_ORDER, SECTIONS, EvaluateConfig
from radsynth.evaluate.context import EvalContext, SectionSkipped, _stderr
from radsynth.report.model import Figure, SectionResult, json_safe

CACHE = ".cache"
TITLES = {
    "fidelity": "Fidelity: distribution distances",
    "detectability": "Detectability: classifier two-sample test",
    "utility": "Utility on real held-out scans",
    "shortcut": "Shortcut (no-cheat) test",
    "fairness": "Fairness: subgroup performance",
    "memorisation": "Memorisation and membership inference",
}


@dataclass
class EvaluationResult:
    out: Path
    sections: list[SectionResult]
    metrics: dict[str, Any]

    @property
    def report(self) -> Path:
        return self.out / "report.html"

    def section(self, name: str) -> SectionResult:
        for s in self.sections:
            if s.name == name:
                return s
        raise RadsynthInputError("section", name, ", ".join(SECTIONS))


# ---------------------------------------------------------------- cache


def _cache_dir(out: Path) -> Path:
    return out / CACHE


def _save_cached(out: Path, key: str, res: SectionResult, art: dict[str, np.ndarray] | None) -> None:
    from radsynth.io.atomic import atomic_write_bytes, atomic_write_text

    d = _cache_dir(out) / res.name
    d.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(res.figures):
        atomic_write_bytes(d / f"figure-{i:02d}.png", f.png)
    if art:
        import io

        buf = io.BytesIO()
        np.savez(buf, **art)
        atomic_write_bytes(d / "artifacts.npz", buf.getvalue())
    doc = {"key": key, "section": res.to_dict(),
           "figures": [{"name": f.name, "caption": f.caption, "alt": f.alt} for f in res.figures]}
    # key order kept (not sorted) so that a resumed run writes the same metrics.json; written last: marks complete
    atomic_write_text(_cache_dir(out) / f"{res.name}.json", json.dumps(doc))


def _load_cached(out: Path, name: str, key: str) -> tuple[SectionResult, dict[str, np.ndarray] | None] | None:
    p = _cache_dir(out) / f"{name}.json"
    if not p.is_file():
        return None
    try:
        doc = json.loads(p.read_text())
        if doc.get("key") != key:
            return None
        res = SectionResult.from_dict(doc["section"])
        d = _cache_dir(out) / name
        res.figures = [Figure(f["name"], (d / f"figure-{i:02d}.png").read_bytes(), f["caption"], f.get("alt", ""))
                       for i, f in enumerate(doc.get("figures", []))]
        art = None
        if (d / "artifacts.npz").is_file():
            with np.load(d / "artifacts.npz") as z:
                art = {k: z[k] for k in z.files}
        return res, art
    except (OSError, ValueError, KeyError, RadsynthInputError):
        return None  # a damaged cache entry is recomputed


# ---------------------------------------------------------------- helpers


def _check_out(out: Path, resume: bool) -> None:
    if out.exists() and not out.is_dir():
        raise RadsynthInputError("--out", str(out), "a folder path (new or empty)")
    if out.is_dir() and any(out.iterdir()) and not resume:
        raise RadsynthInputError("--out", str(out), "a new or empty folder",
                                 "Use --resume to continue an interrupted evaluation there, or choose another folder.")
    parent = out.parent if not out.exists() else out
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise RadsynthInputError("--out", str(out), "a folder you can write to")


def headline(sections: dict[str, SectionResult]) -> dict[str, Any]:
    """The numbers most readers want, at the top level of ``metrics.json`` (None when not measured)."""
    h: dict[str, Any] = {k: None for k in (
        "c2st_auc", "c2st_auc_ci", "fid", "fid_matched_n", "fid_heldout_matched_n", "kid", "precision", "recall",
        "density", "coverage", "memorised_fraction", "memorised_fraction_ci", "membership_auc", "membership_auc_ci")}
    d = sections.get("detectability")
    if d is not None and d.status == "ok":
        h["c2st_auc"], h["c2st_auc_ci"] = d.metrics["auc"], d.metrics["ci"]
    f = sections.get("fidelity")
    if f is not None and f.status == "ok":
        m = f.metrics["synthetic_vs_real"]
        h["fid"] = m["fid"]
        h["kid"] = None if m["kid"] is None else m["kid"]["mean"]
        if m.get("prdc"):
            h.update({k: m["prdc"][k] for k in ("precision", "recall", "density", "coverage")})
        if "fid_matched_n" in f.metrics:
            h["fid_matched_n"] = f.metrics["fid_matched_n"]["synthetic"]
            h["fid_heldout_matched_n"] = f.metrics["fid_matched_n"]["heldout"]
    mm = sections.get("memorisation")
    if mm is not None and mm.status == "ok":
        h["memorised_fraction"], h["memorised_fraction_ci"] = mm.metrics["pixel"]["fraction"], mm.metrics["pixel"]["ci"]
        h["membership_auc"], h["membership_auc_ci"] = mm.metrics["membership"]["auc"], mm.metrics["membership"]["ci"]
    u = sections.get("utility")
    if u is not None and u.status == "ok":
        h["utility"] = [{k: r[k] for k in ("arm", "fraction", "auc_mean", "auc_mean_ci", "accuracy_mean",
                                           "accuracy_mean_ci")} for r in u.metrics["summary"]]
        h["utility_vs_duplicated"] = [{k: r[k] for k in ("fraction", "estimate", "ci", "verdict")}
                                      for r in u.metrics["verdict_rows"]]
    s = sections.get("shortcut")
    if s is not None and s.status == "ok":
        h["shortcut_synthetic"], h["shortcut_real"] = s.metrics["shortcut"], s.metrics["real_shortcut"]
    return h


def _strip_seconds(x: Any) -> Any:
    """Timings out of metrics.json (they go to timings.json): same inputs and settings -> same file."""
    if isinstance(x, dict):
        return {k: _strip_seconds(v) for k, v in x.items() if k != "seconds"}
    if isinstance(x, list):
        return [_strip_seconds(v) for v in x]
    return x


# ---------------------------------------------------------------- run


def evaluate(
    real: str | os.PathLike[str],
    synthetic: str | os.PathLike[str],
    test: str | os.PathLike[str] | None,
    out: str | os.PathLike[str],
    *,
    config: EvaluateConfig | None = None,
    resume: bool = False,
    modality: str | None = None,
    log: Callable[[str], None] | None = _stderr,
    progress: bool = True,
    slices: str | None = None,
    sequence: str | None = None,
) -> EvaluationResult:
    """Evaluate ``synthetic`` against ``real`` (training) and ``test`` (held-out) and write the report in ``out``.

    ``slices`` (e.g. ``"axial:0.3-0.7:4"``, :mod:`radsynth.evaluate.slicing`) expands NIfTI volumes of every set
    into 2D slices; ``sequence`` keeps one sequence (e.g. ``"T1w"``) of every set. Both are recorded in
    ``metrics.json`` under ``slicing`` and in each input's description.
    """
    from tqdm.auto import tqdm

    from radsynth import __version__
    from radsynth.evaluate.sets import harmonise, load_eval_set
    from radsynth.evaluate.slicing import parse_slices
    from radsynth.io.atomic import atomic_write_bytes, atomic_write_text
    from radsynth.report.html import render_report

    cfg = config or EvaluateConfig()
    spec = None if slices is None else parse_slices(slices)  # a bad spec fails before anything is read or written
    out_p = Path(out).expanduser()
    _check_out(out_p, resume)
    t0 = time.perf_counter()
    if cfg.threads:
        import torch

        torch.set_num_threads(cfg.threads)
    encoder = None
    if cfg.encoder != "pixel":  # a bad encoder name fails now, before anything is read or written; loaded once
        from radsynth.metrics.encoder import load_encoder

        try:
            encoder = load_encoder(cfg.encoder, num_threads=cfg.threads or 1)
        except RadsynthInputError as exc:
            raise RadsynthInputError("--encoder", cfg.encoder, f"'pixel' or {exc.accepted}", exc.hint) from None
    kw = {"image_size": cfg.image_size, "modality": modality, "progress": progress, "slices": spec,
          "sequence": sequence}
    sets = {"real": load_eval_set(real, "real", **kw), "synthetic": load_eval_set(synthetic, "synthetic", **kw)}
    if test is not None:
        sets["test"] = load_eval_set(test, "test", **kw)
    r, s, t, notes = harmonise(sets["real"], sets["synthetic"], sets.get("test"))
    slicing = _slicing_record(spec, sequence, sets)
    if spec is not None:
        notes.append(_slicing_note(spec, sets))
    dups = [f"{k} {v.duplicate_files}" for k, v in sets.items() if v.duplicate_files]
    if dups:
        notes.append(f"Byte-identical copies (files repeating another file of the same set: {', '.join(dups)}) "
                     "share one group id, so no copy sits in a test fold or bootstrap sample apart from its twin.")
    ctx = EvalContext(config=cfg, real=r, synthetic=s, test=t, notes=list(notes), log=log, progress=progress,
                      _encoder=encoder)
    fps = {k: v.fingerprint for k, v in ctx.sets().items()}

    out_p.mkdir(parents=True, exist_ok=True)
    results: dict[str, SectionResult] = {}
    timings: dict[str, float] = {}
    bar = tqdm(RUN_ORDER, desc="evaluate", unit="section", disable=not progress, leave=False)
    for name in bar:
        bar.set_postfix_str(name)
        if name not in cfg.sections:
            results[name] = SectionResult.not_run(name, TITLES[name], "not requested (--sections)")
            continue
        key = cfg.section_key(name, fps)
        cached = _load_cached(out_p, name, key) if resume else None
        if cached is not None:
            results[name], art = cached
            if art:
                ctx.artifacts[name] = art
            timings[name] = results[name].seconds
            if log:
                log(f"{name}: reused from {CACHE}/ ({results[name].status})")
            continue
        ts = time.perf_counter()
        ok = True
        try:
            res = importlib.import_module(f"radsynth.evaluate.{name}").run(ctx)
        except (SectionSkipped, RadsynthInputError) as exc:
            res = SectionResult.not_run(name, TITLES[name], str(exc))
        except Exception as exc:  # noqa: BLE001 - one broken section must not lose the others
            ok = False
            msg = str(exc).splitlines()[0][:300] if str(exc) else ""
            res = SectionResult(name, TITLES[name], status="failed", reason=f"{type(exc).__name__}: {msg}",
                                verdict="The section failed; see errors.log.", level="info")
            with open(out_p / "errors.log", "a") as fh:
                fh.write(f"--- section {name}\n{traceback.format_exc()}\n")
        res.seconds = time.perf_counter() - ts
        timings[name] = res.seconds
        results[name] = res
        if log:
            log(f"{name}: {res.status} ({res.seconds:.1f} s) - {res.verdict or res.reason}")
        if ok:
            _save_cached(out_p, key, res, ctx.artifacts.get(name))
    bar.close()

    ordered = [results[n] for n in SECTIONS]
    inputs = [v.describe() for v in ctx.sets().values()]
    metrics = {
        "radsynth_version": __version__,
        **json_safe(headline(results)),
        "status": {n: results[n].status for n in SECTIONS},
        "verdicts": {n: {"level": results[n].level, "verdict": results[n].verdict} for n in SECTIONS},
        "inputs": json_safe(inputs),
        "slicing": json_safe(slicing),
        "notes": list(ctx.notes),
        "config": cfg.to_json_dict(),
        "sections": {n: _strip_seconds(results[n].to_dict()) for n in SECTIONS},
    }
    summary = {k: metrics[k] for k in ("c2st_auc", "fid_matched_n", "fid_heldout_matched_n", "kid", "precision",
                                       "coverage", "memorised_fraction", "membership_auc") if metrics[k] is not None}
    page = render_report(ordered, title="radsynth evaluation report", inputs=json_safe(inputs), summary=summary,
                         notes=ctx.notes, generated_by=f"radsynth {__version__} evaluate (seed {cfg.seed})")
    for f in results["detectability"].figures:  # the blinded grid, for the dataset card (see detectability)
        if f.name == "blind_grid":
            atomic_write_bytes(out_p / "blind_grid.png", f.png)
    atomic_write_text(out_p / "metrics.json", json.dumps(metrics, indent=2, sort_keys=False) + "\n")
    atomic_write_text(out_p / "report.html", page)
    timings["total"] = time.perf_counter() - t0
    atomic_write_text(out_p / "timings.json", json.dumps({k: round(v, 2) for k, v in timings.items()}, indent=2) + "\n")
    record_evaluation(cfg, fps, {k: getattr(v, "source", "") for k, v in ctx.sets().items()}, out_p)
    return EvaluationResult(out=out_p, sections=ordered, metrics=metrics)


def _slicing_record(spec: Any, sequence: str | None, sets: dict[str, Any]) -> dict[str, Any] | None:
    """``metrics.json["slicing"]``: the spec (text and fields), the sequence, volumes/slices/2D images per set."""
    if spec is None and sequence is None:
        return None
    return {"spec": None if spec is None else str(spec), "settings": None if spec is None else spec.to_dict(),
            "sequence": sequence,
            "sets": {k: {n: (v.slicing or {}).get(n) for n in ("volumes", "slices", "images_2d",
                                                                "volumes_without_slices", "sequence_not_recorded")}
                     for k, v in sets.items()}}


def _slicing_note(spec: Any, sets: dict[str, Any]) -> str:
    parts = [f"{k} {v.slicing['slices']} slices of {v.slicing['volumes']} volumes"
             + (f" + {v.slicing['images_2d']} 2D images" if v.slicing["images_2d"] else "")
             for k, v in sets.items() if v.slicing]
    unfiltered = [k for k, v in sets.items() if v.slicing and v.slicing.get("sequence_not_recorded")]
    return (f"Volumes sliced with --slices {spec} ({'; '.join(parts)}); a subject's slices share one group id, "
            "so folds, bootstraps and the memorisation audit keep them together, but slices of one volume are "
            "not independent images."
            + (f" The {', '.join(unfiltered)} set{'s' if len(unfiltered) > 1 else ''} record{'' if len(unfiltered) > 1 else 's'} "
               "no sequence, so --sequence kept all of its images." if unfiltered else ""))


def record_evaluation(cfg: EvaluateConfig, fingerprints: dict[str, str], sources: dict[str, Any], out: Path) -> None:
    """Append an ``evaluate`` audit record: settings hash, input set fingerprints (and where they came
    from), sha256 of metrics.json and report.html."""
    from radsynth.core.records import config_hash
    from radsynth.io.atomic import sha256_file
    from radsynth.provenance.audit import log_action

    log_action("evaluate", config_hash=config_hash(cfg.to_json_dict()),
               inputs={**{f"{k}_fingerprint": str(v) for k, v in fingerprints.items()},
                       **{f"{k}_source": str(v) for k, v in sources.items()}},
               outputs={"folder": str(out.resolve()), "metrics.json": sha256_file(out / "metrics.json"),
                        "report.html": sha256_file(out / "report.html")})
