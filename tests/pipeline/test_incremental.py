"""Incremental runs: new landing files are folded in without recomputing history, and the lake ends
exactly as a full recomputation over the same bronze would leave it; late readings inside the
look-back are taken in, older ones quarantined; alert episodes continue across runs."""

import random
import shutil
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from altaviz.alerts.models import AlertHistory
from altaviz.db.session import create_db_engine, session_scope
from altaviz.pipeline.lake import Lake
from altaviz.simulator import SimulationConfig, SimulationResult, simulate
from altaviz.simulator.config import FAULT_KINDS
from tests.pipeline.helpers import (
    COMPARED,
    OFF_HOUR_START,
    assert_equals_a_full_recomputation,
    assert_tables_equal,
    cut_batches,
    lake_rows,
    run,
    settings_for,
    write_fleet,
    write_readings,
)

# alert episodes are compared through the events that decide them too
WITH_EVENTS = COMPARED | {"gold/alert_events": "compressor_id, metric, timestamp"}
SPLIT = OFF_HOUR_START + timedelta(days=4, hours=5)


def _batches(readings: pa.Table) -> list[pa.Table]:
    """The simulated readings cut into arrival batches: 4 days 5 hours, then an hour, then an hour with
    late readings from 3 hours back (inside the look-back) and from 30 hours back (outside), then the rest."""
    ts = readings["timestamp"]

    def between(start: Any, end: Any) -> pa.Array:
        return pc.and_(pc.greater_equal(ts, pa.scalar(start, ts.type)), pc.less(ts, pa.scalar(end, ts.type)))

    early = pc.less(ts, pa.scalar(SPLIT, ts.type))
    late_inside = pc.and_(
        between(SPLIT - timedelta(hours=3), SPLIT - timedelta(hours=2)), _every_other(readings)
    )
    late_outside = pc.and_(
        between(SPLIT - timedelta(hours=31), SPLIT - timedelta(hours=30)), _every_other(readings)
    )
    withheld = pc.or_(late_inside, late_outside)
    hour_1 = between(SPLIT, SPLIT + timedelta(hours=1))
    hour_2 = between(SPLIT + timedelta(hours=1), SPLIT + timedelta(hours=2))
    rest = pc.greater_equal(ts, pa.scalar(SPLIT + timedelta(hours=2), ts.type))
    return [
        readings.filter(pc.and_(early, pc.invert(withheld))),
        readings.filter(hour_1),
        readings.filter(pc.or_(hour_2, withheld)),
        readings.filter(rest),
    ]


def _every_other(readings: pa.Table) -> pa.Array:
    return pa.array([i % 2 == 0 for i in range(readings.num_rows)])


@pytest.fixture
def arriving(tmp_path: Path, faulty_landing: tuple[Path, SimulationResult]) -> tuple[Path, list[pa.Table]]:
    """A data directory whose landing zone has the fleet metadata only, and the readings to land."""
    source = faulty_landing[0]
    data_dir = tmp_path / "incremental"
    shutil.copytree(source, data_dir / "landing", ignore=shutil.ignore_patterns("readings"))
    (data_dir / "landing" / "readings").mkdir()
    readings = pa.concat_tables(pq.read_table(p) for p in sorted((source / "readings").glob("*.parquet")))
    return data_dir, _batches(readings)


def _land(data_dir: Path, number: int, batch: pa.Table) -> None:
    pq.write_table(batch, data_dir / "landing" / "readings" / f"batch-{number}.parquet")


