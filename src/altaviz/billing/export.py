"""Bulk export (Enterprise): hourly aggregates and alerts as CSV or Parquet, streamed.

Rows are read with a server-side cursor in batches and written out batch by batch: CSV as text
chunks, Parquet as one row group per batch (the footer comes last). Memory stays flat whatever the
size of the export, and the first bytes leave before the last row is read. The range is clamped to
the plan's history; every query is scoped to the caller's organization.

CSV is opened in spreadsheets, which run a cell starting with = + - @ (or a tab or carriage return
before one) as a formula: text cells starting so get a leading single quote (OWASP's advice on CSV
injection), so a resolution note such as `=HYPERLINK(...)` shows as text. Numbers are left alone.
"""

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Boolean, Column, Date, Engine, Float, Integer, Select, select
from sqlalchemy.types import BigInteger

from altaviz.accounts.errors import UpgradeRequired
from altaviz.accounts.plans import Plan, plans_with
from altaviz.accounts.scoping import OrgScope, scoped
from altaviz.alerts.models import AlertHistory
from altaviz.db.base import UTCDateTime, utcnow
from altaviz.monitoring.models import SensorReadingAgg

BATCH_ROWS = 5_000
FORMATS = ("csv", "parquet")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}


@dataclass(frozen=True)
class ExportRequest:
    dataset: str  # "aggregates" or "alerts"
    fmt: str
    start: datetime
    end: datetime
    compressor: str | None


def require_bulk_export(plan: Plan) -> None:
    if not plan.bulk_export:
        raise UpgradeRequired(
            f"Bulk export requires the {plans_with('bulk_export')} plan; this organization is on {plan.name}",
            plan=plan.tier,
        )


def clamp_range(
    plan: Plan, start: datetime | None, end: datetime | None, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """The export range within the plan's history (default: all of it, up to now)."""
    now = now or utcnow()
    earliest = now - timedelta(days=plan.history_days)
    end = min(end or now, now)
    start = max(start or earliest, earliest)
    if start > end:
        raise ValueError("start must be before end (and within the plan's history)")
    return start, end


def _columns(dataset: str) -> list[Column[Any]]:
    table: Any = SensorReadingAgg.__table__ if dataset == "aggregates" else AlertHistory.__table__
    return [
        column
        for column in table.columns
        if column.name not in ("organization_id",) and not (dataset == "aggregates" and column.name == "id")
    ]


def _statement(scope: OrgScope, request: ExportRequest) -> Select[Any]:
    columns = _columns(request.dataset)
    if request.dataset == "aggregates":
        model: Any = SensorReadingAgg
        time = SensorReadingAgg.agg_timestamp
        query = select(*columns).where(SensorReadingAgg.window_type == "1hr")
        order: tuple[Any, ...] = (SensorReadingAgg.compressor_id, SensorReadingAgg.agg_timestamp)
    else:
        model = AlertHistory
        time = AlertHistory.alert_timestamp
        query = select(*columns)
        order = (AlertHistory.alert_timestamp, AlertHistory.id)
    query = query.where(time >= request.start, time <= request.end)
    if request.compressor is not None:
        query = query.where(model.compressor_id == request.compressor)
    return scoped(query, scope, model).order_by(*order)


def _arrow_type(column: Column[Any]) -> pa.DataType:
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return pa.timestamp("us", tz="UTC")
    if isinstance(kind, Boolean):
        return pa.bool_()
    if isinstance(kind, Integer | BigInteger):
        return pa.int64()
    if isinstance(kind, Float):
        return pa.float64()
    if isinstance(kind, Date):
        return pa.date32()
    return pa.string()


def _plain(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


def _batches(engine: Engine, scope: OrgScope, request: ExportRequest) -> Iterator[Sequence[Any]]:
    statement = _statement(scope, request)
    with engine.connect() as connection:
        result = connection.execution_options(stream_results=True, yield_per=BATCH_ROWS).execute(statement)
        yield from result.partitions(BATCH_ROWS)


def stream_csv(engine: Engine, scope: OrgScope, request: ExportRequest) -> Iterator[bytes]:
    names = [column.name for column in _columns(request.dataset)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    for rows in _batches(engine, scope, request):
        for row in rows:
            writer.writerow([_csv_value(value) for value in row])
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula, prefixed with a single quote."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _csv_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if value is None:
        return ""
    return csv_safe(_plain(value))


class _Drain(io.RawIOBase):
    """A write-only file whose contents are taken out after each row group."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.chunks.append(chunk)
        self.position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self.position

    def take(self) -> bytes:
        out = b"".join(self.chunks)
        self.chunks.clear()
        return out


def stream_parquet(engine: Engine, scope: OrgScope, request: ExportRequest) -> Iterator[bytes]:
    columns = _columns(request.dataset)
    schema = pa.schema([pa.field(column.name, _arrow_type(column)) for column in columns])
    sink = _Drain()
    writer = pq.ParquetWriter(sink, schema, compression="zstd")
    try:
        for rows in _batches(engine, scope, request):
            arrays = [
                pa.array([_plain(row[i]) for row in rows], type=field.type) for i, field in enumerate(schema)
            ]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            if chunk := sink.take():
                yield chunk
    finally:
        writer.close()
    if chunk := sink.take():
        yield chunk


def stream(engine: Engine, scope: OrgScope, request: ExportRequest) -> Iterator[bytes]:
    if request.fmt == "csv":
        return stream_csv(engine, scope, request)
    return stream_parquet(engine, scope, request)
