"""Request bodies (JSON, NDJSON, CSV, Parquet; gzip or not) into one Arrow table of raw columns.

Values are kept as sent (text stays text, numbers stay numbers): the row checks (judge.py) say which
rows are usable and why the others are not, quoting what was sent. What makes the whole request
unusable (a body that is not the format its Content-Type names, a missing column, too many rows) is
an IngestError with the HTTP status and a message that says what to fix.
"""

import io
import json
import sys
import zlib
from contextlib import suppress
from dataclasses import dataclass
from itertools import repeat
from types import NoneType
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from altaviz.ingest.rules import (
    COLUMNS,
    CONTENT_TYPES,
    FORMAT_CONTENT_TYPE,
    MAX_INFLATED_BYTES,
    MAX_ROWS,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    limits_text,
)

ROW_PROBLEM = "_row_problem"  # set by the parser for a row it could not read (e.g. not a JSON object)


class IngestError(Exception):
    """The request as a whole cannot be used: `status` is the HTTP status to answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class RawBatch:
    format: str
    table: pa.Table  # the known columns as sent, plus ROW_PROBLEM
    ignored_columns: tuple[str, ...]


def format_of(content_type: str | None) -> str:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    found = CONTENT_TYPES.get(media)
    if found is None:
        shown = f"{media!r}" if media else "no Content-Type"
        raise IngestError(
            415,
            "unsupported_media_type",
            f"Cannot read {shown}: send Content-Type "
            + ", ".join(sorted(set(FORMAT_CONTENT_TYPE.values())))
            + ' (application/json takes an array of readings or {"readings": [...]})',
        )
    return found


def inflate(body: bytes, content_encoding: str | None) -> bytes:
    """The body without its Content-Encoding (identity or gzip), inflated at most to MAX_INFLATED_BYTES."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip"):
        raise IngestError(
            415,
            "unsupported_encoding",
            f"Content-Encoding {encoding!r} is not supported: send gzip or nothing",
        )
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, MAX_INFLATED_BYTES + 1)
    except zlib.error as error:
        raise IngestError(400, "bad_gzip", f"The body is not valid gzip ({error})") from None
    if len(out) > MAX_INFLATED_BYTES or inflater.unconsumed_tail:
        raise IngestError(
            413,
            "too_large",
            f"The body inflates to more than {MAX_INFLATED_BYTES // (1024 * 1024)} MB; {limits_text()}",
        )
    if not inflater.eof:
        raise IngestError(400, "bad_gzip", "The gzip body is truncated")
    return out


def parse(body: bytes, fmt: str, max_rows: int | None = MAX_ROWS) -> RawBatch:
    """The batch; IngestError 413 as soon as it holds more than `max_rows` (None: no limit, the CLI)."""
    limit = max_rows if max_rows is not None else sys.maxsize
    if fmt == "json":
        return _from_records(_json_records(body, limit), fmt, body)
    if fmt == "ndjson":
        return _from_records(_ndjson_records(body, limit), fmt, body)
    if fmt == "csv":
        return _csv(body, limit)
    if fmt == "parquet":
        return _parquet(body, limit)
    raise ValueError(f"unknown format {fmt}")


def _too_many(rows: int | str) -> IngestError:
    return IngestError(413, "too_many_rows", f"The request holds {rows} readings; {limits_text()}")


# --- JSON and NDJSON --------------------------------------------------------------------------------


def _json_records(body: bytes, limit: int) -> list[Any]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        if "depth limit" in str(error):
            message = "The JSON is nested too deeply: readings are flat objects"
            raise IngestError(400, "json_too_deep", message) from None
        raise IngestError(400, "bad_json", f"The body is not valid JSON: {error}") from None
    if isinstance(document, dict):
        if set(document) != {"readings"} or not isinstance(document["readings"], list):
            raise IngestError(
                422,
                "bad_shape",
                'A JSON object body must be {"readings": [...]} (or send the array of readings itself)',
            )
        document = document["readings"]
    if not isinstance(document, list):
        raise IngestError(422, "bad_shape", 'Send an array of readings, or {"readings": [...]}')
    if len(document) > limit:
        raise _too_many(f"{len(document):,}")
    return document


