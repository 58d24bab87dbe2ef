"""Incremental runs: the new bronze files, plus only the look-back their windows need.

When silver and gold are current for every bronze file but some new ones, and nothing they were
computed with has changed (parameters, thresholds, fleet metadata), a run recomputes from the
earliest moment the new readings can affect and keeps everything before it:

- zone start: the earliest new good reading of any compressor, moved back over the two readings
  before it (their spike votes look two readings ahead). Silver readings, gold readings, violations
  and alert events are rewritten from here.
- hourly from: the zone start's clock hour, or the hour of the previous newest reading if earlier
  (its expected-reading count depends on where the data ends). Hourly aggregates are rewritten from here.
- context start: 24 hours before the zone start. Alert events read, of each compressor's readings
  before the zone start within it, those each metric's series needs (the on- and clear-delays count
  back: IncrementalRun._bind_alert_context); silver reads the 12 readings before the zone start of
  each compressor (the stuck-sensor check's reach).
- gold's readings read silver from RATE_CONTEXT (or params.settle_seconds, if longer) before the zone
  start: the temperature rate of change (the per-compressor step, rolling.py) looks two hours back, a
  reading's operating state (gold_readings.sql) the settle time back; the rows before the zone start
  are context only.

The steps are the same SQL files as a full run, on the same engine, over the current tables cut to
the context; their outputs replace the tables' rows from the zone start (only the files holding such
rows are rewritten, the others kept), and alert episodes are recomputed for the (compressor, metric)
pairs whose events changed. The result equals a full recomputation over all bronze
(tests/pipeline/test_incremental.py), with one deliberate difference: data-quality metrics describe
the batch a run processed, so an incremental run's metrics are those of its new readings. Alert events
read whether a pair violated before the look-back from the kept events (`violated_before`).
A reading more than 24 hours older than readings already processed for its compressor is quarantined
as late (silver_classified.sql), in full runs too, so both agree. Silver is exact as long as the
12 readings before a change lie within 24 hours of it (no reporting gap of most of a day right before).

A pass works on the organizations with new bronze (see Tables): every read of the lake below sees
their rows only (the engine's scope, `_rows_from`), the zone is the earliest of theirs, and merges keep
every other organization's rows as they were. Each organization's expected-reading span (batch_span)
is its own, kept in the manifest (OrganizationState.first_reading/last_reading).
"""

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq

from altaviz.fleet import METRIC_NAMES
from altaviz.pipeline.engine import (
    RUN_ORGANIZATIONS,
    DuckDBEngine,
    copy_parquet,
    load_sql,
    naming_failed_step,
    read_parquet,
)
from altaviz.pipeline.lake import Lake, Manifest, OrganizationState, StagedTable
from altaviz.pipeline.params import ALERT_READINGS_ROOM
from altaviz.pipeline.stages import (
    GOLD_STEPS,
    QUALITY_STEP,
    SILVER_STEPS,
    VIOLATED_PAIRS,
    WATERMARKS,
    Step,
    Tables,
    run_step,
)
from altaviz.pipeline.summaries import summary_parts

# How far before the zone start silver's and the alert events' look-back readings are searched for
# (the late rule's reach: no compressor's readings go further back into a recomputation).
CONTEXT = timedelta(hours=24)
# Spike votes look two readings ahead: a new reading changes the verdict on the two before it.
READINGS_BEFORE = 2
# The stuck-sensor check looks at the 12 readings up to each one (silver_readings.sql).
SILVER_READINGS_BEFORE = 12
# Alert episodes open after on_delay violating readings of a metric in a row and clear after
# clear_count clear ones: the readings of each metric's series before the zone start that decide them
# are the longest count in force (params.longest_alert_count), looked for among
# params.ALERT_READINGS_ROOM times as many readings of each compressor (room for missing metrics).
STATE_TABLES = (WATERMARKS, VIOLATED_PAIRS)
# The temperature rate of change compares a reading's last hour with the hour before (rolling.py).
RATE_CONTEXT = timedelta(hours=2)
# A run adds up to two files to each day it writes (merge): a day of hourly runs stays under this many,
# runs every few minutes have their day compacted every few hours.
COMPACT_FILES = 48
# Every run writes its recent rows apart (merge, set_recent_apart): those of the last three reading
# intervals, at least this long. The next run recomputes from two readings before its first new one,
# so it rewrites those only.
RECENT_APART = timedelta(minutes=30)
HOURLY_KEY = "agg_timestamp"
# The gold readings an incremental run recomputed (from its zone start), a table in memory.
GOLD_ZONE = "gold_zone"


class FullRunNeeded(Exception):
    """The new input cannot be folded in incrementally; the message says why."""


