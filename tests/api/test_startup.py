"""Starting the service: AUTH_SECRET rules, the development secret, the schema check, `altaviz serve`
with several workers sharing the Redis limiter, and a graceful shutdown."""

import os
import signal
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from altaviz.accounts.authsecret import AuthSecretError, auth_secret_problem, resolve_auth_secret
from altaviz.accounts.roles import Role
from altaviz.config import Settings
from altaviz.db.session import create_db_engine
from altaviz.server import ServiceNotReady, create_app, prepare_to_serve
from tests.api.world import AUTH_SECRET, limiter_verdicts, seed_organization
from tests.servers import serve_env, serve_processes

WEAK_SECRETS = {
    None: "not set",
    "changeme": "known default",
    "your-auth-secret-here-please-change-it-now": "known default",
    "short-but-random-Zq81": "at least 32",
    "a" * 40: "too few distinct",
}


@pytest.mark.parametrize("env", ["production", "test"])
@pytest.mark.parametrize("secret", list(WEAK_SECRETS), ids=lambda s: str(s)[:12])
def test_the_service_refuses_a_weak_secret_outside_development(
    sqlite_url: str, tmp_path: Path, env: str, secret: str | None
) -> None:
    settings = Settings(env=env, database_url=sqlite_url, data_dir=tmp_path, auth_secret=secret)
    with pytest.raises(AuthSecretError, match=WEAK_SECRETS[secret]):
        create_app(settings)
    assert auth_secret_problem(AUTH_SECRET) is None


def test_development_keeps_its_own_secret(sqlite_url: str, tmp_path: Path) -> None:
    settings = Settings(env="development", database_url=sqlite_url, data_dir=tmp_path)
    first = resolve_auth_secret(settings)
    path = tmp_path / "auth_secret"
    assert path.is_file() and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32 and resolve_auth_secret(settings) == first
    results: list[bytes] = []
    other = tmp_path / "other"
    racing = Settings(env="development", database_url=sqlite_url, data_dir=other)
    threads = [threading.Thread(target=lambda: results.append(resolve_auth_secret(racing))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1  # workers starting together agree on one secret


def test_serve_refuses_a_stale_schema_outside_development(empty_db_url: str, tmp_path: Path) -> None:
    settings = Settings(
        env="production", database_url=empty_db_url, data_dir=tmp_path, auth_secret=AUTH_SECRET
    )
    with pytest.raises(ServiceNotReady, match="altaviz db upgrade"):
        prepare_to_serve(settings)


def test_altaviz_serve_exits_with_a_clear_message_on_a_weak_secret(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "ALTAVIZ_ENV": "production",
        "AUTH_SECRET": "changeme",
        "ALTAVIZ_DATA_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "altaviz", "serve"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "AUTH_SECRET is a known default" in done.stderr and "openssl rand" in done.stderr


@pytest.fixture
def serve(pg_url: str, tmp_path: Path) -> Iterator[object]:
    with serve_processes() as servers:

        def start(workers: int = 1, **env_overrides: str) -> tuple[subprocess.Popen[str], str]:
            return servers.start(serve_env(pg_url, tmp_path, **env_overrides), workers=workers)

        yield start


def test_two_workers_share_the_redis_limit(serve: object, redis_url: str, redis_prefix: str) -> None:
    _process, base = serve(  # type: ignore[operator]
        workers=2,
        RATE_LIMIT_PER_MINUTE="60",
        RATE_LIMIT_STORAGE_URI=redis_url,
        RATE_LIMIT_KEY_PREFIX=redis_prefix,
    )
    time.sleep(1.0)  # both workers up (the socket answers once the first one is)
    statuses = []
    for _ in range(65):  # a new connection each time, so the kernel spreads them over the workers
        with httpx2.Client(base_url=base, timeout=10) as client:
            statuses.append(client.get("/api/health").status_code)
    statuses = limiter_verdicts(statuses)
    assert statuses[:60] == [200] * 60 and statuses[60:] == [429] * 5


def test_sigterm_under_load_finishes_in_flight_requests_refuses_new_ones_and_releases_connections(
    serve: object, pg_url: str
) -> None:
    engine = create_db_engine(pg_url)
    org = seed_organization(engine, "alpha", "Alpha")
    engine.dispose()
    process, base = serve(workers=1, RATE_LIMIT_PER_MINUTE="1000000")  # type: ignore[operator]
    alert = org.alert_ids["critical"]
    # Clients keep reading the fleet until the service is gone: every answer they get is a whole one.
    load_statuses: list[int] = []
    load_errors: list[str] = []
    stop_load = threading.Event()

    def keep_reading() -> None:
        while not stop_load.is_set():
            try:
                with httpx2.Client(base_url=base, timeout=30) as client:
                    reply = client.get("/api/fleet", headers={"x-api-key": org.api_keys[Role.VIEWER]})
                    reply.json()
                    load_statuses.append(reply.status_code)
            except (httpx2.ConnectError, httpx2.RemoteProtocolError, httpx2.ReadError) as refused:
                load_errors.append(type(refused).__name__)
                if process.poll() is not None:
                    return
                time.sleep(0.05)
            except Exception as broken:  # a truncated or malformed answer
                load_errors.append(f"broken: {broken!r}")
                return

    readers = [threading.Thread(target=keep_reading) for _ in range(4)]
    for reader in readers:
        reader.start()
    locker = create_engine(pg_url, poolclass=NullPool, connect_args={"application_name": "test-locker"})
    outcome: dict[str, object] = {}
    with locker.connect() as lock:
        lock.execute(text("SELECT id FROM alert_history WHERE id = :id FOR UPDATE"), {"id": alert})

        def acknowledge() -> None:
            with httpx2.Client(base_url=base, timeout=60) as client:
                response = client.post(
                    f"/api/alerts/{alert}/acknowledge", headers={"x-api-key": org.api_keys[Role.OPERATOR]}
                )
                outcome["status"] = response.status_code
                outcome["body"] = response.json()

        request = threading.Thread(target=acknowledge)
        request.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # wait until the request is blocked on our row lock
            with locker.connect() as probe:  # a fresh snapshot each time (stats are per transaction)
                waiting = probe.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND application_name = 'altaviz' AND wait_event_type = 'Lock'"
                    )
                ).scalar_one()
            if waiting:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the request never reached the database")
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert process.poll() is None  # still finishing the request in flight
        lock.rollback()  # release the row: the request can complete
    request.join(timeout=30)
    assert outcome.get("status") == 200, outcome
    assert outcome["body"]["acknowledged_by"] == "api-key:Alpha operator key"  # type: ignore[index]
    # Uvicorn re-raises the signal once shut down, so the exit status says how the process ended.
    assert process.wait(timeout=30) in (0, -signal.SIGTERM)
    stop_load.set()
    for reader in readers:
        reader.join(timeout=30)
    assert load_statuses and set(load_statuses) == {200}, set(load_statuses)  # no 5xx, no half answers
    assert load_errors, "after SIGTERM new connections are refused"
    assert not [e for e in load_errors if e.startswith("broken")], load_errors
    with pytest.raises(httpx2.ConnectError):
        httpx2.get(f"{base}/api/health", timeout=2)
    with locker.connect() as check:
        left = check.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name = 'altaviz'"
            )
        ).scalar_one()
    locker.dispose()
    assert left == 0, "the service left database connections open"
    assert uuid.UUID(str(org.id))
