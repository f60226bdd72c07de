"""Browser-facing protections on every response, and CSRF refusal of cross-origin state changes.

Headers (OWASP Secure Headers): a Content-Security-Policy for a same-origin single-page app built by Vite
(scripts only from this origin, no inline script, no eval; no framing), X-Frame-Options DENY for old
browsers, nosniff, a Referrer-Policy that tells other sites nothing and a restrictive Permissions-Policy. The interactive API docs
(/docs) load Swagger UI from the console's build (no CDN); only it gets a worker source.

CSRF (OWASP CSRF Prevention, "verify origin with standard headers"): a state-changing request (POST, PUT,
PATCH, DELETE) that does not carry a bearer token — so a browser may have attached the session cookie — is
refused with 403 when the browser says it comes from elsewhere: ``Sec-Fetch-Site`` other than same-origin
or none, or (from browsers without Fetch Metadata) an ``Origin`` other than this server's own (another port of
the same host is another origin).
Clients that send neither header (command-line tools, sensors) are not browsers and are let through.
"""
from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from soc_core.errors import PermissionDenied

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
       "frame-ancestors 'none'")
DOCS_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "worker-src 'self' blob:; object-src 'none'; frame-ancestors 'none'")
_COMMON = [
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    # same-origin, not no-referrer: with no-referrer Chromium sends "Origin: null" on this site's own form posts
    (b"referrer-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
_DOCS = ("/docs",)
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def cross_origin_reason(scope: Scope) -> str | None:
    """Why a state-changing, cookie-carrying request looks cross-origin; None when it is fine."""
    if scope["method"] not in _UNSAFE:
        return None
    if (_header(scope, b"authorization") or "").lower().startswith("bearer "):
        return None  # a bearer token is never attached by a browser on its own
    fetch_site = _header(scope, b"sec-fetch-site")
    if fetch_site is not None:  # set by the browser itself, never by a page's script: it alone decides
        return None if fetch_site in ("same-origin", "none") else f"Sec-Fetch-Site: {fetch_site}"
    origin = _header(scope, b"origin")
    if origin is not None:
        # Host and port decide (behind a TLS-terminating proxy the scheme seen here may differ).
        host = _header(scope, b"host") or ""
        if origin.rstrip("/").split("://", 1)[-1] != host:
            return f"Origin {origin} ≠ {host}"
    return None


class SecurityHeaders:
    """ASGI middleware: adds the headers to every response; refuses cross-origin state changes (403)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = (DOCS_CSP if scope["path"].startswith(_DOCS) else CSP).encode()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k not in (b"content-security-policy", b"x-frame-options")]
                message = {**message, "headers": [*headers, (b"content-security-policy", csp), *_COMMON]}
            await send(message)

        reason = cross_origin_reason(scope)
        if reason is not None:
            refusal = PermissionDenied(f"跨站请求被拒绝（{reason}）：请从本站页面操作 / cross-origin request refused ({reason})")
            body = json.dumps({"detail": refusal.body()}, ensure_ascii=False).encode()
            await send_with_headers({"type": "http.response.start", "status": 403,
                                     "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
            await send_with_headers({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send_with_headers)
