"""The API test fixtures (the app on SQLite and PostgreSQL, two seeded organizations) plus ingest keys."""

import uuid

import pytest
from fastapi import FastAPI

from altaviz.accounts import service
from altaviz.accounts.roles import Role
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


def make_ingest_key(app: FastAPI, org: SeededOrg, name: str = "gateway") -> tuple[uuid.UUID, str]:  # noqa: F811
    with session_scope(app.state.engine) as session:
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