@dataclass(frozen=True)
class Bounds:
    zone_start: datetime
    hourly_from: datetime
    context_start: datetime
    recent_from: datetime  # where this run's recent rows start (see recent_from)


def reading_interval(engine: DuckDBEngine) -> timedelta:
    """The interval compressors report at (params.interval_seconds)."""
    return timedelta(seconds=float(engine.rows("SELECT interval_seconds FROM params")[0][0]))


def recent_from(engine: DuckDBEngine, newest: datetime) -> datetime:
    """Where a run's recent rows start, given its newest reading: READINGS_BEFORE + 1 reading intervals
    before it, and at least RECENT_APART."""
    return newest - max(RECENT_APART, (READINGS_BEFORE + 1) * reading_interval(engine))


def _recent_start(recent: datetime, column: str) -> datetime:
    """Hourly aggregates, keyed by their clock hour, are recent from the clock hour `recent` falls in."""
    return recent.replace(minute=0, second=0, microsecond=0) if column == HOURLY_KEY else recent


def new_bronze_files(
    lake: Lake, manifest: Manifest, state: OrganizationState, bronze_files: list[Path], fingerprint: str
) -> list[Path]:
    """An organization's bronze files silver has not processed yet; FullRunNeeded when its past must
    be redone."""
    if state.processed_with is None or state.first_reading is None:
        raise FullRunNeeded("no complete earlier run to build on")
    if state.processed_with != fingerprint:
        raise FullRunNeeded("parameters, plan or fleet metadata changed")
    needed = [s.table for s in (*SILVER_STEPS, QUALITY_STEP, *GOLD_STEPS) if s.table] + list(STATE_TABLES)
    if any(not lake.has_table(t, manifest) for t in needed):
        raise FullRunNeeded("the lake lacks a table of an earlier run")
    names = {p.name for p in bronze_files}
    if not set(state.processed_bronze) <= names:
        raise FullRunNeeded("bronze files processed earlier are gone")
    processed = set(state.processed_bronze)
    return [p for p in bronze_files if p.name not in processed]


def day_of(path: Path) -> date | None:
    """The UTC day of a day-partitioned table's file (by its day=... directory); None outside one."""
    # a run asks this of every file of every table several times: the string search is the cheap way
    text = str(path)
    at = text.rfind("/day=")
    return None if at < 0 else date.fromisoformat(text[at + 5 : at + 15])


def files_from(files: list[Path], since: datetime) -> list[Path]:
    """The files of a day-partitioned table that may hold rows at or after `since`."""
    return [f for f in files if (day_of(f) or date.max) >= since.date()]


def _may_hold_rows_from(path: Path, column: str, since: datetime) -> bool:
    """Whether a Parquet file may hold rows at or after `since`, judged by its column statistics."""
    metadata = pq.ParquetFile(path).metadata
    schema = metadata.schema.to_arrow_schema()
    index = schema.get_field_index(column)
    # compared as the stored integers: stats.max would be converted through pandas where it is installed
    per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[schema.field(index).type.unit]
    moment = since - datetime(1970, 1, 1, tzinfo=UTC)
    since_raw = (
        moment.days * 86_400 + moment.seconds
    ) * per_second + moment.microseconds * per_second // 1_000_000
    for group in range(metadata.num_row_groups):
        stats = metadata.row_group(group).column(index).statistics
        if stats is None or not stats.has_min_max or stats.max_raw >= since_raw:
            return True
    return False


def _literal(moment: datetime) -> str:
    return f"TIMESTAMPTZ '{moment.isoformat()}'"


IN_RUN = f"organization IN (SELECT organization FROM {RUN_ORGANIZATIONS})"


def _rows_from(files: list[Path], column: str, since: datetime) -> str:
    """The rows of the run's organizations from `since` on."""
    # with no file on or after since's day, the last file gives the schema (its rows are all before)
    reaching = files_from(files, since) or files[-1:]
    return f"SELECT * FROM {read_parquet(reaching)} WHERE {column} >= {_literal(since)} AND {IN_RUN}"


