"""HTTP middleware of the service: request ids, security headers, and the last-resort error answer.

Pure ASGI (no BaseHTTPMiddleware): it adds headers on the way out without buffering bodies.
"""

import json
import logging
import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from altaviz.api.errors import internal_error_body

log = logging.getLogger("altaviz.api")

REQUEST_ID_HEADER = b"x-request-id"
_CLIENT_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{8,128}$")

# No inline script anywhere; pages and their assets come from this origin only.
DEFAULT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
HSTS = b"max-age=63072000; includeSubDomains"


def _security_headers(csp: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-security-policy", csp.encode()),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"strict-origin-when-cross-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]


class RequestContextMiddleware:
    """Gives every request an id (X-Request-ID), adds the security headers to every response, and
    turns an unhandled exception into a logged 500 that tells the client only the request id."""

    def __init__(self, app: ASGIApp, *, hsts: bool, csp: str = DEFAULT_CSP) -> None:
        self.app = app
        self.headers = _security_headers(csp)
        if hsts:
            self.headers.append((b"strict-transport-security", HSTS))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        is_api = scope["path"].startswith("/api/")
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                headers.extend(h for h in self.headers if h[0] not in present)
                if is_api and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception(
                "unhandled error in %s %s",
                scope.get("method"),
                scope.get("path"),
                extra={"request_id": request_id},
            )
            if started:
                raise
            body = json.dumps(internal_error_body(scope)).encode()
            await send_with_headers(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send_with_headers({"type": "http.response.body", "body": body})


def _incoming_request_id(scope: Scope) -> str | None:
    """A caller's (or proxy's) X-Request-ID, kept when it is a plain token, so logs line up."""
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER:
            return value.decode() if _CLIENT_REQUEST_ID.match(value) else None
    return None