def _ndjson_records(body: bytes, limit: int) -> list[Any]:
    lines = [line for line in body.splitlines() if line.strip()]
    if len(lines) > limit:
        raise _too_many(f"{len(lines):,}")
    try:  # one parse of the lines as an array: several times faster than a parse per line
        document = orjson.loads(b"[" + b",".join(lines) + b"]")
        if isinstance(document, list) and len(document) == len(lines):
            return document
    except orjson.JSONDecodeError:
        pass  # find the line at fault
    records: list[Any] = []
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        if len(records) >= limit:
            raise _too_many(f"more than {limit:,}")
        try:
            records.append(orjson.loads(line))
        except orjson.JSONDecodeError as error:
            raise IngestError(400, "bad_json", f"Line {number} is not valid JSON: {error}") from None
    return records


def _struct(timestamp: pa.DataType) -> pa.StructType:
    return pa.struct(
        [("compressor_id", pa.string()), ("timestamp", timestamp), *((n, pa.float64()) for n in COLUMNS[2:])]
    )


_FAST_TYPES = (_struct(pa.string()), _struct(pa.int64()))
_CONVERSION_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError)


def _fast_table(records: list[Any], body: bytes) -> pa.Table | None:
    """The records as columns converted in C++ when every value has its expected JSON type, else None.

    Arrow would read true/false as 1/0 where a number is expected: bodies holding them take the slow
    path, which refuses such values by name.
    """
    if b"true" in body or b"false" in body:
        return None
    for kind in _FAST_TYPES:
        try:
            array = pa.array(records, type=kind)
        except _CONVERSION_ERRORS:
            continue
        if array.null_count:
            return None  # a null where a reading should be: the slow path names the row
        return pa.Table.from_struct_array(array)
    return None


def _from_records(records: list[Any], fmt: str, body: bytes = b"") -> RawBatch:
    fast = _fast_table(records, body)
    if fast is not None:
        # Keys sent = known keys with a value: no other key anywhere (counted at C speed); otherwise
        # (an explicit null, an unknown column) name the unknown columns exactly.
        with_value = sum(len(column) - column.null_count for column in fast.columns)
        extra = (
            set() if sum(map(len, records)) == with_value else set().union(*map(dict.keys, records)) - _KNOWN
        )
        fast = fast.append_column(ROW_PROBLEM, pa.nulls(fast.num_rows, type=pa.string()))
        return RawBatch(fmt, fast, tuple(sorted(extra)))
    problems: list[str | None] = [None] * len(records)
    rows: list[dict[str, Any]]
    if set(map(type, records)) <= {dict}:  # the usual case, checked at C speed
        rows = records
    else:
        rows = []
        for index, record in enumerate(records):
            if isinstance(record, dict):
                rows.append(record)
            else:
                rows.append({})
                problems[index] = (
                    "not an object: each reading must be a JSON object with the reading's columns"
                )
    extra = set().union(*map(dict.keys, rows)) - _KNOWN
    columns: dict[str, pa.Array] = {}
    for name in COLUMNS:
        values = list(map(dict.get, rows, repeat(name)))
        columns[name] = _column(name, values, problems)
    columns[ROW_PROBLEM] = pa.array(problems, type=pa.string())
    return RawBatch(fmt, pa.table(columns), tuple(sorted(extra)))


_KNOWN = frozenset(COLUMNS)
_NUMBER_TYPES = {int, float, NoneType}


def _column(name: str, values: list[Any], problems: list[str | None]) -> pa.Array:
    types = set(map(type, values))
    if name == "compressor_id":
        if types <= {str, NoneType}:
            return pa.array(values, type=pa.string())
        for index, value in enumerate(values):
            if value is not None and not isinstance(value, str) and problems[index] is None:
                problems[index] = f"compressor_id must be text, got {json.dumps(value)}"
        return pa.array([v if isinstance(v, str) else None for v in values], type=pa.string())
    if name == "timestamp":
        if types <= {str, NoneType}:
            return pa.array(values, type=pa.string())
        if types <= {int, NoneType}:
            with suppress(*_CONVERSION_ERRORS):  # beyond 64 bits: judged as text below
                return pa.array(values, type=pa.int64())
        # Mixed: text as sent, numbers as their digits (judged as epoch milliseconds).
        return pa.array([_text(v) for v in values], type=pa.string())
    if types <= _NUMBER_TYPES:
        with suppress(*_CONVERSION_ERRORS):
            return pa.array(values, type=pa.float64())
    return pa.array([_text(v) for v in values], type=pa.string())  # judged: text that is not a number


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value)


