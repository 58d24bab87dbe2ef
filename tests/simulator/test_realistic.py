"""The realistic scenario (SPEC §9): failure modes and their signatures, healthy behaviour, the truth
file, determinism — and that nothing downstream reads the truth."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from altaviz.fleet import SENSOR_NAMES
from altaviz.simulator import SimulationConfig, SimulationResult, simulate
from altaviz.simulator import realistic as r
from altaviz.simulator.fleet import build_fleet
from altaviz.simulator.timeline import Timeline

START = datetime(2026, 1, 1, tzinfo=UTC)
SEED = 3


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SimulationResult]:
    root = tmp_path_factory.mktemp("realistic")
    config = SimulationConfig(compressors=60, days=30, start=START, seed=SEED, scenario="realistic")
    return root, simulate(config, root / "landing", truth_dir=root / "truth")


def readings(landing: Path) -> pa.Table:
    return pa.concat_tables(pq.read_table(f) for f in sorted((landing / "readings").glob("*.parquet")))


def test_unknown_scenario_refused() -> None:
    with pytest.raises(ValueError, match="unknown scenario"):
        SimulationConfig(scenario="chaos")


def test_truth_file_lists_failures_within_each_modes_range(run: tuple[Path, SimulationResult]) -> None:
    root, result = run
    truth = pq.read_table(root / "truth" / "failures.parquet")
    assert result.truth_file == root / "truth" / "failures.parquet"
    assert truth.equals(result.truth)
    assert truth.column_names == ["compressor_id", "mode", "onset_at", "failure_at"]
    rows = truth.to_pylist()
    # 60 compressors × 1 month at 5 failures per 100 compressor-months: a handful, not none.
    assert 1 <= len(rows) <= 10
    for row in rows:
        (low, high), _ = r.MODES[row["mode"]]
        days = (row["failure_at"] - row["onset_at"]).total_seconds() / 86_400
        assert low - 1e-3 <= days <= high + 1e-3
        assert START <= row["onset_at"] < START + timedelta(days=30)
    assert not list((root / "landing").rglob("failures*"))  # never in the landing zone


def test_failures_logged_as_maintenance_events_at_failure(run: tuple[Path, SimulationResult]) -> None:
    root, result = run
    assert result.truth is not None
    end = START + timedelta(days=30)
    failed = sorted(
        (row["compressor_id"], row["failure_at"])
        for row in result.truth.to_pylist()
        if row["failure_at"] < end
    )
    events = pq.read_table(root / "landing" / "maintenance" / "maintenance.parquet").to_pylist()
    logged = sorted((e["compressor_id"], e["performed_at"]) for e in events if e["event_type"] == "failure")
    assert logged == failed
    assert result.failing == {}  # the default scenario's two degrading units are not in this one


def test_same_seed_same_data_other_seed_other_data(
    tmp_path: Path, run: tuple[Path, SimulationResult]
) -> None:
    root, result = run
    config = SimulationConfig(compressors=60, days=30, start=START, seed=SEED, scenario="realistic")
    again = simulate(config, tmp_path / "a", truth_dir=tmp_path / "ta")
    assert again.truth is not None and again.truth.equals(result.truth)
    assert readings(tmp_path / "a").equals(readings(root / "landing"))
    simulate(replace(config, seed=SEED + 1, days=2), tmp_path / "b")
    assert not readings(tmp_path / "b").equals(readings(root / "landing").slice(0, 2 * 144 * 60))


def _chunk_ratio(failure: r.Failure, seed: int = SEED) -> np.ndarray:
    """Values of the failing unit just before failure, with the failure over without it (same noise)."""
    timeline = Timeline(START, 10, 40 * 144)
    fleet = build_fleet(seed, failure.compressor + 1, timeline)
    plan = r.Plan(
        station=np.zeros(failure.compressor + 1, dtype=np.int64),
        levels=np.ones((failure.compressor + 1, 200)),
        ambient=np.zeros((1, 40 * 24 + 2)),
        drift=np.zeros(failure.compressor + 1),
        failures=(failure,),
        stops=(),
        recalibrations=(),
        renewals=(),
    )
    chunk = int(failure.failure // 1440)
    lo, _ = timeline.chunk_bounds(chunk)
    last = int((failure.failure - 1) // 10) - lo  # index in the chunk of the last reading before failure
    healthy = r.generate_chunk(replace(plan, failures=()), fleet, timeline, seed, chunk)
    failing = r.generate_chunk(plan, fleet, timeline, seed, chunk)
    unit = np.flatnonzero(failing.compressor == failure.compressor)[last]
    return np.asarray(failing.values[:, unit] / healthy.values[:, unit])


@pytest.mark.parametrize("mode", r.MODE_NAMES)
def test_each_mode_leaves_its_signature_at_failure(mode: str) -> None:
    draw = np.random.default_rng(1)
    (_low, high), _ = r.MODES[mode]
    onset = 2 * 1440.0
    duration = high * 1440 * 0.999
    exponent, magnitude = r._failure_shape(mode, draw)
    ratio = _chunk_ratio(
        r.Failure(0, mode, onset, onset + duration, onset + duration + 600, exponent, magnitude)
    )
    vib, temp, suc, _, hp, flow = (ratio[SENSOR_NAMES.index(s)] for s in SENSOR_NAMES)
    # Multipliers on the healthy value (noise cancels: same stream). Temperature: +°F on ~200 °F.
    if mode == "bearing_wear":
        assert 2.4 <= vib <= 4.1 and 1.02 <= temp <= 1.09
    elif mode == "valve_leakage":
        assert 1.12 <= temp <= 1.4 and 0.74 <= flow <= 0.91 and hp > 1.0
    elif mode == "cooler_fouling":
        assert temp > 1.04  # at least 1 °F a day for 30 days
    elif mode == "seal_leak":
        assert 0.69 <= flow <= 0.91 and 1.01 <= suc <= 1.07
    else:
        assert hp < 0.95 and vib > 1.2 and flow < 0.96


def test_healthy_units_change_load_and_follow_ambient(run: tuple[Path, SimulationResult]) -> None:
    root, result = run
    assert result.truth is not None
    failing = set(result.truth.column("compressor_id").to_pylist())
    table = readings(root / "landing")
    ids = np.array(table.column("compressor_id").to_pylist())
    flow = table.column("gas_flow_mcf").to_numpy()
    healthy = next(c for c in sorted(set(ids)) if c not in failing)
    mine = flow[ids == healthy]
    hourly = mine[: len(mine) // 6 * 6].reshape(-1, 6).mean(axis=1)
    running = hourly[hourly > 0.5 * np.median(hourly)]
    # Setpoint changes: the running flow moves by more than noise, within about ±20 % of its median.
    spread = np.percentile(running, 95) / np.percentile(running, 5)
    assert 1.05 < spread < 1.6
    # Stopped hours: flow at the meter's zero offset, never exactly zero (silver would call it stuck).
    stopped = mine[mine < 0.05 * np.median(mine)]
    assert len(stopped) > 0 and stopped.min() > 0 and len(np.unique(stopped)) > len(stopped) // 2


def test_default_scenario_unchanged_by_the_option(tmp_path: Path) -> None:
    a = simulate(SimulationConfig(start=START, days=1), tmp_path / "a", truth_dir=tmp_path / "truth")
    simulate(SimulationConfig(start=START, days=1, scenario="default"), tmp_path / "b")
    assert a.truth is None and not (tmp_path / "truth" / "failures.parquet").exists()
    assert readings(tmp_path / "a").equals(readings(tmp_path / "b"))


def test_pipeline_never_reads_the_truth(tmp_path: Path) -> None:
    """The same landing zone gives the same lake whether the truth file is there or is garbage that
    any reader would choke on — and importing the pipeline and the service loads no simulator code."""
    import subprocess
    import sys

    from tests.pipeline.helpers import COMPARED, lake_rows, run

    from altaviz.config import Settings

    config = SimulationConfig(compressors=12, days=3, start=START, seed=5, scenario="realistic")
    dirs = {}
    for name in ("with_truth", "garbage_truth"):
        data_dir = tmp_path / name
        settings = Settings(data_dir=data_dir, pipeline_threads=2)
        simulate(config, settings.landing_dir / settings.default_organization, truth_dir=data_dir / "truth")
        if name == "garbage_truth":
            (data_dir / "truth" / "failures.parquet").write_bytes(b"not parquet")
        run(settings)
        dirs[name] = data_dir
    for table, order in COMPARED.items():
        left, right = (lake_rows(dirs[n], table, order=order) for n in ("with_truth", "garbage_truth"))
        # three days is inside the health model's warm-up: no projection nor early warning yet, and
        # before the organization's prior hour (its first hour + 4 days): no fleet prior; and 12 units
        # over three days may cross no limit while running (stops and starts raise nothing)
        empty_allowed = (
            "silver/quarantine",
            "gold/health_predictions",
            "gold/health_alerts",
            "gold/alerts",
            "gold/health_prior",
        )
        assert left or table in empty_allowed, table
        for row in (*left, *right):
            row.pop("_loaded_at", None)  # when the row was loaded, the only thing allowed to differ
        assert left == right, table

    code = (
        "import sys, altaviz.pipeline.run, altaviz.server, altaviz.api.router, altaviz.web.router;"
        "print(sorted(m for m in sys.modules if m.startswith('altaviz.simulator')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "realistic" not in loaded.stdout, loaded.stdout


def test_cli_writes_the_truth_under_the_data_dir_and_a_default_run_removes_it(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["ALTAVIZ_DATA_DIR"] = str(tmp_path)

    def altaviz(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "altaviz", "simulate", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    done = altaviz("--scenario", "realistic", "--compressors", "40", "--days", "20", "--seed", "2")
    assert done.returncode == 0, done.stderr
    truth = tmp_path / "truth" / "failures.parquet"
    assert f"truth in {truth}" in done.stdout.replace("\n", "")
    assert pq.read_table(truth).column_names == ["compressor_id", "mode", "onset_at", "failure_at"]
    refused = altaviz("--scenario", "chaos")
    assert refused.returncode != 0 and "unknown scenario 'chaos'" in refused.stderr
    assert altaviz("--days", "1").returncode == 0
    assert not truth.exists()  # a default run leaves no stale truth behind
