"""How often each compressor really reports, against PIPELINE_INTERVAL_MINUTES (issue 18 item 16).

The data-quality completeness check counts each compressor's expected readings at its own interval
(quality.sql: the median spacing of its good readings). The hourly aggregates' expected and missing
readings still assume PIPELINE_INTERVAL_MINUTES (their slots must be the same in incremental and full
runs), so a fleet reporting every 15 minutes under the default of 10 would show two "missing" readings
an hour. After each run the command measures each compressor's reporting interval — the median
spacing of its good readings over the lake's last RECENT_DAYS days — and warns, naming the compressors
and the setting to use, when it differs from the setting by more than TOLERANCE.

Each run keeps a small summary of the spacings in the lake (SPACINGS, issue 21), so the warning reads
the new data's share, not two days of readings: per silver file, compressor and clock hour, the hour's
first and last reading, the reading before its first in the file, and the counts of each spacing
between its consecutive readings. The window's spacings are those inside the summarized hours after
the one the window starts in, those from each such hour's first reading back to the one before it
(in its file, or the last of the file before), and those of the window's first hour, read from silver
(the window starts mid-hour); merged counts give the exact median. A lake without the summary (or
whose summary does not cover the window's files, or whose files overlap in time) is read as before.
"""

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from altaviz.pipeline.engine import DuckDBEngine, compressor_ranks, read_parquet, sql_text
from altaviz.pipeline.incremental import day_of, files_from
from altaviz.pipeline.lake import Lake, LakeError
from altaviz.pipeline.stages import Tables
from altaviz.pipeline.summaries import COVERS, committed_name

RECENT_DAYS = 2
TOLERANCE = 0.10
# fewer spacings than this say nothing about a compressor's interval
MIN_SPACINGS = 6
NAMED = 3
# Per silver file (its name once committed), compressor and clock hour (whole hours since the epoch):
# the hour's first and last good reading and the counts of the spacings between its consecutive ones.
# Each file's footer names the silver file it covers (summaries.COVERS); a run adds one for each silver
# file it wrote and keeps those whose file is still current and recent.
SPACINGS = "silver/reading_spacings"
HOUR = "CAST(floor(EPOCH(timestamp) / 3600) AS BIGINT)"


@dataclass(frozen=True)
class ReportingInterval:
    compressor: str  # "<organization>/<compressor_id>" where the lake holds several organizations
    minutes: float
    spacings: int


def reporting_intervals(lake: Lake) -> list[ReportingInterval]:
    """Each compressor's median spacing of good readings over the lake's last RECENT_DAYS days."""
    try:
        files: list[Path] = lake.table_files("silver/readings")
    except LakeError:
        return []
    # only the days that may hold the last RECENT_DAYS (by their partition), not every footer of the lake
    newest = [s.last_reading for s in lake.read_manifest().organizations.values() if s.last_reading]
    if newest:
        since = max(datetime.fromisoformat(n) for n in newest) - timedelta(days=RECENT_DAYS + 1)
        files = files_from(files, since) or files
    con = duckdb.default_connection().cursor()  # not a database of its own (15-25 ms of CPU to open)
    try:
        con.execute("SET TimeZone = 'UTC'")
        try:
            summarized = _from_summary(con, lake, files)
        except duckdb.Error:  # an unreadable summary: silver says the same
            summarized = None
        return summarized if summarized is not None else _from_silver(con, files)
    finally:
        con.close()


def _from_silver(con: duckdb.DuckDBPyConnection, files: list[Path]) -> list[ReportingInterval]:
    """reporting_intervals from the window's silver readings themselves."""
    source = read_parquet(files)
    columns = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    keys = "organization, compressor_id" if "organization" in columns else "compressor_id"
    key = "organization || '/' || compressor_id" if "organization" in columns else "compressor_id"
    # The spacing window partitions by each compressor's rank (an integer), the name made once per
    # compressor: partitioned by the name, made per reading, it cost about a sixth more.
    rows = con.execute(
        f"""
        WITH recent AS (
            SELECT {keys}, timestamp FROM {source}
            WHERE timestamp >= (SELECT MAX(timestamp) FROM {source}) - INTERVAL {RECENT_DAYS} DAY
        ),
        ranked AS ({compressor_ranks("recent", keys)}),
        spacing AS (
            SELECT
                k.compressor_rank,
                EPOCH(r.timestamp) - EPOCH(LAG(r.timestamp) OVER w) AS seconds
            FROM recent AS r
            JOIN ranked AS k USING ({keys})
            WINDOW w AS (PARTITION BY k.compressor_rank ORDER BY r.timestamp)
        ),
        measured AS (
            SELECT compressor_rank, MEDIAN(seconds) / 60.0 AS minutes, COUNT(*) AS spacings
            FROM spacing WHERE seconds > 0
            GROUP BY compressor_rank HAVING COUNT(*) >= {MIN_SPACINGS}
        )
        SELECT {key} AS compressor, m.minutes, m.spacings
        FROM measured AS m JOIN ranked AS k USING (compressor_rank)
        ORDER BY compressor
        """
    ).fetchall()
    return [ReportingInterval(str(c), float(m), int(n)) for c, m, n in rows]


