"""The lake's files across runs: a run that fails leaves the lake as it was, leftovers of a crashed run
are cleared, and a day written by many incremental runs is neither rewritten whole each run nor left in
ever more files."""

import json
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from altaviz.pipeline import health, incremental
from altaviz.pipeline.engine import DuckDBEngine
from altaviz.pipeline.health import HealthStage
from altaviz.pipeline.lake import Lake
from altaviz.pipeline.run import PipelineError
from altaviz.simulator import SimulationConfig, simulate
from tests.pipeline.helpers import (
    OFF_HOUR_START,
    assert_equals_a_full_recomputation,
    cut_batches,
    run,
    settings_for,
)

START = OFF_HOUR_START
HOURS_IN_BATCHES = 10


@pytest.fixture(scope="module")
def hourly(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[pa.Table]]:
    """Three compressors: two days and eight hours in one batch, then ten hours, an hour a batch."""
    source = tmp_path_factory.mktemp("hourly")
    config = SimulationConfig(compressors=3, days=2 + (8 + HOURS_IN_BATCHES) / 24, start=START)
    simulate(config, source / "landing")
    files = sorted((source / "landing" / "readings").glob("*.parquet"))
    readings = pa.concat_tables(pq.read_table(f) for f in files)
    cuts = [START + timedelta(days=2, hours=8 + h) for h in range(HOURS_IN_BATCHES)]
    batches = cut_batches(readings, cuts)
    for f in files:
        f.unlink()
    assert all(b.num_rows for b in batches)
    return source / "landing", batches


def _land(data_dir: Path, landing: Path, batches: list[pa.Table], first: int = 0) -> None:
    if not (data_dir / "landing").exists():
        (data_dir / "landing").mkdir(parents=True)
        for folder in landing.iterdir():
            if folder.name != "readings":
                (data_dir / "landing" / folder.name).symlink_to(folder)
    readings = data_dir / "landing" / "readings"
    readings.mkdir(exist_ok=True)
    for number, batch in enumerate(batches, start=first):
        pq.write_table(batch, readings / f"batch-{number:02d}.parquet")


def _lake_after_first_batch(data_dir: Path, hourly: tuple[Path, list[pa.Table]]) -> Path:
    landing, batches = hourly
    _land(data_dir, landing, batches[:1])
    run(settings_for(data_dir), skip_db=True)
    return data_dir / "lake"


