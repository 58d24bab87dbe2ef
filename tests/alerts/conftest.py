from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from altaviz.config import Settings
from tests.workflows.helpers import FakeClock, Fleet, seed_fleet


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(env="test", database_url=db_url, data_dir=tmp_path, workflow_scheduler_enabled=False)


@pytest.fixture
def fleet(db_engine: Engine, clock: FakeClock, settings: Settings) -> Iterator[Fleet]:
    yield Fleet(db_engine, seed_fleet(db_engine), clock, settings)


# The web service harness of tests/api: the app on each backend, seeded organizations, clients.
from tests.api.conftest import (  # noqa: E402, F401
    app,
    fast_password_hashing,
    org_a,
    org_b,
    settings_factory,
)
