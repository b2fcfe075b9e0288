"""The secret pseudonymisation key of ``radsynth ingest``: ``--key-file``, else the user's de-identification key.

The key file format and the default key (``config_dir()/keys/deid.key``, 32 random bytes, created on first
use, mode 0600) are those of :mod:`radsynth.privacy.deidentify` (raw bytes or their hex text, 16..64 bytes),
so ``radsynth ingest`` and the DICOM de-identifier give the same pseudonyms with the same key. The key is
never written into DIR; the report holds only its ``key_id``.
"""

from __future__ import annotations

import os
from pathlib import Path

from radsynth.core.errors import RadsynthInputError


def load_key(key_file: str | os.PathLike[str] | None = None) -> tuple[bytes, Path]:
    """(key bytes, key file path); a missing or malformed ``key_file`` is a one-line RadsynthInputError."""
    from radsynth.privacy import deidentify as deid

    if key_file is None:
        return deid.load_or_create_key(None), deid.default_key_path()
    p = Path(key_file)
    if not p.is_file():
        raise RadsynthInputError("--key-file", str(key_file), f"an existing key file ({deid.KEY_MIN_BYTES}.."
                                 f"{deid.KEY_MAX_BYTES} raw bytes or their hex text)",
                                 "Omit --key-file to use your default key in the radsynth config folder.")
    return deid.load_key(p), p
