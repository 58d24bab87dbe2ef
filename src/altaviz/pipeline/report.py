"""The run report: what went in, what came out, where the violations and alerts are."""

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from altaviz.pipeline.engine import RUN_ORGANIZATIONS, DuckDBEngine, parquet_list, read_parquet, sql_text
from altaviz.pipeline.incremental import day_of
from altaviz.pipeline.intervals import stage_spacings
from altaviz.pipeline.stages import Tables
from altaviz.pipeline.summaries import committed_name, summary_parts

QUALITY_NAMES = ("freshness", "completeness", "consistency", "accuracy")


@dataclass
class RunSummary:
    bronze_rows: int
    silver_rows: int
    quarantined: dict[str, int]
    hourly_rows: int
    violating_readings: dict[str, int]
    alerts: dict[str, int]
    alerts_by_compressor: dict[str, int]
    quality: dict[str, bool]
    seconds: float = 0.0
    fingerprint: str | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)
    # readings of this run held back because the organization's plan covers fewer compressors
    plan_limited: dict[str, int] = field(default_factory=dict)

    @property
    def quarantined_rows(self) -> int:
        return sum(self.quarantined.values())

    @property
    def balanced(self) -> bool:
        return self.bronze_rows == self.silver_rows + self.quarantined_rows

    def as_counts(self) -> dict[str, Any]:
        return {
            "bronze_rows": self.bronze_rows,
            "silver_rows": self.silver_rows,
            "quarantined": self.quarantined,
            "hourly_rows": self.hourly_rows,
            "violating_readings": self.violating_readings,
            "alerts": self.alerts,
            "alerts_by_compressor": self.alerts_by_compressor,
            "quality": self.quality,
            "stage_seconds": self.stage_seconds,
        }

    def text(self) -> str:
        reduction = 1 - self.hourly_rows / self.silver_rows if self.silver_rows else 0.0
        top = sorted(self.violating_readings.items(), key=lambda kv: (-kv[1], kv[0]))
        named = [(c, n) for c, n in top[:2] if n]
        others = sum(n for _, n in top[2:])
        parts = [f"{c}: {n:,}" for c, n in named] + ([f"others: {others:,}"] if others or named else [])
        total_violations = sum(self.violating_readings.values())
        alerts = self.alerts.get("total", 0)
        alert_detail = (
            f" ({self.alerts.get('critical', 0)} critical, {self.alerts.get('warning', 0)} warning; "
            f"{self.alerts.get('active', 0)} active)"
            if alerts
            else ""
        )
        by_reason = ", ".join(f"{reason} {n:,}" for reason, n in sorted(self.quarantined.items()))
        failed = [m for m, ok in self.quality.items() if not ok]
        quality = "quality checks passed" if not failed else f"quality checks failed: {', '.join(failed)}"
        return (
            f"{self.bronze_rows:,} readings → {self.hourly_rows:,} hourly aggregates "
            f"({reduction:.0%} reduction); "
            f"{total_violations:,} readings with threshold violations"
            + (f" ({', '.join(parts)})" if parts else "")
            + f" → {alerts:,} alerts{alert_detail}; "
            f"{self.quarantined_rows:,} quarantined"
            + (f" ({by_reason})" if by_reason else "")
            + f"; {quality}; {self.seconds:.1f} s"
        )


IN_RUN = f"organization IN (SELECT organization FROM {RUN_ORGANIZATIONS})"


def _files(tables: Tables, table: str) -> str:
    return read_parquet(tables.files(table))


def _by_organization(engine: DuckDBEngine, sql: str) -> dict[str, list[tuple[Any, ...]]]:
    grouped: dict[str, list[tuple[Any, ...]]] = {}
    for row in engine.rows(sql):
        grouped.setdefault(str(row[0]), []).append(row[1:])
    return grouped


def _row_groups(path: Path) -> list[tuple[str, int]] | None:
    """Each row group's organization and rows, from the file's footer; None when a row group may hold
    several organizations or NULL (its statistics do not say min = max and no NULL)."""
    metadata = pq.ParquetFile(path).metadata
    if "organization" not in metadata.schema.names:
        return None
    column = metadata.schema.names.index("organization")
    groups = []
    for index in range(metadata.num_row_groups):
        group = metadata.row_group(index)
        stats = group.column(column).statistics
        if stats is None or not stats.has_min_max or not stats.has_null_count or stats.null_count:
            return None
        if stats.min_raw != stats.max_raw:
            return None
        groups.append((bytes(stats.min_raw).decode(), group.num_rows))
    return groups


