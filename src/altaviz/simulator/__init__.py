"""Synthetic compressor fleet: healthy behaviour, failure modes and injected data faults, written as
Parquet landing files (fleet metadata, maintenance log, one readings file per 24 hours of series)."""

from altaviz.simulator.config import FAULT_KINDS, SimulationConfig, SimulationResult
from altaviz.simulator.run import simulate
from altaviz.simulator.stream import Clock, stream

__all__ = ["FAULT_KINDS", "Clock", "SimulationConfig", "SimulationResult", "simulate", "stream"]
