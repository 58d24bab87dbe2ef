"""Gold's per-reading features the lake does not store, derived from silver where they are needed.

gold/readings keeps what a later step reads (gold_readings.sql). SPEC §3's other per-reading features
are computed here on demand, with the same one-pass kernel (rolling.py) and the same definitions:
the rolling mean/std/max of vibration and the mean of discharge temperature and pressure over 1 h, 4 h
and 24 h (RANGE frames [t - W, t]), the temperature rate of change, the pressure differential, hour of
day, ISO day of week (1 = Monday) and the weekend flag, all in UTC. A reading's windows read the 24
hours before it, so the readings from `since` are computed over silver from 24 hours earlier.
`altaviz pipeline features` writes them to a Parquet file.
"""

from collections.abc import Sequence
from datetime import datetime

import duckdb
import pyarrow as pa

from altaviz.pipeline.engine import COMPRESSOR_ORDER, read_parquet, sql_text
from altaviz.pipeline.lake import Lake
from altaviz.pipeline.params import RATE_MIN_READINGS
from altaviz.pipeline.rolling import LONGEST_US, append_rolling

VALUES = (
    "vibration_mms",
    "discharge_temp_f",
    "suction_pressure_psi",
    "discharge_pressure_psi",
    "horsepower_consumption",
    "gas_flow_mcf",
)


def _literal(moment: datetime) -> str:
    return f"TIMESTAMPTZ {sql_text(moment.isoformat())}"


def reading_features(
    lake: Lake,
    organization: str,
    compressors: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
) -> pa.Table:
    """Every per-reading feature of the organization's silver readings (of `compressors`, all if none)
    from `since` to `until` (inclusive; open where None), sorted by compressor and time."""
    where = [f"organization = {sql_text(organization)}"]
    if compressors:
        where.append(f"compressor_id IN ({', '.join(sql_text(c) for c in compressors)})")
    if since is not None:
        where.append(f"timestamp >= {_literal(since)} - INTERVAL {LONGEST_US} MICROSECONDS")
    if until is not None:
        where.append(f"timestamp <= {_literal(until)}")
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        readings = con.sql(
            f"SELECT organization, compressor_id, timestamp, {', '.join(VALUES)}, quality_flags "
            f"FROM {read_parquet(lake.table_files('silver/readings'))} WHERE {' AND '.join(where)} "
            f"ORDER BY {', '.join(COMPRESSOR_ORDER)}"
        ).to_arrow_table()
        rolled = append_rolling(readings, RATE_MIN_READINGS, windows=True)
        con.register("rolled", rolled)
        return con.sql(
            "SELECT *, discharge_pressure_psi - suction_pressure_psi AS pressure_differential, "
            "CAST(EXTRACT(HOUR FROM timestamp) AS INTEGER) AS hour_of_day, "
            "CAST(ISODOW(timestamp) AS INTEGER) AS day_of_week, ISODOW(timestamp) >= 6 AS is_weekend "
            f"FROM rolled WHERE {'TRUE' if since is None else f'timestamp >= {_literal(since)}'} "
            f"ORDER BY {', '.join(COMPRESSOR_ORDER)}"
        ).to_arrow_table()
    finally:
        con.close()