class FileCounts:
    """The rows of each organization in each lake file the report counts (bronze, silver readings and
    hourly files), kept across runs (ROW_COUNTS): a lake file never changes once written, so its rows
    are counted once, not from its footer every run (about 700 footers a run at a month of 4,700
    compressors). `learned` holds the files counted this run."""

    def __init__(self, engine: DuckDBEngine, root: Path, files: list[Path]) -> None:
        self.engine = engine
        self.root = root
        self.known: dict[str, list[tuple[str | None, int]]] = {}
        self.learned: dict[str, list[tuple[str | None, int]]] = {}
        if files:
            try:
                rows = engine.rows(f"SELECT file, organization, rows FROM {read_parquet(files)}")
            except duckdb.Error:  # unreadable: every file is counted again
                return
            for name, organization, count in rows:
                self.known.setdefault(str(name), []).append((organization, int(count)))

    def name(self, path: Path) -> str:
        return committed_name(path, self.root)

    def get(self, path: Path) -> list[tuple[str | None, int]] | None:
        return self.known.get(self.name(path))

    def stage(self, tables: Tables, counted: list[Path], version: str) -> None:
        """ROW_COUNTS for the `counted` files, staged when this run counted any of them afresh."""
        if not self.learned:
            return
        entries = [(n, o, r) for n in sorted({self.name(p) for p in counted}) for o, r in self._of(n)]
        directory = _stage_summary(tables, ROW_COUNTS, version)
        self.engine.con.execute(
            "COPY (SELECT UNNEST(CAST(? AS VARCHAR[])) AS file, "
            "UNNEST(CAST(? AS VARCHAR[])) AS organization, UNNEST(CAST(? AS BIGINT[])) AS rows) "
            f"TO {sql_text(str(directory / 'part-0.parquet'))} (FORMAT parquet, COMPRESSION zstd)",
            [[n for n, _, _ in entries], [o for _, o, _ in entries], [r for _, _, r in entries]],
        )

    def _of(self, name: str) -> list[tuple[str | None, int]]:
        return self.learned.get(name) or self.known.get(name) or []


# The rows of each organization per lake file the report counts (FileCounts).
ROW_COUNTS = "gold/row_counts"


def rows_by_organization(
    engine: DuckDBEngine, files: list[Path], organizations: list[str], counts: FileCounts | None = None
) -> dict[str, int]:
    """The rows of each of `organizations` (within the engine's scope) in these Parquet files. A file
    whose row groups each hold one organization is counted from its footer; only the others are read.
    (Reading the organization column of every reading of a month's lake, 20 million, was most of what
    an incremental hour spent on its report.) With `counts`, a file counted by an earlier run is not
    looked at again, and the files counted here are added to its `learned`."""
    totals = dict.fromkeys(organizations, 0)
    unread = []
    for path in files:
        groups = counts.get(path) if counts is not None else None
        if groups is None:
            footer = _row_groups(path)
            if footer is None:
                unread.append(path)
                continue
            groups = list(footer)
            if counts is not None:
                counts.learned[counts.name(path)] = groups
        for organization, rows in groups:
            if organization in totals:
                totals[organization] += rows
    if unread and counts is None:
        for organization, rows in engine.rows(
            f"SELECT organization, COUNT(*) FROM {read_parquet(unread)} WHERE {IN_RUN} GROUP BY 1"
        ):
            if organization in totals:
                totals[organization] += int(rows)
    elif unread and counts is not None:  # every organization's rows, to keep
        read: dict[Path, list[tuple[str | None, int]]] = {path: [] for path in unread}
        for name, organization, rows in engine.rows(
            f"SELECT filename, organization, COUNT(*) FROM read_parquet({parquet_list(unread)}, "
            "hive_partitioning = false, filename = true) GROUP BY 1, 2"
        ):
            read[Path(str(name))].append((organization, int(rows)))
        for path, groups in read.items():
            counts.learned[counts.name(path)] = groups
            for organization, rows in groups:
                if organization in totals:
                    totals[organization] += rows
    return totals


# Per compressor (every organization's), its readings with a threshold violation in the hourly files its
# footer names (summaries.COVERS): those of the days before the newest day of gold/hourly, which incremental
# runs leave as they are. A lake table a pass stages for the next report (violations_by_compressor),
# so a report reads the month's hourly rows once, not every run; it stays right while those files are
# current (a lake file never changes once written), and is summarized afresh once they are not.
VIOLATION_TOTALS = "gold/violation_totals"
VIOLATING_HOURS = (
    "SELECT organization, compressor_id, CAST(SUM(violation_count) AS BIGINT) AS violations FROM {files} "
    "WHERE violation_count > 0 GROUP BY 1, 2"
)


