"""End to end in headless Chromium (Playwright): sign in, gallery, a reader study read with the keyboard only.

Needs the `playwright` Python package and a Chromium executable (Debian `chromium`; set
RADSYNTH_CHROMIUM to another path). Without either the tests skip, saying which is missing.
Screenshots go to docs/ with RADSYNTH_SCREENSHOTS=1 (else to a temp folder): service-datasets.png (the datasets list),
service-gallery.png (a cohort's thumbnails), service-reader-study.png (a case being read) and
service-reader-study-results.png (AUCs of a guessing reader and of one who knows the truth).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e "
                                     "'.[test]'; the browser itself: Debian package chromium)")
CHROMIUM = os.environ.get("RADSYNTH_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
if not CHROMIUM:
    pytest.skip("no Chromium executable (Debian package chromium, or set RADSYNTH_CHROMIUM)", allow_module_level=True)

sys.path.insert(0, str(Path(__file__).parent))
from test_serve import Server  # noqa: E402

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from PIL import Image

    from radsynth.cohort.catalog import dataset_items
    from radsynth.cohort.runner import build_cohort
    from radsynth.io.thumbnail import render_png
    from radsynth.cohort.spec import parse_spec
    from service_helpers import tiny_spec

    tmp = tmp_path_factory.mktemp("browser")
    srv = Server(tmp)
    build_cohort(parse_spec(tiny_spec(n_subjects=4, outputs={"formats": ["nifti", "png"], "watermark": False})),
                 srv.root / "cohorts" / "brain", backend="local", workers=1, resume=False, progress=False)
    # two image sets of 50 for the study, made from the cohort's slices (shifted; the "synthetic" one noisier) so that
    # the screenshot shows a brain; the scripted readers below never look at the pixels
    cohort = srv.root / "cohorts" / "brain"
    slices = [np.asarray(Image.open(io.BytesIO(render_png(cohort / it.path, size=128))).convert("L"))
              for it in dataset_items(cohort)]
    assert len(slices) == 4, "the cohort build wrote no images"
    rng = np.random.default_rng(0)
    for name, noise in (("real", 2.0), ("synth", 12.0)):
        d = srv.root / "sets" / name
        d.mkdir(parents=True)
        for i in range(50):
            img = np.roll(slices[i % len(slices)].astype(np.float64), tuple(rng.integers(-4, 5, 2)), axis=(0, 1))
            img += rng.normal(0.0, noise, img.shape)
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "L").save(d / f"{i:03d}.png")
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
    assert page.title().startswith("Sign in")
    page.keyboard.type(key)  # the key field has focus
    with page.expect_navigation():  # POST /login -> 303 -> / (the same URL as the sign-in form's, so wait for it)
        page.keyboard.press("Enter")
    page.wait_for_load_state()
    assert page.url == f"{srv.url}/" and page.title().startswith("Datasets"), (page.url, page.title())
    return page


def shot(page, name):
    """Screenshot into docs/ with RADSYNTH_SCREENSHOTS=1 (how the checked-in ones were made), else into a temp
    folder: a plain test run does not rewrite tracked files."""
    import tempfile

    out = DOCS if os.environ.get("RADSYNTH_SCREENSHOTS") == "1" else Path(tempfile.gettempdir()) / "radsynth-screenshots"
    out.mkdir(exist_ok=True)
    page.screenshot(path=str(out / name), full_page=True)
    assert (out / name).stat().st_size > 1000


def test_gallery_in_the_browser(served):
    srv, keys, browser = served
    page = sign_in(browser, srv, keys["viewer"])
    row = page.locator("tr", has=page.locator("code", has_text="data/cohorts/brain"))
    assert row.count() == 1, page.content()
    cells = row.locator("td").all_inner_texts()
    assert cells[0] == "tiny" and cells[2] == "4" and cells[3] == "4" and cells[4] == "MR", cells
    shot(page, "service-datasets.png")
    with page.expect_navigation():
        page.click('a[href="/gallery/data/cohorts/brain"]')
    assert page.title().startswith("Dataset data/cohorts/brain"), (page.title(), page.content()[:3000])
    page.wait_for_selector("figure img")
    # thumbnails load lazily: wait for the ones on screen, then none may be broken
    page.wait_for_function("() => [...document.querySelectorAll('figure img')]"
                           ".some(e => e.complete && e.naturalWidth > 0)")
    page.wait_for_load_state("networkidle")
    n, loaded, broken = page.eval_on_selector_all(
        "figure img", "els => [els.length, els.filter(e => e.complete && e.naturalWidth > 0).length, "
                      "els.filter(e => e.complete && e.naturalWidth === 0).length]")
    assert n >= 4 and loaded >= 4 and broken == 0, (n, loaded, broken)
    shot(page, "service-gallery.png")


def _read(page, study_url, n_cases, answer) -> None:
    """Rate every case with the keyboard only (keys 1-5); the page must show the cases one by one, in order."""
    page.goto(study_url)
    for i in range(n_cases):
        assert page.locator("main p").first.inner_text().startswith(f"Case {i + 1} of {n_cases}."), page.content()
        case_id = page.get_attribute("input[name=case_id]", "value")
        with page.expect_navigation():
            page.keyboard.press(str(answer(case_id)))
    assert f"You rated all {n_cases} cases" in page.content(), page.content()


def test_reader_study_in_the_browser(served):
    srv, keys, browser = served
    n_cases = 100
    op = sign_in(browser, srv, keys["operator"])
    op.goto(f"{srv.url}/studies")
    op.fill("input[name=name]", "browser study")
    op.fill("input[name=real]", "data/sets/real")
    op.fill("input[name=synthetic]", "data/sets/synth")
    op.fill("input[name=n_cases]", str(n_cases))
    with op.expect_navigation():
        op.click("text=Create study")
    study_url = op.url
    assert re.fullmatch(re.escape(srv.url) + r"/studies/[0-9a-f]{16}", study_url), (study_url, op.content())
    import sqlite3

    con = sqlite3.connect(srv.root / "service.sqlite")
    truth = dict(con.execute("select case_id, source from study_cases where study_id = ?", (study_url.split("/")[-1],)))
    con.close()
    assert len(truth) == n_cases and sorted(truth.values()).count("synthetic") == n_cases // 2
    reader = sign_in(browser, srv, keys["viewer"])
    reader.goto(study_url)
    reader.wait_for_function("() => { const e = document.getElementById('case-image'); "
                             "return e && e.complete && e.naturalWidth > 0; }")
    shot(reader, "service-reader-study.png")
    rng = np.random.default_rng(2024)
    _read(reader, study_url, n_cases, lambda _c: int(rng.integers(1, 6)))  # guesses: cannot tell
    admin = sign_in(browser, srv, keys["admin"])
    _read(admin, study_url, n_cases, lambda c: 5 if truth[c] == "synthetic" else 1)  # knows the hidden truth
    op.goto(study_url + "/results")
    shot(op, "service-reader-study-results.png")
    rows = {cells[0]: cells for cells in (r.locator("td").all_inner_texts()
                                          for r in op.locator("#results tbody tr").all())}
    assert set(rows) == {"viewer-b", "admin-b", "pooled"}, rows
    assert rows["viewer-b"][1] == rows["admin-b"][1] == str(n_cases) and rows["pooled"][1] == str(2 * n_cases), rows
    print("browser reader study AUCs:", {k: v[2] for k, v in rows.items()})
    assert abs(float(rows["viewer-b"][2]) - 0.5) <= 0.1, rows
    assert float(rows["admin-b"][2]) == 1.0, rows
