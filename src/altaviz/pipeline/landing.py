"""Landing zone → bronze: check every landing file, then copy it into the lake with its lineage.

Bronze is append-only and content-addressed: a landing file is stored once under the hash of its
bytes, with the time it was first loaded, so landing the same file again changes nothing and every
later stage is a pure function of bronze. All files are checked before any is ingested: one bad file
stops the run with a message naming it, and nothing is half-loaded.
"""

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from altaviz.fleet import SENSOR_NAMES
from altaviz.fleet.identifiers import COMPRESSOR_ID_RULE, compressor_id_problem
from altaviz.pipeline.engine import DuckDBEngine
from altaviz.pipeline.lake import STAGING_PREFIX, Lake, Manifest, StagedTable
from altaviz.pipeline.params import ID_REGEX


class LandingError(ValueError):
    """A landing file is missing, unreadable or has the wrong shape."""


NUMBER = "a number"
TEXT = "text"
TIME = "a timestamp"
DAY = "a date"

# column -> (kind, required)
READINGS_SCHEMA: dict[str, tuple[str, bool]] = {
    "compressor_id": (TEXT, True),
    "timestamp": (TIME, True),
    **{name: (NUMBER, True) for name in SENSOR_NAMES},
    "operating_hours": (NUMBER, False),
}
STATIONS_SCHEMA: dict[str, tuple[str, bool]] = {
    "station_id": (TEXT, True),
    "station_name": (TEXT, True),
    "latitude": (NUMBER, True),
    "longitude": (NUMBER, True),
    "region": (TEXT, False),
    "city": (TEXT, False),
    "state": (TEXT, False),
    "basin": (TEXT, False),
}
COMPRESSORS_SCHEMA: dict[str, tuple[str, bool]] = {
    "compressor_id": (TEXT, True),
    "station_id": (TEXT, True),
    "model": (TEXT, True),
    "horsepower": (NUMBER, True),
    "install_date": (DAY, True),
}
MAINTENANCE_SCHEMA: dict[str, tuple[str, bool]] = {
    "event_id": (TEXT, True),
    "compressor_id": (TEXT, True),
    "performed_at": (TIME, True),
    "event_type": (TEXT, True),
    "description": (TEXT, False),
    "downtime_hours": (NUMBER, False),
    "severity": (TEXT, False),
    "cost_usd": (NUMBER, False),
    "performed_by": (TEXT, False),
}

REFERENCE_TABLES: dict[str, tuple[str, dict[str, tuple[str, bool]], bool]] = {
    # lake table: (landing path, schema, required)
    "reference/stations": ("fleet/stations.parquet", STATIONS_SCHEMA, True),
    "reference/compressors": ("fleet/compressors.parquet", COMPRESSORS_SCHEMA, True),
    "reference/maintenance": ("maintenance/maintenance.parquet", MAINTENANCE_SCHEMA, False),
}

_CAST = {NUMBER: "DOUBLE", TEXT: "VARCHAR", TIME: "TIMESTAMPTZ", DAY: "DATE"}
# Fleet-file columns that hold an id; the database stores them 64 characters wide (migration 0006).
ID_COLUMNS = ("compressor_id", "station_id")


def _kind_of(duckdb_type: str) -> str:
    t = duckdb_type.upper()
    if t.startswith(
        (
            "DOUBLE",
            "FLOAT",
            "REAL",
            "DECIMAL",
            "BIGINT",
            "INTEGER",
            "SMALLINT",
            "TINYINT",
            "HUGEINT",
            "UBIGINT",
            "UINTEGER",
            "USMALLINT",
            "UTINYINT",
        )
    ):
        return NUMBER
    if t.startswith("TIMESTAMP"):
        return TIME
    if t == "DATE":
        return DAY
    if t == "VARCHAR":
        return TEXT
    return t


@dataclass(frozen=True)
class LandingFile:
    path: Path
    relative: str
    digest: str
    columns: frozenset[str]


@dataclass(frozen=True)
class BronzeResult:
    files_seen: int
    files_ingested: int
    rows_ingested: int
    staged_reference: dict[str, StagedTable]


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:32]