def _from_summary(
    con: duckdb.DuckDBPyConnection, lake: Lake, files: list[Path]
) -> list[ReportingInterval] | None:
    """reporting_intervals from SPACINGS over the window's silver `files`; None when it does not cover
    them, or when a compressor's files overlap in time (then silver is read as before)."""
    names = {committed_name(f, lake.root): f for f in files}
    if not lake.has_table(SPACINGS):
        return None
    current = {committed_name(f, lake.root) for f in lake.table_files("silver/readings")}
    kept = _summary_files_of(lake.table_files(SPACINGS), current)
    if not kept or not set(names) <= set().union(*kept.values()):
        return None
    summary = read_parquet(sorted(p for p, covers in kept.items() if covers & set(names)))
    in_window = f"file IN ({', '.join(sql_text(n) for n in sorted(names))})"
    # the window starts RECENT_DAYS before the newest reading, in its first hour (whole hours since the epoch)
    cutoff, first_hour = con.execute(
        f"SELECT cutoff, CAST(floor(EPOCH(cutoff) / 3600) AS BIGINT) FROM "
        f"(SELECT MAX(last) - INTERVAL {RECENT_DAYS} DAY AS cutoff FROM {summary} WHERE {in_window}) AS t"
    ).fetchall()[0]
    if cutoff is None:
        return None
    later = f"SELECT * FROM {summary} WHERE hour > {int(first_hour)} AND {in_window}"
    # One statement (each costs a few ms of CPU, most of the warning at the seed size): the count of
    # overlapping segments, and the intervals as a list.
    overlapping, measured = con.execute(
        f"""
        WITH first_hour AS (  -- the first hour's readings from the window's start, from silver
            SELECT organization, compressor_id, timestamp,
                EPOCH(timestamp) - EPOCH(LAG(timestamp) OVER (
                    PARTITION BY organization, compressor_id ORDER BY timestamp)) AS seconds
            FROM {read_parquet(files)}
            WHERE timestamp >= $cutoff AND timestamp < to_timestamp($hour_end)
        ),
        later AS ({later}),
        -- each compressor's files in time order: the reading before each file's first is the last of
        -- the file before (when their times do not overlap)
        segments AS (
            SELECT organization, compressor_id, first,
                LAG(last) OVER (PARTITION BY organization, compressor_id ORDER BY first, last) AS before
            FROM (
                SELECT organization, compressor_id, MIN(first) AS first, MAX(last) AS last
                FROM {summary} WHERE {in_window} GROUP BY file, organization, compressor_id
            ) AS s
        ),
        counts AS (
            SELECT organization, compressor_id, s.seconds, s.n
            FROM (SELECT organization, compressor_id, UNNEST(spacings) AS s FROM later) AS u
            UNION ALL  -- an hour's first reading and the one before it in its file
            SELECT organization, compressor_id, EPOCH(first) - EPOCH(before), 1 FROM later
            WHERE before >= $cutoff AND EPOCH(first) - EPOCH(before) > 0
            UNION ALL  -- a file's first reading and the last of the file before
            SELECT organization, compressor_id, EPOCH(first) - EPOCH(before), 1 FROM segments
            WHERE first >= to_timestamp($hour_end) AND before >= $cutoff AND EPOCH(first) - EPOCH(before) > 0
            UNION ALL
            SELECT organization, compressor_id, seconds, COUNT(*) FROM first_hour WHERE seconds > 0
            GROUP BY 1, 2, 3
        ),
        merged AS (
            SELECT organization, compressor_id, seconds, SUM(n) AS n FROM counts GROUP BY 1, 2, 3
        ),
        running AS (
            SELECT *, SUM(n) OVER (PARTITION BY organization, compressor_id ORDER BY seconds) AS upto,
                SUM(n) OVER (PARTITION BY organization, compressor_id) AS total
            FROM merged
        ),
        measured AS (  -- the middle spacing(s): MEDIAN interpolates between them
            SELECT organization || '/' || compressor_id AS compressor,
                CAST(ANY_VALUE(total) AS BIGINT) AS spacings,
                MIN(seconds) FILTER (WHERE upto > (total - 1) // 2) AS lo,
                MIN(seconds) FILTER (WHERE upto > total // 2) AS hi
            FROM running GROUP BY organization, compressor_id HAVING ANY_VALUE(total) >= {MIN_SPACINGS}
        )
        SELECT (SELECT COUNT(*) FROM segments WHERE first < before),
            (SELECT LIST({{'compressor': compressor, 'minutes': list_aggregate([lo, hi], 'median') / 60.0,
                'spacings': spacings}} ORDER BY compressor) FROM measured)
        """,
        {"cutoff": cutoff, "hour_end": (first_hour + 1) * 3600},
    ).fetchall()[0]
    if overlapping:
        return None  # files whose times overlap say nothing of their readings' order
    return [
        ReportingInterval(str(i["compressor"]), float(i["minutes"]), int(i["spacings"]))
        for i in measured or []
    ]


