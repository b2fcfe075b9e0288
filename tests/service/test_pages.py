"""Pages: sign-in, gallery (datasets, thumbnails with window/level, filters, card, report), reader study.

Driven over HTTP (TestClient) the way a browser would drive them: forms posted, redirects followed,
the key kept in the sign-in cookie. The in-browser run (headless Chromium) is in test_browser.py.
"""

from __future__ import annotations

import csv
import io
import re

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from radsynth.service.db import StudyCase
from service_helpers import Service, tiny_spec

HTML = {"Accept": "text/html"}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A service whose gallery has a tiny MR cohort (extra root 'demo') and two PNG sets in the data root."""
    from radsynth.cohort.runner import build_cohort
    from radsynth.cohort.spec import parse_spec

    tmp = tmp_path_factory.mktemp("pages")
    demo = tmp / "demo"
    build_cohort(parse_spec(tiny_spec(n_subjects=3, labels={"tumour": 0.5}, outputs={"formats": ["nifti", "png"],
                                                                                 "watermark": False})),
                 demo / "brain", backend="local", workers=1, resume=False, progress=False)
    root = tmp / "root"
    rng = np.random.default_rng(0)
    for name, size, n in (("real", 96, 60), ("synth", 64, 60)):  # sizes differ: the study must hide that
        d = root / "sets" / name
        d.mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8), "L").save(d / f"{name}-{i:03d}.png")
    svc = Service(root, tmp / "audit.sqlite", start_runner=False, gallery_dirs=[demo])
    yield svc
    svc.client.close()
    svc.app.state.engine.dispose()


def signed_in(svc: Service, role: str):
    from fastapi.testclient import TestClient

    c = TestClient(svc.app, headers=HTML)
    r = c.post("/login", data={"key": svc.tokens[f"{role}-user"]}, follow_redirects=False)
    assert r.status_code == 303 and "radsynth_key" in r.headers["set-cookie"]
    assert "httponly" in r.headers["set-cookie"].lower() and "samesite=strict" in r.headers["set-cookie"].lower()
    return c


def page_routes(app) -> list[tuple[str, str]]:
    fill = {"ref": "demo/brain", "study_id": "0" * 16, "case_id": "0" * 16}
    out = []
    for r in app.routes:
        path = getattr(r, "path", "")
        if path.startswith("/api/") or path == "/health":
            continue
        for m in sorted(getattr(r, "methods", ()) - {"HEAD", "OPTIONS"}):
            out.append((m, re.sub(r"\{(\w+)(:path)?\}", lambda mm: fill[mm.group(1)], path)))
    return out


def test_every_page_needs_a_key(site):
    routes = page_routes(site.app)
    assert {p for _m, p in routes} >= {"/", "/login", "/gallery/demo/brain", "/studies", "/openapi.json", "/docs"}
    for method, path in routes:
        for h in ({}, {"X-API-Key": "rsk_000000000000_" + "A" * 43}, {"Cookie": "radsynth_key=nonsense"}):
            r = site.client.request(method, path, headers=h)
            assert r.status_code == 401, (method, path, h, r.status_code, r.text[:200])
            assert r.json()["error"] == "unauthorized"
        r = site.client.request(method, path, headers=HTML)  # a browser gets the sign-in form
        assert r.status_code == 401 and 'action="/login"' in r.text, (method, path)


def test_sign_in_with_a_bad_key_is_401(site):
    r = site.client.post("/login", data={"key": "rsk_nope"}, headers=HTML, follow_redirects=False)
    assert r.status_code == 401 and "malformed" in r.text and "set-cookie" not in r.headers


def test_gallery_lists_datasets_with_labels_card_and_thumbnails(site):
    c = signed_in(site, "viewer")
    r = c.get("/")
    assert r.status_code == 200 and "tiny" in r.text and "demo/brain" in r.text and "tumour" in r.text
    assert 'href="/card/demo/brain"' in r.text
    r = c.get("/card/demo/brain")
    assert r.status_code == 200 and "tiny" in r.text
    r = c.get("/gallery/demo/brain")
    thumbs = re.findall(r'src="(/thumb/[^"]+)"', r.text)
    from radsynth.cohort.catalog import dataset_items

    items = dataset_items(site.app.state.gallery_roots.roots["demo"] / "brain")
    assert {i.subject for i in items} == {"sub-0001", "sub-0002", "sub-0003"}
    assert r.status_code == 200 and len(thumbs) == len(items)  # one volume per subject and sequence
    assert all(".nii.gz" in t for t in thumbs)  # the NIfTI, so window/level applies
    png = c.get(thumbs[0].replace("&amp;", "&"))
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    im = Image.open(io.BytesIO(png.content))
    assert im.mode == "L" and max(im.size) == 180 and not im.info  # no metadata


def test_evaluation_report_and_damaged_image(site):
    rep = site.root / "reports" / "eval1"
    rep.mkdir(parents=True, exist_ok=True)
    (rep / "report.html").write_text("<html><body>fidelity FID 12.3</body></html>")
    (rep / "broken.nii.gz").write_bytes(b"not a nifti")
    c = signed_in(site, "viewer")
    assert 'href="/report/data/reports/eval1"' in c.get("/").text
    r = c.get("/report/data/reports/eval1")
    assert r.status_code == 200 and "FID 12.3" in r.text
    r = c.get("/thumb/data/reports/eval1/broken.nii.gz", headers={"Accept": "application/json"})
    assert r.status_code == 422 and r.json()["field"] == "image"


def test_window_level_changes_the_pixels(site):
    c = signed_in(site, "viewer")
    ref = re.findall(r'src="/thumb/([^"?]+)', c.get("/gallery/demo/brain").text)[0]
    auto = np.asarray(Image.open(io.BytesIO(c.get(f"/thumb/{ref}?size=64").content)), dtype=float)
    narrow = np.asarray(Image.open(io.BytesIO(c.get(f"/thumb/{ref}?size=64&wc=0&ww=1").content)), dtype=float)
    assert auto.std() > 5 and not np.array_equal(auto, narrow)
    # a 1-unit window around 0 makes the image (nearly) black and white
    assert np.isin(narrow, [0, 255]).mean() > max(0.8, np.isin(auto, [0, 255]).mean())
    r = c.get(f"/thumb/{ref}?wc=10", headers={"Accept": "application/json"})
    assert r.status_code == 422 and r.json()["field"] == "ww"
    r = c.get("/gallery/demo/brain?preset=lung")  # no CT here: the preset is refused, naming the field
    assert r.status_code == 422 and "preset" in r.text


def test_gallery_filters_by_label(site):
    c = signed_in(site, "viewer")
    from radsynth.cohort.catalog import dataset_items

    want = len(dataset_items(site.app.state.gallery_roots.roots["demo"] / "brain", label="tumour"))
    r = c.get("/gallery/demo/brain", params={"label": "tumour"})
    assert r.status_code == 200 and r.text.count("<figure>") == want
    assert f"{want} images match" in r.text
    r = c.get("/gallery/demo/brain", params={"attr": "nonsense"})
    assert r.status_code == 422


@pytest.mark.parametrize("path", ["/thumb/demo/../root/service.sqlite", "/thumb/data/service.sqlite",
                                  "/thumb/demo/%2e%2e/audit.sqlite", "/gallery/%2Fetc", "/card/demo/brain/..%2F..",
                                  "/thumb/nowhere/x.png"])
def test_page_paths_are_confined(site, path):
    c = signed_in(site, "admin")
    r = c.get(path)
    assert r.status_code in (400, 404), (path, r.status_code)
    assert b"SQLite format" not in r.content


def _read_study(c, study_id: str, answer) -> int:
    n = 0
    while True:
        r = c.get(f"/studies/{study_id}")
        assert r.status_code == 200
        m = re.search(r'name="case_id" value="([0-9a-f]+)"', r.text)
        if m is None:
            assert "You rated all" in r.text
            return n
        case_id = m.group(1)
        shown = re.search(r'name="shown" value="([0-9.]+)"', r.text).group(1)
        r = c.post(f"/studies/{study_id}/rate", data={"case_id": case_id, "rating": str(answer(case_id)),
                                                       "shown": shown}, follow_redirects=False)
        assert r.status_code == 303, r.text
        n += 1


def test_reader_study_random_reader_near_half_truth_reader_one(site):
    op = signed_in(site, "operator")
    r = op.post("/studies", data={"name": "vtt", "real": "data/sets/real", "synthetic": "data/sets/synth",
                                  "n_cases": "100", "seed": "7"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    study_id = r.headers["location"].rsplit("/", 1)[1]
    with site.app.state.sessions() as s:
        truth = {c.case_id: c.source for c in s.scalars(select(StudyCase).where(StudyCase.study_id == study_id))}
    assert len(truth) == 100 and sum(v == "synthetic" for v in truth.values()) == 50

    # blinding: the case page and its image say nothing about the source
    viewer = signed_in(site, "viewer")
    page = viewer.get(f"/studies/{study_id}").text
    assert "synth-" not in page and "real-" not in page and "sets/" not in page
    sizes = set()
    for case_id in list(truth)[:6]:
        img = Image.open(io.BytesIO(viewer.get(f"/studies/{study_id}/image/{case_id}").content))
        sizes.add(img.size)
        assert not img.info
    assert sizes == {(512, 512)}

    rng = np.random.default_rng(12345)
    assert _read_study(viewer, study_id, lambda _c: int(rng.integers(1, 6))) == 100
    admin = signed_in(site, "admin")  # sees the hidden truth
    assert _read_study(admin, study_id, lambda c: 5 if truth[c] == "synthetic" else 1) == 100

    # a viewer may read but not see results; the operator sees per-reader and pooled AUC with CI
    assert viewer.get(f"/studies/{study_id}/results").status_code == 403
    r = op.get(f"/studies/{study_id}/results")
    assert r.status_code == 200
    rows = {m[0]: float(m[1]) for m in re.findall(r"<tr><td>([\w-]+)</td><td>\d+</td><td class=auc>([0-9.]+)</td>",
                                                   r.text)}
    print(f"reader study AUCs: {rows}")  # the figures of the closing note (pytest -s)
    assert abs(rows["viewer-user"] - 0.5) <= 0.1, rows
    assert rows["admin-user"] == 1.0 and "pooled" in rows and "95% CI" in r.text

    # CSV: one line per rating with truth, rating and time; the AUC recomputed from it matches the page
    r = op.get(f"/studies/{study_id}/results.csv")
    lines = list(csv.DictReader(io.StringIO(r.text)))
    assert len(lines) == 200 and set(lines[0]) == {"study", "reader", "position", "case", "truth", "rating",
                                                   "seconds", "image"}
    assert all(float(x["seconds"]) >= 0 for x in lines)
    from radsynth.metrics.roc import roc_auc

    vl = [x for x in lines if x["reader"] == "viewer-user"]
    assert roc_auc(np.array([int(x["rating"]) for x in vl]), np.array([x["truth"] == "synthetic" for x in vl])) \
        == pytest.approx(rows["viewer-user"], abs=5e-4)
    # each reader got their own order
    order_v = [x["case"] for x in lines if x["reader"] == "viewer-user"]
    order_a = [x["case"] for x in lines if x["reader"] == "admin-user"]
    assert sorted(order_v) == sorted(order_a) and order_v != order_a


def test_study_input_errors(site):
    viewer, op = signed_in(site, "viewer"), signed_in(site, "operator")
    form = {"name": "x", "real": "data/sets/real", "synthetic": "data/sets/synth", "n_cases": "10"}
    assert viewer.post("/studies", data=form, follow_redirects=False).status_code == 403
    for bad, field in ((dict(form, real="data/../etc"), "real"), (dict(form, synthetic="data/nothing"), "synthetic"),
                       (dict(form, n_cases="1"), "n_cases"), (dict(form, name=" "), "name")):
        r = op.post("/studies", data=bad, follow_redirects=False, headers={"Accept": "application/json"})
        assert 400 <= r.status_code < 500 and r.json()["field"] == field, (bad, r.status_code, r.text)
    r = op.post("/studies", data=form, follow_redirects=False)
    sid = r.headers["location"].rsplit("/", 1)[1]
    page = op.get(f"/studies/{sid}").text
    case_id = re.search(r'name="case_id" value="([0-9a-f]+)"', page).group(1)
    for rating in ("0", "6", "x", "3.5"):
        r = op.post(f"/studies/{sid}/rate", data={"case_id": case_id, "rating": rating, "shown": "0"},
                    headers={"Accept": "application/json"})
        assert r.status_code == 422 and r.json()["field"] == "rating", rating
    r = op.post(f"/studies/{sid}/rate", data={"case_id": "f" * 16, "rating": "3", "shown": "0"},
                headers={"Accept": "application/json"})
    assert r.status_code == 409 and r.json()["field"] == "case_id"
    assert op.get("/studies/ffff").status_code == 404
