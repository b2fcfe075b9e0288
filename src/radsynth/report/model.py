"""What a report section is made of: tables, figures, metrics, a status and a plain verdict.

Evaluation sections (:mod:`radsynth.evaluate`) return :class:`SectionResult`; the HTML
renderer (:mod:`radsynth.report.html`) turns a list of them into one self-contained page,
and :meth:`SectionResult.to_dict` is what goes into ``metrics.json`` (figures are not in
it; their captions are). A section that could not run still appears, with
``status="not run"`` and the reason, so a reader sees what was NOT measured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from radsynth.core.errors import RadsynthInputError

Status = Literal["ok", "not run", "failed"]
#: pass = no problem found; warn = a concern worth reading; fail = the set fails this check;
#: info = numbers without a pass/fail reading (e.g. a section with no agreed threshold)
Level = Literal["pass", "warn", "fail", "info"]
STATUSES: tuple[str, ...] = ("ok", "not run", "failed")
LEVELS: tuple[str, ...] = ("pass", "warn", "fail", "info")


@dataclass(frozen=True)
class Figure:
    """One embedded picture: PNG bytes, a caption, and alt text for screen readers."""

    name: str
    png: bytes = field(repr=False)
    caption: str = ""
    alt: str = ""

    def __post_init__(self) -> None:
        if not self.png.startswith(b"\x89PNG\r\n\x1a\n"):
            raise RadsynthInputError("figure png", f"{len(self.png)} bytes", "PNG bytes (signature 89 50 4E 47)")


@dataclass(frozen=True)
class Table:
    """A table of already-formatted cells (strings); ``note`` is printed under it."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""

    def __post_init__(self) -> None:
        for i, r in enumerate(self.rows):
            if len(r) != len(self.columns):
                raise RadsynthInputError(f"table {self.title!r} row {i}", len(r),
                                         f"{len(self.columns)} cells (one per column)")

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "columns": list(self.columns), "rows": [list(r) for r in self.rows],
                "note": self.note}


@dataclass
class SectionResult:
    """One report section (fidelity, detectability, utility, shortcut, fairness, memorisation)."""

    name: str
    title: str
    status: Status = "ok"
    #: why the section did not run (or failed); empty when it ran
    reason: str = ""
    #: one or two plain sentences a non-specialist can act on
    verdict: str = ""
    level: Level = "info"
    #: every number of the section (JSON-able: str, int, float, bool, None, lists, dicts)
    metrics: dict[str, Any] = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    #: method notes: what was done, settings, caveats
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise RadsynthInputError("section status", self.status, ", ".join(STATUSES))
        if self.level not in LEVELS:
            raise RadsynthInputError("section level", self.level, ", ".join(LEVELS))
        if self.status != "ok" and not self.reason:
            raise RadsynthInputError("section reason", self.reason, f"a reason when status is {self.status!r}")

    @classmethod
    def not_run(cls, name: str, title: str, reason: str) -> SectionResult:
        return cls(name=name, title=title, status="not run", reason=reason,
                   verdict=f"Not measured: {reason}", level="info")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "title": self.title, "status": self.status, "reason": self.reason,
            "verdict": self.verdict, "level": self.level, "metrics": json_safe(self.metrics),
            "tables": [t.to_dict() for t in self.tables],
            "figures": [{"name": f.name, "caption": f.caption} for f in self.figures],
            "notes": list(self.notes), "seconds": round(float(self.seconds), 3),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SectionResult:
        """Rebuild from :meth:`to_dict` (figures are not stored there and come back empty)."""
        return cls(name=d["name"], title=d["title"], status=d["status"], reason=d.get("reason", ""),
                   verdict=d.get("verdict", ""), level=d.get("level", "info"), metrics=d.get("metrics", {}),
                   tables=[Table(t["title"], tuple(t["columns"]), tuple(tuple(r) for r in t["rows"]), t.get("note", ""))
                           for t in d.get("tables", [])],
                   notes=list(d.get("notes", [])), seconds=float(d.get("seconds", 0.0)))


def json_safe(x: Any) -> Any:
    """Numpy scalars/arrays and tuples -> plain JSON types; NaN/inf -> None (JSON has no NaN)."""
    import numpy as np

    if isinstance(x, dict):
        return {str(k): json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if isinstance(x, np.ndarray):
        return json_safe(x.tolist())
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        v = float(x)
        return v if math.isfinite(v) else None
    return x