def merge(
    engine: DuckDBEngine,
    old_files: list[Path],
    new_rows: str,
    column: str,
    since: datetime,
    staged: StagedTable,
    recent: datetime,
    keep: str | None = None,
) -> None:
    """A partitioned table's next version: its rows before `since` (and every row of the organizations
    the run does not work on), then `new_rows` from `since` on.

    Files wholly before `since` are kept. The rows before `since` of the others are written again,
    with the recomputed rows before the recent ones (from `recent`), into a file of their own; the
    recent rows go to another. The next run's `since` (two readings before its first new one) is
    usually among the recent rows, so it keeps the first file and rewrites little more than the second.
    A day thus gathers two files per run; once it holds COMPACT_FILES, the run that writes into it
    writes all of its rows again as one.

    With `keep`, the recomputed rows from `since` on stay in memory as a table of that name.
    """
    reaching = {f for f in files_from(old_files, since) if _may_hold_rows_from(f, column, since)}
    files_per_day = Counter(map(day_of, old_files))
    crowded = {day_of(f) for f in reaching if files_per_day[day_of(f)] >= COMPACT_FILES}
    # a file outside the day directories only holds the schema of a table without rows: not kept
    rewritten = {f for f in old_files if f in reaching or day_of(f) in crowded or day_of(f) is None}
    staged.kept = [f for f in old_files if f not in rewritten]
    con = engine.con
    # a table of the engine's in-memory database, not a temporary one: a kept table is read by the
    # engine's cursors too (a per-compressor step's stream, DuckDBEngine.map_compressors)
    con.execute(
        "CREATE OR REPLACE TABLE merge_recomputed AS "
        f"SELECT * FROM ({new_rows}) AS recomputed WHERE {column} >= {_literal(since)}"
    )
    split = _literal(max(since, _recent_start(recent, column)))
    settled = f"SELECT * FROM merge_recomputed WHERE {column} < {split}"
    if rewritten:
        settled = (
            f"SELECT * FROM {read_parquet(sorted(rewritten))} "
            f"WHERE {column} < {_literal(since)} OR NOT {IN_RUN} "
            f"UNION ALL BY NAME {settled}"
        )
    copy_parquet(con, settled, staged.directory, column, part="settled", schema_if_empty=False)
    recent_rows = f"SELECT * FROM merge_recomputed WHERE {column} >= {split}"
    copy_parquet(con, recent_rows, staged.directory, column, part="recent")
    if keep is None:
        con.execute("DROP TABLE merge_recomputed")
    else:
        con.execute(f"DROP TABLE IF EXISTS {keep}")
        con.execute(f"ALTER TABLE merge_recomputed RENAME TO {keep}")


def set_recent_apart(engine: DuckDBEngine, staged: StagedTable, column: str, recent: datetime) -> None:
    """Move a full run's recent rows (from `recent`) into files of their own.

    The first incremental run after a full run rewrites the files reaching its recompute start; without
    this, those would be the whole last day of every partitioned table.
    """
    cut = _recent_start(recent, column)
    reaching = [
        f
        for f in sorted(staged.directory.rglob("*.parquet"))
        if (day_of(f) or date.max) >= cut.date() and _may_hold_rows_from(f, column, cut)
    ]
    if not reaching:
        return
    older = f"SELECT * FROM {read_parquet(reaching)} WHERE {column} < {_literal(cut)}"
    copy_parquet(engine.con, older, staged.directory, column, part="older", schema_if_empty=False)
    recent_rows = f"SELECT * FROM {read_parquet(reaching)} WHERE {column} >= {_literal(cut)}"
    copy_parquet(engine.con, recent_rows, staged.directory, column, part="recent")
    for f in reaching:
        f.unlink()


