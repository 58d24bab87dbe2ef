"""Alembic, driven from code: works from an installed package, with no alembic.ini in the CWD."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.pool import ConnectionPoolEntry

from altaviz.config import get_settings, normalize_database_url
from altaviz.db.session import create_db_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Alembic keeps the running migration context in module globals: one migration per process at a time.
# Across processes, env.py serialises upgrades (PostgreSQL advisory lock, SQLite BEGIN IMMEDIATE).
_alembic_lock = threading.Lock()


def upgrade(url: str, revision: str = "head") -> None:
    with _config(url) as config:
        command.upgrade(config, revision)


def downgrade(url: str, revision: str) -> None:
    with _config(url) as config:
        command.downgrade(config, revision)


def current(url: str) -> str | None:
    """The revision the database is at; None when it has never been migrated."""
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def problem(url: str, error: Exception) -> str:
    """One line saying what went wrong with a migration or a database connection, without SQL or a
    traceback (the password hidden)."""
    shown = make_url(normalize_database_url(url)).render_as_string(hide_password=True)
    if isinstance(error, CommandError):
        text = str(error)
        if "Can't locate revision" in text or "No such revision" in text or "is not a valid" in text:
            revisions = [r.revision for r in ScriptDirectory.from_config(alembic_config()).walk_revisions()]
            known = f"{revisions[-1]} to {revisions[0]}" if revisions else "none"
            return (
                f"{text.strip().splitlines()[0].rstrip('.')}: the revisions are {known} "
                "(or head, base; relative ones after --, e.g. -- -1)"
            )
        return f"migration refused: {text.strip().splitlines()[0]}"
    reason = str(getattr(error, "orig", None) or error).strip()
    reason = reason.splitlines()[0] if reason else type(error).__name__
    if isinstance(error, (OperationalError, InterfaceError)):
        return f"cannot reach the database at {shown}: {reason}"
    return f"the database at {shown} refused: {reason}"


def ensure_schema(url: str) -> None:
    """Bring the database to the latest schema (creating the SQLite file if needed)."""
    upgrade(url, "head")


def alembic_config(url: str | None = None) -> Config:
    """An Alembic Config for this package's migrations (for `alembic` commands run from code)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if url is not None:
        config.set_main_option("sqlalchemy.url", normalize_database_url(url).replace("%", "%%"))
    return config


@contextmanager
def _config(url: str) -> Iterator[Config]:
    url = normalize_database_url(url)
    _create_sqlite_directory(url)
    engine = migration_engine(url)
    try:
        with _alembic_lock, engine.connect() as connection:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            yield config
    finally:
        engine.dispose()


def migration_engine(url: str) -> Engine:
    """An engine for running migrations (no statement timeout; SQLite foreign keys off)."""
    # DDL on a large table may legitimately outlast the statement timeout meant for requests.
    settings = get_settings().model_copy(update={"db_statement_timeout_ms": 0})
    engine = create_db_engine(url, settings)
    if engine.dialect.name == "sqlite":
        # Batch migrations rebuild tables (copy, drop, rename), which enforced foreign keys would
        # block or cascade; env.py runs PRAGMA foreign_key_check before committing instead.
        event.listen(engine, "connect", _disable_sqlite_foreign_keys)
    return engine


def _disable_sqlite_foreign_keys(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys = OFF")
    finally:
        cursor.close()


def _create_sqlite_directory(url: str) -> None:
    sa_url = make_url(url)
    database = sa_url.database
    if sa_url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return
    if database.startswith("file:"):
        return  # URI filenames (uri=true) may carry mode=memory; leave them to sqlite
    Path(database).parent.mkdir(parents=True, exist_ok=True)
