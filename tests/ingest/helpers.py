"""Readings to send, and what landed."""

import csv
import gzip
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from altaviz.fleet.sensors import SENSOR_NAMES

COLUMNS = ("compressor_id", "timestamp", *SENSOR_NAMES, "operating_hours")


def stamp(minutes_ago: float) -> str:
    moment = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def reading(compressor: str = "COMP-001", minutes_ago: float = 60, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "compressor_id": compressor,
        "timestamp": stamp(minutes_ago),
        "vibration_mms": 3.1,
        "discharge_temp_f": 201.5,
        "suction_pressure_psi": 61.0,
        "discharge_pressure_psi": 1050.0,
        "horsepower_consumption": 1400.0,
        "gas_flow_mcf": 9800.0,
        "operating_hours": 1200.5,
    }
    row.update(overrides)
    return row


def series(
    count: int, compressors: tuple[str, ...] = ("COMP-001", "COMP-002", "COMP-003")
) -> list[dict[str, Any]]:
    """`count` distinct good readings, 10 minutes apart per compressor, all within the last days."""
    return [
        reading(compressors[i % len(compressors)], 10 + 10 * (i // len(compressors))) for i in range(count)
    ]


def as_csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return out.getvalue().encode()


def as_ndjson(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def as_parquet(rows: list[dict[str, Any]]) -> bytes:
    table = pa.Table.from_pylist(
        [
            {**row, "timestamp": datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00"))}
            for row in rows
        ]
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


ENCODERS = {
    "application/json": lambda rows: json.dumps(rows).encode(),
    "application/x-ndjson": as_ndjson,
    "text/csv": as_csv,
    "application/vnd.apache.parquet": as_parquet,
}


def gzipped(body: bytes) -> bytes:
    return gzip.compress(body)


def landed(data_dir: Path, slug: str, kind: str = "readings") -> list[Path]:
    folder = data_dir / "landing" / slug / kind
    return (
        sorted(p for p in folder.glob("*.parquet") if not p.name.startswith(".")) if folder.exists() else []
    )


def landed_rows(data_dir: Path, slug: str, kind: str = "readings") -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in landed(data_dir, slug, kind):
        rows.extend(pq.read_table(path).to_pylist())
    return rows