class IncrementalRun:
    """One incremental pass of silver and gold over `new_files`, staging every table it changes."""

    def __init__(
        self,
        engine: DuckDBEngine,
        lake: Lake,
        tables: Tables,
        new_files: list[Path],
        version: str,
        alert_count: int,
    ) -> None:
        self.engine = engine
        self.lake = lake
        self.tables = tables
        self.new_files = new_files
        self.version = version
        self.alert_count = alert_count
        self.old = {t: lake.table_files(t, tables.manifest) for t in tables.manifest.tables}
        # each organization's first and last good reading, as recorded, then with this run's
        self.spans: dict[str, tuple[datetime, datetime]] = {}
        for organization in tables.organizations:
            state = tables.manifest.organizations[organization]
            assert state.first_reading is not None and state.last_reading is not None
            self.spans[organization] = (
                datetime.fromisoformat(state.first_reading),
                datetime.fromisoformat(state.last_reading),
            )

    def _step(self, step: Step) -> str:
        """Run a step into scratch; returns the SQL that reads its output."""
        self.engine.run(step.name, self.engine.scratch(step.name))
        return f"SELECT * FROM {step.name}"

    def _stage(self, table: str) -> StagedTable:
        self.tables.staged[table] = self.lake.stage(table, self.version)
        return self.tables.staged[table]

    def _stage_summary(self, table: str) -> Path:
        """Stage a summary kept across runs (altaviz.pipeline.summaries): every organization's rows."""
        self.tables.complete.add(table)
        return self._stage(table).directory

    def _value(self, sql: str) -> object:
        return self.engine.rows(sql)[0][0]

    def _around_zone(self, name: str, files: list[Path], bounds: Bounds, readings_before: int) -> str:
        """A table's rows from the zone start, after the `readings_before` rows of each compressor before
        it (within the context). Where each compressor's rows start is found on the timestamps alone, so
        the whole row is read only from the earliest of those starts on.

        The timestamps are read first over twice `readings_before` reading intervals before the zone
        only; the whole context is read when a compressor that may have rows in it (its watermark is
        in or after it) has fewer there."""
        before = self._before_zone(name, files, bounds, readings_before)
        zone_rows = _rows_from(files, "timestamp", bounds.zone_start)
        return zone_rows if before is None else f"{before} UNION ALL BY NAME {zone_rows}"

    def _before_zone(
        self, name: str, files: list[Path], bounds: Bounds, readings_before: int, series_before: int = 0
    ) -> str | None:
        """The rows before the zone start of `_around_zone` (None when there are none); with
        `series_before`, of each compressor only those from where every metric's series has its last
        `series_before` rows (see `_cut`)."""
        near = bounds.zone_start - 2 * readings_before * reading_interval(self.engine)
        if near <= bounds.context_start or not self._cut(
            name, files, near, bounds, readings_before, series_before
        ):
            self._cut(name, files, bounds.context_start, bounds, readings_before, series_before)
        earliest = self._value(f"SELECT MIN(since) FROM {name}_cut")
        if not isinstance(earliest, datetime):
            return None
        return (
            f"SELECT g.* FROM ({_rows_from(files, 'timestamp', earliest)}) AS g "
            f"JOIN {name}_cut AS c ON c.organization = g.organization AND c.compressor_id = g.compressor_id "
            f"WHERE g.timestamp >= c.since AND g.timestamp < {_literal(bounds.zone_start)}"
        )

    def _cut(
        self,
        name: str,
        files: list[Path],
        since: datetime,
        bounds: Bounds,
        readings_before: int,
        series_before: int = 0,
    ) -> bool:
        """Bind `<name>_cut`: where each compressor's last `readings_before` rows before the zone start,
        among those from `since` on, start. True when that is where they start among all of the
        context's rows too: every compressor whose watermark is at or after the context start has
        `readings_before` rows there (the others have no row in the context).

        With `series_before`, a compressor's rows start instead where the last `series_before` rows of
        every metric's series (the rows with its status) among those start: the earliest of those
        starts, a metric with fewer such rows there counting the start of the `readings_before` rows."""
        # the earliest of each compressor's largest timestamps: an aggregate keeping the top few, not a
        # ranking window over them all (readings counts all of its rows there, not only the top few)
        start = f"list_min(max(timestamp, {readings_before}))"
        if series_before:
            series = ", ".join(
                f"CASE WHEN COUNT({m}_status) >= {series_before} THEN "
                f"list_min(max(timestamp, {series_before}) FILTER (WHERE {m}_status IS NOT NULL)) "
                f"ELSE {start} END"
                for m in METRIC_NAMES
            )
            start = f"LEAST({series})"
        cut = copy_parquet(
            self.engine.con,
            f"SELECT organization, compressor_id, {start} AS since, "
            "COUNT(*) AS readings "
            f"FROM ({_rows_from(files, 'timestamp', since)}) AS context "
            f"WHERE timestamp < {_literal(bounds.zone_start)} GROUP BY 1, 2",
            self.engine.scratch(f"{name}_cut"),
        )
        self.engine.bind_parquet(f"{name}_cut", cut)
        return bool(
            self._value(
                f"SELECT (SELECT COUNT(*) FROM {name}_cut WHERE readings >= {readings_before}) = "
                "(SELECT COUNT(*) FROM prior_watermarks "
                f"WHERE newest >= {_literal(bounds.context_start)})"
            )
        )

    def silver(self) -> Bounds | None:
        """Classify the new readings, then recompute silver from the zone start; None if none is good."""
        e = self.engine
        e.bind_parquet("new_bronze", self.new_files)
        e.bind_parquet("prior_watermarks", self.old[WATERMARKS])
        # Old readings a new one may duplicate: from the earliest time a new reading is not late.
        dedup_from = self._value(
            "SELECT MIN(GREATEST(b.timestamp, w.newest - to_seconds(p.late_seconds))) "
            "FROM new_bronze AS b CROSS JOIN params AS p "
            "LEFT JOIN prior_watermarks AS w "
            "  ON w.organization = b.organization AND w.compressor_id = b.compressor_id"
        )
        old_silver = self.old["silver/readings"]
        as_bronze = (
            "SELECT * EXCLUDE (quality_flags), CAST(NULL AS BIGINT) AS _source_row, "
            "CAST(NULL AS VARCHAR) AS _refused FROM old_recent"
        )
        if isinstance(dedup_from, datetime):
            e.bind_sql("old_recent", _rows_from(old_silver, "timestamp", dedup_from))
            e.bind_sql("bronze_readings", f"SELECT * FROM new_bronze UNION ALL BY NAME {as_bronze}")
        else:
            e.bind_sql("bronze_readings", "SELECT * FROM new_bronze")
        classify, flag, readings, *_ = SILVER_STEPS
        self._step(classify)
        # Old readings carry no source row; only the new ones are this run's verdicts.
        classified = sorted(e.scratch("silver_classified").rglob("*.parquet"))
        e.bind_sql(
            "new_classified", f"SELECT * FROM {read_parquet(classified)} WHERE _source_row IS NOT NULL"
        )

        bounds = self._bounds(old_silver)
        if bounds is not None:
            # Silver's checks look at most SILVER_READINGS_BEFORE readings back: that is its context.
            old_rows = self._around_zone("old_silver", old_silver, bounds, SILVER_READINGS_BEFORE)
            e.bind_sql(
                "silver_classified",
                "SELECT * EXCLUDE (quality_flags), CAST(NULL AS BIGINT) AS _source_row, "
                f"CAST(NULL AS VARCHAR) AS reason FROM ({old_rows}) AS old "
                "UNION ALL BY NAME SELECT * FROM new_classified",
            )
            run_step(e, flag, None)
            merge(
                e,
                old_silver,
                self._step(readings),
                "timestamp",
                bounds.zone_start,
                self._stage("silver/readings"),
                bounds.recent_from,
            )
            self.tables.complete.add("silver/readings")
        e.bind_sql("silver_classified", "SELECT * FROM new_classified")
        self._append_quarantine()
        e.run("quality_counts", e.scratch("quality_counts"))
        e.run("quality", self._stage("silver/quality").directory)
        copy_parquet(
            e.con,
            "SELECT organization, compressor_id, MAX(newest) AS newest FROM ("
            "SELECT organization, compressor_id, newest FROM prior_watermarks UNION ALL "
            "SELECT organization, compressor_id, MAX(timestamp) FROM new_classified WHERE reason IS NULL "
            "GROUP BY 1, 2) AS w GROUP BY 1, 2",
            self._stage(WATERMARKS).directory,
        )
        return bounds

    def _append_quarantine(self) -> None:
        """This run's quarantined readings in a file of their own, next to the kept ones; once the table
        holds COMPACT_FILES files, all of it is written again as one."""
        old = self.old["silver/quarantine"]
        quarantine = self._stage("silver/quarantine")
        self.tables.complete.add("silver/quarantine")  # the old files, every organization's, are kept
        if len(old) < COMPACT_FILES:
            quarantine.kept = old
            self.engine.run("quarantine", quarantine.directory)
            return
        self.engine.run("quarantine", self.engine.scratch("quarantine"))
        copy_parquet(
            self.engine.con,
            f"SELECT * FROM {read_parquet(old)} UNION ALL BY NAME SELECT * FROM quarantine",
            quarantine.directory,
        )

    def _bounds(self, old_silver: list[Path]) -> Bounds | None:
        e = self.engine
        new_spans = e.rows(
            "SELECT organization, MIN(timestamp), MAX(timestamp) FROM new_classified "
            "WHERE reason IS NULL GROUP BY 1"
        )
        if not new_spans:
            return None
        for organization, first, last in new_spans:
            first_old, last_old = self.spans[organization]
            if first < first_old:
                raise FullRunNeeded(f"new readings of {organization} start before all its earlier ones")
            self.spans[organization] = (first_old, max(last_old, last))
        first_new = min(first for _, first, _ in new_spans)
        last_new = max(last for _, _, last in new_spans)
        # the hourly rows of an organization's last hour expect readings up to where its data ended
        last_old = min(
            datetime.fromisoformat(str(self.tables.manifest.organizations[o].last_reading))
            for o in self.tables.organizations
        )
        zone_start, complete = self._zone_start(old_silver, recent_from(e, first_new))
        if not complete:  # a new compressor has fewer readings since then: two days are read
            zone_start, _ = self._zone_start(old_silver, first_new - timedelta(days=2))
        assert isinstance(zone_start, datetime)
        hourly_from = min(zone_start, last_old).replace(minute=0, second=0, microsecond=0)
        context_start = min(zone_start - CONTEXT, hourly_from)
        newest = max(last for _, last in self.spans.values())
        return Bounds(zone_start, hourly_from, context_start, recent_from(e, max(newest, last_new)))

    def _zone_start(self, old_silver: list[Path], reach: datetime) -> tuple[object, bool]:
        """The earliest of each new compressor's first new good reading and of its READINGS_BEFORE
        old readings before that (within two days), reading old silver from `reach` on; and whether
        every new compressor has READINGS_BEFORE old readings there (if not, the answer may lie
        before `reach`).

        Tried first from where the previous run's recent rows start (recent_from), which a compressor
        reporting every interval fills: those rows only, not two days of every compressor's."""
        self.engine.bind_sql("old_before", _rows_from(old_silver, "timestamp", reach))
        zone_start, complete = self.engine.rows(
            "WITH new_good AS ("
            "  SELECT organization, compressor_id, MIN(timestamp) AS first_new FROM new_classified"
            "  WHERE reason IS NULL GROUP BY 1, 2), "
            # each compressor's READINGS_BEFORE readings before its first new one: the earliest of
            # its largest timestamps there (an aggregate keeping the top few, not a sort of them all)
            "before AS ("
            f"  SELECT list_min(max(s.timestamp, {READINGS_BEFORE})) AS t, COUNT(*) AS readings"
            "  FROM old_before AS s"
            "  JOIN new_good AS n ON n.organization = s.organization AND n.compressor_id = s.compressor_id"
            "  WHERE s.timestamp < n.first_new AND s.timestamp >= n.first_new - INTERVAL 2 DAY"
            "  GROUP BY s.organization, s.compressor_id) "
            "SELECT (SELECT MIN(t) FROM (SELECT first_new AS t FROM new_good "
            "  UNION ALL SELECT t FROM before) AS candidates), "
            f"(SELECT COUNT(*) FROM before WHERE readings >= {READINGS_BEFORE}) "
            "= (SELECT COUNT(*) FROM new_good)"
        )[0]
        return zone_start, bool(complete)

    def gold(self, bounds: Bounds) -> None:
        """Recompute gold from the zone start over the context of the new silver."""
        e = self.engine
        silver = self.tables.files("silver/readings")
        e.bind_rows("batch_span", batch_span_rows(self.spans))
        settle = timedelta(seconds=float(e.rows("SELECT settle_seconds FROM params")[0][0]))
        context = max(RATE_CONTEXT, settle)
        e.bind_sql("silver_readings", _rows_from(silver, "timestamp", bounds.zone_start - context))
        e.bind_sql("evaluation", f"SELECT {_literal(bounds.zone_start)} AS evaluate_from")
        rated, readings, hourly, violations, limits, streaks, events, alerts = GOLD_STEPS
        run_step(e, rated, None)
        # the recomputed gold readings stay in memory (GOLD_ZONE) for the steps after
        self._merge_step(readings, bounds.zone_start, bounds.recent_from, keep=GOLD_ZONE)
        gold = self.tables.files("gold/readings")
        e.bind_sql("gold_readings", _rows_from(gold, "timestamp", bounds.hourly_from))
        self._merge_step(hourly, bounds.hourly_from, bounds.recent_from)
        # violations are per reading, and only those from the zone start are kept: they read the
        # recomputed readings alone
        e.bind_sql("gold_readings", f"SELECT * FROM {GOLD_ZONE}")
        e.bind_parquet("prior_violations", self.old[VIOLATED_PAIRS])
        self._merge_step(violations, bounds.zone_start, bounds.recent_from)
        self._bind_pair_history(bounds.zone_start)
        e.bind_sql(
            "violated_before", "SELECT organization, compressor_id, metric FROM pair_history WHERE violated"
        )
        self._bind_alert_context(bounds)
        run_step(e, limits, e.scratch(limits.name))
        run_step(e, streaks, None)
        self._merge_step(events, bounds.zone_start, bounds.recent_from)
        self._alerts(alerts, bounds.zone_start)
        copy_parquet(
            e.con,
            "SELECT DISTINCT organization, compressor_id, metric FROM ("
            "SELECT organization, compressor_id, metric FROM prior_violations UNION ALL "
            "SELECT organization, compressor_id, metric FROM violations) AS pairs",
            self._stage(VIOLATED_PAIRS).directory,
        )

    def _bind_alert_context(self, bounds: Bounds) -> None:
        """Bind gold_readings to what the alert step and alert_events read: the recomputed readings
        (GOLD_ZONE), after each compressor's kept readings before the zone start that its metrics'
        series need (the longest count in force of readings carrying each metric, looked for among
        ALERT_READINGS_ROOM times as many of the compressor's readings: `_before_zone`), read once into
        memory. Nothing is written: the rows before the zone start only give the alert step its
        look-back (alert_events' rows before it are dropped by their merge)."""
        e = self.engine
        before = self._before_zone(
            "alert_context",
            self.old["gold/readings"],
            bounds,
            ALERT_READINGS_ROOM * self.alert_count,
            self.alert_count,
        )
        if before is None:
            e.bind_sql("gold_readings", f"SELECT * FROM {GOLD_ZONE}")
            return
        e.con.execute(f"CREATE OR REPLACE TABLE alert_before AS {before}")
        e.bind_sql("gold_readings", f"SELECT * FROM alert_before UNION ALL BY NAME SELECT * FROM {GOLD_ZONE}")

    def _bind_pair_history(self, since: datetime) -> None:
        """Per (compressor, metric) pair, from its kept alert events (those before `since`): whether it
        violated, and its last clearing event.

        The events files wholly before `since` are mostly those the previous run summarized: its
        summary (PAIR_HISTORY) is read for them, only the others as events, and the summary of them all
        is staged for the next run."""
        old = self.old["gold/alert_events"]
        reaching = {f for f in files_from(old, since) if _may_hold_rows_from(f, "timestamp", since)}
        settled = [f for f in old if f not in reaching]
        parts = summary_parts(
            self.engine.con,
            self.lake.root,
            self.old.get(PAIR_HISTORY, []),
            settled,
            lambda fresh: f"{PAIR_SUMMARY} FROM {read_parquet(fresh)} GROUP BY 1, 2, 3",
            _combined,
            lambda: self._stage_summary(PAIR_HISTORY),
        )
        parts = [f"SELECT * FROM ({part}) AS summary WHERE {IN_RUN}" for part in parts]
        if reaching:
            parts.append(
                f"{PAIR_SUMMARY} FROM {read_parquet(sorted(reaching))} "
                f"WHERE timestamp < {_literal(since)} AND {IN_RUN} GROUP BY 1, 2, 3"
            )
        history = copy_parquet(self.engine.con, _combined(parts), self.engine.scratch("pair_history"))
        self.engine.bind_parquet("pair_history", history)

    def _alerts(self, step: Step, since: datetime) -> None:
        """Episodes of the (compressor, metric) pairs whose alert events changed; the others are kept.

        Episodes are computed pair by pair from the pair's events, so a pair with no event from `since`
        on, before or after this run, keeps exactly the episodes it had. A clearing event ends every
        episode open at it and starts the next segment afresh, so a changed pair is recomputed from the
        events after its last clearing event before `since`, keeping the episodes that started before.
        Those events are read from the kept events files' open segments (`_open_events`) and the
        files this run wrote, not from every events file (a pair that never cleared would otherwise
        have the whole history read again each run).
        """
        e = self.engine
        old_alerts = read_parquet(self.old["gold/alerts"])
        old_events = self.old["gold/alert_events"]
        changed_pairs = copy_parquet(
            e.con,
            "WITH changed AS ("
            "  SELECT DISTINCT organization, compressor_id, metric FROM alert_events UNION "
            "  SELECT DISTINCT organization, compressor_id, metric FROM "
            f"  ({_rows_from(old_events, 'timestamp', since)}) AS replaced) "
            "SELECT c.organization, c.compressor_id, c.metric, h.last_clear AS cut FROM changed AS c "
            "LEFT JOIN pair_history AS h "
            "  ON h.organization = c.organization AND h.compressor_id = c.compressor_id "
            "  AND h.metric = c.metric",
            e.scratch("changed_pairs"),
        )
        e.bind_parquet("changed_pairs", changed_pairs)
        e.bind_sql(
            "alert_events",
            f"SELECT ev.* FROM ({self._open_events(since)}) AS ev "
            "JOIN changed_pairs AS c "
            "  ON c.organization = ev.organization AND c.compressor_id = ev.compressor_id "
            "  AND c.metric = ev.metric "
            "WHERE c.cut IS NULL OR ev.timestamp > c.cut",
        )
        self._step(step)
        copy_parquet(
            e.con,
            f"SELECT a.* FROM {old_alerts} AS a LEFT JOIN changed_pairs AS c "
            "  ON c.organization = a.organization AND c.compressor_id = a.compressor_id "
            "  AND c.metric = a.metric "
            "WHERE c.compressor_id IS NULL OR a.started_at < c.cut "
            f"UNION ALL BY NAME SELECT * FROM {step.name}",
            self._stage("gold/alerts").directory,
        )
        self.tables.complete.add("gold/alerts")  # the other organizations' episodes are kept above

    def _open_events(self, since: datetime) -> str:
        """The alert events (of the run's organizations) that may follow a pair's last clearing event
        before `since`: every row of the events files this run wrote or that hold days from `since`'s
        on, and of the older kept files only each pair's open segment (its last clearing event and the
        events after it there: OPEN_EVENTS). The older files' rows before a pair's last clearing event
        there also lie before its last clearing event before `since`, so nothing the episodes read is
        left out.

        The older files are mostly those the previous run summarized: its OPEN_EVENTS is read for them,
        only the others as events, and the open segments over them all are staged for the next run."""
        staged = self.tables.staged["gold/alert_events"]
        kept = set(staged.kept)
        older = sorted(f for f in kept if (day_of(f) or date.max) < since.date())
        recent = [f for f in staged.files() if f not in set(older)]
        parts = summary_parts(
            self.engine.con,
            self.lake.root,
            self.old.get(OPEN_EVENTS, []),
            older,
            lambda fresh: f"SELECT {OPEN_COLUMNS} FROM {read_parquet(fresh)}",
            _open_segments,
            lambda: self._stage_summary(OPEN_EVENTS),
        )
        if recent:
            parts.append(f"SELECT {OPEN_COLUMNS} FROM {read_parquet(recent)}")
        if not parts:  # no events at all: the schema of the table
            parts.append(f"SELECT {OPEN_COLUMNS} FROM {read_parquet(staged.files())}")
        return f"SELECT * FROM ({' UNION ALL BY NAME '.join(parts)}) AS events WHERE {IN_RUN}"

    def _merge_step(self, step: Step, since: datetime, recent: datetime, keep: str | None = None) -> None:
        """Recompute a partitioned table from `since` on, straight into its next version.

        The step's rows before `since` (its look-back context) are computed but never written.
        Afterwards the step's name reads the recomputed rows.
        """
        assert step.table is not None and step.partition_by is not None
        staged = self._stage(step.table)
        self.tables.complete.add(step.table)
        with naming_failed_step(step.name):
            merge(
                self.engine,
                self.old[step.table],
                load_sql(step.name),
                step.partition_by,
                since,
                staged,
                recent,
                keep,
            )
        self.engine.bind_sql(step.name, _rows_from(staged.files(), step.partition_by, since))


