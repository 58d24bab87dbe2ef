"""Reading times of the series and how they split into 24-hour landing files.

Reading k of every compressor is taken at start + k·interval. Files hold 24 hours *of the series*
(chunk c = readings whose offset from start lies in [c·24 h, (c+1)·24 h)), not calendar days: a 7-day
run is always 7 files whatever the start minute, and a chunk's noise stream does not depend on when
the run happens to start.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from altaviz.simulator.config import MINUTES_PER_DAY

_MICROS_PER_MINUTE = 60_000_000


@dataclass(frozen=True)
class Timeline:
    start: datetime
    interval_minutes: int
    readings: int

    @property
    def chunks(self) -> int:
        return -(-self.readings * self.interval_minutes // MINUTES_PER_DAY)

    def chunk_bounds(self, chunk: int) -> tuple[int, int]:
        """Half-open range [lo, hi) of reading indexes in `chunk`."""
        lo = -(-chunk * MINUTES_PER_DAY // self.interval_minutes)
        hi = -(-(chunk + 1) * MINUTES_PER_DAY // self.interval_minutes)
        return lo, min(hi, self.readings)

    def time_of(self, k: int) -> datetime:
        return self.start + timedelta(minutes=k * self.interval_minutes)

    @property
    def end(self) -> datetime:
        """Time of the last regular reading."""
        return self.time_of(self.readings - 1)

    @property
    def start_micros(self) -> int:
        delta = self.start - datetime(1970, 1, 1, tzinfo=self.start.tzinfo)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds

    @property
    def step_micros(self) -> int:
        return self.interval_minutes * _MICROS_PER_MINUTE

    def days_since_start(self, k: int) -> float:
        return k * self.interval_minutes / MINUTES_PER_DAY
