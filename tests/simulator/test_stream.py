"""Streaming: the same series as a batch run, paced by the speed-up, never ahead of the clock."""

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from altaviz.simulator import Clock, SimulationConfig, simulate, stream

NOW = datetime(2026, 3, 1, 12, 3, 30, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.current = NOW
        self.slept = 0.0

    def now(self) -> datetime:
        return self.current

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.current += timedelta(seconds=seconds)

    def as_clock(self) -> Clock:
        return Clock(now=self.now, sleep=self.sleep)


def _rows(path: Path) -> list[dict[str, Any]]:
    return sorted(
        pq.read_table(path).to_pylist(), key=lambda r: (str(r["timestamp"]), str(r["compressor_id"]))
    )


def test_replayed_slots_match_the_batch_series_and_follow_the_speedup(tmp_path: Path) -> None:
    fake = FakeClock()
    config = SimulationConfig(compressors=3, days=1)
    written: list[datetime] = []
    landing = tmp_path / "stream"
    count = stream(
        config,
        tmp_path / "stream",
        speedup=60,
        replay_days=0.45,  # 64.8 slots: the history must end right before the first streamed one
        ticks=5,
        on_slot=lambda at, rows: written.append(at),
        clock=fake.as_clock(),
    )
    assert count == 5
    history = [r for f in sorted((landing / "readings").glob("*.parquet")) for r in _rows(f)]
    last_history = max(r["timestamp"] for r in history if r["timestamp"] < written[0])
    assert written[0] - last_history == timedelta(minutes=10)  # no slot lost between history and stream
    assert [b - a for a, b in itertools.pairwise(written)] == [timedelta(minutes=10)] * 4
    # The five slots were in the past: paced at 10 min / 60 = 10 s each, never waiting for the clock.
    assert fake.slept == pytest.approx(4 * 10.0)

    batch = tmp_path / "batch"
    simulate(SimulationConfig(compressors=3, days=1, start=min(r["timestamp"] for r in history)), batch)
    batch_rows = [r for f in sorted((batch / "readings").glob("*.parquet")) for r in _rows(f)]
    by_key = {(r["compressor_id"], r["timestamp"]): r for r in batch_rows}
    for at in written:
        slot_file = tmp_path / "stream" / "readings" / f"readings-{at:%Y%m%dT%H%M}-{at:%Y%m%dT%H%M}.parquet"
        rows = _rows(slot_file)
        assert len(rows) == 3
        for row in rows:
            assert row == by_key[(row["compressor_id"], row["timestamp"])]


def test_real_time_stream_never_writes_a_slot_before_its_time(tmp_path: Path) -> None:
    fake = FakeClock()
    seen: list[tuple[datetime, datetime]] = []
    stream(
        SimulationConfig(compressors=2, days=0.5),
        tmp_path,
        ticks=3,
        on_slot=lambda at, rows: seen.append((at, fake.now())),
        clock=fake.as_clock(),
    )
    for slot_time, written_at in seen:
        assert written_at >= slot_time
    assert seen[0][0] > NOW  # history ends at the last slot before now; the stream goes on from there


def test_bad_stream_parameters_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="speedup must be positive"):
        stream(SimulationConfig(days=1), tmp_path, speedup=0, ticks=1)
    with pytest.raises(ValueError, match="replay_days"):
        stream(SimulationConfig(days=1), tmp_path, replay_days=1, ticks=1)
