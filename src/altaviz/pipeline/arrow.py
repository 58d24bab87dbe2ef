"""Arrow columns to NumPy and from NumPy or Python lists, through their buffers.

pyarrow's own conversions (pa.array, pa.table of lists, ChunkedArray.to_numpy, pa.scalar) first look
for pandas and import it wherever it is installed (the spark extra brings it): about 0.3 s of CPU, a
third of a seed-size run. The per-compressor steps (rolling.py, health.py) read and build their
columns here instead.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

_NUMPY_TYPES: dict[type[np.generic], pa.DataType] = {np.float64: pa.float64(), np.int64: pa.int64()}
_INT64 = pa.int64()


def numpy_values(column: pa.ChunkedArray, dtype: type[np.generic]) -> npt.NDArray[Any]:
    """A fixed-width column's values as NumPy `dtype` (float64, or int64: a timestamp's stored
    integers), NULL as NaN."""
    expected = _NUMPY_TYPES[dtype]
    if column.type != expected and not (pa.types.is_timestamp(column.type) and dtype is np.int64):
        column = pc.cast(column, expected)
    parts = []
    for chunk in column.chunks:
        validity, data = chunk.buffers()[:2]
        end = chunk.offset + len(chunk)
        values = np.frombuffer(data, dtype=dtype, count=end)[chunk.offset :]
        if chunk.null_count:
            bits = np.unpackbits(np.frombuffer(validity, np.uint8), count=end, bitorder="little")
            values = np.where(bits[chunk.offset :].astype(bool), values, np.nan)
        parts.append(values)
    return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)


def boolean_values(column: pa.ChunkedArray) -> npt.NDArray[np.bool_]:
    """A boolean column as NumPy, NULL as False, through its buffers (pc.fill_null with a Python value,
    like pa.scalar, imports pandas wherever it is installed)."""
    parts = []
    for chunk in column.chunks:
        validity, data = chunk.buffers()[:2]
        end = chunk.offset + len(chunk)
        values = np.unpackbits(np.frombuffer(data, np.uint8), count=end, bitorder="little")
        if chunk.null_count:
            values &= np.unpackbits(np.frombuffer(validity, np.uint8), count=end, bitorder="little")
        parts.append(values[chunk.offset :].astype(bool))
    return np.concatenate(parts) if parts else np.empty(0, dtype=bool)


def bool_array(values: npt.NDArray[np.bool_]) -> pa.Array:
    """A boolean Arrow array of `values` (no NULL)."""
    data = pa.py_buffer(np.packbits(values, bitorder="little"))
    return pa.Array.from_buffers(pa.bool_(), len(values), [None, data])


def float_array(values: npt.NDArray[np.float64], null: npt.NDArray[np.bool_]) -> pa.Array:
    """A float64 Arrow array of `values`, NULL where `null`."""
    return _fixed_width(pa.float64(), np.ascontiguousarray(values, dtype=np.float64), null)


def int_array(
    values: npt.NDArray[Any], null: npt.NDArray[np.bool_] | None = None, kind: pa.DataType = _INT64
) -> pa.Array:
    """An int64 Arrow array of `values` (or of `kind`: a timestamp given as integers of its unit), NULL
    where `null`."""
    return _fixed_width(kind, np.ascontiguousarray(values, dtype=np.int64), null)


def _fixed_width(kind: pa.DataType, data: npt.NDArray[Any], null: npt.NDArray[np.bool_] | None) -> pa.Array:
    nulls = 0 if null is None else int(null.sum())
    valid = pa.py_buffer(np.packbits(~null, bitorder="little")) if null is not None and nulls else None
    return pa.Array.from_buffers(kind, len(data), [valid, pa.py_buffer(data)], null_count=nulls)


def python_array(values: Sequence[Any], kind: pa.DataType) -> pa.Array:
    """An Arrow array of Python values (None as NULL) of type `kind`: float64, int64, bool, string,
    binary, or a timestamp given as integers of its unit."""
    n = len(values)
    null = np.fromiter((v is None for v in values), dtype=bool, count=n)
    nulls = int(null.sum())
    valid = pa.py_buffer(np.packbits(~null, bitorder="little")) if nulls else None
    if pa.types.is_string(kind) or pa.types.is_binary(kind):
        encoded = [b"" if v is None else v.encode() if isinstance(v, str) else bytes(v) for v in values]
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=n), out=offsets[1:])
        buffers = [valid, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
        return pa.Array.from_buffers(kind, n, buffers, null_count=nulls)
    if pa.types.is_boolean(kind):
        bits = np.fromiter((bool(v) for v in values), dtype=bool, count=n)
        data = pa.py_buffer(np.packbits(bits, bitorder="little"))
    elif pa.types.is_floating(kind):
        data = pa.py_buffer(np.fromiter((0.0 if v is None else v for v in values), np.float64, count=n))
    else:  # int64, timestamp
        data = pa.py_buffer(np.fromiter((0 if v is None else v for v in values), np.int64, count=n))
    return pa.Array.from_buffers(kind, n, [valid, data], null_count=nulls)


def python_table(columns: Mapping[str, Sequence[Any]], schema: pa.Schema) -> pa.Table:
    """A table of `schema` from a list of Python values per column."""
    arrays = [python_array(columns[f.name], f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def combined(column: pa.ChunkedArray) -> pa.Array:
    """The column as one array (`combine_chunks`, which, for a column of no chunks, builds its empty
    array through `pa.array([])` and so imports pandas)."""
    return column.combine_chunks() if column.num_chunks else pa.nulls(0, column.type)


def compressor_starts(readings: pa.Table) -> npt.NDArray[np.int64]:
    """Where each compressor's readings begin in a table sorted by organization and compressor_id."""
    n = readings.num_rows
    if n == 0:
        return np.zeros(1, dtype=np.int64)
    changed = np.zeros(n, dtype=bool)
    changed[0] = True
    for key in ("organization", "compressor_id"):
        column = readings[key].combine_chunks()
        if n > 1:
            differs = pc.not_equal(column.slice(1), column.slice(0, n - 1))  # keys are never NULL
            bits = differs.buffers()[1]
            changed[1:] |= np.unpackbits(
                np.frombuffer(bits, np.uint8), count=differs.offset + n - 1, bitorder="little"
            )[differs.offset :].astype(bool)
    return np.flatnonzero(changed).astype(np.int64)
