"""The web-service fixtures (app on SQLite and PostgreSQL, seeded organizations, clients)."""

from tests.api.conftest import (  # noqa: F401  (fixtures, used by name)
    app,
    client,
    fast_password_hashing,
    org_a,
    org_b,
    settings_factory,
    sqlite_settings_factory,
)
