"""Fixtures for the service tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from service_helpers import Service  # noqa: E402


@pytest.fixture
def service(tmp_path) -> Service:
    """Jobs stay queued (no worker processes): for API behaviour."""
    svc = Service(tmp_path / "root", tmp_path / "audit.sqlite", start_runner=False)
    yield svc
    svc.client.close()
    svc.app.state.engine.dispose()
