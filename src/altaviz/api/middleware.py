"""HTTP middleware of the service: request ids, security headers, the last-resort error answer, and the
limits on a request's size.

Pure ASGI (no BaseHTTPMiddleware): it adds headers on the way out without buffering bodies.
"""

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Callable
from typing import Protocol

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from altaviz.api.errors import internal_error_body, request_id_of

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


# The longest request target (path and query string) answered; longer ones get 414.
MAX_URL_BYTES = 8 * 1024
# Routes whose bodies are readings files: paths under these prefixes get the ingest limit (for /data/
# only its POSTs, the upload page's forms).
INGEST_PREFIXES = ("/api/ingest/",)
UPLOAD_POST_PREFIXES = ("/data/",)


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a streamed body goes over its limit. An HTTPException, so FastAPI
    passes it on while reading a body (instead of calling it a parsing error) and the handlers answer
    it in the JSON error format."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large(limit))


def _too_large(limit: int) -> str:
    return (
        f"The request body is larger than this route accepts ({limit:,} bytes). Send less at a time "
        "(split the file or the batch)."
    )


def body_limit_for(method: str, path: str, *, default: int, ingest: int) -> int:
    """The body limit of a request: the larger ingest one for readings uploads, the default otherwise."""
    if path.startswith(INGEST_PREFIXES) or (method == "POST" and path.startswith(UPLOAD_POST_PREFIXES)):
        return ingest
    return default


class RequestLimitMiddleware:
    """Refuses requests over their size limits before the application reads them.

    - A request target (path + query) over MAX_URL_BYTES: 414.
    - A Content-Length over the route's limit: 413 at once, without reading the body.
    - A body without Content-Length (chunked): counted as it is received; the message that takes it
      over the limit raises BodyTooLarge (413), so nothing over the limit is ever held in memory.

    The 413 asks the server to close the connection, so the rest of an unread body is not read.
    """

    def __init__(self, app: ASGIApp, *, max_body: int, ingest_max_body: int, max_url: int = MAX_URL_BYTES):
        self.app = app
        self.max_body = max_body
        self.ingest_max_body = ingest_max_body
        self.max_url = max_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        target = len(scope.get("raw_path") or scope["path"].encode()) + len(scope.get("query_string", b""))
        if target > self.max_url:
            message = (
                f"The request's address is too long ({target:,} bytes; at most {self.max_url:,}). Send "
                "long parameters in a request body."
            )
            await _refuse(scope, send, 414, message, "uri_too_long")
            return
        limit = body_limit_for(
            scope["method"], scope["path"], default=self.max_body, ingest=self.ingest_max_body
        )
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(scope, send, 413, _too_large(limit), "body_too_large")
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if received > limit:  # answered through the handlers: close, leave the rest unread
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            if started:
                raise
            await _refuse(scope, send, 413, _too_large(limit), "body_too_large")


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(
    scope: Scope,
    send: Send,
    status: int,
    message: str,
    code: str,
    headers: tuple[tuple[bytes, bytes], ...] = ((b"connection", b"close"),),
) -> None:
    body = json.dumps({"error": message, "code": code, "requestId": request_id_of(scope)}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# A request (API or page) that has not answered after this long makes the service ask whether the
# database answers (a pool-less probe, at most HEALTH_CHECK_TIMEOUT): so a data route answers 503
# within HANG_CHECK_SECONDS + HEALTH_CHECK_TIMEOUT (< 2 s) while PostgreSQL hangs.
HANG_CHECK_SECONDS = 1.0
HANG_EXEMPT_PATHS = frozenset({"/api/health", "/api/openapi.json", "/metrics"})
HANG_EXEMPT_PREFIXES = ("/static/", "/api/docs")
UNAVAILABLE_PAGE = (
    "<!doctype html><html lang=en><meta charset=utf-8><title>Altaviz: database unavailable</title>"
    "<h1>The database is not answering</h1><p>{message}</p><p>Try again in a moment; if it lasts, tell "
    "whoever runs this Altaviz service (request id <code>{request_id}</code>).</p></html>"
)
DATABASE_UNAVAILABLE = "The database is unavailable or did not answer in time. Try again shortly."


NOT_ANSWERING = ("error", "timeout")  # a database that refuses a connection itself still answers


class Probe(Protocol):
    async def database(self) -> str: ...


class DatabaseHangMiddleware:
    """Answers a request (API or page) 503 once the database is found not answering, instead of
    waiting on it.

    A query sent to a server that accepted the connection but never answers has no client-side
    timeout (PostgreSQL's statement_timeout is the server's, which is not running). So a request still
    unanswered after HANG_CHECK_SECONDS asks the health probe (single-flight, bounded by
    HEALTH_CHECK_TIMEOUT); if the database did not answer, the request gets the 503
    `database_unavailable` at once and every database connection's socket is shut down
    (`cut_connections`), which makes the stuck driver calls fail: worker threads and pooled
    connections come back, and the pool reconnects when the database does. A slow request on a healthy
    database is left alone (its statements are bounded by DB_STATEMENT_TIMEOUT), and so is an answer
    that has started (a streamed export), and so are requests while the database refuses the probe's
    connection itself (`refused`: every slot taken, say): it answers, and the connections the
    requests hold may be the ones that work.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        probe: Probe,
        cut_connections: Callable[[], int],
        check_after: float = HANG_CHECK_SECONDS,
    ) -> None:
        self.app = app
        self.probe = probe
        self.cut_connections = cut_connections
        self.check_after = check_after
        self._abandoned: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in HANG_EXEMPT_PATHS or path.startswith(HANG_EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        started = False
        abandoned = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if abandoned:
                return  # the client has had its 503
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        task = asyncio.ensure_future(self.app(scope, receive, guarded_send))
        try:
            done, _ = await asyncio.wait({task}, timeout=self.check_after)
            while not done and not started:
                verdict = await self.probe.database()
                if verdict in NOT_ANSWERING and not task.done() and not started:
                    abandoned = True
                    cut = self.cut_connections()
                    log.error(
                        "database not answering (%s): %s %s answered 503 after %.1f s; %d connection(s) cut",
                        verdict,
                        scope.get("method"),
                        path,
                        self.check_after,
                        cut,
                        extra={"request_id": request_id_of(scope)},
                    )
                    self._abandoned.add(task)
                    task.add_done_callback(self._forget)
                    await _unavailable(scope, send)
                    return
                done, _ = await asyncio.wait({task}, timeout=self.check_after)
        except asyncio.CancelledError:
            task.cancel()
            raise
        await task

    def _forget(self, task: "asyncio.Task[None]") -> None:
        """An abandoned request finished (its connection was cut): its outcome is only logged."""
        self._abandoned.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.info("abandoned request ended with %s", error.__class__.__name__)


async def _unavailable(scope: Scope, send: Send) -> None:
    """The 503 of a hung database: JSON for the API and htmx calls, a short page for a browser."""
    retry = ((b"retry-after", b"5"),)
    headers = dict(scope.get("headers", []))
    if scope["path"].startswith("/api/") or headers.get(b"hx-request") == b"true":
        await _refuse(scope, send, 503, DATABASE_UNAVAILABLE, "database_unavailable", retry)
        return
    body = UNAVAILABLE_PAGE.format(message=DATABASE_UNAVAILABLE, request_id=request_id_of(scope)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                *retry,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
