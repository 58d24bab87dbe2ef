"""OpenTelemetry tracing, an optional extra: `pip install 'altaviz[otel]'`.

Configured by the standard OTEL_* variables (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME,
OTEL_TRACES_SAMPLER, ...), which the OpenTelemetry SDK reads itself. Tracing starts only when the
extra is installed and OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_TRACES_EXPORTER) is set; otherwise this
does nothing, and nothing else depends on it.
"""

import importlib
import importlib.util
import logging
from typing import Any

from sqlalchemy import Engine

from altaviz.config import Settings

log = logging.getLogger("altaviz.tracing")

REQUIRED = (
    "opentelemetry.sdk.trace",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.instrumentation.fastapi",
)
_provider: Any = None


def tracing_available() -> bool:
    try:
        return all(importlib.util.find_spec(name) is not None for name in REQUIRED)
    except ModuleNotFoundError:
        return False


def tracing_requested(settings: Settings) -> bool:
    exporter = (settings.otel_traces_exporter or "").strip().lower()
    if exporter == "none":
        return False
    return bool(settings.otel_exporter_otlp_endpoint or exporter)


def install_tracing(app: Any, engine: Engine, settings: Settings) -> bool:
    """Instrument the app (and SQLAlchemy, if its instrumentation is installed); True when tracing is on."""
    global _provider
    if not tracing_requested(settings):
        return False
    if not tracing_available():
        log.warning("OTEL_* is set but the otel extra is not installed (pip install 'altaviz[otel]')")
        return False
    try:
        trace = importlib.import_module("opentelemetry.trace")
        sdk_trace = importlib.import_module("opentelemetry.sdk.trace")
        export = importlib.import_module("opentelemetry.sdk.trace.export")
        resources = importlib.import_module("opentelemetry.sdk.resources")
        exporter_module = importlib.import_module("opentelemetry.exporter.otlp.proto.http.trace_exporter")
        fastapi_instrumentation = importlib.import_module("opentelemetry.instrumentation.fastapi")
        if _provider is None:
            # The SDK reads OTEL_RESOURCE_ATTRIBUTES, and the exporter OTEL_EXPORTER_OTLP_* itself.
            resource = resources.Resource.create({"service.name": settings.otel_service_name})
            _provider = sdk_trace.TracerProvider(resource=resource)
            _provider.add_span_processor(export.BatchSpanProcessor(exporter_module.OTLPSpanExporter()))
            trace.set_tracer_provider(_provider)
        fastapi_instrumentation.FastAPIInstrumentor.instrument_app(
            app, tracer_provider=_provider, excluded_urls="/metrics,/static/.*"
        )
        if importlib.util.find_spec("opentelemetry.instrumentation.sqlalchemy") is not None:
            sqlalchemy_instrumentation = importlib.import_module("opentelemetry.instrumentation.sqlalchemy")
            sqlalchemy_instrumentation.SQLAlchemyInstrumentor().instrument(
                engine=engine, tracer_provider=_provider
            )
    except Exception as error:  # tracing never stops the service
        log.warning("OpenTelemetry tracing not started: %s", error)
        return False
    log.info("OpenTelemetry tracing enabled")
    return True