# Per (compressor, metric) pair of alert events: whether it violated, its last clearing event.
PAIR_SUMMARY = (
    "SELECT organization, compressor_id, metric, BOOL_OR(NOT clears) AS violated, "
    "MAX(CASE WHEN clears THEN timestamp END) AS last_clear"
)
# The alert pairs' history over the events files its footer names (summaries.COVERS), every organization's
# pairs: a lake table each incremental run stages for the next (IncrementalRun._bind_pair_history). A
# lake file never changes once written, so it stays right while those files are current; a full or
# thresholds pass writes new events files, and the next incremental run summarizes them afresh.
PAIR_HISTORY = "gold/pair_history"


# Per (compressor, metric) pair, its open segment over the events files its footer names (summaries.COVERS):
# its last clearing event there and every event after it (all of its events if none clears). A lake
# table each incremental run stages for the next over the events files of the days before its recompute
# start's (IncrementalRun._open_events), every organization's pairs; like PAIR_HISTORY it stays right
# while those files are current.
OPEN_EVENTS = "gold/open_events"
OPEN_COLUMNS = "organization, compressor_id, metric, timestamp, value, status, streak_start, opens, clears"


def _open_segments(parts: list[str]) -> str:
    """The open segments of the events of `parts` together (disjoint sets of events, or open segments
    of them): each pair's events from its latest clearing event among them on."""
    union = " UNION ALL BY NAME ".join(f"({part})" for part in parts)
    return (
        f"WITH events AS ({union}), "
        "latest AS (SELECT organization, compressor_id, metric, MAX(timestamp) FILTER (WHERE clears) AS at "
        "  FROM events GROUP BY 1, 2, 3) "
        f"SELECT {', '.join('ev.' + c.strip() for c in OPEN_COLUMNS.split(','))} FROM events AS ev "
        "JOIN latest AS l ON l.organization = ev.organization AND l.compressor_id = ev.compressor_id "
        "  AND l.metric = ev.metric "
        "WHERE l.at IS NULL OR ev.timestamp >= l.at"
    )


def _combined(parts: list[str]) -> str:
    """Pair summaries of disjoint sets of events as one (both columns combine: any, latest)."""
    union = " UNION ALL ".join(f"({part})" for part in parts)
    return (
        "SELECT organization, compressor_id, metric, BOOL_OR(violated) AS violated, "
        f"MAX(last_clear) AS last_clear FROM ({union}) AS parts GROUP BY 1, 2, 3"
    )


def batch_span_rows(spans: dict[str, tuple[datetime, datetime]]) -> list[dict[str, object]]:
    """gold_hourly's batch_span: each organization's first and last good reading, as epochs."""
    return [
        {"organization": o, "first_epoch": first.timestamp(), "last_epoch": last.timestamp()}
        for o, (first, last) in sorted(spans.items())
    ]
