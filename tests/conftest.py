"""Shared fixtures: location of the optional real data in ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    env = os.environ.get("RADSYNTH_SHARED_DATA")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if cand.is_dir():
            return cand
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    d = shared_data_dir()
    if d is None:
        pytest.skip("real data not found (set RADSYNTH_SHARED_DATA or place it at ../shared/data)")
    return d


@pytest.fixture(autouse=True, scope="session")
def _isolated_config_dir(tmp_path_factory):
    """Keys and the audit log go to a temporary config folder, never the user's (radsynth.provenance)."""
    old = os.environ.get("RADSYNTH_CONFIG_DIR")
    os.environ["RADSYNTH_CONFIG_DIR"] = str(tmp_path_factory.mktemp("radsynth-config"))
    yield
    if old is None:
        os.environ.pop("RADSYNTH_CONFIG_DIR", None)
    else:
        os.environ["RADSYNTH_CONFIG_DIR"] = old
