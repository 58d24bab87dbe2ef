"""The health stage (issue 19): altaviz.health's model over each compressor's silver readings, after gold.

One per-compressor step (`HealthStep`, run by TransformEngine.map_compressors: DuckDB locally, Spark's
mapInArrow on a cluster, the same function) gives each compressor's readings (flagged values as
NULL, see sql/health_input.sql) to `health_step` with the compressor's effective alarm limits
(compressor > model > organization > defaults: the pass's compressor_thresholds) and its corrective
maintenance events (`failure`, `unscheduled`: learning starts again after them, not after a scheduled
service or an inspection), and writes one Arrow stream of four kinds of rows, split into four lake tables:

- gold/health (by day): per compressor and hour, the health index (NULL unless judged), the status
  ('judged'; 'warmup' while the model learns, after the first reading or a corrective maintenance event;
  'stopped' when stopped, settling after a start or without data), the driving sensors (JSON) and the
  early-warning flags;
- gold/health_predictions: each compressor's projected crossings as of its newest judged hour (rows
  replaced whenever the compressor's health is computed; none: no trend);
- gold/health_alerts: early-warning episodes (alert_type 'anomaly' or 'prediction', see below);
- gold/health_state: per compressor, the model's state after its last processed hour (NumPy arrays
  in an .npz blob) and the open episodes, so an incremental run continues where the last one stopped.

Which hours are processed. An hour is final once no later run can change its readings: silver's spike
check looks two readings ahead, so a compressor's last two readings may still change. Each run
processes the hours before the hour of its second-to-last reading (health lags the data by up to an
hour) and no hour twice; a full run processes exactly the same hours, so incremental = full
(tests/pipeline/test_health_stage.py). A reading arriving late into an hour already processed (silver
accepts readings up to 24 h late) is seen by its count: the compressor's health is then recomputed from
all of its silver, as a full run would. An alarm-limit change recomputes the compressors it changes
(their predictions depend on the limits; the health index does not).

Early warnings. 'anomaly': the model's anomaly flag (health below HealthConfig.anomaly_health for
anomaly_hours judged hours in a row; clears after clear_hours judged hours back above clear_health).
'prediction': a projected critical crossing (warning crossing for metrics without a critical limit)
within HealthConfig.prediction_horizon_hours (PREDICTION_HORIZON_HOURS, default 72); it opens at the
first judged hour flagged and closes after clear_hours judged hours without the flag, so a trend test
hovering at its limit does not chatter. Hours not judged (stopped, settling) neither continue nor end
an episode. An episode names its sensor: the strongest driver (anomaly) or the metric projected
soonest (prediction).
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from altaviz.alerts.kinds import EARLY_WARNING_TYPES
from altaviz.fleet.thresholds import THRESHOLDS_BY_METRIC
from altaviz.health import (
    RESET_EVENT_TYPES,
    SENSORS,
    HealthConfig,
    HealthOutput,
    HealthState,
    Limits,
    health_step,
)
from altaviz.pipeline.arrow import numpy_values, python_table
from altaviz.pipeline.engine import DuckDBEngine, TransformEngine, copy_parquet, load_sql, read_parquet
from altaviz.pipeline.incremental import files_from
from altaviz.pipeline.rolling import compressor_starts
from altaviz.pipeline.stages import Tables, chunk_of, fleet_chunks

HOUR = 3600
HEALTH = "gold/health"
PREDICTIONS = "gold/health_predictions"
EPISODES = "gold/health_alerts"
HEALTH_STATE = "gold/health_state"
HEALTH_TABLES = (HEALTH, PREDICTIONS, EPISODES, HEALTH_STATE)
EARLY_WARNINGS = EARLY_WARNING_TYPES
# A late reading is at most silver's 24 h late; the count of readings in this window before the
# processed hours tells the next run whether one arrived.
LATE_WINDOW_HOURS = 26

TIME = pa.timestamp("us", tz="UTC")
ROWS = pa.schema(
    [
        ("organization", pa.string()),
        ("compressor_id", pa.string()),
        ("kind", pa.string()),  # hour, prediction, episode, state
        ("hour", TIME),  # the hour; the prediction's data hour; the episode's start; the last hour
        ("health_index", pa.float64()),
        ("status", pa.string()),
        ("drivers", pa.string()),
        ("anomaly", pa.bool_()),
        ("prediction", pa.bool_()),
        ("metric", pa.string()),
        ("level", pa.string()),
        ("threshold_value", pa.float64()),
        ("hours", pa.float64()),
        ("hours_low", pa.float64()),
        ("hours_high", pa.float64()),
        ("alert_type", pa.string()),
        ("last_flagged_at", TIME),
        ("returned_to_normal_at", TIME),
        ("is_active", pa.bool_()),
        ("value", pa.float64()),
        ("message", pa.string()),
        ("fed_until", TIME),
        ("state", pa.binary()),
    ]
)


# --- the state an incremental run continues from ---------------------------------------------------


@dataclass
class Episode:
    """An early-warning episode while open."""

    started: int  # epoch seconds of its first hour
    sensor: str
    value: float  # lowest health (anomaly) or soonest projected hours (prediction)
    threshold: float
    last_flagged: int
    clear: int = 0  # judged hours in a row without the flag (prediction)


@dataclass
class CompressorState:
    model: HealthState = field(default_factory=HealthState)
    warming: bool = True  # no judged hour since the first reading or the last maintenance event
    episodes: dict[str, Episode] = field(default_factory=dict)


_TEMPLATE = HealthState()
_FIELDS = fields(HealthState)


# A state blob: this prefix, the header's length (4 bytes, little-endian), the header (JSON: each field
# of HealthState as a scalar or as an array's dtype, shape and offset; `warming` and the open
# episodes), then the arrays' bytes. An incremental hour reads and writes one per compressor: .npz,
# as before, took 4.8 ms a compressor (23 s an hour at 4,700 compressors); this about 0.1 ms.
_STATE_FORMAT = b"AVHS1"


def dump_state(state: CompressorState) -> bytes:
    """The state as bytes (arrays and JSON, no pickle)."""
    described: list[list[Any]] = []
    chunks: list[bytes] = []
    offset = 0
    for f in _FIELDS:
        value = getattr(state.model, f.name)
        if not isinstance(value, np.ndarray | list):
            described.append([f.name, type(getattr(_TEMPLATE, f.name))(value)])
            continue
        array = np.ascontiguousarray(value, dtype=np.float64 if isinstance(value, list) else None)
        described.append([f.name, array.dtype.str, list(array.shape), offset])
        chunks.append(array.tobytes())
        offset += array.nbytes
    header = json.dumps(
        {
            "fields": described,
            "warming": state.warming,
            "episodes": {k: e.__dict__ for k, e in state.episodes.items()},
        }
    ).encode()
    return b"".join([_STATE_FORMAT, len(header).to_bytes(4, "little"), header, *chunks])


def load_state(blob: bytes) -> CompressorState:
    if not blob.startswith(_STATE_FORMAT):
        return _load_npz(blob)  # written before this format
    start = len(_STATE_FORMAT) + 4
    length = int.from_bytes(blob[len(_STATE_FORMAT) : start], "little")
    header = json.loads(blob[start : start + length])
    data = memoryview(blob)[start + length :]
    stored: dict[str, Any] = {}
    for name, *described in header["fields"]:
        if len(described) == 1:
            stored[name] = described[0]
            continue
        dtype, shape, offset = described
        stored[name] = np.frombuffer(data, np.dtype(dtype), math.prod(shape), offset).reshape(shape)
    return _state(stored, header)


def _state(stored: dict[str, Any], extra: dict[str, Any]) -> CompressorState:
    """A state from its stored fields (arrays or scalars by name); a field newer than the blob takes
    its default (health_step resets old states)."""
    values: dict[str, Any] = {}
    for f in _FIELDS:
        default = getattr(_TEMPLATE, f.name)
        if f.name not in stored:
            values[f.name] = default.copy() if isinstance(default, np.ndarray | list) else default
            continue
        value = stored[f.name]
        if isinstance(default, np.ndarray):
            values[f.name] = np.array(value, dtype=default.dtype)  # a copy: the model updates it in place
        elif isinstance(default, list):
            values[f.name] = (
                np.asarray(value).astype(np.int64 if f.name.endswith("hours") else np.float64).tolist()
            )
        else:
            values[f.name] = type(default)(value.item() if isinstance(value, np.ndarray) else value)
    return CompressorState(
        HealthState(**values),
        bool(extra["warming"]),
        {k: Episode(**e) for k, e in extra["episodes"].items()},
    )


def _load_npz(blob: bytes) -> CompressorState:
    """A state in the .npz format of the first health stage (arrays, the episodes as JSON inside)."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as data:
        stored = {name: data[name] for name in data.files if name != "_extra"}
        extra = json.loads(bytes(data["_extra"]).decode())
    return _state(stored, extra)