class Digests:
    """Content digests of landing files, remembered by path, size and modification time.

    Every run checks every landing file, and hashing a month of readings again each time would cost
    more than the incremental run itself. A file rewritten in place gets a new size or time and is
    hashed again. The record (lake/landing-digests.json) is only a shortcut: lost or unreadable, it
    is rebuilt.
    """

    def __init__(self, lake: Lake) -> None:
        self.path = lake.root / "landing-digests.json"
        try:
            self.known: dict[str, list[Any]] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.known = {}
        self.seen: dict[str, list[Any]] = {}

    def of(self, path: Path) -> str:
        status = path.stat()
        entry = self.known.get(str(path))
        if entry is None or entry[:2] != [status.st_size, status.st_mtime_ns]:
            entry = [status.st_size, status.st_mtime_ns, _digest(path)]
        self.seen[str(path)] = entry
        return str(entry[2])

    def save(self) -> None:
        """Keep what this run saw (files no longer landed drop out), replaced atomically."""
        staging = self.path.with_name(f"{STAGING_PREFIX}{self.path.name}")
        staging.write_text(json.dumps(self.seen))
        os.replace(staging, self.path)


def check_file(
    engine: DuckDBEngine,
    landing_dir: Path,
    path: Path,
    schema: dict[str, tuple[str, bool]],
    digests: Digests,
) -> LandingFile:
    relative = path.relative_to(landing_dir).as_posix()
    try:
        described = engine.rows(f"DESCRIBE SELECT * FROM read_parquet('{_escape(path)}')")
    except duckdb.Error as exc:
        raise LandingError(f"landing/{relative} {unreadable(path, exc)}") from None
    actual = {row[0]: str(row[1]) for row in described}
    missing = [c for c, (_, required) in schema.items() if required and c not in actual]
    if missing:
        raise LandingError(
            f"landing/{relative} is missing column(s) {', '.join(missing)}; "
            f"expected {', '.join(c for c, (_, req) in schema.items() if req)}"
        )
    for column, (kind, _) in schema.items():
        if column in actual and _kind_of(actual[column]) != kind:
            raise LandingError(f"landing/{relative}: column {column} is {actual[column]}, expected {kind}")
    return LandingFile(path, relative, digests.of(path), frozenset(actual))


def check_identifiers(engine: DuckDBEngine, file: LandingFile) -> None:
    """Refuse a fleet file holding an id outside the one rule, naming the file, row and rule: a load
    must never fail half-way on an id one database accepts and the other refuses."""
    for column in ID_COLUMNS:
        if column not in file.columns:
            continue
        bad = engine.rows(
            f'SELECT file_row_number, "{column}" '
            f"FROM read_parquet('{_escape(file.path)}', file_row_number = true) "
            f'WHERE "{column}" IS NULL OR NOT regexp_matches("{column}", ?) '
            "ORDER BY file_row_number LIMIT 1",
            [ID_REGEX],
        )
        if bad:
            row, value = bad[0]
            problem = (compressor_id_problem(value) or "does not match the rule").replace(
                "compressor_id", column, 1
            )
            raise LandingError(
                f"landing/{file.relative} row {int(row) + 1}: {problem} "
                f"(an id is {COMPRESSOR_ID_RULE}); fix the file and run the pipeline again"
            )


PARQUET_MAGIC = b"PAR1"


