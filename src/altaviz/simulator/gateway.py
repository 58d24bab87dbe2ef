"""A field gateway: a simulated fleet sent through POST /api/ingest/readings, as a gateway at a
compressor station would send it.

The history (the last `days` of readings, ending now) goes in batches of `batch_rows` readings,
gzip-compressed, each with an Idempotency-Key of its own; with `follow` the gateway then sends every
new reading slot as it happens. A batch that meets 429 or 5xx (or no answer at all) is sent again,
same key and same body, after the server's Retry-After or an exponential back-off with jitter. A
small state file (written atomically after every answered batch) lets a stopped gateway resume where
it stopped: the same series, the same batches, the same keys, so a batch the server had stored before
the stop is answered from its idempotency record and stored once.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from altaviz.ingest.client import INGEST_PATH, MAX_BACKOFF_SECONDS, RETRY_STATUSES, gzip_body
from altaviz.ingest.client import json_object as _json
from altaviz.ingest.client import retry_after as _retry_after
from altaviz.simulator.config import SimulationConfig
from altaviz.simulator.fleet import build_fleet
from altaviz.simulator.readings import Rows, generate_chunk
from altaviz.simulator.stream import OPEN_ENDED
from altaviz.simulator.timeline import Timeline
from altaviz.simulator.writer import readings_table

FORMATS = ("ndjson", "json", "csv", "parquet")
CONTENT_TYPES = {
    "ndjson": "application/x-ndjson",
    "json": "application/json",
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
}
REGISTRY_COLUMNS = (
    "compressor_id",
    "station_id",
    "station_name",
    "latitude",
    "longitude",
    "basin",
    "manufacturer",
    "model",
    "rated_hp",
    "install_date",
    "notes",
)


class GatewayError(RuntimeError):
    """The server refused in a way a retry cannot fix (credentials, limits, a reused key)."""


@dataclass(frozen=True)
class GatewayConfig:
    url: str
    compressors: int = 10
    days: float = 1.0
    interval_minutes: int = 10
    seed: int = 42
    batch_rows: int = 10_000
    format: str = "ndjson"
    gzip: bool = True

    def same_series(self, other: dict[str, Any]) -> bool:
        return all(other.get(k) == v for k, v in asdict(self).items())


@dataclass
class GatewayState:
    """What was sent: kept in a JSON file so a stopped gateway resumes where it stopped."""

    config: dict[str, Any]
    run_id: str
    start: str  # first reading time of the series (ISO)
    next_batch: int = 0
    next_slot: int | None = None  # follow mode: the next reading slot to send
    accepted: int = 0
    refused: int = 0

    @classmethod
    def load(cls, path: Path) -> GatewayState | None:
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text()))

    def save(self, path: Path) -> None:
        staging = path.with_name(f".{path.name}.tmp")
        with open(staging, "w") as handle:
            json.dump(asdict(self), handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(staging, path)


@dataclass(frozen=True)
class Sent:
    label: str
    rows: int
    status: int
    accepted: int
    refused: int
    attempts: int
    replayed: bool
    first_reason: str | None


@dataclass(frozen=True)
class Pacing:
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], datetime] = lambda: datetime.now(UTC)


def encode(table: pa.Table, fmt: str, compress: bool) -> tuple[bytes, dict[str, str]]:
    """The batch as a request body and its headers (RFC 3339 UTC timestamps in the text formats)."""
    headers = {"Content-Type": CONTENT_TYPES[fmt]}
    if fmt == "parquet":
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="zstd")
        return sink.getvalue(), headers  # already compressed: no gzip on top
    stamps = pc.strftime(table.column("timestamp"), format="%Y-%m-%dT%H:%M:%SZ")
    table = table.set_column(table.schema.get_field_index("timestamp"), "timestamp", stamps)
    if fmt == "csv":
        sink = io.BytesIO()
        pacsv.write_csv(table, sink)
        body = sink.getvalue()
    else:
        rows = table.to_pylist()
        if fmt == "json":
            body = json.dumps(rows, separators=(",", ":")).encode()
        else:
            body = b"".join(json.dumps(row, separators=(",", ":")).encode() + b"\n" for row in rows)
    return (gzip_body(body, headers) if compress else body), headers


class Gateway:
    def __init__(
        self,
        config: GatewayConfig,
        api_key: str,
        state_path: Path,
        *,
        client: httpx.Client | None = None,
        max_attempts: int = 10,
        pacing: Pacing = Pacing(),
        report: Callable[[Sent], None] = lambda sent: None,
    ) -> None:
        if not 1 <= config.batch_rows <= 100_000:
            raise ValueError("batch_rows must be between 1 and 100,000 (the API's limit per request)")
        if config.format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}")
        self.config = config
        self.state_path = state_path
        self.client = client or httpx.Client(timeout=60.0)
        self.headers = {"x-api-key": api_key}
        self.max_attempts = max_attempts
        self.pacing = pacing
        self.report = report
        self.state = self._state()
        simulation = SimulationConfig(
            compressors=config.compressors, days=config.days, interval_minutes=config.interval_minutes
        )
        start = datetime.fromisoformat(self.state.start)
        full = Timeline(start, config.interval_minutes, simulation.readings_per_compressor)
        self.history_readings = full.readings
        self.fleet = build_fleet(config.seed, config.compressors, full)
        self.timeline = Timeline(full.start, config.interval_minutes, OPEN_ENDED)
        self.ids = pa.array(self.fleet.ids, type=pa.string())

    def _state(self) -> GatewayState:
        state = GatewayState.load(self.state_path)
        if state is not None:
            if not self.config.same_series(state.config):
                raise GatewayError(
                    f"{self.state_path} belongs to another series ({state.config}); name another --state "
                    "file to start a new one, or delete it"
                )
            return state
        simulation = SimulationConfig(
            compressors=self.config.compressors,
            days=self.config.days,
            interval_minutes=self.config.interval_minutes,
            seed=self.config.seed,
        )
        start = simulation.resolve_start(self.pacing.now())
        state = GatewayState(
            config=asdict(self.config), run_id=uuid.uuid4().hex[:12], start=start.isoformat()
        )
        state.save(self.state_path)
        return state

    # --- the series ------------------------------------------------------------------------------------

    def _table(self, rows: Rows) -> pa.Table:
        table = readings_table(rows, self.ids, self.timeline)
        order = pc.sort_indices(table, [("timestamp", "ascending"), ("compressor_id", "ascending")])
        return table.take(order)

    def history_batches(self) -> Iterator[tuple[int, pa.Table]]:
        """(index, batch) over the history in time order, every batch `batch_rows` long but the last."""
        size = self.config.batch_rows
        pending: list[pa.Table] = []
        held = 0
        index = 0
        last_chunk = (self.history_readings - 1) * self.config.interval_minutes // 1440
        for chunk in range(last_chunk + 1):
            rows = generate_chunk(self.fleet, self.timeline, self.config.seed, chunk)
            rows = rows.take(rows.reading < self.history_readings)
            pending.append(self._table(rows))
            held += len(rows)
            while held >= size:
                table = pa.concat_tables(pending)
                yield index, table.slice(0, size)
                index += 1
                rest = table.slice(size)
                pending, held = [rest], rest.num_rows
        if held:
            yield index, pa.concat_tables(pending)

    def slot(self, k: int) -> pa.Table:
        chunk = k * self.config.interval_minutes // 1440
        rows = generate_chunk(self.fleet, self.timeline, self.config.seed, chunk)
        return self._table(rows.take(rows.reading == k))

    def fleet_csv(self) -> bytes:
        """The simulated fleet in the registry's import format (POST /api/fleet/import)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(REGISTRY_COLUMNS)
        for unit in self.fleet.compressors:
            manufacturer, _, model = unit.model.name.partition(" ")
            station = unit.station
            writer.writerow(
                [
                    unit.compressor_id,
                    station.station_id,
                    station.name,
                    station.latitude,
                    station.longitude,
                    station.basin,
                    manufacturer,
                    model or manufacturer,
                    unit.model.rated_hp,
                    unit.install_date.isoformat(),
                    "registered by altaviz gateway",
                ]
            )
        return out.getvalue().encode()

    def register(self) -> dict[str, Any]:
        """Register the simulated fleet (needs an admin key; an ingest key cannot)."""
        url = self.config.url.rstrip("/") + "/api/fleet/import"
        headers = {**self.headers, "Content-Type": "text/csv"}
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self.client.post(url, content=self.fleet_csv(), headers=headers)
            except httpx.TransportError as error:
                problem = f"no answer ({error.__class__.__name__})"
                wait = None
            else:
                if response.status_code == 200:
                    return _json(response)
                problem = (
                    f"HTTP {response.status_code}: {_json(response).get('error') or response.text[:200]}"
                )
                if response.status_code not in RETRY_STATUSES:
                    raise GatewayError(f"registering the fleet failed: {problem}")
                wait = _retry_after(response)
            if attempt == self.max_attempts:
                break
            self.pacing.sleep(wait if wait is not None else min(MAX_BACKOFF_SECONDS, 2.0**attempt))
        raise GatewayError(f"registering the fleet failed after {self.max_attempts} attempts: {problem}")

    # --- sending ---------------------------------------------------------------------------------------

    def send(self, table: pa.Table, key: str, label: str) -> Sent:
        body, headers = encode(table, self.config.format, self.config.gzip)
        headers = {**self.headers, **headers, "Idempotency-Key": key}
        url = self.config.url.rstrip("/") + INGEST_PATH
        attempt = 0
        while True:
            attempt += 1
            wait: float | None = None
            try:
                response = self.client.post(url, content=body, headers=headers)
            except httpx.TransportError as error:
                problem = f"no answer ({error.__class__.__name__})"
            else:
                if response.status_code in (200, 422) and "rows" in _json(response):
                    answer = _json(response)
                    refused_rows = answer.get("refused_rows") or [{}]
                    return Sent(
                        label,
                        table.num_rows,
                        response.status_code,
                        answer["accepted"],
                        answer["refused"],
                        attempt,
                        response.headers.get("idempotent-replayed") == "true",
                        refused_rows[0].get("reason"),
                    )
                code = _json(response).get("code")
                retryable = response.status_code in RETRY_STATUSES or code == "idempotency_key_in_use"
                problem = (
                    f"HTTP {response.status_code}: {_json(response).get('error') or response.text[:200]}"
                )
                if not retryable:
                    raise GatewayError(f"{label} refused, not retried: {problem}")
                wait = _retry_after(response)
            if attempt >= self.max_attempts:
                raise GatewayError(
                    f"{label}: gave up after {attempt} attempts ({problem}); run again to resume"
                )
            if wait is None:
                wait = min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)  # noqa: S311 (jitter)
            self.pacing.sleep(wait)

    def _sent(self, sent: Sent) -> None:
        self.state.accepted += sent.accepted
        self.state.refused += sent.refused
        self.report(sent)

    def run_history(self) -> int:
        """Send the history batches not sent yet; returns how many were sent now."""
        count = 0
        for index, table in self.history_batches():
            if index < self.state.next_batch:
                continue
            sent = self.send(table, f"gw-{self.state.run_id}-b{index}", f"batch {index + 1}")
            self.state.next_batch = index + 1
            self._sent(sent)
            self.state.save(self.state_path)
            count += 1
        return count

    def follow(self, ticks: int | None = None, speedup: float = 1.0) -> int:
        """After the history, send each new reading slot once its time has come; returns slots sent."""
        if self.state.next_slot is None:
            self.state.next_slot = self.history_readings
        pace = timedelta(minutes=self.config.interval_minutes) / speedup
        sent_slots = 0
        next_due = self.pacing.now()
        while ticks is None or sent_slots < ticks:
            k = self.state.next_slot
            at = self.timeline.time_of(k)
            wait = (max(next_due, at) - self.pacing.now()).total_seconds()
            if wait > 0:
                self.pacing.sleep(wait)
            sent = self.send(self.slot(k), f"gw-{self.state.run_id}-s{k}", f"{at:%Y-%m-%d %H:%M} UTC")
            self.state.next_slot = k + 1
            self._sent(sent)
            self.state.save(self.state_path)
            sent_slots += 1
            next_due = self.pacing.now() + pace
        return sent_slots
