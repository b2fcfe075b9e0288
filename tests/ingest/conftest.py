from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from ingest_fixtures import make_source


@pytest.fixture()
def key_file(tmp_path: Path) -> Path:
    p = tmp_path / "deid.key"
    p.write_text("00112233445566778899aabbccddeeff0123456789abcdef0123456789abcdef\n")
    return p


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One ingest of the default fixture, shared by the read-only checks."""
    from radsynth.ingest import ingest

    root = tmp_path_factory.mktemp("ingest")
    key = root / "deid.key"
    key.write_text("00112233445566778899aabbccddeeff0123456789abcdef0123456789abcdef\n")
    src = make_source(root)
    res = ingest(src, root / "out", key_file=key, progress=False)
    return {"root": root, "src": src, "out": root / "out", "key": key, "res": res}
