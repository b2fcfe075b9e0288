"""Mutations of a signed folder for ``radsynth verify DIR``, and the "never outside DIR" verdict.

:func:`mutate_signed_folder` copies a signed template folder and damages one of SHA256SUMS (garbled lines,
bad hex, ``../`` and absolute paths, huge lines, NUL bytes), SHA256SUMS.sig, signing_key.pub.pem or a listed
file. Half of the SHA256SUMS mutants are re-signed with the folder's private key, so the signature holds
and verify's path handling itself is tested: a correctly signed SHA256SUMS naming a file outside DIR
(``../``, absolute, through a symlink) with that file's true sha256 must still not verify.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import shutil
from pathlib import Path

from fuzz_mutators import mutate_bytes, mutate_dicom, mutate_nifti, mutate_png

SUMS, SIG, PUB = "SHA256SUMS", "SHA256SUMS.sig", "signing_key.pub.pem"


def resign(folder: Path, private_key) -> None:  # type: ignore[no-untyped-def]
    """Rewrite SHA256SUMS.sig over the current SHA256SUMS bytes, exactly as radsynth writes it."""
    from radsynth.provenance.signing import public_key_fingerprint

    sums = (folder / SUMS).read_bytes()
    meta = json.loads((folder / SIG).read_text())
    meta["signature"] = base64.b64encode(private_key.sign(sums)).decode("ascii")
    meta["public_key_fingerprint"] = public_key_fingerprint(private_key.public_key())
    (folder / SIG).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def _sums_line(rng: random.Random, outside: Path, lines: list[str]) -> tuple[str, bool]:
    """(a hostile SHA256SUMS line, whether it points outside the folder)."""
    digest = hashlib.sha256(outside.read_bytes()).hexdigest()
    r = rng.randrange(10)
    if r == 0:
        return f"{digest}  ../{outside.name}", True
    if r == 1:
        return f"{digest}  {outside}", True
    if r == 2:
        return f"{digest}  images/../../{outside.name}", True
    if r == 3:
        return f"{digest}  link_out", True  # a symlink to the outside file, created by the caller
    if r == 4:
        return f"{'g' * 64}  notes.txt", False
    if r == 5:
        return f"{digest[:rng.randrange(64)]}  notes.txt", False
    if r == 6:
        return f"{digest}  " + "a/" * rng.choice((10, 1000, 50000)) + "x", False
    if r == 7:
        return f"{digest}  notes\x00.txt", False
    if r == 8:
        return rng.choice(lines) if lines else "", False  # duplicate entry
    return f"{digest} *notes.txt\\\r", False


def mutate_signed_folder(rng: random.Random, template: Path, dest: Path, outside: Path,
                         private_key) -> bool:  # type: ignore[no-untyped-def]
    """Make ``dest`` a damaged copy of ``template``; True when SHA256SUMS now (validly signed or not)
    names something outside ``dest``, i.e. verify must not say ok."""
    shutil.copytree(template, dest, symlinks=True)
    escapes = False
    target = rng.randrange(10)
    if target <= 4:  # SHA256SUMS
        text = (dest / SUMS).read_bytes()
        lines = text.decode("utf-8").split("\n")[:-1]
        r = rng.randrange(4)
        if r <= 1:
            line, escapes = _sums_line(rng, outside, lines)
            lines.insert(rng.randint(0, len(lines)), line)
            if line.endswith("link_out"):
                (dest / "link_out").symlink_to(outside)
            data = ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")
        elif r == 2:
            data = mutate_bytes(rng, text)
        else:
            data = rng.choice((b"", b"\n", b"x" * 1_000_000 + b"\n", text[:-1], text.replace(b"  ", b" "),
                               text + b"\xff\xfe\n", text.upper(), b"\x00" * 100 + b"\n"))
        (dest / SUMS).write_bytes(data)
        if rng.random() < 0.6:
            resign(dest, private_key)
    elif target == 5:  # SHA256SUMS.sig
        raw = (dest / SIG).read_bytes()
        meta = json.loads(raw)
        r = rng.randrange(4)
        if r == 0:
            meta["signature"] = base64.b64encode(rng.randbytes(rng.choice((0, 1, 63, 65, 64, 1000)))).decode()
        elif r == 1:
            meta[rng.choice(sorted(meta))] = rng.choice((None, 1, [], {}, "x" * 10000, -1.5))
        if r <= 1:
            (dest / SIG).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        else:
            (dest / SIG).write_bytes(mutate_bytes(rng, raw) if r == 2 else rng.randbytes(rng.randint(0, 300)))
    elif target == 6:  # public key: garbage PEM, another key type
        r = rng.randrange(3)
        pem = (dest / PUB).read_bytes()
        if r == 0:
            data = mutate_bytes(rng, pem)
        elif r == 1:
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric import ec

            other = ec.generate_private_key(ec.SECP256R1()).public_key()
            data = other.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        else:
            data = rng.choice((b"", b"-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----\n",
                               b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", rng.randbytes(64)))
        (dest / PUB).write_bytes(data)
    else:  # a listed file's content (and, half the time, re-listed and re-signed: marks readers see the mutant)
        rel = rng.choice(("images/a.png", "images/b.nii.gz", "images/c.dcm", "notes.txt", "build.json"))
        data = (dest / rel).read_bytes()
        mut = {".png": mutate_png, ".gz": mutate_nifti, ".dcm": mutate_dicom}.get(Path(rel).suffix, mutate_bytes)
        (dest / rel).write_bytes(mut(rng, data))
        if rng.random() < 0.5:
            from radsynth.provenance.signing import sign_dataset

            sign_dataset(dest, private_key=private_key)
    return escapes


def t_verify(work: Path, rng: random.Random, template: Path, outside: Path, private_key, n: int) -> str | None:  # type: ignore[no-untyped-def]
    """Verify a mutated copy; Crash when it crashes or says ok for a folder whose SHA256SUMS escapes it."""
    from fuzz_targets import Crash, cli_verdict, invoke

    dest = work / f"verify_{n}"
    escapes = mutate_signed_folder(rng, template, dest, outside, private_key)
    res = invoke(["verify", dest])
    said = cli_verdict(res)
    if escapes and res.exit_code == 0:
        raise Crash(f"verify said ok for a SHA256SUMS naming a file outside DIR: {res.output[:200]!r}")
    return said
