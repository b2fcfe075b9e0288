"""API keys: ``rsk_<id>_<secret>``; only the sha256 of the whole token is stored.

The id (12 hex digits) is public: it names the key in listings, the audit log and ``revoke``.
The secret is 256 random bits (``secrets``), so a fast hash is enough (nothing to brute-force);
comparison is constant-time. Roles are ordered ``viewer < operator < admin``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from radsynth.core.errors import RadsynthInputError
from radsynth.service.db import ROLES, ApiKey, format_time, parse_time, utc_now

PREFIX = "rsk"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"
_TOKEN_RE = re.compile(rf"^{PREFIX}_([0-9a-f]{{12}})_([A-Za-z0-9_-]{{43}})$")
ROLE_RANK = {r: i for i, r in enumerate(ROLES)}
#: last_used_at is written at most this often per key (no database write on every request)
LAST_USED_EVERY_S = 60.0


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_role(role: str) -> str:
    if role not in ROLE_RANK:
        raise RadsynthInputError("role", role, f"one of {list(ROLES)}")
    return role


def check_name(name: str) -> str:
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        raise RadsynthInputError("name", name, "1-64 letters, digits and . _ @ - (starting with a letter or digit)")
    return name


def create_key(session: Session, name: str, role: str, expires_at: _dt.datetime | None = None) -> tuple[ApiKey, str]:
    """Create and commit a key; returns (row, plain token). The token is not recoverable later."""
    check_name(name)
    check_role(role)
    exp = None
    if expires_at is not None:
        exp = format_time(expires_at)
        if expires_at <= _dt.datetime.now(_dt.timezone.utc):
            raise RadsynthInputError("expires_at", exp, "a time in the future")
    while True:
        key_id = secrets.token_hex(6)
        if session.get(ApiKey, key_id) is None:
            break
    token = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    row = ApiKey(id=key_id, name=name, role=role, token_sha256=hash_token(token), created_at=utc_now(),
                 expires_at=exp, revoked=False)
    session.add(row)
    session.commit()
    return row, token


@dataclass(frozen=True)
class Principal:
    key_id: str
    name: str
    role: str

    def allows(self, role: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


def authenticate(session: Session, token: str | None) -> tuple[Principal | None, str]:
    """(principal, "") for a valid key, else (None, why): missing, malformed, unknown, revoked, expired."""
    if not token:
        return None, "no API key (send 'Authorization: Bearer <key>' or 'X-API-Key: <key>')"
    m = _TOKEN_RE.match(token.strip())
    if m is None:
        return None, "malformed API key"
    row = session.get(ApiKey, m.group(1))
    if row is None or not hmac.compare_digest(row.token_sha256, hash_token(token.strip())):
        return None, "unknown API key"
    if row.revoked:
        return None, f"API key {row.id} was revoked"
    now = _dt.datetime.now(_dt.timezone.utc)
    if row.expires_at is not None and parse_time(row.expires_at) <= now:
        return None, f"API key {row.id} expired at {row.expires_at}"
    if row.last_used_at is None or (now - parse_time(row.last_used_at)).total_seconds() > LAST_USED_EVERY_S:
        row.last_used_at = utc_now()
        session.commit()
    return Principal(row.id, row.name, row.role), ""


def revoke_key(session: Session, key_id: str) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise KeyError(key_id)
    if not row.revoked:
        row.revoked = True
        row.revoked_at = utc_now()
        session.commit()
    return row


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)))
