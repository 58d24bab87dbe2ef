"""Fixtures for the web service tests: the app on each backend, two seeded organizations, clients."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from altaviz.config import Settings
from altaviz.server import create_app
from tests.api.world import AUTH_SECRET, BASE_URL, SeededOrg, seed_organization

GENEROUS_LIMIT = 1_000_000


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "database_url": database_url,
        "data_dir": data_dir,
        "auth_secret": AUTH_SECRET,
        "rate_limit_per_minute": GENEROUS_LIMIT,
        "rate_limit_auth_per_minute": GENEROUS_LIMIT,
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
def settings_factory(db_url: str, tmp_path: Path) -> Callable[..., Settings]:
    return lambda **overrides: make_settings(db_url, tmp_path, **overrides)


@pytest.fixture
def app(settings_factory: Callable[..., Settings]) -> Iterator[FastAPI]:
    application = create_app(settings_factory())
    yield application
    application.state.engine.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url=BASE_URL) as test_client:
        yield test_client


@pytest.fixture
def org_a(app: FastAPI) -> SeededOrg:
    return seed_organization(app.state.engine, "alpha", "Alpha")


@pytest.fixture
def org_b(app: FastAPI) -> SeededOrg:
    return seed_organization(app.state.engine, "bravo", "Bravo")
