"""Real servers for the connector tests: a Mosquitto broker of the test's own (Debian's binary, on a free
port) and `altaviz serve` in a process that a test may stop and start again on the same port."""

import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine

from altaviz.accounts import service
from altaviz.accounts.roles import Role
from altaviz.config import normalize_database_url
from altaviz.db.session import session_scope
from tests.api.conftest import fast_password_hashing  # noqa: F401 (fixture)
from tests.api.world import SeededOrg, seed_organization
from tests.servers import ServeProcesses, free_port, serve_env, stop, wait_for_port

MOSQUITTO = "/usr/sbin/mosquitto"


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """SQLite only: the connectors talk to Altaviz over HTTP; the database backends are the ingest tests'."""
    return sqlite_url


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[str]:
    """A Mosquitto of this test on a free port: its mqtt:// URL."""
    assert os.access(MOSQUITTO, os.X_OK), "install Debian's mosquitto (.ci/run does)"
    port = free_port()
    config = tmp_path / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    process = subprocess.Popen(
        [MOSQUITTO, "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_for_port(port, process)
    yield f"mqtt://127.0.0.1:{port}"
    stop(process)


@dataclass
class Altaviz:
    url: str
    port: int
    data_dir: Path
    engine: Engine
    start: Callable[[], None]
    stop: Callable[[], None]
    org: SeededOrg
    ingest_key: str
    admin_key: str


@pytest.fixture
def altaviz(db_url: str, tmp_path: Path) -> Iterator[Altaviz]:
    """`altaviz serve` with a seeded organization, an ingest key and an admin key; stop() kills it,
    start() brings it back on the same port and data."""
    port = free_port()
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = serve_env(db_url, data_dir, RATE_LIMIT_PER_MINUTE="100000", WORKFLOW_SCHEDULER="false")
    servers = ServeProcesses(grace=0)

    def start() -> None:
        servers.start(env, port=port)

    engine = create_engine(normalize_database_url(db_url))
    org = seed_organization(engine, "alpha", "Alpha")
    with session_scope(engine) as session:
        admin = next(iter(org.users.values()))
        _, ingest_key = service.create_api_key(
            session, org.scope, name="station connector", role="ingest", created_by=admin, expires_at=None
        )
        _, admin_key = service.create_api_key(
            session, org.scope, name="fleet loader", role=Role.ADMIN, created_by=admin, expires_at=None
        )
    start()
    yield Altaviz(
        f"http://127.0.0.1:{port}",
        port,
        data_dir,
        engine,
        start,
        servers.stop_all,
        org,
        ingest_key,
        admin_key,
    )
    servers.stop_all()
    engine.dispose()
