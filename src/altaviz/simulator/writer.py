"""Landing files: Parquet, written atomically, in the layout the pipeline's bronze stage reads."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from altaviz.fleet import SENSOR_NAMES
from altaviz.simulator.readings import Rows
from altaviz.simulator.timeline import Timeline

FOLDERS = ("fleet", "maintenance", "readings")
TIMESTAMP = pa.timestamp("us", tz="UTC")  # microseconds: Spark cannot read nanosecond Parquet timestamps

READINGS_SCHEMA = pa.schema(
    [
        pa.field("compressor_id", pa.string(), nullable=False),
        pa.field("timestamp", TIMESTAMP, nullable=False),
        *(pa.field(name, pa.float64()) for name in SENSOR_NAMES),
        pa.field("operating_hours", pa.float64(), nullable=False),
    ]
)


class Landing:
    """The landing zone under one directory: fleet/, maintenance/, readings/."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def clear(self) -> None:
        """Remove a previous run's files (and temp files of a crashed one) so runs never mix."""
        for folder in FOLDERS:
            path = self.root / folder
            path.mkdir(parents=True, exist_ok=True)
            for old in [*path.glob("*.parquet"), *path.glob(".*.parquet.tmp-*")]:
                old.unlink()

    def write(self, table: pa.Table, folder: str, name: str) -> Path:
        """Write to a hidden temp file in the same directory, then rename: readers never see half a file."""
        final = self.root / folder / name
        temp = final.with_name(f".{name}.tmp-{os.getpid()}")
        try:
            # Dictionary encoding pays only for the repeated ids; on noisy floats it is wasted work.
            pq.write_table(table, temp, use_dictionary=["compressor_id", "station_id", "event_type"])
            os.replace(temp, final)
        finally:
            temp.unlink(missing_ok=True)
        return final


def readings_file_name(timeline: Timeline, chunk: int) -> str:
    """Named by the chunk's first and last regular reading time; late and future rows don't rename it."""
    lo, hi = timeline.chunk_bounds(chunk)
    return f"readings-{timeline.time_of(lo):%Y%m%dT%H%M}-{timeline.time_of(hi - 1):%Y%m%dT%H%M}.parquet"


def readings_table(rows: Rows, ids: pa.Array, timeline: Timeline) -> pa.Table:
    timestamps = timeline.start_micros + rows.reading * timeline.step_micros
    hours = np.round(rows.reading * (timeline.interval_minutes / 60), 2)
    columns: list[pa.Array] = [pc.take(ids, pa.array(rows.compressor)), pa.array(timestamps, type=TIMESTAMP)]
    for values in rows.values:
        nulls = np.isnan(values)
        columns.append(pa.array(values, mask=nulls) if nulls.any() else pa.array(values))
    columns.append(pa.array(hours))
    return pa.Table.from_arrays(columns, schema=READINGS_SCHEMA)
