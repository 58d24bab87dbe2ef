"""Migration 0007: API keys keep their creator (id without a foreign key, e-mail and name stored),
and the downgrade brings the foreign key back."""

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import inspect

from altaviz.db import migrate
from altaviz.db.session import create_db_engine

NOW = datetime(2026, 12, 1, tzinfo=UTC)
ORGS = sa.table(
    "organizations",
    sa.column("id", sa.Uuid()),
    sa.column("name", sa.String()),
    sa.column("slug", sa.String()),
    sa.column("subscription_tier", sa.String()),
    sa.column("subscription_status", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
USERS = sa.table(
    "users",
    sa.column("id", sa.Uuid()),
    sa.column("organization_id", sa.Uuid()),
    sa.column("email", sa.String()),
    sa.column("name", sa.String()),
    sa.column("role", sa.String()),
    sa.column("is_active", sa.Boolean()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
KEYS = sa.table(
    "api_keys",
    sa.column("id", sa.Uuid()),
    sa.column("organization_id", sa.Uuid()),
    sa.column("name", sa.String()),
    sa.column("prefix", sa.String()),
    sa.column("key_hash", sa.String()),
    sa.column("role", sa.String()),
    sa.column("created_by", sa.Uuid()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def _creator_fk(engine: sa.Engine) -> list[str | None]:
    return [
        fk["name"]
        for fk in inspect(engine).get_foreign_keys("api_keys")
        if fk["constrained_columns"] == ["created_by"]
    ]


def test_keys_keep_their_creator_and_the_downgrade_restores_the_foreign_key(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url, "0006")
    org, stays, leaves = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    engine = create_db_engine(empty_db_url)
    try:
        with engine.begin() as db:
            db.execute(
                ORGS.insert().values(
                    id=org,
                    name="Demo",
                    slug="demo",
                    subscription_tier="pro",
                    subscription_status="active",
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
            for user, email in ((stays, "stays@example.com"), (leaves, "leaves@example.com")):
                db.execute(
                    USERS.insert().values(
                        id=user,
                        organization_id=org,
                        email=email,
                        name=email.split("@")[0].title(),
                        role="admin",
                        is_active=True,
                        created_at=NOW,
                        updated_at=NOW,
                    )
                )
                db.execute(
                    KEYS.insert().values(
                        id=uuid.uuid4(),
                        organization_id=org,
                        name=f"key of {email}",
                        prefix="avz_x",
                        key_hash=uuid.uuid4().hex * 2,
                        role="admin",
                        created_by=user,
                        created_at=NOW,
                    )
                )
        assert _creator_fk(engine) == ["fk_api_keys_created_by_users"]

        migrate.upgrade(empty_db_url, "0007")
        engine.dispose()
        assert _creator_fk(engine) == []
        with engine.begin() as db:
            creators: dict[str, str] = dict(
                db.execute(sa.text("SELECT name, created_by_email FROM api_keys")).all()
            )
            assert creators == {
                "key of stays@example.com": "stays@example.com",
                "key of leaves@example.com": "leaves@example.com",
            }
            db.execute(USERS.delete().where(USERS.c.id == leaves))
            kept = db.execute(sa.select(KEYS.c.created_by).where(KEYS.c.name == "key of leaves@example.com"))
            assert kept.scalar_one() == leaves  # the id outlives the account

        migrate.downgrade(empty_db_url, "0006")
        engine.dispose()
        assert _creator_fk(engine) == ["fk_api_keys_created_by_users"]
        with engine.begin() as db:
            rows = dict(db.execute(sa.select(KEYS.c.name, KEYS.c.created_by)).all())
            assert rows == {"key of stays@example.com": stays, "key of leaves@example.com": None}
            columns = {column["name"] for column in inspect(db).get_columns("api_keys")}
            assert "created_by_email" not in columns
        migrate.upgrade(empty_db_url)
    finally:
        engine.dispose()