def _files_per_day(data_dir: Path, table: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for path in Lake(data_dir / "lake").table_files(table):
        counts[path.parent.name] = counts.get(path.parent.name, 0) + 1
    return counts


def _rows_in_new_files(data_dir: Path, table: str, before: set[Path]) -> int:
    """Rows in the files of `table` that are not among `before` (the files it had before a run)."""
    files = Lake(data_dir / "lake").table_files(table)
    return sum(pq.read_metadata(p).num_rows for p in files if p not in before)


def test_hourly_runs_rewrite_little_and_compact_a_crowded_day(
    hourly: tuple[Path, list[pa.Table]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing, batches = hourly
    monkeypatch.setattr(incremental, "COMPACT_FILES", 6)
    monkeypatch.setattr(health, "COMPACT_FILES", 6)
    stepwise = settings_for(tmp_path / "stepwise")
    lake = Lake(stepwise.data_dir / "lake")
    written: list[int] = []
    health_written: list[int] = []
    for number in range(len(batches)):
        before = set(lake.table_files("gold/readings")) if number else set()
        health_before = set(lake.table_files("gold/health")) if number else set()
        _land(stepwise.data_dir, landing, batches[number : number + 1], number)
        run(stepwise, skip_db=True)
        written.append(_rows_in_new_files(stepwise.data_dir, "gold/readings", before))
        health_written.append(_rows_in_new_files(stepwise.data_dir, "gold/health", health_before))
        # two files a run, until the day holds COMPACT_FILES and the next run writes it as one
        assert max(_files_per_day(stepwise.data_dir, "gold/readings").values()) <= 6 + 1
        # the health stage's hourly rows: a file a run, the same way
        assert max(_files_per_day(stepwise.data_dir, "gold/health").values()) <= 6
        # the quarantine gains a file a run, until it holds COMPACT_FILES
        assert len(Lake(stepwise.data_dir / "lake").table_files("silver/quarantine")) <= 6
    # Each hourly run writes its hour (3 compressors × 6 readings an hour, and the 2 readings before) and
    # the rows before those in the previous run's recent file (its last half hour): never the whole day
    # so far, but for the run that compacts it. The first after the full run does the same with the
    # full run's recent rows, which it wrote apart.
    hour = 3 * 6
    assert written[1] <= 2 * hour, written
    compactions = [n for n, rows in enumerate(written[2:], start=2) if rows > 2 * hour]
    assert written[2:] and len(compactions) <= len(written[2:]) // 2, written
    # The health stage adds the hours an hourly run judges (at most two of each compressor) in a file of
    # their own, the day's other rows kept as they are, but for the run that compacts the day.
    health_compactions = [n for n, rows in enumerate(health_written[1:], start=1) if rows > 2 * 3]
    assert health_written[1:] and len(health_compactions) <= len(health_written[1:]) // 2, health_written

    assert_equals_a_full_recomputation(stepwise.data_dir, tmp_path / "full")


@pytest.mark.parametrize("failing", ["gold", "health"])
def test_a_failed_run_leaves_the_lake_as_it_was(
    hourly: tuple[Path, list[pa.Table]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """Gold's last step fails, or the health stage, which runs beside gold (run._Beside): either way the
    run fails with its error once both are done, and nothing either staged is left."""
    landing, batches = hourly
    settings = settings_for(tmp_path / "data")
    lake = _lake_after_first_batch(settings.data_dir, hourly)
    manifest = (lake / "manifest.json").read_text()
    files_before = sorted(p for p in lake.rglob("*") if p.is_file() and p.name != ".lock")

    original = DuckDBEngine.run
    original_health = HealthStage.incremental

    def failing_step(self: DuckDBEngine, step: str, *args: object, **kwargs: object) -> None:
        if step == "alerts":
            raise RuntimeError("disk full")
        original(self, step, *args, **kwargs)  # type: ignore[arg-type]

    def failing_health(self: HealthStage, changed: str) -> None:
        original_health(self, changed)  # staged its tables, then fails
        raise RuntimeError("disk full")

    if failing == "gold":
        monkeypatch.setattr(DuckDBEngine, "run", failing_step)
    else:
        monkeypatch.setattr(HealthStage, "incremental", failing_health)
    _land(settings.data_dir, landing, batches[1:2], 1)
    with pytest.raises(PipelineError, match="disk full"):
        run(settings, skip_db=True)
    assert (lake / "manifest.json").read_text() == manifest
    files_after = sorted(p for p in lake.rglob("*") if p.is_file() and p.name != ".lock")
    new_files = [str(p.relative_to(lake)) for p in files_after if p not in files_before]
    # bronze is appended before silver and kept (content-named, processed by the next run); nothing else
    assert [f for f in new_files if not f.startswith("bronze/readings/")] == [], new_files
    assert files_before == [p for p in files_after if p in files_before]

    monkeypatch.setattr(DuckDBEngine, "run", original)
    monkeypatch.setattr(HealthStage, "incremental", original_health)
    run(settings, skip_db=True)
    assert_equals_a_full_recomputation(settings.data_dir, tmp_path / "full")


def test_leftovers_of_a_crashed_run_are_cleared_and_current_files_kept(
    hourly: tuple[Path, list[pa.Table]], tmp_path: Path
) -> None:
    landing, batches = hourly
    settings = settings_for(tmp_path / "data")
    lake = _lake_after_first_batch(settings.data_dir, hourly)
    # what a run killed before its commit leaves: a staged version, and a version no manifest names
    staged = lake / "gold" / "readings" / ".staging-v-crashed" / "day=2026-01-01"
    staged.mkdir(parents=True)
    (staged / "part-0-0.parquet").write_bytes(b"half a file")
    orphan = lake / "silver" / "readings" / "v-orphan" / "day=2026-01-01"
    orphan.mkdir(parents=True)
    (orphan / "part-0-0.parquet").write_bytes(b"PAR1")
    current = json.loads((lake / "manifest.json").read_text())["tables"]

    Lake(lake).collect_garbage()

    assert not (lake / "gold" / "readings" / ".staging-v-crashed").exists()
    assert not (lake / "silver" / "readings" / "v-orphan").exists()
    for files in current.values():
        assert all((lake / f).is_file() for f in files)
    _land(settings.data_dir, landing, batches[1:2], 1)
    run(settings, skip_db=True)  # the lake still works


def test_runs_on_readings_an_hour_apart_rewrite_little(tmp_path: Path) -> None:
    """The recent rows a run writes apart span the readings the next run recomputes, whatever the
    interval: here an hour, so a half hour would hold one reading and every run would rewrite its day."""
    source = tmp_path / "source"
    start = START.replace(minute=0)
    simulate(SimulationConfig(compressors=3, days=3, interval_minutes=60, start=start), source / "landing")
    files = sorted((source / "landing" / "readings").glob("*.parquet"))
    readings = pa.concat_tables(pq.read_table(f) for f in files)
    for f in files:
        f.unlink()
    batches = cut_batches(readings, [start + timedelta(days=2, hours=12 + 2 * n) for n in range(6)])
    settings = settings_for(tmp_path / "data").model_copy(update={"reading_interval_minutes": 60})
    written: list[int] = []
    for number, batch in enumerate(batches):
        before = set(Lake(settings.lake_dir).table_files("gold/readings")) if number else set()
        _land(settings.data_dir, source / "landing", [batch], number)
        run(settings, skip_db=True)
        written.append(_rows_in_new_files(settings.data_dir, "gold/readings", before))
    # each run, per compressor: its 2 new readings and the 2 before them, and the 2 readings before those
    # in the previous run's recent file (its last three hours, both ends included)
    assert all(rows <= 3 * 6 for rows in written[1:]), written