def violations_by_compressor(engine: DuckDBEngine, tables: Tables, version: str | None) -> str:
    """SQL of the readings with a violation per compressor of the engine's scope, over all of gold's
    hourly rows: the kept VIOLATION_TOTALS for the older days' files it covers, the other files read.
    With a `version`, a new VIOLATION_TOTALS over the older days is staged (as that version) when they
    were not all covered."""
    files = tables.files("gold/hourly")
    days = [d for d in map(day_of, files) if d is not None]
    older = [f for f in files if (day_of(f) or date.max) < max(days)] if days else []
    lake = tables.lake
    known = lake.has_table(VIOLATION_TOTALS, tables.manifest)
    kept = lake.table_files(VIOLATION_TOTALS, tables.manifest) if known else []
    parts = summary_parts(
        engine.con,
        lake.root,
        kept,
        older,
        lambda fresh: VIOLATING_HOURS.format(files=read_parquet(fresh)),
        _totals,
        None if version is None else lambda: _stage_summary(tables, VIOLATION_TOTALS, version),
    )
    newest = [f for f in files if f not in set(older)]
    if newest:
        parts.append(VIOLATING_HOURS.format(files=read_parquet(newest)))
    return f"SELECT * FROM ({_totals(parts)}) AS totals WHERE {IN_RUN}" if parts else ""


def _stage_summary(tables: Tables, table: str, version: str) -> Path:
    """Stage a summary kept across runs (altaviz.pipeline.summaries): every organization's rows."""
    tables.staged[table] = tables.lake.stage(table, version)
    tables.complete.add(table)
    return tables.staged[table].directory


def _totals(parts: list[str]) -> str:
    union = " UNION ALL ".join(f"({part})" for part in parts)
    return (
        "SELECT organization, compressor_id, CAST(SUM(violations) AS BIGINT) AS violations "
        f"FROM ({union}) AS parts GROUP BY 1, 2"
    )


def summarize(
    engine: DuckDBEngine, tables: Tables, organizations: list[str], version: str | None = None
) -> dict[str, RunSummary]:
    """The report of each of `organizations` (the engine's scope), from the tables as this run leaves them.
    With the pass's `version`, the summaries kept across runs (VIOLATION_TOTALS, ROW_COUNTS) are staged
    in `tables` where they changed."""
    lake = tables.lake
    counts = FileCounts(
        engine,
        lake.root,
        lake.table_files(ROW_COUNTS, tables.manifest) if lake.has_table(ROW_COUNTS, tables.manifest) else [],
    )
    bronze = [f for o in organizations for f in lake.bronze_files(o)]
    bronze_rows = rows_by_organization(engine, bronze, organizations, counts)
    silver = tables.files("silver/readings")
    silver_rows = rows_by_organization(engine, silver, organizations, counts)
    quarantined = _by_organization(
        engine,
        "SELECT organization, split_part(reason, ':', 1), COUNT(*) "
        f"FROM {_files(tables, 'silver/quarantine')} WHERE {IN_RUN} GROUP BY 1, 2",
    )
    hourly = tables.files("gold/hourly")
    hourly_rows = rows_by_organization(engine, hourly, organizations, counts)
    if version is not None:
        counts.stage(tables, lake.bronze_files() + silver + hourly, version)
        stage_spacings(engine, tables, version)
    # only the hours with a violation (the others add nothing; row groups without one are skipped)
    totals = violations_by_compressor(engine, tables, version)
    violating = _by_organization(engine, totals) if totals else {}
    # per compressor (its alerts, critical and active), summed per organization below: one statement
    by_compressor = _by_organization(
        engine,
        "SELECT organization, compressor_id, COUNT(*), COUNT(*) FILTER (WHERE severity = 'critical'), "
        f"COUNT(*) FILTER (WHERE is_active) FROM {_files(tables, 'gold/alerts')} "
        f"WHERE {IN_RUN} GROUP BY 1, 2 ORDER BY 2",
    )
    fleet: dict[str, dict[str, Any]] = {
        str(r["organization"]): r
        for r in engine.records(
            f"SELECT * FROM {_files(tables, 'silver/quality')} WHERE scope = 'fleet' AND {IN_RUN}"
        )
    }
    summaries: dict[str, RunSummary] = {}
    for organization in organizations:
        alert_rows = by_compressor.get(organization, [])
        total, critical, active = (sum(int(row[k]) for row in alert_rows) for k in (1, 2, 3))
        quality_row = fleet.get(organization)
        summaries[organization] = RunSummary(
            bronze_rows=bronze_rows[organization],
            silver_rows=silver_rows[organization],
            quarantined={str(reason): int(n) for reason, n in quarantined.get(organization, [])},
            hourly_rows=hourly_rows[organization],
            violating_readings={str(c): int(v) for c, v in violating.get(organization, [])},
            alerts={
                "total": int(total),
                "critical": int(critical),
                "warning": int(total - critical),
                "active": int(active),
            },
            alerts_by_compressor={str(c): int(n) for c, n, _, _ in alert_rows},
            quality=(
                {m: bool(quality_row[f"{m}_passed"]) for m in QUALITY_NAMES}
                if quality_row is not None
                else {}
            ),
        )
    return summaries