def test_incremental_runs_equal_a_full_recomputation(
    tmp_path: Path, arriving: tuple[Path, list[pa.Table]]
) -> None:
    data_dir, batches = arriving
    settings = settings_for(data_dir)
    messages: list[list[str]] = []
    for number, batch in enumerate(batches):
        _land(data_dir, number, batch)
        notes: list[str] = []
        from altaviz.pipeline.run import PipelineOptions, run_pipeline

        run_pipeline(settings, PipelineOptions(skip_db=True), notify=notes.append)
        messages.append(notes)
    # Every run after the first was incremental, and the first days' files were never rewritten.
    assert not any("incremental" in m for m in messages[0])
    for notes in messages[1:]:
        assert any(m.startswith("incremental:") for m in notes), notes

    assert_equals_a_full_recomputation(data_dir, tmp_path / "full")

    late = lake_rows(data_dir, "silver/quarantine", where="reason LIKE 'late:%'")
    assert late, "readings 30 hours behind their compressor must be quarantined as late"
    assert {r["_source_file"] for r in late} == {"readings/batch-2.parquet"}
    taken_in = lake_rows(
        data_dir,
        "silver/readings",
        where=f"_source_file = 'readings/batch-2.parquet' AND timestamp < TIMESTAMPTZ '{SPLIT.isoformat()}'",
    )
    assert taken_in, "readings 3 hours late are inside the look-back and must reach silver"


