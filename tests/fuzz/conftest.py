"""Fixtures of the fuzz tests: the seed inputs (built once) and quiet third-party loggers."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # fuzz_* helper modules (shared with bench/bench_fuzz.py)


@pytest.fixture(scope="session")
def seeds(tmp_path_factory):
    from fuzz_seeds import build_seeds

    logging.getLogger("nibabel").setLevel(logging.CRITICAL)
    logging.getLogger("pydicom").setLevel(logging.CRITICAL)
    return build_seeds(tmp_path_factory.mktemp("fuzz_seeds"))


@pytest.fixture(scope="session")
def signing_key():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def signed_template(tmp_path_factory, seeds, signing_key):
    from fuzz_seeds import signed_folder

    root = tmp_path_factory.mktemp("fuzz_signed")
    outside = root / "outside.txt"
    outside.write_text("a file outside the verified folder\n")
    return signed_folder(root / "template", seeds, signing_key), outside
