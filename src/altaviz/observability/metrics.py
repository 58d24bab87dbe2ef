"""Prometheus metrics: what they are, the ASGI middleware that records HTTP traffic, and /metrics.

Every metric is on prometheus-client's default registry (the workflow counters of
`altaviz.alerts.workflows` too), which `/metrics` exposes in the text format. Database pool gauges
are read from the SQLAlchemy pool at scrape time. With several worker processes each worker answers
for itself (Prometheus sums them by instance only if each is scraped); run one worker per container.

Access to /metrics (METRICS_TOKEN, METRICS_ALLOW): a caller is let in with `Authorization: Bearer
<METRICS_TOKEN>`, or when its address is in METRICS_ALLOW (default loopback only). A request that
carries a client-address header of a proxy (X-Forwarded-For, Forwarded, X-Real-IP and the like) while
TRUSTED_PROXIES is unset came through a proxy we cannot see behind, so only the token lets it in.
/metrics is exempt from the rate limiter.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from altaviz.config import Settings
from altaviz.observability.logging import log_request, request_id_var

if TYPE_CHECKING:  # the web parts load with the service; a pipeline run records its counters without them
    from sqlalchemy import Engine
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from altaviz.pipeline.report import RunSummary

log = logging.getLogger("altaviz.metrics")

METRICS_PATH = "/metrics"
UNMATCHED = "unmatched"  # no route handled it (404, 429): one label value, not one per path tried

HTTP_REQUESTS = Counter(
    "altaviz_http_requests_total",
    "HTTP requests answered, by route template, method and status code.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "altaviz_http_request_duration_seconds",
    "Time to answer an HTTP request (until the response body is sent), by route template and method.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0),
)
RATE_LIMIT_REJECTIONS = Counter(
    "altaviz_rate_limit_rejections_total",
    "Requests refused with 429 by the rate limiter, by bucket (default, auth).",
    ["bucket"],
)
PIPELINE_RUNS = Counter(
    "altaviz_pipeline_runs_total", "Pipeline runs finished, by outcome (success, failure).", ["outcome"]
)
PIPELINE_ROWS = Counter(
    "altaviz_pipeline_rows_total",
    "Rows a pipeline run produced, by stage (bronze, silver, quarantine, hourly).",
    ["stage"],
)
PIPELINE_DURATION = Histogram(
    "altaviz_pipeline_duration_seconds",
    "Wall time of a pipeline run, by outcome.",
    ["outcome"],
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
PIPELINE_STAGE_SECONDS = Gauge(
    "altaviz_pipeline_stage_duration_seconds", "Duration of each stage in the last run.", ["stage"]
)
PIPELINE_LAST_RUN = Gauge(
    "altaviz_pipeline_last_run_timestamp_seconds", "Unix time the last run finished, by outcome.", ["outcome"]
)


class PoolCollector(Collector):
    """Connections in use and callers waiting, read from every live engine's pool when scraped."""

    def __init__(self) -> None:
        self.engines: weakref.WeakSet[Engine] = weakref.WeakSet()

    def collect(self) -> Iterable[GaugeMetricFamily]:
        in_use = GaugeMetricFamily(
            "altaviz_db_pool_connections_in_use", "Database connections checked out of the pool."
        )
        waiting = GaugeMetricFamily(
            "altaviz_db_pool_waiting", "Callers waiting for a pooled database connection."
        )
        size = GaugeMetricFamily("altaviz_db_pool_size", "Connections the pool keeps (DB_POOL_MAX).")
        used = waits = kept = 0
        for engine in list(self.engines):
            pool: Any = engine.pool
            used += int(pool.checkedout()) if hasattr(pool, "checkedout") else 0
            kept += int(pool.size()) if hasattr(pool, "size") else 0
            # QueuePool has no public count of waiters: the queue's condition variable holds them.
            waiters = getattr(getattr(getattr(pool, "_pool", None), "not_empty", None), "_waiters", ())
            waits += len(waiters)
        in_use.add_metric([], used)
        waiting.add_metric([], waits)
        size.add_metric([], kept)
        return [in_use, waiting, size]


POOL = PoolCollector()
REGISTRY.register(POOL)


def watch_pool(engine: Engine) -> None:
    POOL.engines.add(engine)


def record_rate_limit_rejection(bucket: str) -> None:
    RATE_LIMIT_REJECTIONS.labels(bucket).inc()


