"""The page tests reuse the API tests' world: the app on each backend and two seeded organizations."""

from tests.api.conftest import (  # noqa: F401  (fixtures)
    app,
    client,
    fast_password_hashing,
    org_a,
    org_b,
    settings_factory,
)
