"""The ASGI application: the JSON API (and, beside it, the pages), middleware and lifespan.

Middleware, outermost first: trusted-proxy client address (X-Forwarded-For only from TRUSTED_PROXIES),
request id + security headers + last-resort 500, metrics, CORS (only for CORS_ORIGINS), request size
limits (URL length, body size: 414/413 before the body is read), rate limits, and the database-hang
guard (an API request answers 503 within 2 s once the database is found not answering). The
lifespan owns the database engine: on shutdown (after in-flight requests finish) it disposes of the
pool, releasing every connection.

Run it with `altaviz serve`, or any ASGI server: `uvicorn --factory altaviz.server:app_from_env`.
"""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import Any

from fastapi import FastAPI
from fastapi.middleware import Middleware
from fastapi.openapi.utils import get_openapi
from starlette.middleware.cors import CORSMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from altaviz.accounts.authsecret import resolve_auth_secret
from altaviz.accounts.dependencies import AuthConfig
from altaviz.accounts.principal_cache import ChangeListener, PrincipalCache
from altaviz.accounts.redaction import install_access_log_redaction
from altaviz.accounts.signin_limit import AccountSignInLimiter
from altaviz.alerts.scheduler import ServiceScheduler, Workflows
from altaviz.api.docs import mount_docs
from altaviz.api.errors import ErrorBody, install_error_handlers
from altaviz.api.health import HealthProbe
from altaviz.api.middleware import DatabaseHangMiddleware, RequestContextMiddleware, RequestLimitMiddleware
from altaviz.api.ratelimit import RateLimiter, RateLimitMiddleware
from altaviz.api.read_cache import ReadCache
from altaviz.api.router import api_router
from altaviz.config import Settings, get_settings
from altaviz.db.session import create_db_engine, create_probe_engine, live_connections, session_factory
from altaviz.observability.logging import configure_logging
from altaviz.observability.metrics import MetricsMiddleware, install_metrics
from altaviz.observability.tracing import install_tracing
from altaviz.web import install_web

log = logging.getLogger("altaviz.server")

EXPOSED_HEADERS = [
    "X-Request-ID",
    "Retry-After",
    "RateLimit",
    "RateLimit-Policy",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service. Raises AuthSecretError outside development without a strong AUTH_SECRET."""
    settings = settings or get_settings()
    install_access_log_redaction()  # invitation links carry their token in the query string
    secret = resolve_auth_secret(settings)
    engine = create_db_engine(settings.sqlalchemy_url, settings)
    limiter = RateLimiter(settings)
    probe = HealthProbe(engine, settings.health_timeout_seconds)
    principal_cache = PrincipalCache(settings.auth_cache_seconds)
    change_listener = ChangeListener(engine, principal_cache)
    # PostgreSQL: a pool-less probe tells a hung database from a busy pool (DatabaseHangMiddleware).
    probe_engine = create_probe_engine(settings.sqlalchemy_url)
    hang_probe = HealthProbe(probe_engine, settings.health_timeout_seconds) if probe_engine else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.info("altaviz service started (environment %s)", settings.env)
        scheduler: ServiceScheduler | None = None
        if settings.workflow_scheduler_enabled:
            scheduler = ServiceScheduler(Workflows(app.state.session_factory, settings))
            scheduler.start()
        app.state.scheduler = scheduler
        change_listener.start()
        try:
            yield
        finally:
            change_listener.stop()
            if scheduler is not None:
                scheduler.stop()
            probe.close()
            if hang_probe is not None and probe_engine is not None:
                hang_probe.close()
                probe_engine.dispose()
            engine.dispose()
            log.info("altaviz service stopped; database connections released")

    middleware = [
        Middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies)),
        Middleware(RequestContextMiddleware, hsts=settings.env != "development"),
        Middleware(MetricsMiddleware),  # inside the request id, outside the rate limiter (429s count)
    ]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_credentials=True,
                allow_methods=["GET", "POST", "PATCH", "DELETE"],
                allow_headers=["Content-Type", "X-CSRF-Token", "x-api-key", "X-Request-ID"],
                expose_headers=EXPOSED_HEADERS,
                max_age=600,
            )
        )
    middleware.append(
        Middleware(
            RequestLimitMiddleware,
            max_body=settings.max_request_body_bytes,
            ingest_max_body=settings.ingest_max_request_body_bytes,
        )
    )
    middleware.append(Middleware(RateLimitMiddleware, limiter=limiter))
    registry = live_connections(engine)
    if hang_probe is not None and registry is not None:
        middleware.append(
            Middleware(DatabaseHangMiddleware, probe=hang_probe, cut_connections=registry.cut_all)
        )

    app = FastAPI(
        title="Altaviz API",
        version=version("altaviz"),
        description=(
            "Predictive maintenance for natural-gas compressor fleets. Every route but /api/health needs a "
            "session (sign in at POST /api/auth/login) or an organization API key in `x-api-key`, and "
            "sees only its own organization's data."
        ),
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
        middleware=middleware,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = session_factory(engine)
    app.state.auth = AuthConfig.from_settings(settings, secret)
    app.state.limiter = limiter
    app.state.signin_limiter = AccountSignInLimiter(settings, secret)
    app.state.read_cache = ReadCache.from_settings(settings)
    app.state.principal_cache = principal_cache
    app.state.health = probe
    install_error_handlers(app)
    app.include_router(api_router)
    mount_docs(app)
    install_web(app)
    install_metrics(app, engine)
    install_tracing(app, engine, settings)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, with its 422 body replaced by ours (the one the handlers really send)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    error_ref = {"$ref": "#/components/schemas/ErrorBody"}
    components.setdefault(
        "ErrorBody", ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    )
    for definition in (
        ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}").get("$defs", {}).items()
    ):
        components.setdefault(*definition)
    components["ErrorBody"].pop("$defs", None)
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            response = operation.get("responses", {}).get("422")
            if response is not None:
                response["content"] = {"application/json": {"schema": error_ref}}
    app.openapi_schema = schema
    return schema


def app_from_env() -> FastAPI:
    """Factory for ASGI servers (each worker process builds its app from the environment)."""
    settings = get_settings()
    configure_logging(settings)
    return create_app(settings)


class ServiceNotReady(RuntimeError):
    pass


def prepare_to_serve(settings: Settings) -> None:
    """Refuse to start with a weak AUTH_SECRET or a database schema older than this code.

    In development the schema is brought up to date; elsewhere migrations are a deliberate step
    (`altaviz db upgrade`), so a stale schema stops the start with that instruction.
    """
    from alembic.script import ScriptDirectory

    from altaviz.db import migrate

    resolve_auth_secret(settings)
    url = settings.sqlalchemy_url
    if settings.env == "development":
        migrate.ensure_schema(url)
        return
    head = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
    try:
        current = migrate.current(url)
    except Exception as error:
        raise ServiceNotReady(f"{migrate.problem(url, error)} (checking its schema)") from None
    if current != head:
        raise ServiceNotReady(
            f"the database schema is at {current or 'nothing'}, this version needs {head}: "
            "run `altaviz db upgrade` first"
        )