def unreadable(path: Path, exc: Exception) -> str:
    """What is wrong with a landing file DuckDB cannot read, in one line without DuckDB's internals."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(4)
            handle.seek(max(size - 4, 0))
            tail = handle.read(4)
    except OSError as error:
        return f"cannot be read: {error.strerror or error}"
    if size == 0:
        return "is empty (0 bytes): land a Parquet file with the readings, or remove it"
    if head != PARQUET_MAGIC:
        looks = " (it looks like text: a CSV named .parquet?)" if _looks_like_text(path) else ""
        return f"is not a Parquet file{looks}; land Parquet files only"
    if size < 12 or tail != PARQUET_MAGIC:
        return f"is truncated or damaged ({size:,} bytes, no Parquet footer): land the whole file again"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"is a damaged Parquet file ({first.removeprefix('Invalid Input Error: ')[:200]})"


def _looks_like_text(path: Path) -> bool:
    with open(path, "rb") as handle:
        sample = handle.read(4096)
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in sample


def _escape(path: Path) -> str:
    return str(path).replace("'", "''")


def _select_list(file: LandingFile, schema: dict[str, tuple[str, bool]]) -> str:
    parts = []
    for column, (kind, _) in schema.items():
        source = f'"{column}"' if column in file.columns else "NULL"
        parts.append(f'CAST({source} AS {_CAST[kind]}) AS "{column}"')
    return ", ".join(parts)


def reading_files(landing_dir: Path) -> list[Path]:
    return sorted((landing_dir / "readings").glob("*.parquet"))


def ingest(
    engine: DuckDBEngine, landing_dir: Path, lake: Lake, manifest: Manifest, loaded_at: datetime
) -> BronzeResult:
    """Check every landing file, append new readings files to bronze, stage reference tables that differ
    from the current ones (`manifest`)."""
    readings = reading_files(landing_dir)
    if not readings:
        raise LandingError(
            f"no landing files in {landing_dir / 'readings'}: land readings there "
            "(for a demo: altaviz simulate) and run the pipeline again"
        )
    digests = Digests(lake)
    checked_readings = [check_file(engine, landing_dir, p, READINGS_SCHEMA, digests) for p in readings]
    checked_reference: dict[str, tuple[LandingFile, dict[str, tuple[str, bool]]]] = {}
    for table, (relative, schema, required) in REFERENCE_TABLES.items():
        path = landing_dir / relative
        if not path.exists():
            if required:
                raise LandingError(
                    f"landing/{relative} is missing: the pipeline needs the fleet's metadata "
                    "(stations and compressors) before it can load readings"
                )
            continue
        checked_reference[table] = (check_file(engine, landing_dir, path, schema, digests), schema)
        check_identifiers(engine, checked_reference[table][0])

    lake.bronze_readings_dir.mkdir(parents=True, exist_ok=True)
    stamp = loaded_at.isoformat()
    ingested = rows = 0
    for file in checked_readings:
        target = lake.bronze_readings_dir / f"{file.digest}.parquet"
        if target.exists():
            continue
        staging = target.with_name(f"{STAGING_PREFIX}{target.name}")
        try:
            engine.con.execute(
                f"COPY (SELECT {_select_list(file, READINGS_SCHEMA)}, "
                f"'{_escape(Path(file.relative))}' AS _source_file, file_row_number AS _source_row, "
                f"CAST('{stamp}' AS TIMESTAMPTZ) AS _loaded_at "
                f"FROM read_parquet('{_escape(file.path)}', file_row_number = true)) "
                f"TO '{_escape(staging)}' (FORMAT parquet, COMPRESSION zstd)"
            )
        except duckdb.Error as exc:  # a footer that reads but data pages that do not
            staging.unlink(missing_ok=True)
            raise LandingError(f"landing/{file.relative} {unreadable(file.path, exc)}") from None
        os.replace(staging, target)
        count = engine.rows(f"SELECT COUNT(*) FROM read_parquet('{_escape(target)}')")[0][0]
        ingested += 1
        rows += int(count)

    staged: dict[str, StagedTable] = {}
    current = manifest.tables
    for table, (file, schema) in checked_reference.items():
        version = f"v-{file.digest}"
        if current.get(table) and all(
            f.startswith(f"{table}/{version}/") and (lake.root / f).exists() for f in current[table]
        ):
            continue  # this file is the current version already
        out = lake.stage(table, version)
        engine.con.execute(
            f"COPY (SELECT {_select_list(file, schema)} FROM read_parquet('{_escape(file.path)}')) "
            f"TO '{_escape(out.directory / 'part-0.parquet')}' (FORMAT parquet)"
        )
        staged[table] = out
    digests.save()
    return BronzeResult(len(checked_readings), ingested, rows, staged)
