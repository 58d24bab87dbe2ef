"""Per-client-IP rate limits with the `limits` library (moving window, memory or Redis storage).

The client IP is the peer address, or the address a trusted proxy names in X-Forwarded-For (the
proxy-headers middleware outside this one rewrites it only for peers in TRUSTED_PROXIES). Every
path counts, /api/health included, except static assets and /api/ingest/ (limited per API key by
INGEST_RATE_LIMIT_PER_MINUTE instead); sign-in and sign-up have a tighter bucket of their own. With
redis://… storage, all workers and instances share the counts.

Answers carry the IETF draft headers (`RateLimit-Policy` and `RateLimit`), the widely parsed
`RateLimit-Limit/-Remaining/-Reset` (reset in seconds from now) and `X-RateLimit-*` (reset as Unix
time); a 429 adds `Retry-After` in seconds. If the shared store is unreachable the service keeps
answering (fails open) and logs it, rather than turning a Redis outage into an API outage.
"""

import json
import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from altaviz.api.errors import request_id_of
from altaviz.config import Settings
from altaviz.observability.metrics import METRICS_PATH, record_rate_limit_rejection

log = logging.getLogger("altaviz.ratelimit")

AUTH_PATHS = frozenset(
    {
        "/api/auth/login",
        "/api/auth/signup",
        "/api/auth/invitations/accept",
        "/api/auth/invitations/preview",
        "/login",
        "/signup",
    }
)
EXEMPT_PREFIXES = ("/static/", "/api/docs/static/")
# Ingest requests have their own bucket per key (INGEST_RATE_LIMIT_PER_MINUTE, api/ingest.py), so a
# gateway sending readings never uses up the per-IP budget that people and the runbook's check see.
PER_KEY_PREFIXES = ("/api/ingest/",)
REDIS_TIMEOUT_SECONDS = 1.0
STORE_ERROR_LOG_INTERVAL = 30.0


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    bucket: str
    limit: int
    remaining: int
    reset_after: int  # seconds until a request is allowed again / the window frees a slot
    reset_at: int  # Unix time of the same moment


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        self.storage = _storage(settings)
        self.strategy = MovingWindowRateLimiter(self.storage)
        self.items: dict[str, RateLimitItem] = {
            "default": RateLimitItemPerMinute(settings.rate_limit_per_minute),
            "auth": RateLimitItemPerMinute(settings.rate_limit_auth_per_minute),
            # Per API key (or member), counted by the ingest route once it knows the caller.
            "ingest": RateLimitItemPerMinute(settings.ingest_rate_limit_per_minute),
        }
        self.shared = not settings.rate_limit_storage_uri.startswith("memory://")
        self._last_store_error = 0.0

    async def hit(self, bucket: str, client: str) -> Decision | None:
        """Count one request; None when the store could not be reached (the request goes through)."""
        item = self.items[bucket]
        try:
            allowed = await self.strategy.hit(item, bucket, client)
            reset_time, remaining = await self.strategy.get_window_stats(item, bucket, client)
        except Exception as error:  # any store failure: fail open, say so in the log
            now = time.monotonic()
            if now - self._last_store_error >= STORE_ERROR_LOG_INTERVAL:
                self._last_store_error = now
                log.error("rate-limit store unreachable, not limiting: %s", error)
            return None
        now_wall = time.time()
        reset_after = max(1, math.ceil(reset_time - now_wall))
        return Decision(
            allowed=allowed,
            bucket=bucket,
            limit=item.amount,
            remaining=max(0, remaining),
            reset_after=reset_after,
            reset_at=math.ceil(now_wall) + reset_after,
        )

    async def check_store(self) -> bool:
        try:
            return bool(await self.storage.check())
        except Exception:
            return False

    async def reset(self) -> None:
        await self.storage.reset()


def _storage(settings: Settings) -> Storage:
    uri = settings.rate_limit_storage_uri
    if uri.startswith("memory://"):
        return MemoryStorage()
    return RedisStorage(
        "async+" + uri,
        implementation="redispy",
        key_prefix=settings.rate_limit_key_prefix,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
    )


def bucket_for(method: str, path: str) -> str | None:
    if path.startswith(EXEMPT_PREFIXES) or path == METRICS_PATH or path.startswith(PER_KEY_PREFIXES):
        return None
    if method == "POST" and path in AUTH_PATHS:
        return "auth"
    return "default"


def rate_limit_headers(decision: Decision) -> list[tuple[bytes, bytes]]:
    window = 60
    pairs = [
        ("RateLimit-Policy", f'"{decision.bucket}";q={decision.limit};w={window}'),
        ("RateLimit", f'"{decision.bucket}";r={decision.remaining};t={decision.reset_after}'),
        ("RateLimit-Limit", str(decision.limit)),
        ("RateLimit-Remaining", str(decision.remaining)),
        ("RateLimit-Reset", str(decision.reset_after)),
        ("X-RateLimit-Limit", str(decision.limit)),
        ("X-RateLimit-Remaining", str(decision.remaining)),
        ("X-RateLimit-Reset", str(decision.reset_at)),
    ]
    return [(name.lower().encode(), value.encode()) for name, value in pairs]


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        bucket = bucket_for(scope["method"], scope["path"])
        if bucket is None:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        decision = await self.limiter.hit(bucket, client[0] if client else "unknown")
        if decision is None:
            await self.app(scope, receive, send)
            return
        headers = rate_limit_headers(decision)
        if not decision.allowed:
            record_rate_limit_rejection(decision.bucket)
            await _too_many(scope, send, decision, headers)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *headers]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _too_many(scope: Scope, send: Send, decision: Decision, headers: list[tuple[bytes, bytes]]) -> None:
    limit = "sign-in attempts" if decision.bucket == "auth" else "requests"
    body = json.dumps(
        {
            "error": f"Too many {limit}: the limit is {decision.limit} per minute; "
            f"retry in {decision.reset_after} s",
            "code": "rate_limited",
            "requestId": request_id_of(scope),
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(decision.reset_after).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
