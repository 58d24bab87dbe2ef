"""Simulated landing zones, generated once per session and copied into each test's data directory."""

from pathlib import Path

import pytest

from altaviz.simulator import FAULT_KINDS, SimulationConfig, SimulationResult, simulate
from tests.pipeline.helpers import OFF_HOUR_START, ON_HOUR_START


def _simulate(
    factory: pytest.TempPathFactory, name: str, config: SimulationConfig
) -> tuple[Path, SimulationResult]:
    landing = factory.mktemp(name) / "landing"
    return landing, simulate(config, landing)


@pytest.fixture(scope="session")
def default_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default demo fleet (10 × 7 days) starting off the clock hour."""
    return _simulate(tmp_path_factory, "default", SimulationConfig(start=OFF_HOUR_START))[0]


@pytest.fixture(scope="session")
def on_hour_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _simulate(tmp_path_factory, "on-hour", SimulationConfig(start=ON_HOUR_START))[0]


@pytest.fixture(scope="session")
def faulty_landing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SimulationResult]:
    """The default fleet with every fault injected."""
    config = SimulationConfig(start=OFF_HOUR_START, seed=7, faults=frozenset(FAULT_KINDS))
    return _simulate(tmp_path_factory, "faulty", config)
