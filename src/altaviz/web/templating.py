"""Jinja2 environment of the pages: templates, filters and the static-asset URL helper."""

import hashlib
import json
import math
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from markupsafe import Markup

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")


def num(value: Any, decimals: int = 1) -> str:
    """A number for people: thousands separators, `decimals` places, "--" when there is none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "--"
    return f"{float(value):,.{decimals}f}"


# Decimals each metric's values are shown with, wherever they appear (alert peaks, chart captions,
# tables), so the same value always reads the same.
METRIC_DECIMALS = {
    "vibration_mms": 2,
    "discharge_temp_f": 1,
    "suction_pressure_psi": 1,
    "discharge_pressure_psi": 0,
    "horsepower_consumption": 0,
    "gas_flow_mcf": 0,
    "pressure_differential": 0,
    "temp_rate_of_change": 1,
}


def measure(value: Any, unit: str, decimals: int = 1) -> str:
    """A value with thousands separators and its unit ("12,480 Mcf/day"); "--" when there is none."""
    text = num(value, decimals)
    return text if text == "--" else f"{text} {unit}"


def metric_value(value: Any, metric: str) -> str:
    """A value of `metric` with the metric's unit and decimals (fleet.thresholds)."""
    from altaviz.fleet.thresholds import THRESHOLDS_BY_METRIC

    threshold = THRESHOLDS_BY_METRIC.get(metric)
    return measure(value, threshold.unit if threshold else "", METRIC_DECIMALS.get(metric, 2)).rstrip()


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    if moment is None:
        return "never"
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)}m ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h ago"
    return f"{int(seconds // 86400)}d ago"


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def zone_of(context: Any) -> str:
    """The organization's time zone of the page being rendered (UTC outside the dashboard)."""
    viewer = context.get("viewer") if hasattr(context, "get") else None
    principal = getattr(viewer, "principal", None)
    return str(getattr(getattr(principal, "organization", None), "time_zone", None) or "UTC")


@pass_context
def when(context: Any, moment: datetime | None) -> str:
    """A moment in the organization's time zone, with the zone's abbreviation (UTC: see `utc`)."""
    if moment is None:
        return "--"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    zone = zone_of(context)
    if zone == "UTC":
        return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    return f"{moment.astimezone(_zone(zone)):%Y-%m-%d %H:%M %Z}"


def utc(moment: datetime | None) -> str:
    """The moment in UTC (shown on hover beside a time in the organization's zone)."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def iso(moment: datetime | None) -> str:
    return "" if moment is None else moment.isoformat()


def json_data(value: Any) -> Markup:
    """JSON for a <script type="application/json"> block (data, not code: the CSP allows it).

    `<`, `>` and `&` are escaped so no value can close the block.
    """
    text = json.dumps(value, separators=(",", ":"), default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)  # noqa: S704 — escaped above; data inside a JSON script block


def json_attr(value: Any) -> str:
    """JSON for a data-json attribute (a plain string: autoescaping makes it attribute-safe).

    Chart data travels in attributes, not <script> blocks: htmx drops the script elements of content
    it swaps in (allowScriptTags false), and the live refresh swaps the charts' data in.
    """
    return json.dumps(value, separators=(",", ":"), default=str)


@cache
def _fingerprint(path: str) -> str:
    return hashlib.sha256((STATIC_DIR / path).read_bytes()).hexdigest()[:10]


def static(path: str) -> str:
    """URL of a static asset with a content hash, so browsers may cache it for long."""
    return f"/static/{path}?v={_fingerprint(path)}"


templates.env.filters["num"] = num
templates.env.filters["ago"] = ago
templates.env.filters["when"] = when
templates.env.filters["utc"] = utc
templates.env.filters["measure"] = measure
templates.env.filters["metric_value"] = metric_value
templates.env.filters["iso"] = iso
templates.env.filters["json_data"] = json_data
templates.env.filters["json_attr"] = json_attr
templates.env.globals["static"] = static
