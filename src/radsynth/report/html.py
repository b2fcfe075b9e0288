"""Render evaluation sections into one self-contained, deterministic HTML page.

The page (template ``templates/report.html.j2``, shipped as package data and read
with :mod:`importlib.resources`) opens with a verdict overview (one row per section,
its status and a pass/warn/fail/info/not-run badge that carries text as well as
colour), then a prominent list of the sections that could NOT run with their
reasons, the input data sets, the headline numbers and page-level notes, then every
section in full: verdict, reason, tables, figures and method notes.

Design rules:

* Self-contained: CSS is inline and figures are embedded as ``data:image/png;base64``
  URIs (RFC 2397), so the file can be e-mailed, archived or opened offline; nothing is
  fetched from the network (no external CSS, fonts, scripts or images).
* Safe: Jinja2 autoescaping is on, so user-supplied strings (paths, class names,
  data set names) are HTML-escaped and cannot inject markup or scripts.
* Deterministic: the same input gives byte-identical output; the page carries no clock
  time unless the caller puts one in ``generated_by`` or ``notes``.
* Honest: a section that did not run is shown as such, with its reason, in the
  overview and in the "could not run" box, so silence is never read as a pass.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import struct
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from radsynth.core.errors import RadsynthInputError
from radsynth.io.atomic import atomic_write_text
from radsynth.report.model import Figure, SectionResult, Table, json_safe

TEMPLATE = "report.html.j2"
BADGES: Mapping[str, str] = MappingProxyType({  # badge kind -> text (symbol + word, so colour is never the only cue)
    "pass": "\u2713 PASS", "warn": "! WARN", "fail": "\u2717 FAIL", "info": "i INFO", "not-run": "\u2013 NOT RUN",
    "failed": "\u2013 ERROR",
})
_NUM = re.compile(r"^\s*[-+\u2212]?(\d[\d,]*\.?\d*|\.\d+)([eE][-+]?\d+)?\s*%?\s*(\u00b1.*|\(.*\)|\[.*\])?\s*$")


def _template_text() -> str:
    return resources.files("radsynth.report").joinpath("templates", TEMPLATE).read_text(encoding="utf-8")


def _environment() -> Any:
    import jinja2

    return jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                              undefined=jinja2.StrictUndefined)


def format_value(v: Any) -> str:
    """One cell / summary value as text: floats to 4 significant digits, NaN/None as ``n/a``."""
    v = json_safe(v)
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else "n/a"
    if isinstance(v, list):
        return ", ".join(format_value(x) for x in v)
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True, ensure_ascii=False, default=str)
    return str(v)


def _cell(text: Any) -> dict[str, Any]:
    t = format_value(text)
    return {"text": t, "num": bool(_NUM.match(t))}


def _png_size(png: bytes) -> tuple[int, int]:
    """Width, height from the PNG IHDR chunk (bytes 16-24)."""
    if len(png) >= 24 and png[12:16] == b"IHDR":
        w, h = struct.unpack(">II", png[16:24])
        return int(w), int(h)
    return 0, 0


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-")


def _anchors(sections: Sequence[SectionResult]) -> list[str]:
    seen: set[str] = set()
    out = []
    for i, s in enumerate(sections):
        base = f"sec-{_slug(s.name) or i + 1}"
        a, k = base, 2
        while a in seen:
            a, k = f"{base}-{k}", k + 1
        seen.add(a)
        out.append(a)
    return out


def _badge_kind(s: SectionResult) -> str:
    if s.status == "not run":
        return "not-run"
    if s.status == "failed":
        return "failed"
    return s.level


def _table_view(t: Table) -> dict[str, Any]:
    return {"title": t.title, "columns": list(t.columns), "rows": [[_cell(c) for c in r] for r in t.rows],
            "note": t.note}


def _figure_view(f: Figure) -> dict[str, Any]:
    w, h = _png_size(f.png)
    return {"b64": base64.b64encode(f.png).decode("ascii"), "caption": f.caption or f.name,
            "alt": f.alt or f.caption or f.name, "width": w, "height": h}


def _section_view(s: SectionResult, anchor: str) -> dict[str, Any]:
    kind = _badge_kind(s)
    verdict = s.verdict or (f"Not measured: {s.reason}" if s.status != "ok" else "(no verdict given)")
    metrics = json_safe(s.metrics)
    return {
        "anchor": anchor, "name": s.name, "title": s.title or s.name, "status": s.status, "reason": s.reason,
        "verdict": verdict, "level": s.level, "badge_kind": "not-run" if kind == "failed" else kind,
        "badge_text": BADGES[kind], "tables": [_table_view(t) for t in s.tables],
        "figures": [_figure_view(f) for f in s.figures], "notes": [str(n) for n in s.notes],
        "metrics_json": json.dumps(metrics, indent=1, sort_keys=True, ensure_ascii=False, default=str)
        if metrics else "",
        "seconds": f"{float(s.seconds):.1f} s" if float(s.seconds) > 0 else "",
    }


def _inputs_view(inputs: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    rows = list(inputs)
    if not rows:
        return None
    columns: list[str] = []
    for i, r in enumerate(rows):
        if not isinstance(r, Mapping):
            raise RadsynthInputError(f"inputs[{i}]", type(r).__name__, "a mapping (name, source, images, ...)")
        for k in r:
            if str(k) not in columns:
                columns.append(str(k))
    body = [[_cell(next((v for k, v in r.items() if str(k) == c), "")) for c in columns] for r in rows]
    return {"columns": columns, "rows": body}


def render_report(sections: Sequence[SectionResult], *, title: str, inputs: Sequence[Mapping[str, Any]] = (),
                  summary: Mapping[str, Any] | None = None, notes: Sequence[str] = (),
                  generated_by: str = "") -> str:
    """One self-contained HTML page for ``sections``.

    ``inputs``: one mapping per data set (e.g. name, source, images, classes, patients,
    modality, fingerprint), shown as a table; ``summary``: headline numbers shown as a
    key-value box; ``notes``: page-level caveats; ``generated_by``: a line such as the
    command that produced the page (printed next to the radsynth version).
    """
    from radsynth import __version__

    secs = list(sections)
    for i, s in enumerate(secs):
        if not isinstance(s, SectionResult):
            raise RadsynthInputError(f"sections[{i}]", type(s).__name__, "SectionResult",
                                     hint="Build sections with radsynth.report.SectionResult (or .not_run).")
    if summary is not None and not isinstance(summary, Mapping):
        raise RadsynthInputError("summary", type(summary).__name__, "a mapping of headline name -> value, or None")
    if isinstance(notes, str):
        notes = [notes]
    views = [_section_view(s, a) for s, a in zip(secs, _anchors(secs), strict=True)]
    meta = f"Generated by radsynth {__version__}" + (f" \u00b7 {generated_by}" if generated_by else "")
    template = _environment().from_string(_template_text())
    return template.render(
        title=str(title), version=__version__, meta_line=meta, sections=views,
        not_run=[v for v in views if v["status"] != "ok"], inputs=_inputs_view(inputs),
        summary=[(str(k), format_value(v)) for k, v in (summary or {}).items()], notes=[str(n) for n in notes],
    )


def write_report(path: str | os.PathLike[str], html: str) -> Path:
    """Write the page atomically (temporary sibling, fsync, rename); returns the final path."""
    if not isinstance(html, str):
        raise RadsynthInputError("html", type(html).__name__, "the str returned by render_report")
    return atomic_write_text(path, html)
