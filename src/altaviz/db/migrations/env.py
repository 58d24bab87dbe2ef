"""Alembic environment for the operational database.

altaviz.db.migrate hands over an open connection in config.attributes["connection"]; without one
(the plain `alembic` command), the URL comes from the config or from the settings.
"""

from alembic import context
from sqlalchemy import Connection, text

from altaviz.config import get_settings, normalize_database_url
from altaviz.db.migrate import migration_engine
from altaviz.db.models import Base
from altaviz.db.session import SQLITE_BEGIN_IMMEDIATE

# Serialises concurrent upgrades of one PostgreSQL database (e.g. two pipelines starting at once);
# on SQLite, BEGIN IMMEDIATE does the same.
MIGRATION_LOCK_KEY = 0x616C7461


def _url() -> str:
    return normalize_database_url(
        context.config.get_main_option("sqlalchemy.url") or get_settings().sqlalchemy_url
    )


def _run_offline() -> None:
    url = _url()
    context.configure(
        url=url,
        target_metadata=Base.metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        connection.execution_options(**{SQLITE_BEGIN_IMMEDIATE: True})
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=sqlite,
        # session.py makes SQLite emit BEGIN itself, so its DDL is transactional as well.
        transactional_ddl=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        context.run_migrations()
        if sqlite:
            _check_sqlite_foreign_keys(connection)


def _check_sqlite_foreign_keys(connection: Connection) -> None:
    # Migrations run with SQLite's foreign keys off (see migrate.py); refuse to commit broken links.
    violations = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if violations:
        raise RuntimeError(f"migration left rows with broken foreign keys: {violations[:10]}")


def _run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = migration_engine(_url())
    try:
        with engine.connect() as own_connection:
            _run(own_connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
