"""The worker's principal cache (accounts.principal_cache): a repeated request is authenticated without
the database on PostgreSQL, and every change to the organization made anywhere (another process: here
another engine) takes effect at once, long before AUTH_CACHE_SECONDS; on SQLite nothing is kept."""

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, update

from altaviz.accounts import data_version, service
from altaviz.accounts.models import Organization
from altaviz.accounts.roles import Role
from altaviz.config import Settings
from altaviz.db.session import create_db_engine, session_scope
from altaviz.server import create_app
from tests.api.world import BASE_URL, SeededOrg, seed_organization, session_cookie_for

FLEET = "/api/fleet"


@pytest.fixture
def cached_app(settings_factory: Callable[..., Settings]) -> Iterator[FastAPI]:
    # A minute (the most allowed): what takes effect sooner here does so because the change was heard.
    application = create_app(settings_factory(auth_cache_seconds=60))
    yield application
    application.state.engine.dispose()


@pytest.fixture
def served(cached_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(cached_app, base_url=BASE_URL) as client:  # the lifespan starts the listener
        deadline = time.monotonic() + 10
        backend = cached_app.state.engine.dialect.name
        while backend == "postgresql" and not cached_app.state.principal_cache.enabled:
            assert time.monotonic() < deadline, "the listener did not start"
            time.sleep(0.05)
        yield client


@pytest.fixture
def org(cached_app: FastAPI) -> SeededOrg:
    return seed_organization(cached_app.state.engine, "alpha", "Alpha")


@pytest.fixture
def elsewhere(cached_app: FastAPI) -> Iterator[Engine]:
    """Another engine on the same database: what another worker, the CLI or the watcher would use."""
    engine = create_db_engine(str(cached_app.state.engine.url.render_as_string(hide_password=False)))
    yield engine
    engine.dispose()


def key_lookups(engine: Engine) -> list[str]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "api_keys" in statement and "key_hash" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    return seen


def until(condition: Callable[[], bool], seconds: float = 20.0) -> float:
    """Seconds until `condition` held (fails after `seconds`)."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, "did not happen in time"
        time.sleep(0.02)
    return time.monotonic() - started


def get(client: TestClient, key: str) -> int:
    return client.get(FLEET, headers={"x-api-key": key}).status_code


def test_a_repeated_request_is_authenticated_without_the_database(
    served: TestClient, org: SeededOrg, cached_app: FastAPI, db_backend: str
) -> None:
    lookups = key_lookups(cached_app.state.engine)
    for _ in range(5):
        assert get(served, org.api_keys[Role.VIEWER]) == 200
    assert len(lookups) == (1 if db_backend == "postgresql" else 5)


def test_a_key_revoked_by_another_process_stops_at_once(
    served: TestClient, org: SeededOrg, elsewhere: Engine, db_backend: str
) -> None:
    key = org.api_keys[Role.VIEWER]
    assert get(served, key) == 200
    with session_scope(elsewhere) as session:
        assert service.revoke_api_key(session, org.scope, org.api_key_ids[Role.VIEWER]) is not None
    if db_backend == "sqlite":
        assert get(served, key) == 401  # nothing kept: the database says so at once
    else:
        assert until(lambda: get(served, key) == 401) < 30  # heard: the cache would keep it 60 s


def test_a_key_revoked_through_the_api_stops_on_the_next_request(
    served: TestClient, org: SeededOrg, cached_app: FastAPI
) -> None:
    key = org.api_keys[Role.VIEWER]
    assert get(served, key) == 200
    name, cookie, csrf = session_cookie_for(cached_app, org.users[Role.ADMIN])
    answer = served.delete(
        f"/api/api-keys/{org.api_key_ids[Role.VIEWER]}",
        headers={"Cookie": f"{name}={cookie}", "X-CSRF-Token": csrf},
    )
    assert answer.status_code == 200, answer.text
    assert get(served, key) == 401  # no wait: the committing process dropped its own copy


def test_a_session_ended_by_another_process_stops_at_once(
    served: TestClient, org: SeededOrg, cached_app: FastAPI, elsewhere: Engine
) -> None:
    name, cookie, _ = session_cookie_for(cached_app, org.users[Role.VIEWER])
    headers = {"Cookie": f"{name}={cookie}"}
    assert served.get(FLEET, headers=headers).status_code == 200
    with session_scope(elsewhere) as session:
        assert service.end_other_sessions(session, org.users[Role.VIEWER], keep=None) == 1
    until(lambda: served.get(FLEET, headers=headers).status_code == 401)


def test_a_plan_change_elsewhere_takes_effect_at_once(
    served: TestClient, org: SeededOrg, elsewhere: Engine
) -> None:
    key = org.api_keys[Role.VIEWER]
    assert get(served, key) == 200
    with session_scope(elsewhere) as session:
        session.get(Organization, org.id).subscription_tier = "free"  # type: ignore[union-attr]
    until(lambda: get(served, key) == 403)  # the Free plan has no API access


def test_a_new_data_version_elsewhere_is_read_at_once(
    served: TestClient, org: SeededOrg, elsewhere: Engine, cached_app: FastAPI
) -> None:
    key = org.api_keys[Role.VIEWER]
    lookups = key_lookups(cached_app.state.engine)
    assert get(served, key) == 200
    before = len(lookups)
    with session_scope(elsewhere) as session:
        data_version.bump(session, org.id)
    # The next requests authenticate against the database again (and so read the new version).
    until(lambda: get(served, key) == 200 and len(lookups) > before)


def test_the_cache_is_off_when_the_listening_connection_is_lost(
    served: TestClient, org: SeededOrg, cached_app: FastAPI, elsewhere: Engine, db_backend: str
) -> None:
    if db_backend != "postgresql":
        pytest.skip("no listening connection on SQLite")
    cache = cached_app.state.principal_cache
    with elsewhere.connect() as connection:
        connection.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND starts_with(query, 'LISTEN ') AND pid <> pg_backend_pid()"
        )
    until(lambda: not cache.enabled)
    key = org.api_keys[Role.VIEWER]
    with elsewhere.begin() as connection:  # a change no notification tells of: the cache is off anyway
        connection.execute(
            update(Organization).where(Organization.id == org.id).values(subscription_tier="free")
        )
    assert get(served, key) == 403
    until(lambda: cache.enabled, seconds=10)  # listening again, with an empty cache


def test_the_listener_starts_again_when_the_app_starts_again(cached_app: FastAPI, org: SeededOrg) -> None:
    """An app's lifespan may run more than once (tests, a server restarted in process); a thread can
    start only once, so each start needs a listener thread of its own."""
    for _ in range(2):
        with TestClient(cached_app, base_url=BASE_URL) as client:
            assert get(client, org.api_keys[Role.VIEWER]) == 200
            if cached_app.state.engine.dialect.name == "postgresql":
                until(lambda: cached_app.state.principal_cache.enabled, seconds=10)
