"""End to end in headless Chromium (Playwright): sign in, gallery, a reader study read with the keyboard only.

Needs the `playwright` Python package and a Chromium executable (Debian `chromium`; set
RADSYNTH_CHROMIUM to another path). Without either the tests skip, saying which is missing.
Screenshots of the gallery and the reader study go to docs/ (RADSYNTH_SCREENSHOTS=0 turns that off).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install "
                                     "playwright; the browser itself: Debian package chromium)")
CHROMIUM = os.environ.get("RADSYNTH_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
if not CHROMIUM:
    pytest.skip("no Chromium executable (Debian package chromium, or set RADSYNTH_CHROMIUM)", allow_module_level=True)

sys.path.insert(0, str(Path(__file__).parent))
from test_serve import Server  # noqa: E402

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from PIL import Image

    from radsynth.cohort.runner import build_cohort
    from radsynth.cohort.spec import parse_spec
    from service_helpers import tiny_spec

    tmp = tmp_path_factory.mktemp("browser")
    srv = Server(tmp)
    build_cohort(parse_spec(tiny_spec(n_subjects=4, outputs={"formats": ["nifti", "png"], "watermark": False})),
                 srv.root / "cohorts" / "brain", backend="local", workers=1, resume=False, progress=False)
    rng = np.random.default_rng(0)
    for name in ("real", "synth"):
        d = srv.root / "sets" / name
        d.mkdir(parents=True)
        for i in range(50):
            Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8), "L").save(d / f"{i:03d}.png")
    keys = {role: srv.key(role, f"{role}-b") for role in ("viewer", "operator", "admin")}
    srv.start()
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield srv, keys, browser
        browser.close()
    srv.stop()


def sign_in(browser, srv, key):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{srv.url}/")
    page.keyboard.type(key)  # the key field has focus
    page.keyboard.press("Enter")
    page.wait_for_url(f"{srv.url}/")
    return page


def shot(page, name):
    if os.environ.get("RADSYNTH_SCREENSHOTS", "1") != "0":
        DOCS.mkdir(exist_ok=True)
        page.screenshot(path=str(DOCS / name), full_page=True)


def test_gallery_in_the_browser(served):
    srv, keys, browser = served
    page = sign_in(browser, srv, keys["viewer"])
    assert "data/cohorts/brain" in page.content()
    page.click("text=images")
    page.wait_for_selector("figure img")
    loaded = page.eval_on_selector_all("figure img", "els => els.filter(e => e.complete && e.naturalWidth > 0).length")
    assert loaded >= 1
    shot(page, "gallery.png")


def _read(page, srv, study_url, answer) -> None:
    page.goto(study_url)
    while True:
        if "You rated all" in page.content():
            return
        case_id = page.get_attribute("input[name=case_id]", "value")
        with page.expect_navigation():
            page.keyboard.press(str(answer(case_id)))  # keyboard only: keys 1-5


def test_reader_study_in_the_browser(served):
    srv, keys, browser = served
    op = sign_in(browser, srv, keys["operator"])
    op.goto(f"{srv.url}/studies")
    op.fill("input[name=name]", "browser study")
    op.fill("input[name=real]", "data/sets/real")
    op.fill("input[name=synthetic]", "data/sets/synth")
    op.fill("input[name=n_cases]", "100")
    op.click("text=Create study")
    study_url = op.url
    import sqlite3

    con = sqlite3.connect(srv.root / "service.sqlite")
    truth = dict(con.execute("select case_id, source from study_cases"))
    con.close()
    reader = sign_in(browser, srv, keys["viewer"])
    reader.goto(study_url)
    shot(reader, "reader-study.png")
    rng = np.random.default_rng(2024)
    _read(reader, srv, study_url, lambda _c: int(rng.integers(1, 6)))
    admin = sign_in(browser, srv, keys["admin"])
    _read(admin, srv, study_url, lambda c: 5 if truth[c] == "synthetic" else 1)
    op.goto(study_url + "/results")
    shot(op, "reader-study-results.png")
    aucs = dict(re.findall(r"<tr><td>([\w-]+)</td><td>\d+</td><td class=\"?auc\"?>([0-9.]+)</td>", op.content()))
    assert abs(float(aucs["viewer-b"]) - 0.5) <= 0.1, aucs
    assert float(aucs["admin-b"]) == 1.0, aucs
