"""`altaviz pipeline watch` (issue 16 item 6): passes when data waits, the lag per organization, one
watcher at a time, surviving a failing organization and a database outage, and killed mid-pass
(SIGKILL) leaving every organization consistent for the next pass to complete."""

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import REGISTRY

from altaviz.config import Settings
from altaviz.pipeline.lake import Lake
from altaviz.pipeline.watch import Watcher, waiting_data
from altaviz.simulator import SimulationConfig, simulate
from tests.pipeline.helpers import assert_equals_a_full_recomputation, settings_for

START = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)


def _land(data_dir: Path, slug: str, compressors: int = 2, days: float = 1, seed: int = 1) -> Path:
    landing = data_dir / "landing" / slug
    simulate(SimulationConfig(compressors=compressors, days=days, start=START, seed=seed), landing)
    return landing


def _settings(data_dir: Path, database_url: str | None = None) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        pipeline_threads=2,
        pipeline_watch_seconds=1,
        pipeline_watch_metrics_port=0,
    )


def _metric(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_a_tick_runs_when_data_waits_and_reports_the_lag(tmp_path: Path) -> None:
    _land(tmp_path, "north")
    _land(tmp_path, "south", seed=2)
    settings = _settings(tmp_path)
    assert set(waiting_data(settings)) == {"north", "south"}
    watcher = Watcher(settings, skip_db=True)
    assert watcher.tick() == "ran"
    assert waiting_data(settings) == {}
    assert _metric("altaviz_pipeline_waiting_seconds", organization="north") == 0
    assert watcher.tick() == "idle"

    time.sleep(0.01)
    _land(tmp_path, "south", seed=3, days=0.2)  # a new file (the simulator rewrites the landing zone)
    waiting = waiting_data(settings)
    assert set(waiting) == {"south"} and waiting["south"].files >= 1
    watcher._measure()
    lag = _metric("altaviz_pipeline_waiting_seconds", organization="south")
    assert lag is not None and lag >= 0
    assert _metric("altaviz_pipeline_waiting_files", organization="south") == waiting["south"].files


def test_passes_start_at_most_every_interval_and_at_once_after_a_longer_one(tmp_path: Path) -> None:
    _land(tmp_path, "north", days=0.5)
    settings = _settings(tmp_path).model_copy(update={"pipeline_watch_seconds": 30.0})
    now = [1000.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    # a pass taking no time: the next look a whole interval after its start; idle: a look a second later
    watcher = Watcher(settings, skip_db=True, sleep=sleep, clock=lambda: now[0])
    watcher.run(ticks=3)
    assert waits == [30.0, 1.0]

    class Slow(Watcher):
        """Each pass takes 45 s, and new data lands during the first."""

        passes = 0

        def _run(self) -> str:
            outcome = super()._run()
            now[0] += 45.0
            Slow.passes += 1
            if Slow.passes == 1:
                _land(tmp_path, "north", days=0.7)  # the simulator rewrites the landing zone
            return outcome

    waits.clear()
    _land(tmp_path, "north", days=0.6)
    # data waits after a pass longer than the interval: the next starts at once; then idle
    Slow(settings, skip_db=True, sleep=sleep, clock=lambda: now[0]).run(ticks=3)
    assert Slow.passes == 2 and waits == []


def test_a_failing_organization_is_counted_and_the_others_flow(tmp_path: Path) -> None:
    _land(tmp_path, "north")
    south = _land(tmp_path, "south", seed=2)
    (south / "fleet" / "compressors.parquet").write_bytes(b"")  # a bad fleet file stops its organization
    before = _metric("altaviz_pipeline_organization_failures_total", organization="south") or 0
    watcher = Watcher(_settings(tmp_path), skip_db=True)
    assert watcher.tick() == "partial"
    assert _metric("altaviz_pipeline_organization_failures_total", organization="south") == before + 1
    waiting = waiting_data(_settings(tmp_path))
    assert set(waiting) == {"south"}, "north was processed; south's files wait, its lag keeps growing"


def test_a_database_outage_is_retried_with_back_off(tmp_path: Path) -> None:
    _land(tmp_path, "north")
    waits: list[float] = []
    unreachable = "postgresql+psycopg://nobody@127.0.0.1:9/nowhere?connect_timeout=1"
    watcher = Watcher(_settings(tmp_path, unreachable), sleep=waits.append)
    watcher.run(ticks=3)  # never raises
    assert waits == [1.0, 2.0, 4.0]
    assert (_metric("altaviz_pipeline_watch_ticks_total", outcome="error") or 0) >= 3


def test_one_watcher_at_a_time(tmp_path: Path, sqlite_url: str) -> None:
    _land(tmp_path, "altaviz-demo")
    first = Watcher(_settings(tmp_path, sqlite_url))
    second = Watcher(_settings(tmp_path, sqlite_url))
    try:
        assert first.tick() == "ran"
        assert second.tick() == "standby"
    finally:
        first.close()
    assert second.tick() == "idle"  # released: the other one takes over
    second.close()


def _watch(data_dir: Path, ticks: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ALTAVIZ_DATA_DIR": str(data_dir),
        "PIPELINE_WATCH_SECONDS": "1",
        "PIPELINE_WATCH_METRICS_PORT": "0",
        "PIPELINE_THREADS": "2",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "altaviz", "pipeline", "watch", "--skip-db", "--ticks", str(ticks)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_a_watcher_killed_mid_pass_leaves_every_organization_consistent(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    for n, slug in enumerate(("north", "south")):
        _land(data_dir, slug, compressors=8, days=4, seed=n + 1)
    lake = Lake(data_dir / "lake")
    watcher = _watch(data_dir, ticks=1)
    deadline = time.monotonic() + 120
    scratch = data_dir / "lake" / ".scratch"
    # kill mid-pass: once the pass's first step has written its output into the scratch directory (the
    # lake's commit comes only after every step of the pass), whatever the machine's speed
    while time.monotonic() < deadline and not (scratch.exists() and any(scratch.rglob("*.parquet"))):
        time.sleep(0.005)
    watcher.send_signal(signal.SIGKILL)
    watcher.wait(timeout=30)
    assert watcher.returncode == -signal.SIGKILL

    assert waiting_data(settings_for(data_dir)), "killed before the pass finished"
    # whatever the lake holds now is a committed state: every table's files exist
    manifest = lake.read_manifest()
    for table in manifest.tables:
        lake.table_files(table, manifest)

    again = _watch(data_dir, ticks=1)
    assert again.wait(timeout=300) == 0
    assert waiting_data(settings_for(data_dir)) == {}
    assert set(lake.read_manifest().organizations) >= {"north", "south"}
    assert_equals_a_full_recomputation(data_dir, tmp_path / "full")


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _scrape(port: int, **headers: str) -> tuple[int, str]:
    import httpx

    response = httpx.get(f"http://127.0.0.1:{port}/metrics", headers=headers, timeout=10)
    return response.status_code, response.text


def test_the_watchers_metrics_are_guarded_as_the_services(tmp_path: Path) -> None:
    from altaviz.pipeline.watch import serve_metrics

    port = _free_port()
    server = serve_metrics(
        Settings(data_dir=tmp_path, server_host="127.0.0.1", pipeline_watch_metrics_port=port)
    )
    assert server is not None
    try:
        status, text = _scrape(port)
        assert status == 200 and "altaviz_pipeline_watch_ticks_total" in text  # loopback: the default
        # behind a proxy we cannot see through (TRUSTED_PROXIES unset) the caller may be anyone
        for header in ("X-Forwarded-For", "X-Real-IP", "Forwarded"):
            status, text = _scrape(port, **{header: "203.0.113.9"})
            assert status == 403 and "metrics token" in text, header
    finally:
        server.should_exit = True

    port = _free_port()
    server = serve_metrics(
        Settings(
            data_dir=tmp_path,
            server_host="127.0.0.1",
            pipeline_watch_metrics_port=port,
            metrics_allow="none",
            metrics_token="s3cret-scrape-token",
        )
    )
    assert server is not None
    try:
        assert _scrape(port)[0] == 401  # token only: loopback is not enough
        assert _scrape(port, Authorization="Bearer wrong")[0] == 401
        status, text = _scrape(
            port, Authorization="Bearer s3cret-scrape-token", **{"X-Forwarded-For": "1.2.3.4"}
        )
        assert status == 200 and "altaviz_pipeline_watch_ticks_total" in text
    finally:
        server.should_exit = True


def test_the_watchers_metrics_port_in_use_is_named(tmp_path: Path) -> None:
    import socket

    import pytest

    from altaviz.ops.ports import PortUnavailable
    from altaviz.pipeline.watch import serve_metrics

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        with pytest.raises(PortUnavailable, match=f"port {port} .* PIPELINE_WATCH_METRICS_PORT"):
            serve_metrics(
                Settings(data_dir=tmp_path, server_host="127.0.0.1", pipeline_watch_metrics_port=port)
            )