# --- CSV and Parquet -----------------------------------------------------------------------------------


def _check_columns(present: list[str], fmt: str) -> tuple[str, ...]:
    missing = [name for name in REQUIRED_COLUMNS if name not in present]
    if missing:
        raise IngestError(
            422,
            "missing_columns",
            f"The {fmt.upper()} has no column {', '.join(missing)}; the columns are "
            f"{', '.join(REQUIRED_COLUMNS)} and optionally {', '.join(OPTIONAL_COLUMNS)}",
        )
    return tuple(sorted(set(present) - _KNOWN))


def _with_all_columns(table: pa.Table, rows: int) -> pa.Table:
    for name in OPTIONAL_COLUMNS:
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(rows, type=pa.float64()))
    return table.select(list(COLUMNS)).append_column(ROW_PROBLEM, pa.nulls(rows, type=pa.string()))


def _csv(body: bytes, limit: int) -> RawBatch:
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    convert = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in COLUMNS},
        strings_can_be_null=True,
        null_values=[""],
        quoted_strings_can_be_null=False,
    )
    try:
        reader = pacsv.open_csv(
            io.BytesIO(body),
            read_options=pacsv.ReadOptions(block_size=1 << 20),
            convert_options=convert,
        )
        ignored = _check_columns(reader.schema.names, "csv")
        batches: list[pa.RecordBatch] = []
        rows = 0
        for batch in reader:
            rows += batch.num_rows
            if rows > limit:
                raise _too_many(f"more than {limit:,}")
            batches.append(batch.select([n for n in COLUMNS if n in batch.schema.names]))
    except pa.ArrowInvalid as error:
        raise IngestError(400, "bad_csv", f"The CSV cannot be read: {error}") from None
    if batches:
        table = pa.Table.from_batches(batches)
    else:
        table = pa.table({n: pa.array([], pa.string()) for n in reader.schema.names if n in _KNOWN})
    return RawBatch("csv", _with_all_columns(table, rows), ignored)


def _parquet(body: bytes, limit: int) -> RawBatch:
    try:
        handle = pq.ParquetFile(pa.BufferReader(body))
    except (pa.ArrowInvalid, OSError) as error:
        raise IngestError(400, "bad_parquet", f"The body is not a readable Parquet file: {error}") from None
    rows = handle.metadata.num_rows
    if rows > limit:
        raise _too_many(f"{rows:,}")
    names = handle.schema_arrow.names
    ignored = _check_columns(names, "parquet")
    try:
        table = handle.read(columns=[n for n in COLUMNS if n in names])
    except (pa.ArrowInvalid, OSError) as error:
        raise IngestError(400, "bad_parquet", f"The Parquet file cannot be read: {error}") from None
    for index, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type):
            table = table.set_column(index, field.name, table.column(index).cast(field.type.value_type))
    for index, field in enumerate(table.schema):
        table = table.set_column(index, field.name, _usable(field.name, table.column(index)))
    return RawBatch("parquet", _with_all_columns(table, rows), ignored)


def _usable(name: str, column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A Parquet column of a type the checks can read, or IngestError 422 naming the column."""
    kind = column.type
    text = pa.types.is_string(kind) or pa.types.is_large_string(kind)
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        try:
            return pc.cast(column, pa.string())
        except pa.ArrowInvalid:
            raise IngestError(
                422, "bad_column", f"The column {name} holds bytes that are not UTF-8 text"
            ) from None
    if pa.types.is_null(kind) or text:
        return column
    if name == "compressor_id":
        if pa.types.is_integer(kind):
            return pc.cast(column, pa.string())
        expected = "text"
    elif name == "timestamp":
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_timestamp(kind):
            return column
        expected = "a timestamp (with time zone), RFC 3339 text or epoch milliseconds"
    else:
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            return column
        expected = "a number"
    raise IngestError(422, "bad_column", f"The column {name} is of type {kind}; it must be {expected}")
