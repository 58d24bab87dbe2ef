"""The limits and columns of a batch of readings, the same for the API, the upload page and the CLI."""

from datetime import timedelta

from altaviz.fleet.sensors import SENSOR_NAMES

MAX_ROWS = 100_000
MAX_BODY_BYTES = 16 * 1024 * 1024  # on the wire (compressed when gzip); INGEST_MAX_REQUEST_BODY_BYTES
# A gzip body is inflated at most to this size: a "gzip bomb" is refused with 413 before it fills memory.
MAX_INFLATED_BYTES = 256 * 1024 * 1024
FUTURE_TOLERANCE = timedelta(minutes=10)
ERRORS_SHOWN = 100  # refused rows listed in an answer (all of them are kept in landing/<org>/refused/)

REQUIRED_COLUMNS: tuple[str, ...] = ("compressor_id", "timestamp", *SENSOR_NAMES)
OPTIONAL_COLUMNS: tuple[str, ...] = ("operating_hours",)
COLUMNS: tuple[str, ...] = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)
# What a human-maintained file may hold for operating hours: 0 to a little over a century.
OPERATING_HOURS_MAX = 1_000_000.0

# Content types by format (parameters such as "; charset=utf-8" are ignored).
CONTENT_TYPES: dict[str, str] = {
    "application/json": "json",
    "application/x-ndjson": "ndjson",
    "application/ndjson": "ndjson",
    "application/jsonl": "ndjson",
    "application/x-jsonlines": "ndjson",
    "text/csv": "csv",
    "application/csv": "csv",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
    "application/parquet": "parquet",
}
FORMAT_CONTENT_TYPE: dict[str, str] = {
    "json": "application/json",
    "ndjson": "application/x-ndjson",
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
}


def limits_text() -> str:
    return (
        f"at most {MAX_ROWS:,} readings and {MAX_BODY_BYTES // (1024 * 1024)} MB on the wire per request; "
        "send more in several requests, or use the CLI on the server "
        "(altaviz ingest FILE --organization SLUG)"
    )
