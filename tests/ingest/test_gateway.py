"""The field gateway against the real service: batches, gzip, one Idempotency-Key per batch, retries
on 429/5xx honouring Retry-After, and resuming where it stopped without storing anything twice."""

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from altaviz.accounts.roles import Role
from altaviz.monitoring.models import CompressorMetadata
from altaviz.simulator.gateway import Gateway, GatewayConfig, GatewayError, Pacing
from tests.api.world import AUTH_SECRET, SeededOrg, seed_organization
from tests.ingest.conftest import Served, ingest_key_for
from tests.ingest.helpers import landed, landed_rows

COMPRESSORS = 5
DAYS = 0.5  # 72 readings per compressor: 360 in all


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    return sqlite_url  # the gateway does not care about the database: SQLite only


def _register(server: Served, org: SeededOrg) -> None:
    with Session(server.engine) as session, session.begin():
        for n in range(4, COMPRESSORS + 1):
            session.add(
                CompressorMetadata(
                    organization_id=org.id,
                    compressor_id=f"COMP-{n:03d}",
                    station_id="STATION-A",
                    model="Ajax DPC-360",
                    horsepower=1340,
                    install_date=date(2022, 1, 1),
                )
            )


class Flaky(httpx.BaseTransport):
    """Answers the first requests itself (the statuses given), then passes them to the server."""

    def __init__(self, answers: list[httpx.Response | Exception], stop_after: int | None = None) -> None:
        self.answers = answers
        self.real = httpx.HTTPTransport()
        self.passed = 0
        self.stop_after = stop_after
        self.keys: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.keys.append(request.headers["idempotency-key"])
        if self.answers:
            answer = self.answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        if self.stop_after is not None and self.passed >= self.stop_after:
            raise KeyboardInterrupt  # the gateway is stopped mid-run
        self.passed += 1
        return self.real.handle_request(request)


def _gateway(
    server: Served, key: str, state: Path, transport: httpx.BaseTransport, **config: object
) -> Gateway:
    waits: list[float] = []
    gateway = Gateway(
        GatewayConfig(server.url, compressors=COMPRESSORS, days=DAYS, batch_rows=100, **config),  # type: ignore[arg-type]
        key,
        state,
        client=httpx.Client(transport=transport, timeout=60),
        pacing=Pacing(sleep=waits.append),
    )
    gateway.waits = waits  # type: ignore[attr-defined]
    return gateway


def test_the_gateway_sends_retries_and_resumes_without_duplicates(
    serve: Callable[..., Served], tmp_path: Path
) -> None:
    server = serve()
    org = seed_organization(server.engine, "alpha", "Alpha")
    _register(server, org)
    _, key = ingest_key_for(server.engine, org)
    state = tmp_path / "gateway.json"

    # 503 with Retry-After, 429 with Retry-After, a 502 without, a dropped connection: all retried.
    flaky = Flaky(
        [
            httpx.Response(503, headers={"Retry-After": "7"}, json={"error": "busy"}),
            httpx.Response(429, headers={"Retry-After": "3"}, json={"error": "slow down"}),
            httpx.Response(502, json={"error": "bad gateway"}),
            httpx.ConnectError("connection reset"),
        ],
        stop_after=2,
    )
    first = _gateway(server, key, state, flaky)
    with pytest.raises(KeyboardInterrupt):
        first.run_history()
    waits = first.waits  # type: ignore[attr-defined]
    assert waits[:2] == [7.0, 3.0] and len(waits) == 4 and all(0 < w <= 60 for w in waits[2:])
    assert len(set(flaky.keys[:5])) == 1  # every retry of the first batch carried its key
    assert first.state.next_batch == 2
    assert len(landed(server.data_dir, org.slug)) == 2

    # The server stored batch 3 but the gateway died before noting it: resuming re-sends it under the
    # same key, and the service answers from its idempotency record instead of storing it again.
    resumed_transport = Flaky([])
    resumed = _gateway(server, key, state, resumed_transport)
    third = next(table for index, table in resumed.history_batches() if index == 2)
    resumed.send(third, f"gw-{resumed.state.run_id}-b2", "batch 3 (before the crash)")
    assert resumed.run_history() == 2  # batches 3 and 4 of 4
    assert len(landed(server.data_dir, org.slug)) == 4
    rows = landed_rows(server.data_dir, org.slug)
    assert len(rows) == COMPRESSORS * 72 == len({(r["compressor_id"], r["timestamp"]) for r in rows})
    assert resumed.state.accepted == 360 and resumed.state.refused == 0

    # Following: each new slot goes as it comes.
    assert resumed.follow(ticks=1, speedup=1000) == 1
    assert len(landed_rows(server.data_dir, org.slug)) == 360 + COMPRESSORS


