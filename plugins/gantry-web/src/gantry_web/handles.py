"""Opaque handles: what the console's URLs carry instead of UIDs or patient IDs.

A handle is a keyed hash (a random key per console process) of a kind and a value, remembered
when a page shows it; a URL can only name something a page of this console has shown. After a
restart old links answer "not found" rather than leaking or guessing anything.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading


class Handles:
    """Map values (original UIDs, patient IDs) to opaque handles and back."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._values: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def of(self, kind: str, value: str) -> str:
        """The handle of ``value`` (remembered, so that it resolves later)."""
        digest = hmac.new(self._key, f"{kind}\x00{value}".encode("utf-8", "surrogatepass"),
                          hashlib.sha256).digest()
        handle = base64.b32encode(digest[:10]).decode().lower()
        with self._lock:
            self._values[handle] = (kind, value)
        return handle

    def value(self, kind: str, handle: str) -> str | None:
        """The value behind a handle of ``kind``, or ``None`` when this console never showed
        it."""
        with self._lock:
            found = self._values.get(handle)
        if found is None or found[0] != kind:
            return None
        return found[1]
