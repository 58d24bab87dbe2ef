"""Landing zone → bronze: check every landing file, then copy it into the lake with its lineage.

The landing zone is per organization: landing/<organization>/readings/*.parquet (readings),
landing/<organization>/fleet/ (stations and compressors, for the CLI and the simulator),
landing/<organization>/maintenance/ and landing/<organization>/refused/*.parquet (rows the ingest API
refused at the door, with their reason). Bronze is append-only and content-addressed per organization:
a landing file is stored once under the hash of its bytes, with the time it was first loaded and its
organization in every row, so landing the same file again changes nothing and every later stage is a
pure function of bronze. A readings (or refused-rows) file that cannot be ingested — not Parquet,
truncated, damaged, missing a column, a column of the wrong type — is set aside: moved to
landing/<organization>/quarantine/ with a one-line reason beside it (<name>.reason.txt), so it is
never tried again, and the organization's other files go on in the same run. A bad fleet file still
stops its organization (its readings would be judged against the wrong fleet), with a message naming
it; nothing of it is half-loaded, and the other organizations go on.
"""

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from altaviz.fleet import SENSOR_NAMES
from altaviz.fleet.identifiers import COMPRESSOR_ID_RULE, compressor_id_problem
from altaviz.pipeline.engine import DuckDBEngine, sql_text
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
        entry = self.seen.get(str(path)) or self.known.get(str(path))
        if entry is None or entry[:2] != [status.st_size, status.st_mtime_ns]:
            entry = [status.st_size, status.st_mtime_ns, _digest(path)]
        self.seen[str(path)] = entry
        return str(entry[2])

    def forget(self, path: Path) -> None:
        self.seen.pop(str(path), None)

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


# The folders of an organization's landing zone: landing/<organization>/<folder>/...
QUARANTINE = "quarantine"  # files set aside by the pipeline, each with <name>.reason.txt
LANDING_FOLDERS = ("readings", "fleet", "maintenance", "refused", QUARANTINE)
# Rows refused at the ingest door (altaviz.ingest writes them): what was sent, as text, and why.
REFUSED_COLUMNS = ("compressor_id", "timestamp", "source", "row_number", "reason")


def landing_organizations(landing_dir: Path, default_organization: str) -> dict[str, list[Path]]:
    """Each organization with a landing zone, and its zone's roots.

    An organization's files are under landing/<organization>/ (readings/, fleet/, maintenance/,
    refused/; quarantine/ holds the files the pipeline set aside). A landing zone of the
    single-organization layout (landing/readings/ and landing/fleet/ at the top, as before issue 16)
    is `default_organization`'s (the run passes the organization it names, else
    ALTAVIZ_ORGANIZATION), read after its own directory; where both hold a fleet file, the
    organization's directory wins.
    """
    found: dict[str, list[Path]] = {}
    if not landing_dir.exists():
        return found
    for child in sorted(landing_dir.iterdir()):
        if child.is_dir() and not child.name.startswith(".") and child.name not in LANDING_FOLDERS:
            found[child.name] = [child]
    if any((landing_dir / folder).is_dir() for folder in LANDING_FOLDERS):
        found.setdefault(default_organization, []).append(landing_dir)
    return found


def _parquet_files(folder: Path) -> list[Path]:
    # writers land `.staging-<name>.tmp` and rename: only finished files are read
    return sorted(p for p in folder.glob("*.parquet") if not p.name.startswith("."))


def reading_files(roots: list[Path]) -> list[Path]:
    return [p for root in roots for p in _parquet_files(root / "readings")]


def refused_files(roots: list[Path]) -> list[Path]:
    return [p for root in roots for p in _parquet_files(root / "refused")]


def waiting_since(roots: list[Path], known: set[str]) -> float | None:
    """The modification time (epoch seconds) of the oldest landing file not yet in bronze (`known`:
    the digests-record's paths), or None when nothing waits: the watcher's lag."""
    oldest: float | None = None
    for path in reading_files(roots) + refused_files(roots):
        if str(path) in known:
            continue
        with contextlib.suppress(OSError):
            mtime = path.stat().st_mtime
            oldest = mtime if oldest is None else min(oldest, mtime)
    return oldest


@dataclass(frozen=True)
class SetAside:
    """A landing file the pipeline could not ingest, moved out of the way with its reason."""

    file: str  # where it was landed: landing/<organization>/readings/<name>
    moved_to: str  # landing/<organization>/quarantine/<name>
    reason: str  # one line, naming the file

    def __str__(self) -> str:
        return f"{self.reason} (set aside to {self.moved_to})"


