"""Ed25519 keys, signed SHA256SUMS and `radsynth verify` (issue 11, item 2: tampering and keys)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from radsynth.cli.main import app
from radsynth.core.errors import RadsynthInputError
from radsynth.provenance.config_dir import config_dir
from radsynth.provenance.signing import (
    PUBLIC_KEY_FILE,
    SIG_FILE,
    SUMS_FILE,
    load_or_create_keys,
    public_key_fingerprint,
    sign_dataset,
    verify_dataset,
)

FILES = {
    "spec.yaml": b"name: demo\nn_subjects: 2\n",
    "dataset_card.md": b"# Synthetic dataset\n",
    "manifest.parquet": bytes(range(256)) * 4,
    "subjects/sub-0001/anat/img.nii.gz": b"\x1f\x8b" + b"\x00" * 300,
    "subjects/sub-0001/png/img.png": b"\x89PNG\r\n\x1a\n" + b"\x07" * 100,
}


def _make(folder: Path) -> Path:
    for rel, data in FILES.items():
        p = folder / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    (folder / ".hidden-tmp").write_bytes(b"ignored")
    return folder


@pytest.fixture
def signed(tmp_path: Path) -> Path:
    d = _make(tmp_path / "cohort")
    sign_dataset(d)
    return d


def _problems(res, kind: str) -> list[str]:
    return [p["path"] for p in res if p["problem"] == kind]


def test_sign_then_verify_ok(signed: Path) -> None:
    res = verify_dataset(signed)
    assert res == [], res
    assert res.n_files == len(FILES) and res.signature_valid
    _, pub = load_or_create_keys()
    assert res.key_fingerprint == public_key_fingerprint(pub)
    assert res.key_source == "folder" and res.own_key == "match"
    lines = (signed / SUMS_FILE).read_text().splitlines()
    paths = [ln.split("  ", 1)[1] for ln in lines]
    assert paths == sorted(FILES)  # sorted, posix, no hidden / signing files
    meta = json.loads((signed / SIG_FILE).read_text())
    assert meta["algorithm"] == "Ed25519" and meta["public_key_fingerprint"] == res.key_fingerprint


def test_flipped_byte_is_reported(signed: Path) -> None:
    p = signed / "subjects/sub-0001/png/img.png"
    b = bytearray(p.read_bytes())
    b[20] ^= 0x01
    p.write_bytes(bytes(b))
    res = verify_dataset(signed)
    assert _problems(res, "modified") == ["subjects/sub-0001/png/img.png"]
    assert len(res) == 1


def test_edited_manifest_line_breaks_signature(signed: Path) -> None:
    sums = signed / SUMS_FILE
    lines = sums.read_text().splitlines(keepends=True)
    digest, rel = lines[1].split("  ", 1)
    lines[1] = ("0" if digest[0] != "0" else "1") + digest[1:] + "  " + rel
    sums.write_text("".join(lines))
    res = verify_dataset(signed)
    assert not res.signature_valid
    assert any(p["problem"] == "signature" and "invalid" in p["detail"] for p in res), res
    assert _problems(res, "modified") == [rel.strip()]


def test_unlisted_and_missing(signed: Path) -> None:
    (signed / "subjects/sub-0001/extra.dcm").write_bytes(b"DICM")
    (signed / "dataset_card.md").unlink()
    res = verify_dataset(signed)
    assert _problems(res, "unlisted") == ["subjects/sub-0001/extra.dcm"]
    assert _problems(res, "missing") == ["dataset_card.md"]
    assert res.signature_valid and len(res) == 2


def test_other_public_key_is_invalid(signed: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.pub.pem"
    other.write_bytes(Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    res = verify_dataset(signed, public_key_path=other)
    assert not res.signature_valid and _problems(res, "signature")
    assert res.own_key == "differs"
    # the user's own public key verifies
    own = config_dir() / "keys" / PUBLIC_KEY_FILE
    assert verify_dataset(signed, public_key_path=own) == []


def test_swapped_folder_key_and_resign_detected(signed: Path) -> None:
    # an attacker re-signs with their own key: valid against the folder key, but not the user's
    attacker = Ed25519PrivateKey.generate()
    (signed / "spec.yaml").write_bytes(b"name: evil\n")
    sign_dataset(signed, private_key=attacker)
    res = verify_dataset(signed)
    assert res == [] and res.own_key == "differs"
    res2 = verify_dataset(signed, public_key_path=config_dir() / "keys" / PUBLIC_KEY_FILE)
    assert _problems(res2, "signature")


def test_missing_or_corrupt_manifest(signed: Path) -> None:
    (signed / SUMS_FILE).write_bytes(b"\xff\xfe garbage")
    res = verify_dataset(signed)
    assert _problems(res, "manifest") == [SUMS_FILE]
    (signed / SUMS_FILE).write_text("0" * 64 + "  ../../etc/passwd\n")
    assert _problems(verify_dataset(signed), "manifest") == [SUMS_FILE]
    (signed / SIG_FILE).write_text("{not json")
    assert _problems(verify_dataset(signed), "signature") == [SIG_FILE]
    (signed / SUMS_FILE).unlink()
    res = verify_dataset(signed)
    assert len(res) == 1 and res[0]["problem"] == "manifest"


def test_key_file_mode_and_no_private_key_in_output(signed: Path) -> None:
    kdir = config_dir() / "keys"
    assert stat.S_IMODE(os.stat(kdir / "signing_key.pem").st_mode) == 0o600
    assert b"PRIVATE KEY" in (kdir / "signing_key.pem").read_bytes()
    for p in signed.rglob("*"):
        if p.is_file():
            assert b"PRIVATE KEY" not in p.read_bytes(), p
    assert b"PUBLIC KEY" in (signed / PUBLIC_KEY_FILE).read_bytes()


def test_keys_created_on_first_use_and_reused(tmp_path: Path) -> None:
    d = tmp_path / "k"
    _, pub = load_or_create_keys(d)
    assert stat.S_IMODE((d / "signing_key.pem").stat().st_mode) == 0o600
    _, pub2 = load_or_create_keys(d)
    assert public_key_fingerprint(pub) == public_key_fingerprint(pub2)
    (d / "signing_key.pem").write_text("not a key")
    with pytest.raises(RadsynthInputError):
        load_or_create_keys(d)


def test_deterministic(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    a, b = _make(tmp_path / "a"), _make(tmp_path / "b")
    sign_dataset(a, private_key=key)
    first = (a / SIG_FILE).read_bytes()
    sign_dataset(a, private_key=key)
    sign_dataset(b, private_key=key)
    assert (a / SIG_FILE).read_bytes() == first == (b / SIG_FILE).read_bytes()
    assert (a / SUMS_FILE).read_bytes() == (b / SUMS_FILE).read_bytes()


def test_sign_refuses_private_key_in_folder(tmp_path: Path) -> None:
    d = _make(tmp_path / "c")
    (d / "leak.pem").write_bytes(b"-----BEGIN PRIVATE KEY-----\nxx\n-----END PRIVATE KEY-----\n")
    with pytest.raises(RadsynthInputError):
        sign_dataset(d)
    assert not (d / SUMS_FILE).exists()


def test_cli_exit_codes(signed: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["verify", str(signed)])
    assert r.exit_code == 0, r.output
    assert r.output.startswith(f"ok: {len(FILES)} files, signature valid (key ")

    (signed / "new.txt").write_text("x")
    r = runner.invoke(app, ["verify", str(signed)])
    assert r.exit_code == 1 and "unlisted: new.txt" in r.output

    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    r = runner.invoke(app, ["verify", str(tmp_path / "nope")])
    assert r.exit_code == 2 and "does not exist" in r.output
    r = runner.invoke(app, ["verify", str(signed), "--public-key", str(bad)])
    assert r.exit_code == 2 and "--public-key" in r.output
    r = runner.invoke(app, ["verify", str(signed), "--public-key", str(config_dir() / "keys" / "signing_key.pem")])
    assert r.exit_code == 2 and "PRIVATE" in r.output
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before  # bad input: nothing written


def test_symlink_and_hostile_entries(signed: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(FILES["spec.yaml"])
    (signed / "spec.yaml").unlink()
    (signed / "spec.yaml").symlink_to(outside)  # same bytes, but not the signed file
    res = verify_dataset(signed)
    assert _problems(res, "not a regular file") == ["spec.yaml"]
    with pytest.raises(RadsynthInputError):
        sign_dataset(signed)  # refuses symlinks; nothing rewritten
    for bad in (b"0" * 64 + b"  a\x00b\n", b"0" * 64 + b"  /etc/passwd\n", b"0" * 64 + b"  x\n" + b"0" * 64 + b"  x\n"):
        (signed / SUMS_FILE).write_bytes(bad)
        assert _problems(verify_dataset(signed), "manifest") == [SUMS_FILE]


def test_altered_signature_file_detected(signed: Path) -> None:
    sig = signed / SIG_FILE
    meta = json.loads(sig.read_text())
    for key, value in (("version", 2), ("extra", 1), ("signature", meta["signature"][:-3] + "u=="),
                       ("signature", "!!"), ("algorithm", "RSA")):
        alt = dict(meta, **{key: value})
        sig.write_text(json.dumps(alt, indent=2, sort_keys=True) + "\n")
        assert _problems(verify_dataset(signed), "signature") == [SIG_FILE], key


def test_random_mutations_never_crash(signed: Path, tmp_path: Path) -> None:
    """Bounded fuzz: mutated SHA256SUMS / .sig / public key / data never raise and are never 'ok'."""
    import random
    import shutil

    rng = random.Random(0)
    names = [SUMS_FILE, SIG_FILE, PUBLIC_KEY_FILE, "manifest.parquet"]
    for i in range(150):
        d = tmp_path / f"m{i}"
        shutil.copytree(signed, d)
        name = rng.choice(names)
        b = bytearray((d / name).read_bytes())
        op = rng.randrange(3)
        if op == 0:
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif op == 1:
            del b[rng.randrange(len(b)):]
        else:
            b = bytearray(rng.randbytes(rng.randrange(120)))
        (d / name).write_bytes(bytes(b))
        res = verify_dataset(d)
        if name != PUBLIC_KEY_FILE:  # a PEM edit that still decodes to the same key is harmless
            assert res, (name, bytes(b))
        shutil.rmtree(d)


def test_nested_signed_dataset_is_verified_on_its_own(tmp_path):
    """demo-out holds the brain cohort and, beside its subjects, nested cohorts signed later (make demo)."""
    from radsynth.provenance.signing import sign_dataset, verify_dataset

    outer = tmp_path / "outer"
    (outer / "subjects").mkdir(parents=True)
    (outer / "subjects" / "a.txt").write_text("a")
    sign_dataset(outer)
    inner = outer / "inner"
    (inner / "x").mkdir(parents=True)
    (inner / "x" / "b.txt").write_text("b")
    assert [p["problem"] for p in verify_dataset(outer)] == ["unlisted"]  # not yet signed: reported
    sign_dataset(inner)
    assert list(verify_dataset(outer)) == [] and list(verify_dataset(inner)) == []
    (inner / "x" / "b.txt").write_text("B")
    assert list(verify_dataset(outer)) == [] and [p["path"] for p in verify_dataset(inner)] == ["x/b.txt"]
