"""HTML report: self-contained, escaped, deterministic, complete (incl. sections that did not run)."""

from __future__ import annotations

import base64
import io
import math
import re
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from radsynth.core.errors import RadsynthInputError
from radsynth.report import Figure, SectionResult, Table, render_report, write_report
from radsynth.report.html import format_value
from radsynth.report.model import json_safe

EVIL = "<script>alert(1)</script>"
EVIL_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def _png(colour: int, size: tuple[int, int] = (6, 4)) -> bytes:
    buf = io.BytesIO()
    Image.new("L", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def _sections() -> list[SectionResult]:
    return [
        SectionResult("fidelity", "Fidelity", verdict="Grey values match the real scans.", level="pass",
                      metrics={"fid": np.float32(12.5), "js": float("nan"), "n": np.int64(3)},
                      tables=[Table("Distances", ("metric", "value"), (("FID", "12.5"), (EVIL, "0.50 ± 0.1")),
                                    note="lower is better")],
                      figures=[Figure("hist", _png(10), caption="Grey-value histogram", alt="two curves"),
                               Figure("spec", _png(200, (8, 3)), caption=f"spectrum {EVIL}")],
                      notes=["64 bins", f"class {EVIL}"], seconds=1.26),
        SectionResult("detectability", "Detectability", verdict="A judge tells them apart.", level="fail"),
        SectionResult("fairness", "Fairness", verdict="Subgroup gap worth a look.", level="warn"),
        SectionResult.not_run("utility", "Utility", f"no labels found in /data/{EVIL}"),
        SectionResult("memorisation", "Memorisation", status="failed", reason="encoder weights missing"),
    ]


def _render(**kw: object) -> str:
    args: dict[str, object] = dict(
        title=f"Evaluation of {EVIL}",
        inputs=[{"name": "real", "source": f"/scans/{EVIL}", "images": 120, "classes": "normal, pneumonia"},
                {"name": "synthetic", "images": np.int64(60), "fingerprint": "ab12"}],
        summary={"c2st_auc": 0.61234, "fid": np.float64(12.3), "kid": float("nan"), "memorised": False},
        notes=["Real test split never used."], generated_by="radsynth evaluate --real r --synthetic s")
    args.update(kw)
    return render_report(_sections(), **args)  # type: ignore[arg-type]


class _Balance(HTMLParser):
    """Stack of open non-void tags; records mismatches."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
            return
        self.stack.pop()


def _parse(html: str) -> _Balance:
    p = _Balance()
    p.feed(html)
    p.close()
    return p


def test_page_is_well_formed() -> None:
    p = _parse(_render())
    assert p.errors == []
    assert p.stack == []
    names = [t for t, _ in p.tags]
    for tag in ("html", "head", "body", "main", "style", "table", "figure", "figcaption"):
        assert tag in names
    assert names.count("main") == 1


def test_every_section_title_verdict_and_reason_present() -> None:
    html = _render()
    for s in _sections():
        assert s.title in html
        assert f'id="sec-{s.name}"' in html
        assert f'href="#sec-{s.name}"' in html
    assert "Grey values match the real scans." in html
    assert f"no labels found in /data/{EVIL_ESCAPED}" in html
    assert "encoder weights missing" in html
    assert "Run time: 1.3 s" in html


def test_overview_table_lists_status_and_badges() -> None:
    html = _render()
    overview = html[html.index('<table class="verdicts">'):]
    overview = overview[: overview.index("</table>")]
    rows = re.findall(r"<tr><td><a href=\"#(sec-[a-z-]+)\">([^<]+)</a></td><td>([^<]+)</td><td>(.*?)</td>", overview)
    assert [(r[0], r[2]) for r in rows] == [("sec-fidelity", "ok"), ("sec-detectability", "ok"),
                                            ("sec-fairness", "ok"), ("sec-utility", "not run"),
                                            ("sec-memorisation", "failed")]
    found = [re.search(r'class="badge badge-([a-z-]+)">([^<]+)<', r[3]) for r in rows]
    badges = [m.groups() if m else None for m in found]
    assert badges == [("pass", "\u2713 PASS"), ("fail", "\u2717 FAIL"), ("warn", "! WARN"),
                      ("not-run", "\u2013 NOT RUN"), ("not-run", "\u2013 ERROR")]


def test_not_run_box_lists_each_section_that_did_not_run() -> None:
    html = _render()
    start = html.index('id="not-run"')
    box = html[start: html.index("</section>", start)]
    assert "Sections that could not run (2)" in box
    assert "Utility" in box and f"/data/{EVIL_ESCAPED}" in box
    assert "Memorisation" in box and "encoder weights missing" in box
    assert "Fidelity" not in box
    ok_only = render_report(_sections()[:3], title="t")
    assert 'id="not-run"' not in ok_only and "could not run" not in ok_only


def test_figures_embedded_as_data_uris_that_decode_to_same_bytes() -> None:
    html = _render()
    uris = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert [base64.b64decode(u) for u in uris] == [f.png for f in _sections()[0].figures]
    assert 'width="6" height="4"' in html and 'width="8" height="3"' in html
    assert "<figcaption><strong>Figure 1.</strong> Grey-value histogram</figcaption>" in html
    assert 'alt="two curves"' in html


def test_no_external_resources() -> None:
    html = _render()
    low = html.lower()
    for bad in ('src="http', "src='http", 'href="http', "href='http", "<link", "<script", "@import", "url("):
        assert bad not in low, bad
    assert "http://" not in low and "https://" not in low
    # every src is a data URI; every href is an in-page anchor
    for tag, attrs in _parse(html).tags:
        if "src" in attrs:
            assert str(attrs["src"]).startswith("data:image/png;base64,"), tag
        if "href" in attrs:
            assert str(attrs["href"]).startswith("#"), tag


def test_user_strings_are_escaped() -> None:
    html = _render()
    assert EVIL not in html
    assert "<script" not in html.lower()
    assert f"<title>Evaluation of {EVIL_ESCAPED}</title>" in html
    assert f"<td>/scans/{EVIL_ESCAPED}</td>" in html  # input path
    assert f"<td>{EVIL_ESCAPED}</td>" in html  # table cell (class name)
    assert f"<li>class {EVIL_ESCAPED}</li>" in html  # method note
    assert f"spectrum {EVIL_ESCAPED}" in html  # figure caption
    hostile = render_report([SectionResult(f'x" onload="{EVIL}', f'T"><img src=x onerror=alert(1)>')], title="t")
    parsed = _parse(hostile)
    assert parsed.errors == []
    assert not [(t, a) for t, a in parsed.tags if any(k.startswith("on") for k in a)]  # no injected handlers
    assert not [a for t, a in parsed.tags if t == "img"]  # no injected image


def test_inputs_summary_and_notes() -> None:
    html = _render()
    head = html[html.index('<table class="inputs">'):]
    head = head[: head.index("</thead>")]
    assert re.findall(r"<th scope=\"col\">([^<]+)</th>", head) == ["name", "source", "images", "classes",
                                                                    "fingerprint"]
    assert '<td class="num">60</td>' in html
    assert "<dt>c2st_auc</dt><dd>0.6123</dd>" in html
    assert "<dt>fid</dt><dd>12.3</dd>" in html
    assert "<dt>kid</dt><dd>n/a</dd>" in html
    assert "<dt>memorised</dt><dd>no</dd>" in html
    assert "<li>Real test split never used.</li>" in html
    assert "radsynth evaluate --real r --synthetic s" in html
    assert "Generated by radsynth " in html
    bare = render_report([], title="empty")
    assert 'class="inputs"' not in bare and 'id="summary"' not in bare and _parse(bare).errors == []


def test_render_is_deterministic() -> None:
    assert _render() == _render()
    assert _render() != _render(title="other")


def test_duplicate_section_names_get_unique_anchors() -> None:
    secs = [SectionResult("a b", "First"), SectionResult("a b", "Second"), SectionResult("", "Third")]
    html = render_report(secs, title="t")
    ids = re.findall(r'<section class="report-section" id="([^"]+)"', html)
    assert ids == ["sec-a-b", "sec-a-b-2", "sec-3"]


def test_render_rejects_non_sections() -> None:
    with pytest.raises(RadsynthInputError, match=r"sections\[0\]"):
        render_report([{"name": "x"}], title="t")  # type: ignore[list-item]
    with pytest.raises(RadsynthInputError, match=r"inputs\[0\]"):
        render_report([], title="t", inputs=["real"])  # type: ignore[list-item]


def test_write_report_is_atomic(tmp_path: Path) -> None:
    html = _render()
    out = tmp_path / "sub" / "report.html"
    assert write_report(out, html) == out
    assert out.read_text(encoding="utf-8") == html
    assert sorted(p.name for p in out.parent.iterdir()) == ["report.html"]  # no temporary file left behind
    write_report(out, "<p>second</p>")
    assert out.read_text(encoding="utf-8") == "<p>second</p>"
    with pytest.raises(RadsynthInputError, match="html"):
        write_report(out, b"bytes")  # type: ignore[arg-type]
    assert out.read_text(encoding="utf-8") == "<p>second</p>"
    assert sorted(p.name for p in out.parent.iterdir()) == ["report.html"]


def test_template_is_package_data() -> None:
    t = resources.files("radsynth.report").joinpath("templates", "report.html.j2")
    assert t.is_file()
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    assert '"report/templates/*"' in pyproject.read_text(encoding="utf-8")


def test_table_with_wrong_cell_count_raises() -> None:
    with pytest.raises(RadsynthInputError, match="row 1"):
        Table("t", ("a", "b"), (("1", "2"), ("3",)))


def test_figure_rejects_non_png() -> None:
    with pytest.raises(RadsynthInputError, match="png"):
        Figure("f", b"GIF89a....")


def test_json_safe_and_format_value() -> None:
    d = json_safe({"a": np.float32(0.5), "b": float("nan"), "c": np.array([1, 2]), "d": (np.int64(3), np.inf),
                   "e": np.bool_(True), 4: "x"})
    assert d == {"a": 0.5, "b": None, "c": [1, 2], "d": [3, None], "e": True, "4": "x"}
    assert type(d["a"]) is float and type(d["c"][0]) is int and type(d["e"]) is bool
    assert format_value(float("nan")) == "n/a" and format_value(None) == "n/a"
    assert format_value(np.float64(math.pi)) == "3.142"
    assert format_value(True) == "yes" and format_value(np.int32(7)) == "7"
    assert format_value([0.5, float("inf")]) == "0.5, n/a"
