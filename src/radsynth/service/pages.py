"""Server-rendered pages of the service: dataset gallery and reader study (visual Turing test).

No logic of their own: datasets come from :mod:`radsynth.cohort.catalog`, thumbnails from
:mod:`radsynth.io.thumbnail`, the study's cases, order and AUCs from :mod:`radsynth.study.reader`.

Access: like the API, a key is needed everywhere (``GET /health`` aside). A browser signs in once
at ``/login`` with its key, which is then kept in an HttpOnly, SameSite=Strict cookie; a page
request without a valid key gets 401 and the sign-in form. Roles as in the API: viewer (browse,
read in a study), operator (+ create studies, see results), admin.

Gallery roots: the data root (``data/...``) and read-only extra folders (``--gallery DIR``; by
default ``./demo-out`` when it exists, so ``make demo`` then ``radsynth serve`` shows the demo cohorts).
Every path in a URL is confined to its root (no ``..``, no absolute paths, no links out).
Keyboard: every control is a link, button or form field (Tab / Enter); on a study case the keys
1-5 rate the image.
"""

from __future__ import annotations

import html
import time
import urllib.parse
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Optional

from fastapi import Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from radsynth.core.errors import RadsynthInputError
from radsynth.service.keys import Principal

COOKIE = "radsynth_key"
PAGE = 48  # thumbnails per gallery page

CSS = """
body{font-family:system-ui,sans-serif;margin:0;background:#111;color:#eee}
header{background:#222;padding:.5em 1em;display:flex;gap:1.5em;align-items:center}
header a{color:#9cf} main{padding:1em} a{color:#9cf}
a:focus,button:focus,input:focus,select:focus{outline:3px solid #fc3;outline-offset:2px}
.grid{display:flex;flex-wrap:wrap;gap:.6em} figure{margin:0;width:180px;font-size:.75em}
figure img{width:180px;height:180px;object-fit:contain;background:#000;display:block}
table{border-collapse:collapse} td,th{border:1px solid #444;padding:.25em .6em;text-align:left}
.err{background:#522;padding:.5em;border:1px solid #a44} .muted{color:#aaa}
.case img{width:min(80vh,90vw);height:min(80vh,90vw);object-fit:contain;background:#000;display:block}
.rate{display:flex;gap:.5em;margin-top:.8em} .rate button{font-size:1.05em;padding:.6em .9em}
pre{white-space:pre-wrap;background:#1b1b1b;padding:1em}
form.inline{display:inline}
"""


def esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def q(x: str) -> str:
    return urllib.parse.quote(x, safe="/")


