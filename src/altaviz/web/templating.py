"""Jinja2 environment of the pages: templates, filters and the static-asset URL helper."""

import hashlib
import json
import math
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from markupsafe import Markup

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")


def num(value: Any, decimals: int = 1) -> str:
    """A number for people: thousands separators, `decimals` places, "--" when there is none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "--"
    return f"{float(value):,.{decimals}f}"


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


def when(moment: datetime | None) -> str:
    return "--" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"


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
templates.env.filters["iso"] = iso
templates.env.filters["json_data"] = json_data
templates.env.filters["json_attr"] = json_attr
templates.env.globals["static"] = static
