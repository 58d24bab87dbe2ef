"""Sensor values: healthy operating point, failure degradation, noise and spikes — vectorized per chunk.

Values are held sensor-major, shape (sensors, rows), so each Parquet column is one contiguous array.
NaN stands for a null reading; only fault injection produces it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from altaviz.fleet import SENSORS
from altaviz.simulator.arrays import Floats, Ints, Mask
from altaviz.simulator.config import MINUTES_PER_DAY
from altaviz.simulator.fleet import DEGRADATION_DAYS, Fleet
from altaviz.simulator.streams import Stream, rng
from altaviz.simulator.timeline import Timeline

SENSOR_COUNT = len(SENSORS)
NOISE = 0.03
SPIKE_PROBABILITY = 0.01
SPIKE_DOWN, SPIKE_UP = 0.85, 1.15


@dataclass(frozen=True)
class Rows:
    """A batch of readings: fleet index and reading index (k) per row, plus the sensor values."""

    compressor: Ints  # int64, index into the fleet
    reading: Ints  # int64, reading k is taken at start + k·interval
    values: Floats  # float64 (sensors, rows)

    def __len__(self) -> int:
        return len(self.reading)

    def take(self, index: Ints | Mask) -> Rows:
        """Rows at integer positions or where a boolean mask is true."""
        if index.dtype == np.bool_:
            index = np.flatnonzero(index)
        # np.take keeps the values C-contiguous (fancy indexing on axis 1 may not), so every sensor
        # column stays one contiguous array.
        return Rows(self.compressor[index], self.reading[index], np.take(self.values, index, axis=1))

    @staticmethod
    def concat(parts: list[Rows]) -> Rows:
        return Rows(
            np.concatenate([p.compressor for p in parts]),
            np.concatenate([p.reading for p in parts]),
            np.concatenate([p.values for p in parts], axis=1),
        )

    @staticmethod
    def empty() -> Rows:
        return Rows(np.empty(0, np.int64), np.empty(0, np.int64), np.empty((SENSOR_COUNT, 0)))


def degradation(days_since_onset: Floats) -> Floats:
    """Multipliers (sensors, len(d)) applied to the baseline of a failing unit, d in fractional days.

    Continuous in d (not a per-day staircase); 1 before onset and from DEGRADATION_DAYS on (repaired).
    Sensor order follows fleet.SENSORS: vibration, temperature, suction, discharge, HP, flow.
    """
    active = (days_since_onset >= 0) & (days_since_onset < DEGRADATION_DAYS)
    d = np.where(active, days_since_onset, 0.0)
    pressure = 1 + 0.3 * np.sin(d)
    load = 1 + 0.1 * d
    return np.stack([1 + (d / 2) ** 1.5, 1 + 0.15 * d, pressure, pressure, load, load])


def add_noise(values: Floats, draw: np.random.Generator) -> None:
    """In place: 3 % multiplicative Gaussian noise, 1 % spikes ×0.85 or ×1.15, clamp at 0, round 2."""
    noise = draw.standard_normal(values.shape)
    noise *= NOISE
    noise += 1
    values *= noise
    del noise
    uniform = draw.random(values.shape, dtype=np.float32).reshape(-1)
    spiked = np.flatnonzero(uniform < SPIKE_PROBABILITY)
    flat = values.reshape(-1)
    flat[spiked] *= np.where(uniform[spiked] < SPIKE_PROBABILITY / 2, SPIKE_DOWN, SPIKE_UP)
    np.maximum(values, 0, out=values)
    np.round(values, 2, out=values)


def generate_chunk(fleet: Fleet, timeline: Timeline, seed: int, chunk: int) -> Rows:
    """All readings of one 24-hour chunk, sorted by reading time then compressor_id (as strings)."""
    lo, hi = timeline.chunk_bounds(chunk)
    count = len(fleet.compressors)
    values = np.empty((SENSOR_COUNT, hi - lo, count))
    values[:] = fleet.baselines.T[:, None, :]
    days = np.arange(lo, hi, dtype=np.float64) * (timeline.interval_minutes / MINUTES_PER_DAY)
    for onset, units in fleet.failing_by_onset.items():
        values[:, :, units] *= degradation(days - onset)[:, :, None]
    add_noise(values, rng(seed, Stream.NOISE, chunk))
    order = fleet.id_order
    if order is None:
        order = np.arange(count)
    else:
        values = np.take(values, order, axis=2)  # contiguous, so the reshape below is a view
    return Rows(
        compressor=np.tile(order, hi - lo),
        reading=np.repeat(np.arange(lo, hi, dtype=np.int64), count),
        values=values.reshape(SENSOR_COUNT, -1),
    )
