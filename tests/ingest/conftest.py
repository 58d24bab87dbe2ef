"""The API test fixtures (the app on SQLite and PostgreSQL, two seeded organizations) plus ingest keys."""

import subprocess
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
from tests.api.world import SeededOrg
from tests.servers import serve_env, serve_processes


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


@pytest.fixture
def serve(db_url: str, tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """`altaviz serve` in a process of its own (killed with SIGKILL by the durability test)."""
    engines: list[Engine] = []
    with serve_processes(grace=0) as servers:

        def start(workers: int = 1, **env_overrides: str) -> Served:
            settings = {"RATE_LIMIT_PER_MINUTE": "100000", "WORKFLOW_SCHEDULER": "false", **env_overrides}
            process, url = servers.start(serve_env(db_url, tmp_path, **settings), workers=workers)
            engine = create_engine(normalize_database_url(db_url))
            engines.append(engine)
            return Served(process, url, tmp_path, engine)

        yield start
    for engine in engines:
        engine.dispose()