def set_aside(landing_dir: Path, path: Path, reason: str) -> SetAside:
    """Move a landing file that cannot be ingested to its zone's quarantine/ (never over another file
    set aside there), with `<name>.reason.txt` beside it: one line, the time and the reason."""
    folder = path.parent.parent / QUARANTINE
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    n = 1
    while target.exists():
        target = folder / f"{path.stem}.{n}{path.suffix}"
        n += 1
    line = " ".join(reason.split())  # one line, whatever the reader's message held
    note = target.with_name(f"{target.name}.reason.txt")
    staging = note.with_name(f"{STAGING_PREFIX}{note.name}")
    with open(staging, "w") as handle:
        handle.write(f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ} {line}\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(staging, note)
    os.replace(path, target)
    for directory in {folder, path.parent}:  # both renames durable
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    landing = landing_dir.parent
    return SetAside(
        f"{path.relative_to(landing).as_posix()}", f"{target.relative_to(landing).as_posix()}", line
    )


@dataclass(frozen=True)
class OrganizationBronze:
    organization: str
    files_seen: int
    files_ingested: int
    rows_ingested: int
    # reference table -> the checked landing file the organization's rows come from
    fleet: dict[str, tuple[LandingFile, dict[str, tuple[str, bool]]]]
    # readings and refused-rows files that could not be ingested, moved to quarantine/
    set_aside: list[SetAside] = field(default_factory=list)


def _refused_select(file: LandingFile) -> str:
    """A refused-rows file as bronze readings: values as sent where they read as numbers and times,
    and the reason in _refused (silver_classified quarantines such a row with it)."""
    parts = ['CAST("compressor_id" AS VARCHAR) AS compressor_id']
    parts.append('TRY_CAST("timestamp" AS TIMESTAMPTZ) AS "timestamp"')
    for column, (kind, _) in READINGS_SCHEMA.items():
        if kind == NUMBER:
            source = f'TRY_CAST("{column}" AS DOUBLE)' if column in file.columns else "CAST(NULL AS DOUBLE)"
            parts.append(f'{source} AS "{column}"')
    source = "COALESCE(CAST(source AS VARCHAR), 'ingest')" if "source" in file.columns else "'ingest'"
    row = (
        "CAST(row_number AS VARCHAR)"
        if "row_number" in file.columns
        else "CAST(file_row_number + 1 AS VARCHAR)"
    )
    parts.append(
        f"COALESCE(CAST(reason AS VARCHAR), 'refused') || ' (' || {source} || ', row ' || {row} || ')' "
        "AS _refused"
    )
    return ", ".join(parts)


# Readings per row group of a bronze file (ingest_organization)
BRONZE_ROW_GROUP = 16_384


