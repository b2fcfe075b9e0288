"""The secret pseudonymisation key of ``radsynth ingest`` (``--key-file``, default ``config_dir()/keys/deid.key``).

A key file holds either hex text (at least 32 hex digits, whitespace ignored) or raw bytes; either way at
least :data:`radsynth.privacy.deidentify.KEY_MIN_BYTES` bytes of secret. The same key gives the same
pseudonyms, UIDs and date shifts in every run; keep it out of the dataset (it is never written into DIR).
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from radsynth.core.errors import RadsynthInputError

KEY_FILE = "deid.key"
MAX_KEY_FILE_BYTES = 4096
_HEX = re.compile(rb"^[0-9a-fA-F]+$")


def _min_bytes() -> int:
    from radsynth.privacy.deidentify import KEY_MIN_BYTES

    return int(KEY_MIN_BYTES)


def parse_key(data: bytes, field: str, value: str) -> bytes:
    """Key bytes from a key file's content; one-line RadsynthInputError when it is not a usable key."""
    n = _min_bytes()
    accepted = f"a key file of hex text (>= {2 * n} hex digits) or >= {n} raw secret bytes, at most " \
               f"{MAX_KEY_FILE_BYTES} bytes"
    if len(data) > MAX_KEY_FILE_BYTES:
        raise RadsynthInputError(field, value, accepted, f"The file has {len(data)} bytes: not a key file.")
    if b"PRIVATE KEY" in data or b"PUBLIC KEY" in data:
        raise RadsynthInputError(field, value, accepted, "This is a PEM signing key, not the de-identification key.")
    text = b"".join(data.split())
    if text and _HEX.match(text) and len(text) % 2 == 0 and len(text) >= 2 * n:
        return bytes.fromhex(text.decode("ascii"))
    if len(data) >= n and not (text and _HEX.match(text)):
        return bytes(data)
    raise RadsynthInputError(field, value, accepted, f"The file holds {len(data)} bytes.")


def default_key_path() -> Path:
    from radsynth.provenance.config_dir import config_dir

    return config_dir() / "keys" / KEY_FILE


def load_key(key_file: str | os.PathLike[str] | None = None, *, create: bool = True) -> tuple[bytes, Path]:
    """(key bytes, path): ``key_file`` must exist; the default key is created (32 random bytes, hex, 0600)."""
    if key_file is not None:
        p = Path(key_file)
        if not p.is_file():
            raise RadsynthInputError("--key-file", str(key_file), "an existing key file (hex text or raw bytes)",
                                     "Omit --key-file to use the default key in the radsynth config folder.")
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise RadsynthInputError("--key-file", str(key_file), "a readable key file", str(exc.strerror)) from None
        return parse_key(data, "--key-file", str(key_file)), p
    p = default_key_path()
    if not p.exists() and create:
        from radsynth.io.atomic import atomic_path

        p.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(p) as tmp:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_hex(32).encode("ascii") + b"\n")
    if not p.is_file():
        raise RadsynthInputError("key file", str(p), "an existing key file", "Pass --key-file.")
    return parse_key(p.read_bytes(), "key file", str(p)), p
