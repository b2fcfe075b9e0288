"""`radsynth verify DIR`: signature + hashes + synthetic marks + C2PA; one line per problem; exit codes 0/1/2."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))
from marked_folder import MASK_PNG, NII, PNG, make_folder

from radsynth.cli.main import app
from radsynth.provenance.signing import SUMS_FILE, sign_dataset, verify_dataset

runner = CliRunner()


@pytest.fixture
def signed(tmp_path) -> Path:
    root = make_folder(tmp_path / "out")
    sign_dataset(root)
    return root


def _verify(*args):
    return runner.invoke(app, ["verify", *map(str, args)])


def test_clean_folder_ok(signed):
    res = verify_dataset(signed)
    assert res == [] and res.marks_checked and res.n_images == 5
    r = _verify(signed)
    assert r.exit_code == 0, r.output
    assert "5 images marked synthetic" in r.output


def test_one_byte_of_an_image(signed):
    p = signed / NII
    b = bytearray(p.read_bytes())
    b[len(b) // 2] ^= 0x10
    p.write_bytes(bytes(b))
    r = _verify(signed)
    assert r.exit_code == 1
    assert f"modified: {NII}: sha256" in r.output


def test_one_sums_entry_edited(signed):
    lines = (signed / SUMS_FILE).read_text().splitlines(keepends=True)
    i = next(k for k, ln in enumerate(lines) if ln.endswith(PNG + "\n"))
    lines[i] = ("0" if lines[i][0] != "0" else "1") + lines[i][1:]
    (signed / SUMS_FILE).write_text("".join(lines))
    r = _verify(signed)
    assert r.exit_code == 1
    out = r.output.splitlines()
    assert any(ln.startswith(f"signature: {SUMS_FILE}: signature invalid") for ln in out)
    assert any(ln.startswith(f"modified: {PNG}:") for ln in out)


def test_removed_mark_is_listed_even_when_resigned(signed):
    """Strip the marks, then re-sign: hashes and signature pass, the marks check still fails."""
    from PIL import Image

    with Image.open(signed / PNG) as im:
        im.load()
        im.save(signed / PNG)  # same pixels, no radsynth chunks
    (signed / NII).with_name("sub-0001_T1w.json").unlink()
    sign_dataset(signed)
    res = verify_dataset(signed)
    assert res.signature_valid
    got = sorted((p["problem"], p["path"]) for p in res)
    assert got == [("mark", NII), ("mark", PNG)]
    r = _verify(signed)
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 2
    assert _verify(signed, "--no-marks").exit_code == 0


def test_c2pa_sign_command_and_tampered_manifest(signed, tmp_path):
    r = runner.invoke(app, ["c2pa", "sign", str(signed)])
    assert r.exit_code == 0, r.output
    assert "signed 2 files" in r.output  # the image and the mask preview PNGs
    assert _verify(signed).exit_code == 0  # SHA256SUMS re-signed, manifests valid
    b = bytearray((signed / MASK_PNG).read_bytes())
    i = b.find(b"IDAT") + 12
    b[i] ^= 0x01
    (signed / MASK_PNG).write_bytes(bytes(b))
    sign_dataset(signed)  # hashes re-signed: only the C2PA binding can tell
    r = _verify(signed)
    assert r.exit_code == 1 and f"c2pa: {MASK_PNG}: C2PA manifest invalid" in r.output


def test_bad_input_exit_2_one_line_nothing_written(signed, tmp_path):
    cases = []
    cases.append(tmp_path / "missing")
    f = tmp_path / "file.png"
    shutil.copy(signed / PNG, f)
    cases.append(f)  # an image passed as DIR
    garbled = tmp_path / "garbled"
    shutil.copytree(signed, garbled)
    (garbled / SUMS_FILE).write_bytes(b"\x00\xffnot a sums file")
    cases.append(garbled)
    badkey = tmp_path / "badkey"
    shutil.copytree(signed, badkey)
    (badkey / "signing_key.pub.pem").write_text("-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----\n")
    cases.append(badkey)
    before = sorted((str(p), p.stat().st_mtime_ns) for p in tmp_path.rglob("*"))
    for case in cases:
        r = _verify(case)
        assert r.exit_code == 2, (case, r.output)
        assert len(r.output.strip().splitlines()) == 1 and r.output.startswith("error:"), r.output
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    r = _verify(signed, "--public-key", junk)
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1
    junk.unlink()
    assert sorted((str(p), p.stat().st_mtime_ns) for p in tmp_path.rglob("*")) == before