# --- the per-compressor step -------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """What the step knows of one compressor besides its readings."""

    warning: tuple[float, ...]  # per SENSORS, NaN where none
    critical: tuple[float, ...]
    resets: tuple[int, ...] = ()  # epoch seconds of maintenance events
    state: bytes | None = None  # its last run's state (None: from its first reading)


@dataclass
class HealthStep:
    """The per-compressor function (picklable, for Spark's executors): whole compressors' readings in,
    rows of ROWS out. Compressors without a Context keep the default limits and start afresh."""

    contexts: dict[tuple[str, str], Context]
    config: HealthConfig

    def __call__(self, table: pa.Table) -> pa.Table:
        out = _Rows()
        if table.num_rows:
            starts = compressor_starts(table).tolist()
            micros = numpy_values(table["timestamp"], np.int64)
            values = np.vstack([numpy_values(table[s], np.float64) for s in SENSORS])
            organizations, compressors = table["organization"], table["compressor_id"]
            for start, end in zip(starts, [*starts[1:], table.num_rows], strict=True):
                key = (str(organizations[start].as_py()), str(compressors[start].as_py()))
                self._compressor(key, micros[start:end] // 1_000_000, values[:, start:end], out)
        return out.table()

    def _compressor(self, key: tuple[str, str], times: Any, values: Any, out: _Rows) -> None:
        if len(times) < 2:
            return
        context = self.contexts.get(key)
        limits = _limits(context)
        state = load_state(context.state) if context and context.state else CompressorState()
        cutoff = int(times[-2]) // HOUR * HOUR  # the hours before it are final
        fed = times < cutoff
        resets = np.asarray(context.resets if context else (), dtype=np.int64)
        before = state.model.last_hour
        result = health_step(
            times[fed], values[:, fed], state=state.model, resets=resets, limits=limits, config=self.config
        )
        # a maintenance event after the hour processed before and by this one (health_step's own test)
        hours = result.hour // HOUR
        previous = np.r_[before, hours[:-1]]
        reset_hours = np.sort(resets // HOUR)
        after_reset = (previous > -(2**61)) & (
            np.searchsorted(reset_hours, hours, "right") > np.searchsorted(reset_hours, previous, "right")
        )
        statuses: list[str] = []
        for i, (reset, judged, running) in enumerate(
            zip(after_reset.tolist(), result.judged.tolist(), result.running.tolist(), strict=True)
        ):
            if reset:
                state.warming = True
            if judged:
                state.warming = False
            statuses.append("judged" if judged else ("warmup" if running and state.warming else "stopped"))
            if judged:
                _episodes(key, state, result, i, limits, self.config, out)
        out.hours(key, result, statuses)
        for episode_type, episode in state.episodes.items():
            out.episode(key, episode_type, episode, None)
        if len(result.hour):
            out.predictions(key, result, limits)
        last = state.model.last_hour * HOUR if state.model.last_hour > -(2**61) else None
        out.state(key, last, cutoff, dump_state(state))


def _limits(context: Context | None) -> Limits:
    default = Limits.defaults()
    if context is None:
        return default
    return Limits(np.array(context.warning), np.array(context.critical), default.side)


def _soonest(result: HealthOutput, i: int) -> tuple[int, float] | None:
    """The metric projected to cross soonest at hour i (critical, else warning) and its hours."""
    best: tuple[int, float] | None = None
    for j in range(len(SENSORS)):
        eta = result.eta_critical[j, i]
        eta = result.eta_warning[j, i] if not math.isfinite(eta) else eta
        if math.isfinite(eta) and (best is None or eta < best[1]):
            best = (j, float(eta))
    return best


def _episodes(
    key: tuple[str, str],
    state: CompressorState,
    result: HealthOutput,
    i: int,
    limits: Limits,
    config: HealthConfig,
    out: _Rows,
) -> None:
    hour = int(result.hour[i])
    health = float(result.health[i])
    anomaly = state.episodes.get("anomaly")
    if result.anomaly[i]:
        if anomaly is None:
            scores = np.nan_to_num(result.score[:, i])
            top = int(np.argmax(np.abs(scores)))
            state.episodes["anomaly"] = Episode(hour, SENSORS[top], health, config.anomaly_health, hour)
        else:
            anomaly.value = min(anomaly.value, health)
            anomaly.last_flagged = hour
    elif anomaly is not None:
        out.episode(key, "anomaly", anomaly, hour)
        del state.episodes["anomaly"]

    prediction = state.episodes.get("prediction")
    soonest = _soonest(result, i) if result.prediction[i] else None
    if soonest is not None:
        j, hours = soonest
        limit = limits.critical[j] if not math.isnan(limits.critical[j]) else limits.warning[j]
        if prediction is None:
            state.episodes["prediction"] = Episode(hour, SENSORS[j], hours, float(limit), hour)
        else:
            prediction.value, prediction.last_flagged, prediction.clear = (
                min(prediction.value, hours),
                hour,
                0,
            )
    elif prediction is not None:
        prediction.clear += 1
        if prediction.clear >= config.clear_hours:
            out.episode(key, "prediction", prediction, prediction.last_flagged + HOUR)
            del state.episodes["prediction"]


def _message(episode_type: str, episode: Episode) -> str:
    threshold = THRESHOLDS_BY_METRIC[episode.sensor]
    if episode_type == "anomaly":
        return (
            f"Health fell to {episode.value:.0f} (below {episode.threshold:g}); "
            f"{threshold.label.lower()} drives it"
        )
    return (
        f"{threshold.label} projected to reach {episode.threshold:g} {threshold.unit} "
        f"in {episode.value:.0f} h"
    )


class _Rows:
    """The step's output rows, column by column (times as epoch microseconds)."""

    def __init__(self) -> None:
        self.columns: dict[str, list[Any]] = {f.name: [] for f in ROWS}

    def _add(self, key: tuple[str, str], kind: str, hour: int | None, **values: Any) -> None:
        row = {"organization": key[0], "compressor_id": key[1], "kind": kind, "hour": _micros(hour), **values}
        for name, column in self.columns.items():
            column.append(row.get(name))

    def hours(self, key: tuple[str, str], result: HealthOutput, statuses: list[str]) -> None:
        """One row per hour the step processed, with its status."""
        n = len(statuses)
        drivers: list[str | None] = [None] * n
        for i in np.flatnonzero(result.judged).tolist():
            named = [(SENSORS[j], float(result.score[j, i])) for j in np.flatnonzero(result.drivers[:, i])]
            named.sort(key=lambda d: -abs(d[1]))
            drivers[i] = json.dumps([{"sensor": s, "score": round(v, 3)} for s, v in named])
        given = {
            "organization": [key[0]] * n,
            "compressor_id": [key[1]] * n,
            "kind": ["hour"] * n,
            "hour": (result.hour * 1_000_000).tolist(),
            "health_index": [None if math.isnan(h) else round(h, 3) for h in result.health.tolist()],
            "status": statuses,
            "drivers": drivers,
            "anomaly": result.anomaly.tolist(),
            "prediction": result.prediction.tolist(),
        }
        for name, column in self.columns.items():
            column.extend(given.get(name, [None] * n))

    def predictions(self, key: tuple[str, str], result: HealthOutput, limits: Limits) -> None:
        i = len(result.hour) - 1
        if not result.judged[i]:
            return
        levels = (
            ("warning", limits.warning, result.eta_warning, result.eta_warning_low, result.eta_warning_high),
            (
                "critical",
                limits.critical,
                result.eta_critical,
                result.eta_critical_low,
                result.eta_critical_high,
            ),
        )
        for j, metric in enumerate(SENSORS):
            for level, limit, eta, low, high in levels:
                # no crossing projected (NaN), or none within the prognosis horizon (inf)
                if not math.isfinite(eta[j, i]) or math.isnan(limit[j]):
                    continue
                self._add(
                    key,
                    "prediction",
                    int(result.hour[i]),
                    metric=metric,
                    level=level,
                    threshold_value=float(limit[j]),
                    hours=round(float(eta[j, i]), 3),
                    hours_low=round(float(low[j, i]), 3),
                    hours_high=None if math.isinf(high[j, i]) else round(float(high[j, i]), 3),
                )

    def episode(self, key: tuple[str, str], episode_type: str, episode: Episode, ended: int | None) -> None:
        self._add(
            key,
            "episode",
            episode.started,
            alert_type=episode_type,
            metric=episode.sensor,
            threshold_value=episode.threshold,
            value=round(episode.value, 3),
            last_flagged_at=_micros(episode.last_flagged),
            returned_to_normal_at=_micros(ended),
            is_active=ended is None,
            message=_message(episode_type, episode),
        )

    def state(self, key: tuple[str, str], last: int | None, cutoff: int, blob: bytes) -> None:
        self._add(key, "state", last, fed_until=_micros(cutoff), state=blob)

    def table(self) -> pa.Table:
        return python_table(self.columns, ROWS)


def _micros(epoch: int | None) -> int | None:
    return None if epoch is None else epoch * 1_000_000


# --- the stage ------------------------------------------------------------------------------------


def contexts(
    local: DuckDBEngine,
    maintenance: list[Path] | None,
    states: dict[tuple[str, str], bytes] | None = None,
) -> dict[tuple[str, str], Context]:
    """Each compressor's limits (the pass's compressor_thresholds), maintenance events and state."""
    rows = local.rows(
        "SELECT organization, compressor_id, metric, warning, critical FROM compressor_thresholds"
    )
    limits: dict[tuple[str, str], dict[str, tuple[float, float]]] = {}
    for organization, compressor, metric, warning, critical in rows:
        limits.setdefault((str(organization), str(compressor)), {})[str(metric)] = (
            float(warning),
            math.nan if critical is None else float(critical),
        )
    resets: dict[tuple[str, str], list[int]] = {}
    if maintenance:
        for organization, compressor, epoch in local.rows(
            f"SELECT organization, compressor_id, EPOCH(performed_at) FROM {read_parquet(maintenance)} "
            "WHERE organization IN (SELECT organization FROM run_organizations) "
            f"AND event_type IN ({', '.join(repr(t) for t in RESET_EVENT_TYPES)}) ORDER BY 1, 2, 3"
        ):
            resets.setdefault((str(organization), str(compressor)), []).append(int(epoch))
    states = states or {}
    found: dict[tuple[str, str], Context] = {}
    for key, by_metric in limits.items():
        found[key] = Context(
            tuple(by_metric[s][0] for s in SENSORS),
            tuple(by_metric[s][1] for s in SENSORS),
            tuple(resets.get(key, ())),
            states.get(key),
        )
    return found


def run_health(engine: TransformEngine, step: HealthStep, silver: str, output: Path) -> list[Path]:
    """The step over the silver readings `silver` selects (DuckDB dialect), into `output` as Parquet."""
    engine.bind_sql("health_silver", silver)
    engine.bind_sql("health_input", load_sql("health_input"))
    engine.map_compressors("health_step", "health_input", step)
    engine.run("health_rows", output)
    return sorted(output.rglob("*.parquet"))


def split(local: DuckDBEngine, rows: list[Path], staged: dict[str, Path], kept: dict[str, str]) -> None:
    """The step's rows into the four tables' staged directories; `kept[table]` (SQL) adds rows kept
    from the current version."""
    source = read_parquet(rows)
    selects = {
        HEALTH: (
            "organization, compressor_id, hour, health_index, status, drivers, anomaly, prediction",
            "hour",
        ),
        PREDICTIONS: (
            "organization, compressor_id, metric, level, threshold_value, hours, hours_low, hours_high, "
            "hour + to_seconds(hours * 3600) AS projected_at, hour AS computed_at",
            None,
        ),
        EPISODES: (
            "organization, compressor_id, alert_type, hour AS started_at, metric AS sensor, "
            "threshold_value, value, last_flagged_at, returned_to_normal_at, is_active, message",
            None,
        ),
        HEALTH_STATE: ("organization, compressor_id, hour AS last_hour, fed_until, state", None),
    }
    kinds = {HEALTH: "hour", PREDICTIONS: "prediction", EPISODES: "episode", HEALTH_STATE: "state"}
    for table, (columns, partition_by) in selects.items():
        sql = f"SELECT {columns} FROM {source} WHERE kind = '{kinds[table]}'"
        if table in kept:
            sql = f"{sql} UNION ALL BY NAME {kept[table]}"
        copy_parquet(local.con, sql, staged[table], partition_by)


_IN_RUN = "organization IN (SELECT organization FROM run_organizations)"


class HealthStage:
    """The health stage of one pass: `full` (every compressor of the pass, or those `only` names, from
    all of their silver) and `incremental` (the compressors with new readings, from their state)."""

    def __init__(
        self,
        engine: TransformEngine,
        local: DuckDBEngine,
        tables: Tables,
        version: str,
        config: HealthConfig,
        chunk_rows: int,
    ) -> None:
        self.chunk_rows = chunk_rows
        self.engine = engine
        self.local = local
        self.tables = tables
        self.version = version
        self.config = config
        self.lake = tables.lake

    def _maintenance(self) -> list[Path] | None:
        if not self.lake.has_table("reference/maintenance", self.tables.manifest):
            return None
        return self.tables.files("reference/maintenance")

    def full(self, only: str | None = None) -> None:
        """From all silver; `only` (SQL over `local`, organization and compressor_id): just those
        compressors, every other one's rows kept as they are."""
        step = HealthStep(contexts(self.local, self._maintenance()), self.config)
        silver = self.tables.files("silver/readings")
        output = self.local.scratch("health_rows")
        self.engine.bind_sql("health_start", _NO_START)
        if only is not None:
            picked = self.local.rows(f"SELECT organization, compressor_id FROM ({only}) AS o")
            self.local.bind_rows("health_fresh", [{"organization": o, "compressor_id": c} for o, c in picked])
            source = (
                f"SELECT s.* FROM {read_parquet(silver)} AS s JOIN health_fresh AS f "
                "ON f.organization = s.organization AND f.compressor_id = s.compressor_id"
            )
            rows = run_health(self.engine, step, source, output)
            self._stage(rows, fresh="SELECT organization, compressor_id FROM health_fresh")
            return
        if isinstance(self.engine, DuckDBEngine):
            starts = fleet_chunks(self.engine, silver, self.chunk_rows)
            rows = []
            for chunk in range(len(starts) + 1):
                part = output / str(chunk)
                part.mkdir(parents=True, exist_ok=True)
                source = f"SELECT * FROM ({chunk_of(silver, starts, chunk)}) AS c WHERE {_IN_RUN}"
                rows += run_health(self.engine, step, source, part)
        else:
            self.engine.bind_parquet("health_silver_files", silver)
            rows = run_health(self.engine, step, "SELECT * FROM health_silver_files", output)
        self._stage(rows, fresh=None)

    def incremental(self, changed: str) -> None:
        """The compressors `changed` names (SQL over `local`: those with new good readings) continue
        from their state; one whose processed hours gained a reading (late) starts afresh."""
        if not self.lake.has_table(HEALTH_STATE, self.tables.manifest):
            self.full(only=changed)  # the first run since the health stage existed
            return
        self.local.bind_parquet("health_old_state", self.lake.table_files(HEALTH_STATE, self.tables.manifest))
        silver = self.tables.files("silver/readings")
        recent = self.local.rows(
            "SELECT MIN(fed_until) FROM health_old_state AS s "
            f"JOIN ({changed}) AS c ON c.organization = s.organization AND c.compressor_id = s.compressor_id"
        )[0][0]
        counts = {}
        if isinstance(recent, datetime):
            window = files_from(silver, recent - timedelta(hours=LATE_WINDOW_HOURS))
            counts = {
                (str(o), str(c)): int(n)
                for o, c, n in self.local.rows(_count_sql(window, "health_old_state"))
            }
        states: dict[tuple[str, str], bytes] = {}
        starts: list[dict[str, Any]] = []
        fresh: list[dict[str, Any]] = []
        for organization, compressor, blob, last_hour, recent_count in self.local.rows(
            "SELECT s.organization, s.compressor_id, s.state, s.last_hour, s.recent_count "
            f"FROM health_old_state AS s JOIN ({changed}) AS c "
            "ON c.organization = s.organization AND c.compressor_id = s.compressor_id"
        ):
            key = {"organization": str(organization), "compressor_id": str(compressor)}
            if counts.get((key["organization"], key["compressor_id"]), 0) != recent_count:
                fresh.append(key)  # a reading arrived late into its processed hours
                continue
            states[(key["organization"], key["compressor_id"])] = bytes(blob)
            if last_hour is not None:
                starts.append({**key, "start_at": last_hour + timedelta(hours=1)})
        step = HealthStep(contexts(self.local, self._maintenance(), states), self.config)
        if starts:
            self.local.bind_rows(
                "health_start_rows", [{**s, "start_at": s["start_at"].isoformat()} for s in starts]
            )
            self.local.bind_sql(
                "health_start",
                "SELECT organization, compressor_id, CAST(start_at AS TIMESTAMPTZ) AS start_at "
                "FROM health_start_rows",
            )
        else:
            self.local.bind_sql("health_start", _NO_START)
        if fresh:
            self.local.bind_rows("health_fresh", fresh)
        else:
            self.local.bind_sql("health_fresh", _NO_COMPRESSORS)
        changed_count = self.local.rows(f"SELECT COUNT(*) FROM ({changed}) AS c")[0][0]
        # every compressor continuing from a known hour: only the files from the earliest of those
        bounded = starts and len(starts) == changed_count
        reaching = files_from(silver, min(s["start_at"] for s in starts)) if bounded else silver
        source = (
            f"SELECT s.* FROM {read_parquet(reaching)} AS s JOIN ({changed}) AS c "
            "ON c.organization = s.organization AND c.compressor_id = s.compressor_id"
        )
        rows = run_health(self.local, step, source, self.local.scratch("health_rows"))
        self._stage(rows, fresh="SELECT organization, compressor_id FROM health_fresh", incremental=True)

    def _stage(self, rows: list[Path], fresh: str | None, incremental: bool = False) -> None:
        """The step's rows into the next versions of the four tables. Full pass (`fresh` None): its
        rows only (the other organizations' are added by Tables.keep_others). Otherwise the current
        rows are kept, except those the step replaces: a fresh compressor's rows, a processed one's
        state, the predictions of one that judged a new hour (as of its newest hour: one whose new
        readings made no hour final keeps those of the hour it processed last, as a full run would
        compute them), an episode the step wrote again."""
        local = self.local
        local.bind_parquet("health_new", rows)
        local.bind_sql(
            "health_processed",
            "SELECT DISTINCT organization, compressor_id FROM health_new WHERE kind = 'state'",
        )
        staged = {t: self._staged(t) for t in HEALTH_TABLES}
        kept: dict[str, str] = {}
        if fresh is not None:
            not_fresh = f"(organization, compressor_id) NOT IN ({fresh})"
            not_processed = "(organization, compressor_id) NOT IN (SELECT * FROM health_processed)"
            no_new_hour = (
                "(organization, compressor_id) NOT IN "
                "(SELECT DISTINCT organization, compressor_id FROM health_new WHERE kind = 'hour')"
            )
            for table in HEALTH_TABLES:
                if not self.lake.has_table(table, self.tables.manifest):
                    continue
                old = self.lake.table_files(table, self.tables.manifest)
                if table == HEALTH:
                    kept_files, old = self._kept_days(old, fresh, incremental)
                    self.tables.staged[table].kept = kept_files
                    if not old:
                        continue
                where = {
                    HEALTH: not_fresh,
                    PREDICTIONS: f"{not_fresh} AND {no_new_hour}",
                    HEALTH_STATE: not_processed,
                    EPISODES: f"{not_fresh} AND {REWRITTEN_EPISODES}",
                }[table]
                columns = STATE_COLUMNS if table == HEALTH_STATE else "*"
                kept[table] = f"SELECT {columns} FROM {read_parquet(old)} WHERE {where}"
            self.tables.complete.update(HEALTH_TABLES)
        split(local, rows, staged, kept)
        self._recent_counts(staged[HEALTH_STATE])

    def _staged(self, table: str) -> Path:
        self.tables.staged[table] = self.lake.stage(table, self.version)
        return self.tables.staged[table].directory

    def _kept_days(self, old: list[Path], fresh: str, incremental: bool) -> tuple[list[Path], list[Path]]:
        """Of the hourly table's files: those kept as they are, and those rewritten (without the fresh
        compressors' rows, with the new rows of their days)."""
        if not incremental or self.local.rows(f"SELECT COUNT(*) FROM ({fresh}) AS f")[0][0]:
            return [], old
        first = self.local.rows("SELECT MIN(hour) FROM health_new WHERE kind = 'hour'")[0][0]
        if not isinstance(first, datetime):
            return old, []
        rewritten = set(files_from(old, first))
        return [f for f in old if f not in rewritten], sorted(rewritten)

    def _recent_counts(self, directory: Path) -> None:
        """Each state row with its compressor's count of silver readings in the late window before
        `fed_until` (how the next run tells a late reading)."""
        files = sorted(directory.rglob("*.parquet"))
        self.local.bind_parquet("health_written_state", files)
        silver = self.tables.files("silver/readings")
        recent = self.local.rows("SELECT MIN(fed_until) FROM health_written_state")[0][0]
        window = (
            silver
            if not isinstance(recent, datetime)
            else files_from(silver, recent - timedelta(hours=LATE_WINDOW_HOURS))
        )
        counted = self.local.scratch("health_state_counted") / "state.parquet"
        self.local.con.execute(
            f"COPY (SELECT s.*, COALESCE(n.readings, 0) AS recent_count "
            f"FROM {read_parquet(files)} AS s "
            f"LEFT JOIN ({_count_sql(window, 'health_written_state', named='readings')}) AS n "
            "ON n.organization = s.organization AND n.compressor_id = s.compressor_id) "
            f"TO '{counted}' (FORMAT parquet)"
        )
        for f in files:
            f.unlink()
        counted.rename(directory / "part-0.parquet")


REWRITTEN_EPISODES = (
    "(organization, compressor_id, alert_type, started_at) NOT IN "
    "(SELECT organization, compressor_id, alert_type, hour FROM health_new WHERE kind = 'episode')"
)
STATE_COLUMNS = "organization, compressor_id, last_hour, fed_until, state"
_NO_START = (
    "SELECT CAST(NULL AS VARCHAR) AS organization, CAST(NULL AS VARCHAR) AS compressor_id, "
    "CAST(NULL AS TIMESTAMPTZ) AS start_at WHERE FALSE"
)
_NO_COMPRESSORS = (
    "SELECT CAST(NULL AS VARCHAR) AS organization, CAST(NULL AS VARCHAR) AS compressor_id WHERE FALSE"
)


def _count_sql(silver: list[Path], states: str, named: str = "n") -> str:
    return (
        f"SELECT s.organization, s.compressor_id, COUNT(*) AS {named} FROM {read_parquet(silver)} AS s "
        f"JOIN {states} AS st ON st.organization = s.organization AND st.compressor_id = s.compressor_id "
        f"WHERE s.timestamp >= st.fed_until - INTERVAL {LATE_WINDOW_HOURS} HOUR "
        "AND s.timestamp < st.fed_until "
        "GROUP BY 1, 2"
    )
