"""Query and path parameters shared by several routers, with their limits."""

from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import AwareDatetime

IDENTIFIER = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,49}$"

CompressorPath = Annotated[
    str, Path(pattern=IDENTIFIER, max_length=50, description="Compressor id, e.g. COMP-007.")
]
CompressorFilter = Annotated[
    str | None,
    Query(pattern=IDENTIFIER, max_length=50, description="Only this compressor, e.g. COMP-007."),
]
StationFilter = Annotated[
    str | None, Query(pattern=IDENTIFIER, max_length=50, description="Only this station, e.g. STATION-A.")
]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="Rows to skip (pagination).")]
Hours = Annotated[int, Query(ge=1, le=168, description="How many hours back (1–168).")]
Window = Literal["1hr", "4hr", "24hr"]
RangeEnd = Annotated[
    AwareDatetime | None, Query(description="End of the range (ISO 8601 with time zone); default now.")
]


def limit(maximum: int) -> Any:
    return Query(ge=1, le=maximum, description=f"Rows per page (1–{maximum}).")
