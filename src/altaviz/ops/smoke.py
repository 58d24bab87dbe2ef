"""Post-deploy smoke checks (the runbook's "Post-Deploy Verification") against a running deployment.

1. `GET /api/health` answers 200 with `"status": "healthy"`.
2. `GET /api/fleet` without credentials answers 401.
3. 65 calls to `/api/health` see 429 after 60: calls 1..60 are not limited, calls 61..65 are 429.

The rate-limit check spends the client's budget for the current minute, so it runs last, and it counts
the requests the limiter already holds for this client (see `check_rate_limit`). Each check
returns a `CheckResult` with the measured detail; `run_smoke` never raises for an unreachable or
misbehaving target, it reports it as a failed check.
"""

from collections.abc import Callable
from dataclasses import dataclass

import httpx

RATE_LIMIT_CALLS = 65
RATE_LIMIT_AFTER = 60


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    detail: str


class Unreachable(Exception):
    """The deployment did not answer at all (connection refused, DNS, timeout)."""


def _describe(exc: httpx.HTTPError, url: str) -> str:
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect to {url}: {exc or 'connection refused'}"
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer from {url} in time ({type(exc).__name__})"
    return f"request to {url} failed: {type(exc).__name__}: {exc}"


class Probe:
    """An HTTP client that remembers how many requests it sent and the last answer's rate-limit budget."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.sent = 0
        self.remaining: int | None = None  # RateLimit-Remaining of the last answer, if it had one

    def get(self, path: str) -> httpx.Response:
        try:
            response = self.client.get(path)
        except httpx.HTTPError as exc:
            raise Unreachable(_describe(exc, str(self.client.base_url.join(path)))) from None
        self.sent += 1
        header = response.headers.get("ratelimit-remaining") or response.headers.get("x-ratelimit-remaining")
        self.remaining = int(header) if header and header.isdigit() else None
        return response


def check_health(probe: Probe) -> CheckResult:
    response = probe.get("/api/health")
    try:
        status = response.json().get("status")
    except (ValueError, AttributeError):
        status = None
    passed = response.status_code == 200 and status == "healthy"
    detail = f"GET /api/health -> {response.status_code}, status {status!r} (want 200, 'healthy')"
    return CheckResult("health", passed, detail)


def check_auth(probe: Probe) -> CheckResult:
    response = probe.get("/api/fleet")
    passed = response.status_code == 401
    detail = f"GET /api/fleet without credentials -> {response.status_code} (want 401)"
    return CheckResult("auth", passed, detail)


def check_rate_limit(
    probe: Probe, calls: int = RATE_LIMIT_CALLS, limit: int = RATE_LIMIT_AFTER
) -> CheckResult:
    """`calls` GETs of /api/health: the one that makes `limit + 1` requests in the minute is the first 429,
    and every later one is 429 too.

    The limit counts every request of this client in the last minute (a moving window), including the
    earlier checks' and any other traffic from this address. When the previous answer carried
    `RateLimit-Remaining`, the requests already counted are `limit - remaining`; without the header, the
    requests this smoke run sent. With a fresh window (and `limit` 60) that is calls 61..65."""
    counted = limit - probe.remaining if probe.remaining is not None else probe.sent
    counted = max(counted, 0)
    statuses: list[int] = []
    first_429: int | None = None
    retry_after: str | None = None
    for number in range(1, calls + 1):
        response = probe.get("/api/health")
        statuses.append(response.status_code)
        if response.status_code == 429 and first_429 is None:
            first_429, retry_after = number, response.headers.get("retry-after")
    expected = limit + 1 - counted  # the call of this burst that should be the first 429
    limited = [n for n, code in enumerate(statuses, 1) if code == 429]
    passed = first_429 == expected and limited == list(range(expected, calls + 1))
    earlier = f"; {counted} earlier request(s) already counted this minute" if counted else ""
    want = f"want 429 on calls {expected}..{calls}, i.e. after {limit} requests in the minute"
    if first_429 is None:
        detail = f"{calls} calls to /api/health, none got 429{earlier} ({want})"
    else:
        detail = (
            f"{calls} calls to /api/health: first 429 at call {first_429} "
            f"(request {first_429 + counted} of the minute){earlier}, {len(limited)} limited, "
            f"Retry-After {retry_after!r} ({want})"
        )
    return CheckResult("rate_limit", passed, detail)


CHECKS: tuple[Callable[[Probe], CheckResult], ...] = (check_health, check_auth, check_rate_limit)


def run_smoke(url: str, timeout: float = 10.0) -> list[CheckResult]:
    """Run every check against `url` (e.g. https://ops.example.com). An unreachable target fails the
    check that found it and the rest are reported as not run."""
    results: list[CheckResult] = []
    unreachable = False
    with httpx.Client(base_url=url.rstrip("/"), timeout=timeout, follow_redirects=False) as client:
        probe = Probe(client)
        for check in CHECKS:
            name = check.__name__.removeprefix("check_")
            if unreachable:
                results.append(CheckResult(name, False, "not run: the deployment is unreachable"))
                continue
            try:
                results.append(check(probe))
            except Unreachable as exc:
                unreachable = True
                results.append(CheckResult(name, False, f"unreachable: {exc}"))
    return results