def test_the_pairs_history_is_read_from_the_previous_runs_summary(
    tmp_path: Path, arriving: tuple[Path, list[pa.Table]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each incremental run keeps its alert pairs' history over the events files wholly before its
    recompute start (a lake table); the next reads that summary and only the files added since (when
    the summary's files are still wholly before its own start), and the lake still ends as a full
    recomputation. A summary that cannot be read is not used."""
    from altaviz.pipeline import incremental, summaries
    from altaviz.pipeline.run import PipelineOptions, run_pipeline

    covered: list[int] = []
    kept = summaries.kept_summary

    def recorded(root: Path, files: list[Path], settled: list[Path]) -> tuple[set[Path], Path | None]:
        found = kept(root, files, settled)
        if sys._getframe(2).f_code.co_name == "_bind_pair_history":
            covered.append(len(found[0]))
        return found

    monkeypatch.setattr(summaries, "kept_summary", recorded)
    data_dir, batches = arriving
    for number, batch in enumerate(batches):
        _land(data_dir, number, batch)
        run_pipeline(settings_for(data_dir), PipelineOptions(skip_db=True))
    # the first incremental run has no summary; the second's readings from 3 hours back take its
    # recompute start before files the first one summarized, so it reads them all again; the third
    # reads the second's summary
    assert covered[:2] == [0, 0] and covered[2] > 0 and len(covered) == 3
    assert_equals_a_full_recomputation(data_dir, tmp_path / "full", WITH_EVENTS)

    lake = data_dir / "lake"
    summary = Lake(lake).table_files(incremental.PAIR_HISTORY)
    settled = Lake(lake).table_files("gold/alert_events")
    assert kept(lake, summary, settled)[1] == summary[0]
    broken = tmp_path / "broken.parquet"
    broken.write_text("not parquet")
    assert kept(lake, [broken], settled) == (set(), None)


def test_the_open_alert_segments_are_read_from_the_previous_runs_summary(
    tmp_path: Path, arriving: tuple[Path, list[pa.Table]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each incremental run keeps, per alert pair, its open segment (last clearing event and the events
    after it) over the events files of the days before its recompute start's (a lake table); the next
    reads that and only the other files, not every events file, and the alert episodes still end as a
    full recomputation's."""
    from altaviz.pipeline import engine, incremental, summaries
    from altaviz.pipeline.run import PipelineOptions, run_pipeline

    covered: list[int] = []
    read: list[list[Path]] = []
    kept = summaries.kept_summary

    def recorded(root: Path, files: list[Path], settled: list[Path]) -> tuple[set[Path], Path | None]:
        found = kept(root, files, settled)
        if sys._getframe(2).f_code.co_name == "_open_events":
            covered.append(len(found[0]))
        return found

    original = engine.read_parquet  # what incremental imported

    def reads(files: Any) -> str:
        read.append(list(files))
        return original(files)

    monkeypatch.setattr(summaries, "kept_summary", recorded)
    monkeypatch.setattr(incremental, "read_parquet", reads)
    data_dir, batches = arriving
    for number, batch in enumerate(batches):
        _land(data_dir, number, batch)
        read.clear()
        run_pipeline(settings_for(data_dir), PipelineOptions(skip_db=True))
    # the first incremental run summarizes the days before its own; the others read that summary
    assert covered[0] == 0 and all(n > 0 for n in covered[1:]) and len(covered) == 3, covered
    # the last run read no events file of those days
    lake = data_dir / "lake"
    summary = Lake(lake).table_files(incremental.OPEN_EVENTS)
    older = kept(lake, summary, Lake(lake).table_files("gold/alert_events"))[0]
    assert older and not any(set(files) & older for files in read)
    assert_equals_a_full_recomputation(data_dir, tmp_path / "full", WITH_EVENTS)


def test_the_reports_violation_counts_come_from_the_previous_runs_summary(
    arriving: tuple[Path, list[pa.Table]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each pass keeps the readings with a violation per compressor over gold's hourly files of the days
    before the newest, and the rows of every file it counted (lake tables): the next report reads those
    and only the other files, and its counts equal those over every row."""
    import duckdb

    from altaviz.pipeline import report, summaries
    from altaviz.pipeline.run import PipelineOptions, run_pipeline

    covered: list[int] = []
    kept = summaries.kept_summary

    def recorded(root: Path, files: list[Path], settled: list[Path]) -> tuple[set[Path], Path | None]:
        found = kept(root, files, settled)
        if sys._getframe(2).f_code.co_name == "violations_by_compressor":
            covered.append(len(found[0]))
        return found

    monkeypatch.setattr(summaries, "kept_summary", recorded)
    data_dir, batches = arriving
    lake = Lake(data_dir / "lake")
    for number, batch in enumerate(batches):
        _land(data_dir, number, batch)
        result = run_pipeline(settings_for(data_dir), PipelineOptions(skip_db=True))
        every_row = duckdb.execute(
            "SELECT compressor_id, CAST(SUM(violation_count) AS BIGINT) FROM read_parquet(?) "
            "WHERE violation_count > 0 GROUP BY 1",
            [[str(f) for f in lake.table_files("gold/hourly")]],
        ).fetchall()
        assert result.summary.violating_readings == dict(every_row) != {}
        for table, counted in (("gold/hourly", "hourly_rows"), ("silver/readings", "silver_rows")):
            files = [str(f) for f in lake.table_files(table)]
            rows = duckdb.execute("SELECT COUNT(*) FROM read_parquet(?)", [files]).fetchall()
            assert getattr(result.summary, counted) == rows[0][0]
    # the full run summarizes its older days; the incremental runs read that (or their own) summary
    assert covered[0] == 0 and all(n > 0 for n in covered[1:]) and len(covered) == 4, covered
    assert {report.VIOLATION_TOTALS, report.ROW_COUNTS} <= set(lake.read_manifest().tables)


def test_an_incremental_run_keeps_the_days_it_does_not_touch(arriving: tuple[Path, list[pa.Table]]) -> None:
    data_dir, batches = arriving
    settings = settings_for(data_dir)
    _land(data_dir, 0, batches[0])
    run(settings, skip_db=True)
    lake = Lake(data_dir / "lake")
    before = set(lake.table_files("gold/readings"))
    _land(data_dir, 1, batches[1])
    run(settings, skip_db=True)
    after = set(lake.table_files("gold/readings"))
    kept = before & after
    # Everything but the last day (and the day before it, within the look-back) is kept as it was.
    assert len(kept) >= len(before) - 2 and kept
    assert all(p.exists() for p in after)


def test_a_parameter_change_recomputes_everything(arriving: tuple[Path, list[pa.Table]]) -> None:
    data_dir, batches = arriving
    _land(data_dir, 0, batches[0])
    run(settings_for(data_dir), skip_db=True)
    _land(data_dir, 1, batches[1])
    notes: list[str] = []
    from altaviz.pipeline.run import PipelineOptions, run_pipeline

    changed = settings_for(data_dir).model_copy(update={"reading_interval_minutes": 5})
    run_pipeline(changed, PipelineOptions(skip_db=True), notify=notes.append)
    assert any("full run: parameters" in m for m in notes), notes


def test_fleet_metadata_is_staged_again_only_when_it_changes(
    arriving: tuple[Path, list[pa.Table]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from altaviz.pipeline.run import PipelineOptions, run_pipeline

    data_dir, batches = arriving
    settings = settings_for(data_dir)
    lake = Lake(data_dir / "lake")
    _land(data_dir, 0, batches[0])
    run(settings, skip_db=True)
    reference = {t: v for t, v in lake.read_manifest().tables.items() if t.startswith("reference/")}
    staged: list[str] = []
    original = Lake.stage

    def recording(self: Lake, table: str, version: str) -> Any:
        staged.append(table)
        return original(self, table, version)

    monkeypatch.setattr(Lake, "stage", recording)
    _land(data_dir, 1, batches[1])
    notes: list[str] = []
    run_pipeline(settings, PipelineOptions(skip_db=True), notify=notes.append)
    assert any(m.startswith("incremental:") for m in notes), notes
    assert not [t for t in staged if t.startswith("reference/")], staged
    assert {t: v for t, v in lake.read_manifest().tables.items() if t.startswith("reference/")} == reference

    compressors = data_dir / "landing" / "fleet" / "compressors.parquet"
    table = pq.read_table(compressors)
    pq.write_table(table.slice(0, table.num_rows - 1), compressors)  # a compressor leaves the fleet
    _land(data_dir, 2, batches[2])
    notes.clear()
    run_pipeline(settings, PipelineOptions(skip_db=True), notify=notes.append)
    assert any("full run: parameters, plan or fleet metadata changed" in m for m in notes), notes
    current = lake.read_manifest().tables
    assert [t for t in staged if t.startswith("reference/")] == ["reference/compressors"]
    assert current["reference/compressors"] != reference["reference/compressors"]
    assert current["reference/stations"] == reference["reference/stations"]


def test_alert_episodes_continue_across_runs(arriving: tuple[Path, list[pa.Table]], sqlite_url: str) -> None:
    data_dir, batches = arriving
    settings = settings_for(data_dir, sqlite_url)
    _land(data_dir, 0, batches[0])
    run(settings)
    engine = create_db_engine(sqlite_url)
    try:
        with session_scope(engine) as session:
            open_before = {
                (a.compressor_id, a.condition): (a.id, a.alert_timestamp, a.violation_count)
                for a in session.scalars(select(AlertHistory).where(AlertHistory.is_active))
            }
        assert any(compressor == "COMP-007" for compressor, _ in open_before), open_before
        for number, batch in enumerate(batches[1:], start=1):
            _land(data_dir, number, batch)
            run(settings)
        with session_scope(engine) as session:
            alerts = list(session.scalars(select(AlertHistory)))
        by_episode = {(a.compressor_id, a.condition, a.alert_timestamp): a for a in alerts}
        assert len(by_episode) == len(alerts)
        for (compressor, condition), (alert_id, started, count) in open_before.items():
            episode = by_episode[(compressor, condition, started)]
            assert episode.id == alert_id, "the open episode is updated in place, not raised again"
            assert episode.violation_count >= count
        grown = [
            key
            for key, (_, started, count) in open_before.items()
            if by_episode[(*key, started)].violation_count > count
        ]
        assert grown, "an episode still violating after the first run collects the later readings"
    finally:
        engine.dispose()


def test_a_step_at_the_end_of_a_run_is_judged_again_with_the_readings_after_it(tmp_path: Path) -> None:
    """At the end of a run a new level looks like a spike; once the next readings confirm it, it is not."""
    data_dir = tmp_path / "step"
    landing = data_dir / "landing"
    write_fleet(landing)
    start = OFF_HOUR_START
    slot = timedelta(minutes=10)
    before = [{"compressor_id": "COMP-001", "timestamp": start + i * slot} for i in range(30)]
    before.append({"compressor_id": "COMP-001", "timestamp": start + 30 * slot, "vibration_mms": 3.6})
    write_readings(landing, "first.parquet", before)
    run(settings_for(data_dir), skip_db=True)
    step_time = f"timestamp = TIMESTAMPTZ '{(start + 30 * slot).isoformat()}'"
    assert (
        "spike:vibration_mms" in lake_rows(data_dir, "silver/readings", where=step_time)[0]["quality_flags"]
    )

    after = [
        {"compressor_id": "COMP-001", "timestamp": start + i * slot, "vibration_mms": 3.6}
        for i in range(31, 40)
    ]
    write_readings(landing, "second.parquet", after)
    run(settings_for(data_dir), skip_db=True)
    assert "spike" not in (lake_rows(data_dir, "silver/readings", where=step_time)[0]["quality_flags"] or "")


def test_a_step_before_a_silence_is_judged_again_when_its_compressor_reports_again(tmp_path: Path) -> None:
    """The run recomputes from the two readings before each compressor's first new one, however long
    the compressor was silent (within two days): it looks first at the previous run's recent rows only,
    and further back when a compressor has fewer readings there. COMP-001 ends the first run on a new
    level (a spike, so far) and is silent for two hours while COMP-002 reports; its next readings confirm
    the level, so the step is no spike, as in a full run."""
    data_dir = tmp_path / "silence"
    landing = data_dir / "landing"
    write_fleet(landing, ("COMP-001", "COMP-002"))
    start = OFF_HOUR_START
    slot = timedelta(minutes=10)
    first = [{"compressor_id": "COMP-001", "timestamp": start + i * slot} for i in range(30)]
    first.append({"compressor_id": "COMP-001", "timestamp": start + 30 * slot, "vibration_mms": 3.6})
    first += [{"compressor_id": "COMP-002", "timestamp": start + i * slot} for i in range(43)]
    write_readings(landing, "first.parquet", first)
    run(settings_for(data_dir), skip_db=True)
    step_time = f"compressor_id = 'COMP-001' AND timestamp = TIMESTAMPTZ '{(start + 30 * slot).isoformat()}'"
    assert (
        "spike:vibration_mms" in lake_rows(data_dir, "silver/readings", where=step_time)[0]["quality_flags"]
    )

    after = [
        {"compressor_id": c, "timestamp": start + i * slot, "vibration_mms": 3.6 if c == "COMP-001" else 3.0}
        for i in range(43, 49)
        for c in ("COMP-001", "COMP-002")
    ]
    write_readings(landing, "second.parquet", after)
    notes: list[str] = []
    from altaviz.pipeline.run import PipelineOptions, run_pipeline

    run_pipeline(settings_for(data_dir), PipelineOptions(skip_db=True), notify=notes.append)
    assert any(m.startswith("incremental:") for m in notes), notes
    assert "spike" not in (lake_rows(data_dir, "silver/readings", where=step_time)[0]["quality_flags"] or "")
    assert_equals_a_full_recomputation(data_dir, tmp_path / "full")


def test_a_stuck_sensor_is_counted_across_a_silence_before_the_zone(tmp_path: Path) -> None:
    """Silver's context is the 12 readings of each compressor before the zone start, however long ago
    (within a day): the run reads the last four hours first and the whole day when a compressor with
    rows in it has fewer there. A late reading of COMP-002 takes the zone back to slot 78; COMP-001 was
    silent from slot 30 to 89, so its readings from slot 90 on (constant values, recomputed as they are
    after the zone start) are stuck only if its readings before the silence are counted, as in a full run."""
    data_dir = tmp_path / "stuck"
    landing = data_dir / "landing"
    write_fleet(landing, ("COMP-001", "COMP-002"))
    slot = timedelta(minutes=10)

    def readings(compressor: str, slots: Any) -> list[dict[str, Any]]:
        return [{"compressor_id": compressor, "timestamp": OFF_HOUR_START + i * slot} for i in slots]

    silent = set(range(30, 90))
    first = readings("COMP-001", [i for i in range(100) if i not in silent])
    first += readings("COMP-002", [i for i in range(100) if i != 80])
    write_readings(landing, "first.parquet", first)
    run(settings_for(data_dir), skip_db=True)
    second = readings("COMP-002", [80, *range(100, 106)]) + readings("COMP-001", range(100, 106))
    write_readings(landing, "second.parquet", second)
    notes: list[str] = []
    from altaviz.pipeline.run import PipelineOptions, run_pipeline

    run_pipeline(settings_for(data_dir), PipelineOptions(skip_db=True), notify=notes.append)
    zone = OFF_HOUR_START + 78 * slot
    assert any(m.startswith("incremental:") and f"{zone:%Y-%m-%d %H:%M}" in m for m in notes), notes
    after_silence = (
        f"compressor_id = 'COMP-001' AND timestamp = TIMESTAMPTZ '{(OFF_HOUR_START + 95 * slot).isoformat()}'"
    )
    assert "stuck:" in (lake_rows(data_dir, "silver/readings", where=after_silence)[0]["quality_flags"] or "")
    assert_equals_a_full_recomputation(data_dir, tmp_path / "full")


@pytest.mark.parametrize("split", [*range(16, 25), 32, 34, 36])
def test_an_episode_opening_or_clearing_across_runs_matches_a_full_run(tmp_path: Path, split: int) -> None:
    """Vibration violates for 4 readings, then clears (3 clear readings return it to normal), twice; the
    new readings arrive at every point of the first episode, so the on- and clear-delays count back into
    the last run, and inside the second, which is recomputed after the first's return to normal."""
    data_dir = tmp_path / "arriving"
    landing = data_dir / "landing"
    write_fleet(landing)

    def vibration(i: int) -> float:
        return 6.5 if 15 <= i <= 18 or 30 <= i <= 33 else 3.0 + 0.01 * (i % 3)

    rows = [
        {
            "compressor_id": "COMP-001",
            "timestamp": OFF_HOUR_START + timedelta(minutes=10 * i),
            "vibration_mms": vibration(i),
        }
        for i in range(40)
    ]
    write_readings(landing, "first.parquet", rows[:split])
    run(settings_for(data_dir), skip_db=True)
    write_readings(landing, "second.parquet", rows[split:])
    run(settings_for(data_dir), skip_db=True)

    assert_equals_a_full_recomputation(data_dir, tmp_path / "full", WITH_EVENTS)
    episodes = lake_rows(data_dir, "gold/alerts")
    assert [(e["metric"], e["is_active"]) for e in episodes] == [("vibration_mms", False)] * 2


def test_a_metric_reported_rarely_is_counted_back_over_its_own_readings(tmp_path: Path) -> None:
    """The alert look-back is counted per metric's series: vibration is reported every sixth reading
    only (the other sensors every reading). It violates twice (an episode opens) and then stays clear;
    its clear count (3) was reached long before, so no later clear reading clears again. The zone starts
    at slot 48, a vibration reading, after only two of them among the twelve readings before: counted
    over those alone, slot 48 would be a third clear reading in a row and clear a second time."""
    data_dir = tmp_path / "sparse"
    landing = data_dir / "landing"
    write_fleet(landing)

    def reading(i: int) -> dict[str, Any]:
        vibration = None if i % 6 else (6.5 if i in (6, 12) else 3.0)
        return {
            "compressor_id": "COMP-001",
            "timestamp": OFF_HOUR_START + timedelta(minutes=10 * i),
            "vibration_mms": vibration,
        }

    write_readings(landing, "first.parquet", [reading(i) for i in range(50)])
    run(settings_for(data_dir), skip_db=True)
    write_readings(landing, "second.parquet", [reading(i) for i in range(50, 62)])
    notes: list[str] = []
    from altaviz.pipeline.run import PipelineOptions, run_pipeline

    run_pipeline(settings_for(data_dir), PipelineOptions(skip_db=True), notify=notes.append)
    zone = OFF_HOUR_START + timedelta(minutes=10 * 48)
    assert any(m.startswith("incremental:") and f"{zone:%Y-%m-%d %H:%M}" in m for m in notes), notes
    assert_equals_a_full_recomputation(data_dir, tmp_path / "full", WITH_EVENTS)
    clearing = lake_rows(data_dir, "gold/alert_events", where="clears")
    assert [e["timestamp"] for e in clearing] == [OFF_HOUR_START + timedelta(minutes=10 * 30)]


def test_a_late_reading_that_delays_a_return_to_normal_reopens_the_episode(tmp_path: Path) -> None:
    """Vibration violates for 4 readings and returns to normal after 3 clear readings, one of which
    (missing at first) arrives late and out of line: the return to normal moves one reading later,
    exactly as a full run over all readings has it."""
    data_dir = tmp_path / "arriving"
    landing = data_dir / "landing"
    write_fleet(landing)

    def reading(i: int) -> dict[str, Any]:
        vibration = 6.5 if 15 <= i <= 18 or i == 20 else 3.0 + 0.01 * (i % 3)
        return {
            "compressor_id": "COMP-001",
            "timestamp": OFF_HOUR_START + timedelta(minutes=10 * i),
            "vibration_mms": vibration,
        }

    write_readings(landing, "first.parquet", [reading(i) for i in range(26) if i != 20])
    run(settings_for(data_dir), skip_db=True)
    [first] = lake_rows(data_dir, "gold/alerts")
    write_readings(landing, "second.parquet", [reading(i) for i in [20, *range(26, 32)]])
    run(settings_for(data_dir), skip_db=True)

    assert_equals_a_full_recomputation(data_dir, tmp_path / "full", WITH_EVENTS)
    [episode] = lake_rows(data_dir, "gold/alerts")
    assert episode["started_at"] == first["started_at"]
    assert episode["returned_to_normal_at"] > first["returned_to_normal_at"]


@pytest.mark.parametrize(("seed", "interval"), [(11, 5), (23, 15)])
def test_batches_cut_at_random_moments_end_as_a_full_recomputation(
    tmp_path: Path, seed: int, interval: int
) -> None:
    """Another fleet (seed, reading interval, every fault but future stamps) landed in batches cut at
    random moments of its last two days."""
    from altaviz.pipeline.run import PipelineOptions, run_pipeline

    source = tmp_path / "source"
    faults = frozenset(FAULT_KINDS) - {"future"}
    config = SimulationConfig(
        compressors=4, days=3, interval_minutes=interval, start=OFF_HOUR_START, seed=seed, faults=faults
    )
    simulate(config, source)
    readings = pa.concat_tables(pq.read_table(p) for p in sorted((source / "readings").glob("*.parquet")))
    data_dir = tmp_path / "data"
    shutil.copytree(source, data_dir / "landing", ignore=shutil.ignore_patterns("readings"))
    (data_dir / "landing" / "readings").mkdir()
    rng = random.Random(seed)
    cuts = sorted(OFF_HOUR_START + timedelta(hours=24 + 47 * rng.random()) for _ in range(5))
    settings = settings_for(data_dir).model_copy(update={"reading_interval_minutes": interval})
    for number, batch in enumerate(cut_batches(readings, cuts)):
        _land(data_dir, number, batch)
        notes: list[str] = []
        run_pipeline(settings, PipelineOptions(skip_db=True), notify=notes.append)
        assert number == 0 or any(m.startswith("incremental:") for m in notes), notes
    full = tmp_path / "full"
    shutil.copytree(data_dir, full, symlinks=True)
    run(settings.model_copy(update={"data_dir": full}), skip_bronze=True, skip_db=True, full=True)
    assert_tables_equal(data_dir, full, WITH_EVENTS)
