"""API keys: ``Authorization: Bearer KEY``; keys from ``NAS_API_KEYS`` compared in constant time.

When no key is configured the server is open and binds to loopback only (see ``nas serve``).
Writes need a key whenever keys exist; reads too when ``NAS_READS_REQUIRE_KEY`` is set.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import HTTPException, Request

from api.settings import Settings


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class KeyChecker:
    """Holds only digests of the configured keys."""

    def __init__(self, settings: Settings) -> None:
        self._digests = [key_digest(k) for k in settings.api_keys]
        self.reads_require_key = settings.reads_require_key

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def is_valid(self, key: str) -> bool:
        digest = key_digest(key)
        matched = False
        for known in self._digests:  # compare against every key: no early exit
            matched |= hmac.compare_digest(digest, known)
        return matched

    def check(self, request: Request, *, write: bool) -> None:
        """Raise 401 (no key) or 403 (wrong key) when this request needs a key."""
        if not self.enabled or (not write and not self.reads_require_key):
            return
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise HTTPException(
                401,
                "this server needs an API key: send 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not self.is_valid(key.strip()):
            raise HTTPException(403, "API key not recognised")
