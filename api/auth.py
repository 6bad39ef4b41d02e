"""API keys: ``Authorization: Bearer KEY``, checked in constant time against SHA-256 digests.

Keys come from ``NAS_API_KEYS`` (held as digests in memory) and from the database's key table
(``nas keys create``; only digests are stored, re-read every ``cache_seconds``). When no key
was ever configured the server is open and binds to loopback only (see ``nas serve``); once
the table holds a key, revoking every key locks writes rather than opening them. Writes need
a key whenever keys exist; reads too when ``NAS_READS_REQUIRE_KEY`` is set.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time

from fastapi import HTTPException, Request

from api.db.session import database_unreachable
from api.keys import KeyRepository, key_digest
from api.settings import Settings

log = logging.getLogger("nas.api")


class KeyChecker:
    """Holds only digests of the keys; never logs or returns a key."""

    def __init__(
        self, settings: Settings, keys: KeyRepository | None = None, cache_seconds: float = 5.0
    ) -> None:
        self._settings_digests = [key_digest(k) for k in settings.api_keys]
        self.reads_require_key = settings.reads_require_key
        self._keys = keys
        self._cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._stored: tuple[bool, list[bytes]] = (False, [])
        self._stored_at = -float("inf")

    def _stored_keys(self) -> tuple[bool, list[bytes]]:
        """(whether the table ever held a key, the active digests), re-read when stale."""
        if self._keys is None:
            return False, []
        with self._lock:
            if time.monotonic() - self._stored_at > self._cache_seconds:
                try:
                    self._stored = (self._keys.any_stored(), self._keys.active_digests())
                    self._stored_at = time.monotonic()
                except Exception as exc:
                    if not database_unreachable(exc):
                        raise
                    # Keep what was last read: the request itself will meet the outage.
            return self._stored

    def _digests(self) -> list[bytes]:
        return self._settings_digests + self._stored_keys()[1]

    @property
    def enabled(self) -> bool:
        """Keys are required once any exists: in the settings, or ever in the table."""
        return bool(self._settings_digests) or self._stored_keys()[0]

    def is_valid(self, key: str) -> bool:
        digest = key_digest(key)
        matched = False
        for known in self._digests():  # compare against every key: no early exit
            matched |= hmac.compare_digest(digest, known)
        return matched

    def check(self, request: Request, *, write: bool) -> None:
        """Raise 401 (no key) or 403 (wrong key) when this request needs a key."""
        if not write and not self.reads_require_key:
            return
        if not self.enabled:
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
