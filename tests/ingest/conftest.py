"""The API test fixtures (the app on SQLite and PostgreSQL, two seeded organizations) plus ingest keys."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, create_engine

from altaviz.accounts import service
from altaviz.accounts.roles import Role
from altaviz.config import normalize_database_url
from altaviz.db.session import session_scope
from tests.api.conftest import (  # noqa: F401 (fixtures)
    app,
    client,
    fast_password_hashing,
    org_a,
    org_b,
    settings_factory,
    sqlite_settings_factory,
)
from tests.api.world import AUTH_SECRET, SeededOrg


def make_ingest_key(app: FastAPI, org: SeededOrg, name: str = "gateway") -> tuple[uuid.UUID, str]:  # noqa: F811
    return ingest_key_for(app.state.engine, org, name)


def ingest_key_for(engine: Engine, org: SeededOrg, name: str = "gateway") -> tuple[uuid.UUID, str]:
    with session_scope(engine) as session:
        record, key = service.create_api_key(
            session,
            org.scope,
            name=f"{org.marker} {name}",
            role="ingest",
            created_by=org.users[Role.ADMIN],
            expires_at=None,
        )
        return record.id, key


@pytest.fixture
def ingest_key(app: FastAPI, org_a: SeededOrg) -> str:  # noqa: F811
    return make_ingest_key(app, org_a)[1]


@dataclass
class Served:
    process: "subprocess.Popen[str]"
    url: str
    data_dir: Path
    engine: Engine


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def serve(db_url: str, tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """`altaviz serve` in a process of its own (killed with SIGKILL by the durability test)."""
    processes: list[subprocess.Popen[str]] = []
    engines: list[Engine] = []

    def start(workers: int = 1, **env_overrides: str) -> Served:
        port = _free_port()
        env = {
            **os.environ,
            "ALTAVIZ_ENV": "test",
            "AUTH_SECRET": AUTH_SECRET,
            "DATABASE_URL": db_url,
            "ALTAVIZ_DATA_DIR": str(tmp_path),
            "LOG_LEVEL": "WARNING",
            "RATE_LIMIT_PER_MINUTE": "100000",
            "WORKFLOW_SCHEDULER": "false",
            **env_overrides,
        }
        command = [sys.executable, "-m", "altaviz", "serve", "--port", str(port), "--workers", str(workers)]
        process = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        processes.append(process)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError("altaviz serve did not start listening")
        engine = create_engine(normalize_database_url(db_url))
        engines.append(engine)
        return Served(process, f"http://127.0.0.1:{port}", tmp_path, engine)

    yield start
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    for engine in engines:
        engine.dispose()
