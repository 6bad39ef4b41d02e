"""API keys kept in the database: only their SHA-256 digests are stored, never the keys.

``KeyRepository.create(name)`` returns the new key once (print it, it cannot be shown again);
``revoke(name)`` stops it within ``KeyChecker``'s cache time. Keys from ``NAS_API_KEYS`` work
alongside (see ``api.auth``).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from api.db.models import ApiKey, utcnow
from api.db.session import session_scope
from nas.errors import ConflictError, NotFoundError

KEY_BYTES = 32  # 256 random bits, URL-safe text


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class KeyInfo(BaseModel):
    """A stored key as listed (no secret in it)."""

    name: str
    created_at: datetime
    revoked_at: datetime | None = None


class KeyRepository:
    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    def create(self, name: str) -> str:
        """A new random key named ``name``; the key itself is returned once, never stored."""
        if not name.strip() or len(name) > 200:
            raise ConflictError("a key needs a name of 1 to 200 characters", field="name")
        key = secrets.token_urlsafe(KEY_BYTES)
        try:
            with session_scope(self.factory) as session:
                session.add(ApiKey(name=name, key_hash=key_digest(key).hex()))
        except IntegrityError:
            raise ConflictError(f"a key named {name!r} exists already", field="name") from None
        return key

    def revoke(self, name: str) -> None:
        with session_scope(self.factory) as session:
            done = session.execute(
                sa.update(ApiKey)
                .where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            if not getattr(done, "rowcount", 0):
                raise NotFoundError(f"no active key named {name!r}", field="name")

    def infos(self) -> list[KeyInfo]:
        """Every stored key, oldest first (names and dates only)."""
        with session_scope(self.factory) as session:
            rows = session.execute(
                sa.select(ApiKey.name, ApiKey.created_at, ApiKey.revoked_at).order_by(ApiKey.id)
            ).all()
        return [
            KeyInfo(name=r.name, created_at=r.created_at, revoked_at=r.revoked_at) for r in rows
        ]

    def any_stored(self) -> bool:
        """Whether a key was ever stored (revoked ones count: revoking every key locks the
        server, it never opens it)."""
        with session_scope(self.factory) as session:
            return session.scalar(sa.select(ApiKey.id).limit(1)) is not None

    def active_digests(self) -> list[bytes]:
        with session_scope(self.factory) as session:
            hashes = session.scalars(sa.select(ApiKey.key_hash).where(ApiKey.revoked_at.is_(None)))
            return [bytes.fromhex(h) for h in hashes]
