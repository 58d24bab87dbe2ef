"""The client side of POST /api/ingest/readings, shared by the senders (altaviz gateway, the field
connectors): the request body of a batch, what an answer means, and how long to wait before a retry.

An answer with a body that reports `rows` (200, or 422 when every row was refused) settles the batch:
refused rows are kept by the server with their reasons, so sending them again would change nothing.
429, 408 and 5xx, an `idempotency_key_in_use` conflict (the first request with that key is still being
processed) and no answer at all are worth a retry with the same key and body; anything else (bad
credentials, a key reused with another body) is not.
"""

from __future__ import annotations

import gzip
import json
import random
from dataclasses import dataclass
from typing import Any

import httpx

INGEST_PATH = "/api/ingest/readings"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_BACKOFF_SECONDS = 60.0


@dataclass(frozen=True)
class Outcome:
    """One attempt: `answer` when the batch is settled, else `retryable`, `wait` and `problem`."""

    answer: dict[str, Any] | None
    status: int | None
    retryable: bool
    wait: float | None
    problem: str | None
    replayed: bool = False
    code: str | None = None  # the refusal's `code` (e.g. idempotency_key_reused)


def gzip_body(body: bytes, headers: dict[str, str]) -> bytes:
    """`body` gzipped, its header saying so. No time in the gzip header: a batch built again after a
    restart is the same bytes, which the service's idempotency record compares a retry with."""
    headers["Content-Encoding"] = "gzip"
    return gzip.compress(body, compresslevel=5, mtime=0)


def ndjson_body(rows: list[dict[str, Any]], compress: bool = True) -> tuple[bytes, dict[str, str]]:
    """Readings (dicts with RFC 3339 or epoch-millisecond timestamps) as an NDJSON request body."""
    body = b"".join(json.dumps(row, separators=(",", ":")).encode() + b"\n" for row in rows)
    headers = {"Content-Type": "application/x-ndjson"}
    return (gzip_body(body, headers) if compress else body), headers


def post_once(
    client: httpx.Client, url: str, body: bytes, headers: dict[str, str], settled_by: str = "rows"
) -> Outcome:
    """Send one attempt of a batch; never raises for HTTP or transport problems. A 200 or 422 whose
    body holds `settled_by` settles it (POST /api/ingest/status answers with `accepted`)."""
    try:
        response = client.post(url, content=body, headers=headers)
    except httpx.TransportError as error:
        return Outcome(None, None, True, None, f"no answer ({error.__class__.__name__}: {error})")
    answer = json_object(response)
    if response.status_code in (200, 422) and settled_by in answer:
        replayed = response.headers.get("idempotent-replayed") == "true"
        return Outcome(answer, response.status_code, False, None, None, replayed)
    retryable = response.status_code in RETRY_STATUSES or answer.get("code") == "idempotency_key_in_use"
    problem = f"HTTP {response.status_code}: {answer.get('error') or response.text[:200]}"
    code = str(answer["code"]) if answer.get("code") else None
    return Outcome(None, response.status_code, retryable, retry_after(response), problem, code=code)


def backoff(attempt: int, cap: float = MAX_BACKOFF_SECONDS) -> float:
    """Exponential back-off with jitter for the attempt-th failure (1-based)."""
    return float(min(cap, 0.5 * 2 ** (attempt - 1))) * (0.5 + random.random() / 2)  # noqa: S311 (jitter)


def json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
