"""How often each compressor really reports, against PIPELINE_INTERVAL_MINUTES (issue 18 item 16).

The data-quality completeness check counts each compressor's expected readings at its own interval
(quality.sql: the median spacing of its good readings). The hourly aggregates' expected and missing
readings still assume PIPELINE_INTERVAL_MINUTES (their slots must be the same in incremental and full
runs), so a fleet reporting every 15 minutes under the default of 10 would show two "missing" readings
an hour. After each run the command measures each compressor's reporting interval — the median
spacing of its good readings over the lake's last RECENT_DAYS days — and warns, naming the compressors
and the setting to use, when it differs from the setting by more than TOLERANCE.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from altaviz.pipeline.engine import read_parquet
from altaviz.pipeline.incremental import files_from
from altaviz.pipeline.lake import Lake, LakeError

RECENT_DAYS = 2
TOLERANCE = 0.10
# fewer spacings than this say nothing about a compressor's interval
MIN_SPACINGS = 6
NAMED = 3


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
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
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
            ranked AS (
                SELECT {key} AS compressor, ROW_NUMBER() OVER (ORDER BY {keys}) AS compressor_rank, {keys}
                FROM (SELECT DISTINCT {keys} FROM recent) AS k
            ),
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
            SELECT k.compressor, m.minutes, m.spacings
            FROM measured AS m JOIN ranked AS k USING (compressor_rank)
            ORDER BY k.compressor
            """
        ).fetchall()
    finally:
        con.close()
    return [ReportingInterval(str(c), float(m), int(n)) for c, m, n in rows]


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
