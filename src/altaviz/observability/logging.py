"""Structured logs: one JSON object a line, carrying the request id of the request being served.

LOG_FORMAT=json|text; by default JSON outside development and text in development. The request id
(the one returned in X-Request-ID) travels in a context variable, so every line logged while a
request is served carries it, including lines from sync endpoints run in the thread pool.
"""

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from altaviz.config import Settings

request_id_var: ContextVar[str | None] = ContextVar("altaviz_request_id", default=None)
access_log = logging.getLogger("altaviz.access")

# Attributes every LogRecord has; anything else on a record came from `extra=` and is emitted as a field.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime", "taskName"}
)
_HANDLER_MARK = "_altaviz_handler"


class RequestIdFilter(logging.Filter):
    """Puts the current request id on each record (unless the caller named one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")


def log_format(settings: Settings) -> str:
    if settings.log_format is not None:
        return settings.log_format
    return "text" if settings.env == "development" else "json"


def configure_logging(settings: Settings) -> None:
    """Root handler on stderr in the configured format; idempotent (replaces only our own handler).

    In JSON mode Uvicorn's loggers go through the same handler. In both modes Uvicorn's access log is
    silenced: the `altaviz.access` line (route template, status, duration, request id) replaces it, so
    each request is logged once. APScheduler's bookkeeping ("Adding job tentatively", "Running job",
    "Job executed successfully") shows only at LOG_LEVEL=DEBUG; its warnings and errors always do.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format(settings) == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    if log_format(settings) == "json":
        for name in ("uvicorn", "uvicorn.error"):
            logger = logging.getLogger(name)
            logger.handlers.clear()
            logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    access.disabled = True
    logging.getLogger("apscheduler").setLevel(
        logging.DEBUG if settings.log_level == "DEBUG" else logging.WARNING
    )


def log_request(request_id: str, method: str, route: str, status: int, duration_ms: float) -> None:
    access_log.info(
        "%s %s %d %.1f ms",
        method,
        route,
        status,
        duration_ms,
        extra={
            "request_id": request_id,
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": round(duration_ms, 1),
        },
    )
