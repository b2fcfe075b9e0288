"""Service test helpers: an app over a temporary data root with one key per role, a tiny cohort spec."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from radsynth.service.app import create_app  # noqa: E402
from radsynth.service.keys import create_key  # noqa: E402

#: one 2 mm brain subject pair, PNG only, no watermark: a job finishes in ~2 s
TINY_SPEC = {
    "name": "tiny",
    "seed": 3,
    "n_subjects": 2,
    "generator": {"name": "mri-brain",
                  "params": {"sequences": ["T1w"], "work_resolution_mm": 2, "voxel_size_mm": [2.0, 2.0, 2.0]}},
    "outputs": {"formats": ["png"], "watermark": False},
}


def tiny_spec(**overrides) -> dict:
    spec = copy.deepcopy(TINY_SPEC)
    spec.update(overrides)
    return spec


class Service:
    """An app, its TestClient and one key per role (plain tokens)."""

    def __init__(self, root: Path, audit: Path, **kw) -> None:
        self.root, self.audit = root, audit
        self.kw = kw
        self.app = create_app(root, audit_url=str(audit), **kw)
        self.client = TestClient(self.app)
        self.tokens: dict[str, str] = {}
        self.key_ids: dict[str, str] = {}
        for role in ("viewer", "operator", "admin"):
            self.add_key(role, f"{role}-user")

    def add_key(self, role: str, name: str, **kw) -> str:
        with self.app.state.sessions() as s:
            row, token = create_key(s, name, role, **kw)
        self.tokens[name] = token
        self.key_ids[name] = row.id
        return token

    def h(self, role_or_name: str) -> dict[str, str]:
        name = role_or_name if role_or_name in self.tokens else f"{role_or_name}-user"
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def wait(self, job_id: str, states=("succeeded", "failed"), timeout: float = 180.0, client=None) -> dict:
        c = client or self.client
        t0 = time.monotonic()
        while True:
            r = c.get(f"/api/jobs/{job_id}", headers=self.h("viewer"))
            assert r.status_code == 200, r.text
            if r.json()["state"] in states:
                return r.json()
            assert time.monotonic() - t0 < timeout, r.json()
            time.sleep(0.2)


