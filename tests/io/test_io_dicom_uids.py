"""Deterministic UUID-derived UIDs (DICOM PS3.5 B.2)."""

from __future__ import annotations

import re
import uuid

from hypothesis import given
from hypothesis import strategies as st

from radsynth.io.dicom_uids import uid_from

UID_RE = re.compile(r"^2\.25\.(0|[1-9][0-9]*)$")


@given(st.lists(st.text(max_size=20), min_size=1, max_size=4))
def test_uid_valid_and_deterministic(parts):
    uid = uid_from(*parts)
    assert UID_RE.match(uid) and len(uid) <= 64
    assert uid == uid_from(*parts)
    u = uuid.UUID(int=int(uid[5:]))
    assert u.version == 8 and u.variant == uuid.RFC_4122


def test_uid_parts_are_unambiguous():
    assert uid_from("a/b", "c") != uid_from("a", "b/c")
    assert uid_from("ab") != uid_from("a", "b")
    # pinned value: changing the scheme would change every UID ever written
    assert uid_from("radsynth", "test") == "2.25.261617838551080075812340175569498714658"