def test_a_refusal_a_retry_cannot_fix_stops_the_gateway(serve: Callable[..., Served], tmp_path: Path) -> None:
    server = serve()
    seed_organization(server.engine, "alpha", "Alpha")
    gateway = _gateway(server, "avz_" + "x" * 43, tmp_path / "state.json", httpx.HTTPTransport())
    with pytest.raises(GatewayError, match="HTTP 401"):
        gateway.run_history()
    with pytest.raises(GatewayError, match="another series"):
        _gateway(server, "k", tmp_path / "state.json", httpx.HTTPTransport(), seed=7)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_altaviz_gateway_command(serve: Callable[..., Served], tmp_path: Path, fmt: str) -> None:
    server = serve()
    org = seed_organization(server.engine, "alpha", "Alpha")
    register = fmt == "csv"  # an admin key registers the simulated fleet itself, then sends
    if register:
        key = org.api_keys[Role.ADMIN]
    else:
        _register(server, org)
        _, key = ingest_key_for(server.engine, org)
    command = [
        sys.executable, "-m", "altaviz", "gateway", server.url, "--api-key", key,
        "--compressors", str(COMPRESSORS), "--days", str(DAYS), "--batch-rows", "150", "--format", fmt,
        "--state", str(tmp_path / "gw.json"), *(["--register"] if register else []),
    ]  # fmt: skip
    env = {**os.environ, "ALTAVIZ_ENV": "test", "AUTH_SECRET": AUTH_SECRET, "ALTAVIZ_DATA_DIR": str(tmp_path)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "batch 3: 60 readings, accepted 60" in done.stdout
    if register:
        assert "fleet registered: 5 rows accepted, 0 refused" in done.stdout
        with Session(server.engine) as session:
            registered = session.scalars(
                select(CompressorMetadata.compressor_id).where(CompressorMetadata.organization_id == org.id)
            ).all()
        assert {f"COMP-{n:03d}" for n in range(1, COMPRESSORS + 1)} <= set(registered)
    assert len(landed_rows(server.data_dir, org.slug)) == 360
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert "history sent (0 batches now; 360 accepted" in again.stdout
    assert len(landed_rows(server.data_dir, org.slug)) == 360


@pytest.mark.parametrize("fmt", ["ndjson", "json", "csv", "parquet"])
def test_a_batch_built_again_later_is_the_same_bytes(monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    """The service compares a retry's body with the first one's: a batch rebuilt when the gateway
    resumes (an hour later, gzip's header holding no time) must not read as another body under the
    same key."""
    import time

    import pyarrow as pa

    from altaviz.ingest.client import ndjson_body
    from altaviz.simulator.gateway import encode

    rows = [{"compressor_id": "COMP-001", "timestamp": "2026-12-06T08:00:00Z", "vibration_mms": 2.5}]
    table = pa.table(
        {
            "compressor_id": ["COMP-001"],
            "timestamp": pa.array([1_796_544_000_000_000], pa.timestamp("us", "UTC")),
        }
    )
    first = (ndjson_body(rows)[0], encode(table, fmt, True)[0])
    later = time.time() + 3600
    monkeypatch.setattr(time, "time", lambda: later)
    assert (ndjson_body(rows)[0], encode(table, fmt, True)[0]) == first
