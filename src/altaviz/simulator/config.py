"""What a simulation run is asked to do (`SimulationConfig`) and what it produced (`SimulationResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

FAULT_KINDS: tuple[str, ...] = ("gaps", "stuck", "duplicates", "nulls", "out_of_range", "late", "future")
# "default": SPEC §1's demo fleet; "realistic": SPEC §9's scenario for judging early warning.
SCENARIOS: tuple[str, ...] = ("default", "realistic")

MINUTES_PER_DAY = 1440


@dataclass(frozen=True)
class SimulationConfig:
    """Parameters of one synthetic fleet dataset.

    `start` is the first reading time (timezone-aware; converted to UTC). When it is None the series
    ends "now": its last reading is the current UTC time floored to the reading interval, so reading
    times fall on the interval grid (…:00, …:10, … for 10 minutes).
    """

    compressors: int = 10
    days: float = 7
    interval_minutes: int = 10
    start: datetime | None = None
    seed: int = 42
    faults: frozenset[str] = frozenset()
    scenario: str = "default"

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {self.scenario!r}; choose from {', '.join(SCENARIOS)}")
        if self.compressors < 1:
            raise ValueError(f"compressors must be at least 1, got {self.compressors}")
        if not 1 <= self.interval_minutes <= MINUTES_PER_DAY:
            raise ValueError(f"interval_minutes must be between 1 and 1440, got {self.interval_minutes}")
        if self.days <= 0 or self.days * MINUTES_PER_DAY < self.interval_minutes:
            raise ValueError(f"days must cover at least one reading interval, got {self.days}")
        if self.seed < 0:
            raise ValueError(f"seed must be non-negative, got {self.seed}")
        if self.start is not None:
            if self.start.tzinfo is None or self.start.utcoffset() is None:
                raise ValueError("start must be timezone-aware (UTC)")
            object.__setattr__(self, "start", self.start.astimezone(UTC))
        faults = frozenset(self.faults)
        unknown = sorted(faults - set(FAULT_KINDS))
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; choose from {', '.join(FAULT_KINDS)}")
        object.__setattr__(self, "faults", faults)

    @property
    def readings_per_compressor(self) -> int:
        # The small epsilon keeps e.g. days=0.1 at 14 readings despite binary floating point.
        return int(self.days * MINUTES_PER_DAY / self.interval_minutes + 1e-9)

    def resolve_start(self, now: datetime) -> datetime:
        """The first reading time: `start`, or so that the last reading is `now` floored to the
        interval grid (a fresh dataset is as fresh as the 15-minute SLA allows)."""
        if self.start is not None:
            return self.start
        step = self.interval_minutes * 60
        last = datetime.fromtimestamp(int(now.timestamp()) // step * step, tz=UTC)
        return last - timedelta(minutes=self.interval_minutes * (self.readings_per_compressor - 1))


@dataclass
class SimulationResult:
    """Summary of a run. `start`/`end` are the first and last regular reading times (injected future
    rows lie beyond `end`); `failing` maps each degrading compressor to its onset day (default
    scenario); `truth` lists the realistic scenario's failures (compressor_id, mode, onset_at,
    failure_at), None for the default scenario, and `truth_file` where it was written, if anywhere."""

    readings_rows: int
    files: list[Path]
    failing: dict[str, int]
    start: datetime
    end: datetime
    fault_counts: dict[str, int] = field(default_factory=dict)
    truth: pa.Table | None = None
    truth_file: Path | None = None
