"""Evaluation report: section data model, deterministic PNG figures and a self-contained HTML page.

:class:`SectionResult` (with its :class:`Table` and :class:`Figure` parts) is what each
evaluation section returns; :func:`render_report` turns a list of them into one HTML
page with inline CSS and embedded images, and :func:`write_report` writes it
atomically. Figure helpers live in :mod:`radsynth.report.figures`.
"""

from __future__ import annotations

from radsynth.report.html import render_report, write_report
from radsynth.report.model import Figure, SectionResult, Table

__all__ = ["Figure", "SectionResult", "Table", "render_report", "write_report"]