def stage_spacings(engine: DuckDBEngine, tables: Tables, version: str) -> None:
    """Stage SPACINGS for the silver files reporting_intervals reads (those of the newest day and the
    RECENT_DAYS + 1 before, by their partition): the kept summary
    files whose silver file is still current and among them, and one for each other (if any)."""
    lake = tables.lake
    silver = tables.files("silver/readings")
    days = [d for d in map(day_of, silver) if d is not None]
    if not silver or not days:
        return
    oldest = max(days) - timedelta(days=RECENT_DAYS + 1)
    recent = {committed_name(f, lake.root): f for f in silver if (day_of(f) or date.max) >= oldest}
    if "organization" not in pq.read_schema(silver[0]).names:
        return
    before = lake.table_files(SPACINGS, tables.manifest) if lake.has_table(SPACINGS, tables.manifest) else []
    kept = _summary_files_of(before, set(recent))
    covered = set().union(*kept.values()) if kept else set()
    fresh = [(n, f) for n, f in sorted(recent.items()) if n not in covered]
    if not fresh and set(kept) == set(before):
        return
    staged = lake.stage(SPACINGS, version)
    tables.staged[SPACINGS] = staged
    tables.complete.add(SPACINGS)  # every organization's rows
    staged.kept = sorted(kept)
    if not fresh:
        return
    for number, (name, path) in enumerate(fresh):  # a file each: a rewritten silver file drops its own
        written = staged.directory / f"part-{number}.parquet"
        engine.con.execute(
            f"""
            COPY (
                WITH spaced AS (
                    SELECT organization, compressor_id, {HOUR} AS hour, timestamp,
                        LAG(timestamp) OVER (
                            PARTITION BY organization, compressor_id ORDER BY timestamp) AS prev
                    FROM {read_parquet([path])}
                ),
                counted AS (
                    SELECT organization, compressor_id, hour,
                        CASE WHEN {HOUR.replace("timestamp", "prev")} = hour
                            THEN EPOCH(timestamp) - EPOCH(prev) END AS seconds,
                        COUNT(*) AS n, MIN(timestamp) AS first, MAX(timestamp) AS last,
                        MAX(prev) FILTER (WHERE {HOUR.replace("timestamp", "prev")} < hour) AS before
                    FROM spaced GROUP BY 1, 2, 3, 4
                )
                SELECT {sql_text(name)} AS file, organization, compressor_id, hour,
                    MIN(first) AS first, MAX(last) AS last, MAX(before) AS before,
                    COALESCE(LIST({{'seconds': seconds, 'n': n}} ORDER BY seconds) FILTER (WHERE seconds > 0),
                        []) AS spacings
                FROM counted GROUP BY 2, 3, 4 ORDER BY hour, organization, compressor_id
            ) TO {sql_text(str(written))}
            (FORMAT parquet, COMPRESSION zstd, KV_METADATA {{{COVERS}: {sql_text(json.dumps([name]))}}})
            """
        )


def _summary_files_of(files: list[Path], current: set[str]) -> dict[Path, set[str]]:
    """The SPACINGS `files` whose covered silver files are all among `current`, with their names."""
    kept: dict[Path, set[str]] = {}
    for path in files:
        try:
            names = set(json.loads(pq.read_metadata(path).metadata[COVERS.encode()]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if names <= current:
            kept[path] = names
    return kept


def interval_warning(intervals: list[ReportingInterval], setting_minutes: int) -> str | None:
    """One line when compressors report at another interval than the setting; None when they agree."""
    off = [i for i in intervals if abs(i.minutes - setting_minutes) > TOLERANCE * setting_minutes]
    if not off:
        return None
    by_interval: dict[float, list[str]] = {}
    for i in off:
        by_interval.setdefault(round(i.minutes, 1), []).append(i.compressor)
    parts = []
    for minutes, names in sorted(by_interval.items(), key=lambda kv: -len(kv[1])):
        shown = ", ".join(names[:NAMED]) + (f" and {len(names) - NAMED} more" if len(names) > NAMED else "")
        parts.append(
            f"{len(names)} compressor{'s' if len(names) != 1 else ''} every {minutes:g} min ({shown})"
        )
    usual = max(by_interval.items(), key=lambda kv: len(kv[1]))[0]
    if len(off) == len(intervals) and len(by_interval) == 1 and float(usual).is_integer():
        advice = f"set PIPELINE_INTERVAL_MINUTES={usual:g} (the next run then recounts everything)"
    else:
        advice = "the setting is one for the whole fleet, so these compressors' hourly counts are off"
    return (
        f"warning: readings arrive at another interval than PIPELINE_INTERVAL_MINUTES={setting_minutes}: "
        f"{'; '.join(parts)}; the hourly missing-reading counts assume {setting_minutes} min; {advice}"
    )
