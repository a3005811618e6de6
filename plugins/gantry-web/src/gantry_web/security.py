"""Safe by default: an access token on every request, CSRF on every POST, strict headers.

* The token (random, printed once at start) comes as ``?token=`` on the first visit, which
  sets an HttpOnly, SameSite=Strict cookie and redirects to the same page without it; or as
  ``Authorization: Bearer``. Every other request gets 401.
* Every POST carries a ``csrf`` form field derived from the token (a keyed hash), and a
  cross-site ``Origin`` is refused: 403.
* The ``Host`` header must name the address the console listens on (DNS rebinding).
* Responses are ``no-store`` with a Content-Security-Policy that allows nothing from
  elsewhere, no framing and no referrer sent to another site.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

COOKIE = "gantry_web"
HEADERS = [
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),  # (no-referrer would make Origin "null")
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy",
     b"default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; "
     b"frame-ancestors 'none'; base-uri 'none'"),
]

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
                   Awaitable[None]]


def new_token() -> str:
    """A random access token."""
    return secrets.token_urlsafe(24)


def csrf_for(token: str) -> str:
    """The CSRF form value of a console (a keyed hash of its token: never the token)."""
    return hmac.new(token.encode(), b"gantry-web csrf", hashlib.sha256).hexdigest()[:32]


def check_csrf(token: str, value: str | None) -> bool:
    """Whether a submitted CSRF value is this console's."""
    return bool(value) and hmac.compare_digest(csrf_for(token), str(value))


class TokenGuard:
    """ASGI middleware: token, Host and Origin checks, security headers on every answer."""

    def __init__(self, app: ASGIApp, token: str, hosts: set[str]) -> None:
        self.app = app
        self.token = token
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        if self.hosts and headers.get("host", "") not in self.hosts:
            await _plain(send, 421, "this console answers only on its own address")
            return
        origin = headers.get("origin")
        if scope["method"] == "POST" and origin and \
                origin.split("://", 1)[-1] not in self.hosts:
            await _plain(send, 403, "cross-site request refused")
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        given = query.get("token")
        if given is not None and hmac.compare_digest(given, self.token):
            rest = urlencode([(k, v) for k, v in query.items() if k != "token"])
            location = scope["path"] + (f"?{rest}" if rest else "")
            cookie = f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
            await send({"type": "http.response.start", "status": 303,
                        "headers": [(b"location", location.encode()),
                                    (b"set-cookie", cookie.encode()), *HEADERS]})
            await send({"type": "http.response.body", "body": b""})
            return
        if not self._authorised(headers):
            await _plain(send, 401, "open the address gantry web printed (with its ?token=)")
            return

        async def guarded_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *HEADERS]}
            await send(message)

        await self.app(scope, receive, guarded_send)

    def _authorised(self, headers: dict[str, str]) -> bool:
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and hmac.compare_digest(auth[7:].strip(),
                                                                      self.token):
            return True
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE and hmac.compare_digest(value, self.token):
                return True
        return False


async def _plain(send: Any, status: int, text: str) -> None:
    body = f"{status}: {text}\n".encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *HEADERS]})
    await send({"type": "http.response.body", "body": body})