class PageError(Exception):
    def __init__(self, status: int, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.field = status, detail, field


def page(title: str, body: str, who: Principal | None = None, status: int = 200) -> HTMLResponse:
    nav = ""
    if who is not None:
        nav = (f'<a href="/">Gallery</a><a href="/studies">Reader studies</a>'
               f'<span class="muted">{esc(who.name)} ({esc(who.role)})</span>'
               '<form class="inline" method="post" action="/logout"><button>Sign out</button></form>')
    doc = (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
           f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{esc(title)} - radsynth</title>'
           f'<style>{CSS}</style></head><body><header><strong>radsynth</strong>{nav}</header>'
           f'<main><h1>{esc(title)}</h1>{body}</main></body></html>')
    return HTMLResponse(doc, status_code=status, headers={"Cache-Control": "no-store"})


def login_form(detail: str = "", next_url: str = "/", status: int = 401) -> HTMLResponse:
    err = f'<p class="err" role="alert">{esc(detail)}</p>' if detail else ""
    body = (f'{err}<form method="post" action="/login"><label>API key <input name="key" type="password" '
            f'autocomplete="off" size="60" autofocus required></label><input type="hidden" name="next" '
            f'value="{esc(next_url)}"> <button>Sign in</button></form><p class="muted">Ask an admin for a key '
            '(<code>radsynth keys create --role viewer --name NAME</code>).</p>')
    resp = page("Sign in", body, None, status)
    resp.headers["WWW-Authenticate"] = "Bearer"
    return resp


class Roots:
    """Named gallery roots: ``data`` (the data root) and extra read-only folders."""

    def __init__(self, data_root: Path, extra: list[Path]) -> None:
        self.roots: dict[str, Path] = {"data": data_root.resolve()}
        for p in extra:
            p = p.expanduser().resolve()
            if not p.is_dir() or p in self.roots.values():
                continue
            name = p.name or "root"
            while name in self.roots:
                name += "_"
            self.roots[name] = p

    def resolve(self, ref: str, field: str, *, must_exist: bool = True) -> Path:
        """``<root name>/<path>`` -> the path, confined to that root; :class:`PageError` 400/404 otherwise."""
        bad = PageError(400, f"{field}: got {ref!r}; accepted: <root>/<path> inside one of "
                             f"{sorted(self.roots)} (no '..', no absolute paths, no links out)", field)
        if not ref or "\x00" in ref or "\\" in ref or ref.startswith("/"):
            raise bad
        parts = PurePosixPath(ref).parts
        if not parts or parts[0] not in self.roots or any(p in ("..", "") for p in parts):
            raise bad
        base = self.roots[parts[0]]
        try:
            target = (base.joinpath(*parts[1:])).resolve(strict=must_exist)
        except FileNotFoundError:
            raise PageError(404, f"{field}: no {ref!r}", field) from None
        except (OSError, RuntimeError):
            raise bad from None
        if not target.is_relative_to(base) or target.name.startswith("service.sqlite"):
            raise bad
        return target

    def ref(self, path: Path) -> str:
        for name, base in self.roots.items():
            if path == base or path.is_relative_to(base):
                rel = path.relative_to(base).as_posix()
                return name if rel == "." else f"{name}/{rel}"
        raise ValueError(path)


def register_pages(app: FastAPI, *, data_root: Path, gallery_dirs: list[Path], sessions: Any,
                   authenticate_token: Callable[[Optional[str]], tuple[Optional[Principal], str]],
                   audited: Callable[..., None]) -> None:
    from radsynth.cohort.catalog import dataset_items, find_datasets
    from radsynth.io.thumbnail import WINDOW_PRESETS, is_image_file, render_png
    from radsynth.service.db import Study, StudyCase, StudyRating, utc_now
    from radsynth.study import reader as rs

    roots = Roots(data_root, gallery_dirs)
    app.state.gallery_roots = roots

    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError) -> Response:
        if "text/html" not in request.headers.get("accept", ""):  # scripts, images, API clients: the JSON shape
            from fastapi.responses import JSONResponse

            code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 400: "path_refused",
                    409: "conflict"}.get(exc.status, "invalid_input")
            return JSONResponse({"error": code, "detail": exc.detail, "field": exc.field}, status_code=exc.status,
                                headers={"WWW-Authenticate": "Bearer"} if exc.status == 401 else None)
        if exc.status == 401:
            nxt = request.url.path if request.method == "GET" and request.url.path != "/login" else "/"
            return login_form(exc.detail, nxt)
        who = getattr(request.state, "principal", None)
        return page(f"Error {exc.status}", f'<p class="err" role="alert">{esc(exc.detail)}</p>', who, exc.status)

    def page_user(role: str) -> Callable[[Request], Principal]:
        def dep(request: Request) -> Principal:
            return viewer_of(request, role)

        return dep

    as_viewer, as_operator = Depends(page_user("viewer")), Depends(page_user("operator"))

    def viewer_of(request: Request, role: str = "viewer") -> Principal:
        token = request.cookies.get(COOKIE) or request.headers.get("x-api-key")
        auth = request.headers.get("authorization", "")
        if not token and auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        who, why = authenticate_token(token)
        if who is None:
            raise PageError(401, why, "Authorization")
        request.state.principal = who
        if not who.allows(role):
            raise PageError(403, f"role {who.role!r} may not do this; accepted: role {role!r} or higher")
        return who

    # ---------------------------------------------------------------------------------- schema and docs (a key too)
    @app.get("/openapi.json", include_in_schema=False)
    def openapi_json(request: Request, _who: Principal = as_viewer) -> Response:
        from fastapi.responses import JSONResponse

        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request, _who: Principal = as_viewer) -> Response:
        from fastapi.openapi.docs import get_swagger_ui_html

        return get_swagger_ui_html(openapi_url="/openapi.json", title="radsynth service API")

    # ---------------------------------------------------------------------------------- sign in
    @app.get("/login", include_in_schema=False)
    def login_page(request: Request) -> Response:
        token = request.cookies.get(COOKIE)
        who, why = authenticate_token(token) if token else (None, "")
        if who is not None:
            return RedirectResponse("/", status_code=303)
        raise PageError(401, why if token else "sign in with an API key", "Authorization")

    @app.post("/login", include_in_schema=False)
    def login(key: str = Form("", max_length=200), next: str = Form("/", max_length=2000)) -> Response:
        who, why = authenticate_token(key.strip())
        if who is None:
            raise PageError(401, f"key: {why}", "key")
        dest = next if next.startswith("/") and not next.startswith("//") and "\\" not in next else "/"
        resp = RedirectResponse(dest, status_code=303)
        resp.set_cookie(COOKIE, key.strip(), httponly=True, samesite="strict", max_age=12 * 3600)
        return resp

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request, _who: Principal = as_viewer) -> Response:
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(COOKIE)
        return resp

    # ---------------------------------------------------------------------------------- gallery
    @app.get("/", include_in_schema=False)
    def gallery(request: Request, who: Principal = as_viewer) -> Response:
        rows = []
        for name, base in roots.roots.items():
            for d in find_datasets(base):
                ref = name if not d.path else f"{name}/{d.path}"
                links = [f'<a href="/gallery/{q(ref)}">images</a>' if d.n_images else ""]
                if d.card:
                    links.append(f'<a href="/card/{q(ref)}">dataset card</a>')
                if d.report:
                    links.append(f'<a href="/report/{q(ref)}">evaluation report</a>')
                labels = ", ".join(d.labels) or "-"
                attrs = ", ".join(d.attributes) or "-"
                rows.append(f"<tr><td>{esc(d.name)}</td><td><code>{esc(ref)}</code></td><td>{d.n_subjects}</td>"
                            f"<td>{d.n_images}</td><td>{esc(', '.join(d.modalities) or '-')}</td>"
                            f"<td>{esc(d.generator or '-')}</td><td>{esc(labels)}</td><td>{esc(attrs)}</td>"
                            f"<td>{' '.join(x for x in links if x)}</td></tr>")
        body = ("<table><thead><tr><th>dataset</th><th>where</th><th>subjects</th><th>images</th><th>modality</th>"
                "<th>generator</th><th>labels</th><th>attributes</th><th></th></tr></thead><tbody>"
                + "".join(rows) + "</tbody></table>" if rows else
                f"<p>No datasets yet under {esc(', '.join(str(p) for p in roots.roots.values()))}: build a cohort "
                "(<code>make demo</code> or a cohort-build job).</p>")
        return page("Datasets", body, who)

    @app.get("/gallery/{ref:path}", include_in_schema=False)
    def dataset_page(request: Request, ref: str, label: Optional[str] = Query(None, max_length=100),
                     attr: Optional[str] = Query(None, max_length=300), wc: Optional[float] = None,
                     ww: Optional[float] = None, preset: Optional[str] = Query(None, max_length=40),
                     page_no: int = Query(1, alias="page", ge=1, le=100_000), who: Principal = as_viewer) -> Response:
        folder = roots.resolve(ref, "dataset")
        if not folder.is_dir():
            raise PageError(404, f"dataset: {ref!r} is not a folder", "dataset")
        attrs: dict[str, str] = {}
        if attr:
            k, sep, v = attr.partition("=")
            if not sep or not k:
                raise PageError(422, f"attr: got {attr!r}; accepted: name=value", "attr")
            attrs[k] = v
        items = dataset_items(folder, label=label or None, attributes=attrs)
        info = next((d for d in find_datasets(folder, max_depth=0)), None)
        modalities = set(info.modalities) if info else set()
        presets = {n: cw for m in modalities for n, cw in WINDOW_PRESETS.get(m, {}).items()}
        if preset:
            if preset not in presets:
                raise PageError(422, f"preset: got {preset!r}; accepted: one of {sorted(presets) or ['(none)']}",
                                "preset")
            wc, ww = presets[preset]
        if (wc is None) != (ww is None) or (ww is not None and not ww > 0):
            raise PageError(422, "ww: accepted: window center wc and width ww > 0 together (or neither)", "ww")
        win = "" if wc is None else f"&wc={wc:g}&ww={ww:g}"
        n_pages = max(1, -(-len(items) // PAGE))
        shown = items[(page_no - 1) * PAGE: page_no * PAGE]
        figs = []
        for it in shown:
            img_ref = f"{ref}/{it.path}"
            cap = " ".join(x for x in (it.subject, it.sequence, it.modality) if x)
            pos = [k for k, v in it.labels.items() if v]
            figs.append(f'<figure><a href="/thumb/{q(img_ref)}?size=768{win}"><img loading="lazy" '
                        f'src="/thumb/{q(img_ref)}?size=180{win}" alt="{esc(cap)}"></a>'
                        f'<figcaption>{esc(cap)}<br><span class="muted">{esc(", ".join(pos) or "no label")}'
                        f'</span></figcaption></figure>')
        label_opts = "".join(f'<option value="{esc(x)}"{" selected" if x == label else ""}>{esc(x)}</option>'
                             for x in (info.labels if info else []))
        attr_opts = "".join(f'<option value="{esc(k)}={esc(v)}"{" selected" if attr == f"{k}={v}" else ""}>'
                            f'{esc(k)} = {esc(v)}</option>'
                            for k, vs in (info.attributes if info else {}).items() for v in vs)
        preset_opts = "".join(f'<option value="{esc(n)}"{" selected" if n == preset else ""}>{esc(n)} '
                              f'(C {c:g} / W {w:g})</option>' for n, (c, w) in sorted(presets.items()))
        form = (f'<form method="get" action="/gallery/{q(ref)}" aria-label="filters">'
                f'<label>label <select name="label"><option value="">any</option>{label_opts}</select></label> '
                f'<label>attribute <select name="attr"><option value="">any</option>{attr_opts}</select></label> '
                f'<label>window preset <select name="preset"><option value="">auto / manual</option>{preset_opts}'
                f'</select></label> <label>level (center) <input name="wc" size="6" inputmode="decimal" '
                f'value="{"" if wc is None or preset else f"{wc:g}"}"></label> <label>width <input name="ww" size="6" '
                f'inputmode="decimal" value="{"" if ww is None or preset else f"{ww:g}"}"></label> '
                f'<button>Apply</button></form>')
        extra = []
        if info and info.card:
            extra.append(f'<a href="/card/{q(ref)}">dataset card</a>')
        if info and info.report:
            extra.append(f'<a href="/report/{q(ref)}">evaluation report</a>')
        base_q = urllib.parse.urlencode({k: v for k, v in (("label", label), ("attr", attr), ("preset", preset),
                                                           ("wc", None if wc is None or preset else f"{wc:g}"),
                                                           ("ww", None if ww is None or preset else f"{ww:g}"))
                                         if v})
        nav = " ".join(f'<a href="/gallery/{q(ref)}?{base_q}&page={p}"{" aria-current=page" if p == page_no else ""}>'
                       f'{p}</a>' for p in range(1, n_pages + 1)) if n_pages > 1 else ""
        body = (f'<p>{esc(info.name if info else folder.name)}: {len(items)} images match. {" ".join(extra)}</p>'
                f'{form}<p>{nav}</p><div class="grid">{"".join(figs)}</div>')
        return page(f"Dataset {ref}", body, who)

    @app.get("/thumb/{ref:path}", include_in_schema=False)
    def thumb(request: Request, ref: str, wc: Optional[float] = None, ww: Optional[float] = None,
              size: int = Query(256, ge=16, le=1024), _who: Principal = as_viewer) -> Response:
        p = roots.resolve(ref, "image")
        if not p.is_file() or not is_image_file(p):
            raise PageError(404, f"image: {ref!r} is not an image file (NIfTI or PNG)", "image")
        if (wc is None) != (ww is None):
            raise PageError(422, "ww: accepted: wc and ww together (or neither)", "ww")
        try:
            data = render_png(p, window=None if wc is None else (wc, ww), size=size)
        except RadsynthInputError as exc:
            field = exc.field if exc.field in ("window", "size") else "image"
            raise PageError(422, f"{field}: {exc}" if field == "image" else str(exc), field) from None
        except Exception as exc:  # noqa: BLE001 - a damaged file is the file's problem, not a server error
            raise PageError(422, f"image: {ref!r} could not be read ({type(exc).__name__})", "image") from None
        return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})

    @app.get("/card/{ref:path}", include_in_schema=False)
    def card(request: Request, ref: str, who: Principal = as_viewer) -> Response:
        p = roots.resolve(ref, "dataset") / "dataset_card.md"
        if not p.is_file():
            raise PageError(404, f"dataset: {ref!r} has no dataset card", "dataset")
        return page(f"Dataset card: {ref}", f"<pre>{esc(p.read_text(errors='replace'))}</pre>", who)

    @app.get("/report/{ref:path}", include_in_schema=False)
    def report(request: Request, ref: str, who: Principal = as_viewer) -> Response:
        p = roots.resolve(ref, "dataset") / "report.html"
        if not p.is_file():
            raise PageError(404, f"dataset: {ref!r} has no evaluation report", "dataset")
        audited("download", who, inputs={"key_id": who.key_id, "path": f"{ref}/report.html"})
        return HTMLResponse(p.read_text(errors="replace"))

    # ---------------------------------------------------------------------------------- reader studies
    def study_or_404(s: Any, study_id: str) -> Any:
        st = s.get(Study, study_id)
        if st is None:
            raise PageError(404, f"study_id: no study {study_id!r}", "study_id")
        return st

    @app.get("/studies", include_in_schema=False)
    def studies(request: Request, who: Principal = as_viewer) -> Response:
        with sessions() as s:
            rows = list(s.scalars(select(Study).order_by(Study.created_at.desc())))
            done = {st.id: s.query(StudyRating).filter_by(study_id=st.id, reader=who.name).count() for st in rows}
        trs = "".join(
            f'<tr><td><a href="/studies/{esc(st.id)}">{esc(st.name)}</a></td><td>{st.n_cases}</td>'
            f'<td>{done[st.id]} of {st.n_cases}</td><td>{esc(st.owner_name)}</td><td>{esc(st.created_at[:19])}</td>'
            + (f'<td><a href="/studies/{esc(st.id)}/results">results</a></td>' if who.allows("operator") else "")
            + "</tr>" for st in rows)
        body = ("<table><thead><tr><th>study</th><th>cases</th><th>you rated</th><th>by</th><th>created (UTC)</th>"
                + ("<th></th>" if who.allows("operator") else "") + f"</tr></thead><tbody>{trs}</tbody></table>"
                if rows else "<p>No reader studies yet.</p>")
        if who.allows("operator"):
            sets = [roots.ref(base / d.path) if d.path else name for name, base in roots.roots.items()
                    for d in find_datasets(base) if d.n_images]
            opts = "".join(f'<option value="{esc(x)}"></option>' for x in sets)
            body += ('<h2>New study</h2><form method="post" action="/studies">'
                     '<p><label>name <input name="name" required maxlength="128"></label></p>'
                     '<p><label>real set <input name="real" list="sets" required size="50"></label></p>'
                     '<p><label>synthetic set <input name="synthetic" list="sets" required size="50"></label></p>'
                     f'<datalist id="sets">{opts}</datalist>'
                     '<p><label>cases <input name="n_cases" type="number" min="2" max="1000" value="100"></label> '
                     '<label>seed <input name="seed" type="number" value="0"></label></p>'
                     '<p class="muted">Sets: &lt;root&gt;/&lt;folder&gt; (a dataset or any folder of NIfTI/PNG '
                     'images). Half the cases are drawn from each.</p><button>Create study</button></form>')
        return page("Reader studies", body, who)

    @app.post("/studies", include_in_schema=False)
    def study_create(request: Request, name: str = Form(..., max_length=128), real: str = Form(..., max_length=1024),
                     synthetic: str = Form(..., max_length=1024), n_cases: int = Form(100, ge=2, le=1000),
                     seed: int = Form(0), who: Principal = as_operator) -> Response:
        if not name.strip():
            raise PageError(422, "name: accepted: a non-empty name", "name")
        sets: dict[str, list[str]] = {}
        for field, ref in (("real", real), ("synthetic", synthetic)):
            folder = roots.resolve(ref.strip().strip("/"), field)
            if not folder.is_dir():
                raise PageError(422, f"{field}: {ref!r} is not a folder", field)
            sets[field] = [roots.ref(folder / it.path) for it in dataset_items(folder)]
        try:
            cases = rs.draw_cases(sets["real"], sets["synthetic"], n_cases, seed)
        except RadsynthInputError as exc:
            raise PageError(422, str(exc), exc.field) from None
        import secrets

        study_id = secrets.token_hex(8)
        with sessions() as s:
            s.add(Study(id=study_id, name=name.strip(), real=real, synthetic=synthetic, seed=seed, n_cases=len(cases),
                        owner_name=who.name, created_at=utc_now()))
            s.flush()
            s.add_all(StudyCase(study_id=study_id, case_id=c.case_id, source=c.source, path=c.path) for c in cases)
            s.commit()
            try:
                audited("study-create", who, inputs={"key_id": who.key_id, "real": real, "synthetic": synthetic},
                        outputs={"study_id": study_id, "cases": str(len(cases))})
            except Exception:  # no audit record, no study: nothing half-done
                s.query(StudyCase).filter_by(study_id=study_id).delete()
                s.query(Study).filter_by(id=study_id).delete()
                s.commit()
                raise
        return RedirectResponse(f"/studies/{study_id}", status_code=303)

    def next_case(s: Any, st: Any, reader: str) -> tuple[Optional[str], int]:
        ids = [c for (c,) in s.execute(select(StudyCase.case_id).where(StudyCase.study_id == st.id))]
        order = rs.reader_order(ids, st.seed, reader)
        rated = {c for (c,) in s.execute(select(StudyRating.case_id).where(StudyRating.study_id == st.id,
                                                                               StudyRating.reader == reader))}
        for i, c in enumerate(order):
            if c not in rated:
                return c, i
        return None, len(order)

    @app.get("/studies/{study_id}", include_in_schema=False)
    def study_read(request: Request, study_id: str, who: Principal = as_viewer) -> Response:
        with sessions() as s:
            st = study_or_404(s, study_id)
            case_id, pos = next_case(s, st, who.name)
        if case_id is None:
            res = (f' <a href="/studies/{esc(study_id)}/results">Results</a>' if who.allows("operator") else "")
            return page(f"{st.name}: done", f"<p>You rated all {st.n_cases} cases. Thank you.{res}</p>", who)
        buttons = "".join(f'<button name="rating" value="{k}" accesskey="{k}"{" autofocus" if k == 3 else ""}>'
                          f'{k} &middot; {esc(text)}</button>' for k, text in rs.SCALE)
        body = (f'<p>Case {pos + 1} of {st.n_cases}. Is this image real or synthetic? '
                '<span class="muted">Keys 1-5 rate; Tab moves between buttons.</span></p>'
                f'<div class="case"><img id="case-image" src="/studies/{esc(study_id)}/image/{esc(case_id)}" '
                f'alt="case {pos + 1}"></div>'
                f'<form method="post" action="/studies/{esc(study_id)}/rate" id="rate-form">'
                f'<input type="hidden" name="case_id" value="{esc(case_id)}">'
                f'<input type="hidden" name="shown" value="{time.time():.3f}">'
                f'<div class="rate" role="group" aria-label="rating">{buttons}</div></form>'
                '<script>document.addEventListener("keydown",e=>{if(e.key>="1"&&e.key<="5"&&!e.repeat&&'
                '!e.ctrlKey&&!e.metaKey&&!e.altKey){const b=document.querySelector(\'button[name=rating][value="\'+'
                'e.key+\'"]\');if(b){e.preventDefault();b.click();}}});</script>')
        return page(st.name, body, who)

    @app.get("/studies/{study_id}/image/{case_id}", include_in_schema=False)
    def study_image(request: Request, study_id: str, case_id: str, _who: Principal = as_viewer) -> Response:
        with sessions() as s:
            study_or_404(s, study_id)
            c = s.get(StudyCase, (study_id, case_id))
            if c is None:
                raise PageError(404, f"case_id: no case {case_id!r} in this study", "case_id")
            path = c.path
        try:  # re-encoded: no metadata, one size for all
            data = render_png(roots.resolve(path, "case"), size=512)
        except (RadsynthInputError, OSError, ValueError) as exc:
            raise PageError(422, f"case_id: the image of case {case_id!r} could not be read ({type(exc).__name__})",
                            "case_id") from None
        return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})

    @app.post("/studies/{study_id}/rate", include_in_schema=False)
    def study_rate(request: Request, study_id: str, case_id: str = Form(..., max_length=64),
                   rating: str = Form(..., max_length=8), shown: float = Form(...), who: Principal = as_viewer) -> Response:
        try:
            value = rs.check_rating(rating)
        except RadsynthInputError as exc:
            raise PageError(422, str(exc), exc.field) from None
        with sessions() as s:
            st = study_or_404(s, study_id)
            expected, pos = next_case(s, st, who.name)
            if case_id != expected:
                raise PageError(409, f"case_id: got {case_id!r}; accepted: the case now shown to you "
                                     "(reload the study page)", "case_id")
            seconds = max(0.0, min(time.time() - shown, 24 * 3600.0)) if shown == shown else None
            s.add(StudyRating(study_id=study_id, reader=who.name, case_id=case_id, position=pos + 1, rating=value,
                              seconds=seconds, created_at=utc_now()))
            s.commit()
        return RedirectResponse(f"/studies/{study_id}", status_code=303)

    def rating_rows(s: Any, st: Any) -> list[dict[str, Any]]:
        q_ = (select(StudyRating, StudyCase).join(StudyCase, (StudyCase.study_id == StudyRating.study_id)
                                                  & (StudyCase.case_id == StudyRating.case_id))
              .where(StudyRating.study_id == st.id).order_by(StudyRating.reader, StudyRating.position))
        return [{"study": st.id, "reader": r.reader, "position": r.position, "case": r.case_id, "truth": c.source,
                 "rating": r.rating, "seconds": None if r.seconds is None else round(r.seconds, 3), "image": c.path}
                for r, c in s.execute(q_)]

    @app.get("/studies/{study_id}/results", include_in_schema=False)
    def study_results(request: Request, study_id: str, who: Principal = as_operator) -> Response:
        with sessions() as s:
            st = study_or_404(s, study_id)
            rows = rating_rows(s, st)
        summ = rs.summarise(rows, seed=st.seed)

        def fmt(b: dict[str, Any]) -> str:
            auc = "-" if b["auc"] is None else f"{b['auc']:.3f}"
            ci = "-" if b["ci"] is None else f"{b['ci'][0]:.3f} - {b['ci'][1]:.3f}"
            sec = "-" if b["seconds_median"] is None else f"{b['seconds_median']:.1f} / {b['seconds_mean']:.1f}"
            return (f"<tr><td>{esc(b['reader'])}</td><td>{b['n']}</td><td class=auc>{auc}</td><td>{ci}</td>"
                    f"<td>{sec}</td><td>{esc(b['note'])}</td></tr>")

        body = (f'<p>{esc(st.name)}: real <code>{esc(st.real)}</code>, synthetic <code>{esc(st.synthetic)}</code>, '
                f'{st.n_cases} cases. <a href="/studies/{esc(study_id)}/results.csv" download>CSV</a></p>'
                '<table id="results"><thead><tr><th>reader</th><th>ratings</th><th>AUC</th><th>95% CI</th>'
                '<th>seconds per case (median / mean)</th><th></th></tr></thead><tbody>'
                + "".join(fmt(b) for b in summ["readers"]) + fmt(summ["pooled"])
                + f'</tbody></table><p class="muted">{esc(summ["method"])}. AUC 0.5: real and synthetic cannot be '
                  'told apart; 1.0: always told apart.</p>')
        return page(f"Results: {st.name}", body, who)

    @app.get("/studies/{study_id}/results.csv", include_in_schema=False)
    def study_csv(request: Request, study_id: str, who: Principal = as_operator) -> Response:
        with sessions() as s:
            st = study_or_404(s, study_id)
            rows = rating_rows(s, st)
        audited("download", who, inputs={"key_id": who.key_id, "path": f"studies/{study_id}/results.csv"},
                outputs={"rows": str(len(rows))})
        return Response(rs.to_csv(rows), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="study-{study_id}.csv"'})
