"""The web service harness of tests/api: the app on each backend, seeded organizations, clients."""

from tests.api.conftest import (  # noqa: F401
    app,
    fast_password_hashing,
    org_a,
    org_b,
    settings_factory,
)