def record_pipeline_run(
    settings: Settings, outcome: str, seconds: float, summary: RunSummary | None = None
) -> None:
    """Called by the pipeline when a run finishes; pushes to METRICS_PUSHGATEWAY_URL when it is set."""
    try:
        PIPELINE_RUNS.labels(outcome).inc()
        PIPELINE_DURATION.labels(outcome).observe(seconds)
        PIPELINE_LAST_RUN.labels(outcome).set(time.time())
        if summary is not None:
            rows = {
                "bronze": summary.bronze_rows,
                "silver": summary.silver_rows,
                "quarantine": summary.quarantined_rows,
                "hourly": summary.hourly_rows,
            }
            for stage, count in rows.items():
                PIPELINE_ROWS.labels(stage).inc(count)
            for stage, stage_seconds in summary.stage_seconds.items():
                PIPELINE_STAGE_SECONDS.labels(stage).set(stage_seconds)
        if settings.metrics_pushgateway_url:
            from prometheus_client import pushadd_to_gateway

            pushadd_to_gateway(settings.metrics_pushgateway_url, job="altaviz_pipeline", registry=REGISTRY)
    except Exception as error:  # metrics never fail a pipeline run
        log.warning("could not record pipeline metrics: %s", error)


def route_template(scope: Scope) -> str:
    """The template of the route that served the request, never the raw path; `unmatched` for a
    request no route handled (a 404, or a 429 from the rate limiter, which answers before routing)."""
    template = _selected_template(scope)
    return UNMATCHED if template is None else template


def _selected_template(scope: Scope) -> str | None:
    # FastAPI records the full template of the route it chose (its own path, within included routers).
    context = scope.get("fastapi", {}).get("effective_route_context")
    path = getattr(context, "path_format", None)
    if isinstance(path, str) and path:
        return path
    route = scope.get("route")
    path = getattr(route, "path_format", None)
    if isinstance(path, str) and path:
        return path
    from starlette.routing import Mount

    app = scope.get("app")
    for candidate in getattr(getattr(app, "router", None), "routes", ()):
        if isinstance(candidate, Mount) and scope["path"].startswith(candidate.path + "/"):
            return f"{candidate.path}/{{path}}"  # static files: one series per mount, not per file
    return None


class MetricsMiddleware:
    """Counts and times every HTTP request by route template, and writes the access log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = str(scope.get("state", {}).get("request_id", ""))
        token = request_id_var.set(request_id or None)
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            elapsed = time.perf_counter() - started
            method = scope["method"]
            route = route_template(scope)
            HTTP_REQUESTS.labels(route, method, str(status)).inc()
            HTTP_DURATION.labels(route, method).observe(elapsed)
            log_request(request_id, method, route, status, elapsed * 1000)
            request_id_var.reset(token)


# Headers proxies use to pass on the client's address: any of them means a proxy stands in between.
PROXY_CLIENT_HEADERS = (
    "x-forwarded-for",
    "forwarded",
    "x-real-ip",
    "x-client-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "x-cluster-client-ip",
)


def _networks(settings: Settings) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(item, strict=False) for item in settings.metrics_allow]


def metrics_access(request: Request, settings: Settings) -> tuple[bool, str]:
    """(allowed, why not) for a request to /metrics."""
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    authorization = request.headers.get("authorization", "")
    if token and authorization:
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode()):
            return True, ""
        return False, "wrong metrics token"
    forwarded = any(name in request.headers for name in PROXY_CLIENT_HEADERS)
    if forwarded and not settings.trusted_proxies:
        return False, "a proxied request needs the metrics token (or TRUSTED_PROXIES)"
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False, "client address unknown"
    if any(address in network for network in _networks(settings)):
        return True, ""
    return False, "client address not in METRICS_ALLOW"


async def metrics_endpoint(request: Request) -> Response:
    from starlette.responses import JSONResponse, Response

    settings: Settings = request.app.state.settings
    allowed, reason = metrics_access(request, settings)
    if not allowed:
        headers = {"WWW-Authenticate": "Bearer"} if settings.metrics_token else {}
        return JSONResponse(
            {
                "error": f"Metrics are not available to this caller ({reason}).",
                "code": "forbidden",
                "requestId": getattr(request.state, "request_id", None),
            },
            status_code=401 if settings.metrics_token else 403,
            headers=headers,
        )
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def install_metrics(app: Any, engine: Engine) -> None:
    """Serves /metrics (not in the OpenAPI schema: it is not part of the API) and watches the pool."""
    watch_pool(engine)
    app.add_route(METRICS_PATH, metrics_endpoint, methods=["GET"], include_in_schema=False)
