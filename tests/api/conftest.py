"""Fixtures for the web service tests: the app on each backend, two seeded organizations, clients."""

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

from altaviz.accounts import passwords
from altaviz.config import Settings
from altaviz.server import create_app
from tests.api.world import AUTH_SECRET, BASE_URL, SeededOrg, close_clients, seed_organization

GENEROUS_LIMIT = 1_000_000
# Webhooks are verified with this secret in every API test (tests/billing signs events with it).
STRIPE_WEBHOOK_SECRET = "whsec_tests_only_5b0f3c9e2d7a41f6"
# argon2id as in production, at its lowest cost: the API tests sign in and change passwords often.
# tests/accounts checks the production parameters.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(passwords, "_hasher", FAST_HASHER)
    passwords._dummy_hash.cache_clear()
    yield
    passwords._dummy_hash.cache_clear()


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "database_url": database_url,
        "data_dir": data_dir,
        "auth_secret": AUTH_SECRET,
        "rate_limit_per_minute": GENEROUS_LIMIT,
        "rate_limit_auth_per_minute": GENEROUS_LIMIT,
        "sign_in_account_limits": f"{GENEROUS_LIMIT}/minute",  # tests/api/test_rate_limit.py sets its own
        "stripe_webhook_secret": STRIPE_WEBHOOK_SECRET,
        "workflow_scheduler_enabled": False,  # tests/workflows runs the scheduler on purpose
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
def settings_factory(db_url: str, tmp_path: Path) -> Callable[..., Settings]:
    return lambda **overrides: make_settings(db_url, tmp_path, **overrides)


@pytest.fixture
def sqlite_settings_factory(sqlite_url: str, tmp_path: Path) -> Callable[..., Settings]:
    """For tests about HTTP behaviour, where the database backend does not matter."""
    return lambda **overrides: make_settings(sqlite_url, tmp_path, **overrides)


@pytest.fixture
def app(settings_factory: Callable[..., Settings]) -> Iterator[FastAPI]:
    application = create_app(settings_factory())
    yield application
    close_clients()
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


# The local Redis; GitHub Actions' test job reaches its Redis service container by name (ci.yml).
REDIS_URL = os.environ.get("ALTAVIZ_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The local Redis: the shared-limiter tests fail (not skip) without it."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as error:
        pytest.fail(
            f"Redis is unreachable at {REDIS_URL}: {error}. Start it (CI's .ci/run does).", pytrace=False
        )
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    prefix = f"altaviz-test-{uuid.uuid4().hex}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
