"""Health answers within a second whatever PostgreSQL does, and recovers by itself; data routes answer
503 within 2 s while PostgreSQL hangs; an exhausted pool gives a fast 503. PostgreSQL sits behind a TCP
proxy the tests can break."""

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Connection, create_engine, make_url, text
from sqlalchemy.pool import NullPool

from altaviz.accounts.roles import Role
from altaviz.api.health import HealthProbe
from altaviz.config import Settings
from altaviz.server import create_app
from tests.api.tcpproxy import TcpProxy
from tests.api.world import BASE_URL, seed_organization, session_cookie_for

DEADLINE_SECONDS = 1.0  # the service's promise for /api/health


@pytest.fixture
def proxy(pg_url: str) -> Iterator[TcpProxy]:
    url = make_url(pg_url)
    tcp = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    yield tcp
    tcp.close()


@pytest.fixture
def proxied_app(pg_url: str, proxy: TcpProxy, tmp_path: object) -> Callable[..., FastAPI]:
    from tests.api.conftest import make_settings

    url = make_url(pg_url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    apps: list[FastAPI] = []

    def build(**overrides: object) -> FastAPI:
        settings: Settings = make_settings(url, tmp_path, **overrides)  # type: ignore[arg-type]
        app = create_app(settings)
        apps.append(app)
        return app

    return build


def _timed_health(client: TestClient) -> tuple[int, dict[str, object], float]:
    started = time.monotonic()
    response = client.get("/api/health")
    return response.status_code, response.json(), time.monotonic() - started


def test_health_is_healthy(client: TestClient) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert (
        body["status"] == "healthy"
        and body["checks"] == {"database": "ok"}
        and body["timestamp"].endswith("Z")
    )


def test_health_when_postgres_hangs_goes_down_and_comes_back(
    proxied_app: Callable[..., FastAPI], proxy: TcpProxy, record_property: Callable[[str, object], None]
) -> None:
    with TestClient(proxied_app(), base_url=BASE_URL) as client:
        assert client.get("/api/health").status_code == 200

        proxy.set_mode("hang")
        status, body, hung = _timed_health(client)
        assert status == 503 and body["status"] == "degraded" and body["checks"] == {"database": "timeout"}
        assert hung < DEADLINE_SECONDS
        status, _, again = _timed_health(client)  # a second call while the first probe is still stuck
        assert status == 503 and again < DEADLINE_SECONDS

        proxy.set_mode("down")
        statuses = []
        for _ in range(3):
            status, body, down = _timed_health(client)
            statuses.append(status)
            assert down < DEADLINE_SECONDS
        assert statuses[-1] == 503 and body["checks"] == {"database": "error"}

        proxy.set_mode("up")
        recovered_after = None
        started = time.monotonic()
        while time.monotonic() - started < 20:
            if client.get("/api/health").status_code == 200:
                recovered_after = time.monotonic() - started
                break
            time.sleep(0.2)
        assert recovered_after is not None, "health did not recover after PostgreSQL came back"
        record_property("health_seconds", {"hung": hung, "down": down, "recovered_after": recovered_after})


def test_health_with_postgres_unreachable(tmp_path: Path) -> None:
    from tests.api.conftest import make_settings

    closed_port = "postgresql+psycopg://postgres@127.0.0.1:1/nothing"
    app = create_app(make_settings(closed_port, tmp_path))
    with TestClient(app, base_url=BASE_URL) as client:
        status, body, elapsed = _timed_health(client)
    assert status == 503 and body["checks"] == {"database": "error"} and elapsed < DEADLINE_SECONDS


def test_a_hung_database_gives_requests_a_clear_503(
    proxied_app: Callable[..., FastAPI], proxy: TcpProxy
) -> None:
    app = proxied_app(db_pool_timeout_seconds=0.5)
    org = seed_organization(app.state.engine, "alpha", "Alpha")
    proxy.set_mode("down")
    with TestClient(app, base_url=BASE_URL, headers={"x-api-key": org.api_keys[Role.VIEWER]}) as client:
        response = client.get("/api/fleet")
    assert response.status_code == 503 and response.json()["code"] == "database_unavailable"
    assert response.headers["retry-after"] == "5"
    assert "psycopg" not in response.text and "Traceback" not in response.text


def test_pool_exhaustion_gives_a_fast_503(
    pg_url: str, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    from tests.api.conftest import make_settings

    app = create_app(make_settings(pg_url, tmp_path, db_pool_max=2, db_pool_timeout_seconds=0.5))
    org = seed_organization(app.state.engine, "alpha", "Alpha")
    held = [app.state.engine.connect() for _ in range(2)]  # every pooled connection busy
    try:
        with TestClient(app, base_url=BASE_URL, headers={"x-api-key": org.api_keys[Role.VIEWER]}) as client:
            started = time.monotonic()
            response = client.get("/api/fleet")
            waited = time.monotonic() - started
            assert response.status_code == 503
            body = response.json()
            assert body["code"] == "database_busy" and "no database connection became free" in body["error"]
            assert response.headers["retry-after"] == "2"
            assert waited < 2.0  # the 0.5 s pool wait, not a hang
            record_property("pool_exhausted_answer_seconds", round(waited, 3))
            for connection in held:
                connection.close()
            held = []
            assert client.get("/api/fleet").status_code == 200
    finally:
        for connection in held:
            connection.close()
        app.state.engine.dispose()


# README: data routes answer 503 within 2 s while the database hangs (measured 1.5 s: the hang check
# after 1 s, the probe's 0.5 s). A loaded CI machine stretches that, so the test holds the answer to a
# bound no other path can meet instead: with new connections waiting CONNECT_SECONDS before they give
# up (and pooled ones forever), only the hang check answers within BOUND_SECONDS.
BOUND_SECONDS = 4.0
CONNECT_SECONDS = 12


def _timed(client: TestClient, path: str) -> tuple[int, str, float]:
    started = time.monotonic()
    response = client.get(path)
    return response.status_code, response.json().get("code", ""), time.monotonic() - started


def test_data_routes_answer_503_within_the_bound_while_postgres_hangs(
    proxied_app: Callable[..., FastAPI],
    proxy: TcpProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("altaviz.db.session.POSTGRES_CONNECT_TIMEOUT_SECONDS", CONNECT_SECONDS)
    app = proxied_app()
    org = seed_organization(app.state.engine, "alpha", "Alpha")
    name, cookie, _ = session_cookie_for(app, org.users[Role.VIEWER])
    with TestClient(app, base_url=BASE_URL, headers={"x-api-key": org.api_keys[Role.VIEWER]}) as client:
        for path in ("/api/fleet", "/api/alerts", "/api/maintenance"):
            assert client.get(path).status_code == 200, path  # the pool holds live connections
        proxy.set_mode("hang")
        answers = {path: _timed(client, path) for path in ("/api/fleet", "/api/alerts", "/api/maintenance")}
        # a second round: new connections, not the pooled ones, hang now
        answers.update({f"{p} again": _timed(client, p) for p in ("/api/fleet", "/api/compressors/COMP-001")})
        for path, (status, code, took) in answers.items():
            assert took < BOUND_SECONDS, (path, took)
            if path.split()[0] in ("/api/fleet", "/api/alerts") and status == 200:
                # Answered from the worker's caches (the principal and the read cache's answer, seconds
                # old): nothing can have changed in a database that answers no one.
                continue
            assert status == 503 and code == "database_unavailable", (path, status, code)
        del client.headers["x-api-key"]  # a browser: the viewer's session cookie
        started = time.monotonic()
        page = client.get("/dashboard", headers={"Cookie": f"{name}={cookie}"})
        assert page.status_code == 503 and "database is not answering" in page.text
        assert page.headers["content-type"].startswith("text/html") and page.headers["retry-after"] == "5"
        assert time.monotonic() - started < BOUND_SECONDS
        client.headers["x-api-key"] = org.api_keys[Role.VIEWER]
        proxy.set_mode("up")
        deadline = time.monotonic() + 20
        while client.get("/api/fleet").status_code != 200:
            assert time.monotonic() < deadline, "data routes did not recover after PostgreSQL came back"
            time.sleep(0.2)


def test_a_slow_request_on_a_healthy_database_is_left_alone(
    proxied_app: Callable[..., FastAPI],
    proxy: TcpProxy,
) -> None:
    """Only a database that does not answer the probe turns a slow request into a 503. The probe gets
    its largest budget (0.9 s): what is tested is that a healthy database's answer leaves the slow
    request alone, and on a loaded CI machine a new PostgreSQL connection can take longer than the
    default 0.5 s (it did once, with every core busy)."""
    app = proxied_app(health_timeout_seconds=0.9)
    assert _slow_request(app).status_code == 200


def _slow_request(app: FastAPI, first: Callable[[Connection], None] = lambda connection: None) -> Response:
    """The answer to a request that holds a database connection for 2.5 s (after `first` on it): 200
    `{"slept": true}` unless the hang check answered for it."""

    def slow() -> dict[str, bool]:
        with app.state.engine.connect() as connection:
            first(connection)
            connection.execute(text("SELECT pg_sleep(2.5)"))
        return {"slept": True}

    app.add_api_route("/api/test-slow", slow, include_in_schema=False)
    with TestClient(app, base_url=BASE_URL) as client:
        response = client.get("/api/test-slow")
    assert response.status_code != 200 or response.json() == {"slept": True}
    return response


@pytest.fixture
def limited_role(pg_url: str) -> Iterator[tuple[str, Callable[[int], None]]]:
    """A login role of its own and a way to cap its connections (PostgreSQL answers a connection
    beyond the cap itself: FATAL too many connections for role, SQLSTATE 53300)."""
    admin = create_engine(pg_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    role = f"altaviz_limited_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f"CREATE ROLE {role} LOGIN"))

    def cap(connections: int) -> None:
        with admin.connect() as connection:
            connection.execute(text(f"ALTER ROLE {role} CONNECTION LIMIT {int(connections)}"))

    try:
        yield make_url(pg_url).set(username=role).render_as_string(hide_password=False), cap
    finally:
        with admin.connect() as connection:
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :role"),
                {"role": role},
            )
            connection.execute(text(f"DROP ROLE {role}"))
        admin.dispose()


def test_a_database_that_refuses_connections_itself_is_refused_not_down(
    limited_role: tuple[str, Callable[[int], None]],
) -> None:
    url, cap = limited_role
    cap(0)
    engine = create_engine(url, poolclass=NullPool)
    probe = HealthProbe(engine, 2.0)
    try:
        assert asyncio.run(probe.database()) == "refused"
    finally:
        probe.close()
        engine.dispose()
    down = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/nothing", poolclass=NullPool)
    probe = HealthProbe(down, 2.0)
    try:
        assert asyncio.run(probe.database()) == "error"  # no server answered
    finally:
        probe.close()
        down.dispose()


def test_a_slow_request_is_left_alone_while_every_connection_slot_is_taken(
    limited_role: tuple[str, Callable[[int], None]], tmp_path: Path
) -> None:
    """The hang check's probe needs a new connection; a database whose slots are all taken refuses it
    with its own answer. That is a busy database, not a hung one: the request holding a working
    connection is left to finish, and no connection is cut."""
    from tests.api.conftest import make_settings

    url, cap = limited_role
    app = create_app(make_settings(url, tmp_path, health_timeout_seconds=0.9))

    def take_every_slot(connection: Connection) -> None:
        held = connection.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE usename = current_user")
        ).scalar_one()
        cap(held)  # every slot of the role taken from here on: the probe is refused

    # (answered 503 and the connection cut before: the probe's refusal was taken for a hang)
    assert _slow_request(app, take_every_slot).status_code == 200