def ingest_organization(
    engine: DuckDBEngine,
    landing_dir: Path,
    organization: str,
    roots: list[Path],
    lake: Lake,
    loaded_at: datetime,
    digests: "Digests",
    known_fleet: dict[str, str] | None = None,
) -> OrganizationBronze:
    """Check every new landing file of one organization, then append its new readings files (and
    refused-rows files) to its bronze. A readings or refused-rows file that cannot be ingested is set
    aside (`set_aside`) and the others go on; a bad fleet file stops the organization, naming the
    file, before any of its files is ingested. No other organization is affected.

    A file whose content is in bronze already (by its digest, remembered by path, size and time), or
    a fleet file whose digest is the one the lake holds (`known_fleet`: reference table -> digest),
    passed every check when it came: it is not read again, so a run's cost follows the new files,
    not how many files (or organizations) there are."""
    readings = reading_files(roots)
    refused = refused_files(roots)
    if not readings and not refused:
        raise LandingError(
            f"no landing files in {roots[0] / 'readings'}: land readings there "
            "(for a demo: altaviz simulate) and run the pipeline again"
        )
    directory = lake.bronze_dir(organization)

    def new(path: Path) -> bool:
        return not (directory / f"{digests.of(path)}.parquet").exists()

    # the fleet files first: a bad one stops the organization before any of its files is moved or read
    fleet: dict[str, tuple[LandingFile, dict[str, tuple[str, bool]]]] = {}
    for table, (relative, schema, _) in REFERENCE_TABLES.items():
        found = next((root / relative for root in roots if (root / relative).exists()), None)
        if found is None:
            continue  # the organization's registry (the database) may know its fleet
        path = found
        if (known_fleet or {}).get(table) == digests.of(path):
            continue  # the lake holds this very file's rows
        fleet[table] = (check_file(engine, landing_dir, path, schema, digests), schema)
        check_identifiers(engine, fleet[table][0])
    aside: list[SetAside] = []

    def put_aside(path: Path, error: LandingError) -> None:
        digests.forget(path)
        aside.append(set_aside(landing_dir, path, str(error)))

    checked: list[tuple[LandingFile, bool]] = []
    for path in readings:
        if new(path):
            try:
                checked.append((check_file(engine, landing_dir, path, READINGS_SCHEMA, digests), False))
            except LandingError as exc:
                put_aside(path, exc)
    for path in refused:
        if not new(path):
            continue
        try:
            file = check_file(engine, landing_dir, path, {}, digests)
            missing = [c for c in ("compressor_id", "timestamp", "reason") if c not in file.columns]
            if missing:
                raise LandingError(f"landing/{file.relative} is missing column(s) {', '.join(missing)}")
        except LandingError as exc:
            put_aside(path, exc)
            continue
        checked.append((file, True))

    directory.mkdir(parents=True, exist_ok=True)
    stamp = loaded_at.isoformat()
    ingested = rows = 0
    for file, is_refused in checked:
        target = directory / f"{file.digest}.parquet"
        if target.exists():
            continue
        staging = target.with_name(f"{STAGING_PREFIX}{target.name}")
        values = (
            _refused_select(file)
            if is_refused
            else f"{_select_list(file, READINGS_SCHEMA)}, CAST(NULL AS VARCHAR) AS _refused"
        )
        try:
            # COPY answers the rows it wrote: no COUNT(*) of the file after it (a statement per file)
            (count,) = engine.con.execute(
                f"COPY (SELECT {sql_text(organization)} AS organization, {values}, "
                f"'{_escape(Path(file.relative))}' AS _source_file, file_row_number AS _source_row, "
                f"CAST('{stamp}' AS TIMESTAMPTZ) AS _loaded_at "
                f"FROM read_parquet('{_escape(file.path)}', file_row_number = true) "
                # in compressor order, in row groups of BRONZE_ROW_GROUP readings: a full run's chunk
                # of the fleet (a range of compressor ids) reads only its row groups, by their min/max
                # statistics, instead of decoding every bronze reading (landing files are in time order,
                # where every row group spans the whole fleet)
                "ORDER BY compressor_id, file_row_number) "
                # zstd at level 1, as the lake's other tables (engine.copy_parquet): 2 M readings
                # in 0.68 against 0.82-0.90 CPU s at the default level 3, for 3 % more bytes
                f"TO '{_escape(staging)}' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, "
                f"ROW_GROUP_SIZE {BRONZE_ROW_GROUP})"
            ).fetchall()[0]
        except duckdb.Error as exc:  # a footer that reads but data pages that do not
            staging.unlink(missing_ok=True)
            put_aside(file.path, LandingError(f"landing/{file.relative} {unreadable(file.path, exc)}"))
            continue
        os.replace(staging, target)
        ingested += 1
        rows += int(count)
    return OrganizationBronze(organization, len(readings) + len(refused), ingested, rows, fleet, aside)


def stage_reference(
    engine: DuckDBEngine, lake: Lake, manifest: Manifest, ingested: list[OrganizationBronze]
) -> dict[str, StagedTable]:
    """New versions of the reference tables (stations, compressors, maintenance: every organization's
    rows) where an organization's landing fleet file differs from what the lake holds. An organization
    without a landing file this run keeps its rows. Records each organization's file digests."""
    staged: dict[str, StagedTable] = {}
    for table, (_, schema, _) in REFERENCE_TABLES.items():
        landed = {b.organization: b.fleet[table] for b in ingested if table in b.fleet}
        for organization, (file, _) in landed.items():
            manifest.organization(organization).fleet[table] = file.digest
        current = manifest.tables.get(table)
        version = (
            "v-"
            + hashlib.sha256(
                json.dumps(
                    sorted(
                        (o, s.fleet.get(table))
                        for o, s in manifest.organizations.items()
                        if s.fleet.get(table)
                    ),
                ).encode()
            ).hexdigest()[:32]
        )
        if current and all(f.startswith(f"{table}/{version}/") and (lake.root / f).exists() for f in current):
            continue  # every organization's file is the current version already
        if not landed:
            continue
        out = lake.stage(table, version)
        parts = [
            f"SELECT {sql_text(o)} AS organization, {_select_list(file, schema)} "
            f"FROM read_parquet('{_escape(file.path)}')"
            for o, (file, _) in sorted(landed.items())
        ]
        if current and lake.has_table(table, manifest):
            kept = ", ".join(sql_text(o) for o in landed)
            files = ", ".join(f"'{_escape(lake.root / f)}'" for f in current)
            parts.append(
                f"SELECT * FROM read_parquet([{files}], union_by_name = true) "
                f"WHERE organization NOT IN ({kept})"
            )
        engine.con.execute(
            f"COPY ({' UNION ALL BY NAME '.join(parts)}) "
            f"TO '{_escape(out.directory / 'part-0.parquet')}' (FORMAT parquet)"
        )
        staged[table] = out
    return staged
