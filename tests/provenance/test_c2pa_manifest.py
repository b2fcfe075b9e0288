"""C2PA content credentials: offline signing, read-back, tamper detection, keys (issue #11 item 2)."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.io import TRAINED_ALGORITHMIC_MEDIA
from radsynth.io.png import read_png_marking, write_png16
from radsynth.provenance.c2pa_manifest import (
    PROVENANCE_LABEL,
    c2pa_keys_dir,
    c2pa_read,
    c2pa_sign_file,
    load_or_create_c2pa_credentials,
)

PROV = {"generator": "ddpm-2d", "generator_version": "0.1", "config_hash": "cd" * 32, "seed": 9}


@pytest.fixture
def png(tmp_path):
    img = (np.arange(48 * 40).reshape(48, 40) * 29 % 65536).astype(np.uint16)
    return write_png16(tmp_path / "a.png", img, provenance=PROV)


def test_sign_and_read_back(png, tmp_path):
    out = c2pa_sign_file(png, tmp_path / "signed.png")
    rep = c2pa_read(out)
    assert rep.present and rep.valid and rep.trusted and rep.failures == []
    assert rep.claim_generator.startswith("radsynth")
    assert rep.digital_source_type == TRAINED_ALGORITHMIC_MEDIA
    assert rep.assertions[PROVENANCE_LABEL] == read_png_marking(png)["marking"]
    assert read_png_marking(out)["c2pa"] and read_png_marking(out)["marking"]["seed"] == 9  # iTXt kept
    assert not c2pa_read(png).present  # the source is untouched
    with pytest.raises(RadsynthInputError):
        c2pa_sign_file(out)  # already signed


def test_tampered_pixel_fails_validation(png, tmp_path):
    out = c2pa_sign_file(png, tmp_path / "signed.png")
    b = bytearray(out.read_bytes())
    i = b.find(b"IDAT") + 12
    b[i] ^= 0x01
    (tmp_path / "bad.png").write_bytes(bytes(b))
    rep = c2pa_read(tmp_path / "bad.png")
    assert rep.present and not rep.valid
    assert any("dataHash.mismatch" in f for f in rep.failures), rep.failures


def test_other_signer_is_valid_but_untrusted(png, tmp_path):
    out = c2pa_sign_file(png, tmp_path / "s.png")
    rep = c2pa_read(out, trust_anchors="")  # no anchors: unknown signer
    assert rep.valid and not rep.trusted


def test_keys_private_and_never_in_outputs(png, tmp_path):
    creds = load_or_create_c2pa_credentials()
    assert creds.key.parent == c2pa_keys_dir()
    assert stat.S_IMODE(os.stat(creds.key).st_mode) == 0o600
    assert b"PRIVATE KEY" in creds.key.read_bytes() and creds.chain.read_text().count("BEGIN CERTIFICATE") == 2
    out = c2pa_sign_file(png, tmp_path / "s.png")
    assert b"PRIVATE KEY" not in out.read_bytes()
    again = load_or_create_c2pa_credentials()
    assert again.key.read_bytes() == creds.key.read_bytes()  # reused, not regenerated


def test_sign_in_place_is_atomic_and_refuses_bad_input(png, tmp_path):
    before = png.read_bytes()
    c2pa_sign_file(png)
    assert png.read_bytes() != before and c2pa_read(png).valid
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(RadsynthInputError):
        c2pa_sign_file(tmp_path / "x.txt")
    (tmp_path / "y.png").write_bytes(b"nope")
    with pytest.raises(RadsynthInputError):
        c2pa_sign_file(tmp_path / "y.png")
    assert (tmp_path / "y.png").read_bytes() == b"nope"
