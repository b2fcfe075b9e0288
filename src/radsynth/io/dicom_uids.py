"""Deterministic DICOM UIDs.

A UID is ``"2.25." + <decimal integer of a 128-bit UUID>`` (DICOM PS3.5 §B.2,
"UUID Derived UID"). The UUID is name-based: the first 16 bytes of the sha256 of
the JSON list of the parts, with the version nibble set to 8 and the variant to
RFC 4122 (RFC 9562 §5.8, "UUIDv8: custom"), so it is a well-formed UUID and the
UID is at most 5 + 39 = 44 characters (<= 64). Joining the parts as a JSON list
is unambiguous: ``("a/b", "c")`` and ``("a", "b/c")`` give different UIDs.
"""

from __future__ import annotations

import hashlib
import json
import uuid

UID_ROOT = "2.25."


def uid_from(*parts: str) -> str:
    """Deterministic, globally unique-by-construction UID for the given name parts."""
    if not parts:
        raise ValueError("uid_from needs at least one part")
    joined = json.dumps([str(p) for p in parts], separators=(",", ":"), ensure_ascii=True)
    raw = bytearray(hashlib.sha256(joined.encode("ascii")).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x80  # version 8
    raw[8] = (raw[8] & 0x3F) | 0x80  # variant 10xx (RFC 4122/9562)
    return UID_ROOT + str(uuid.UUID(bytes=bytes(raw)).int)
