"""Alembic, driven from code: works from an installed package, with no alembic.ini in the CWD.

`ensure_schema` (every command that uses the database calls it first) imports Alembic only when there
is something to migrate: a database already at the head revision is recognised with one query, the
head read from the revision files' own `revision`/`down_revision` lines, and a new SQLite file is
created from `sqlite_schema.sql`, the schema the migrations leave, dumped from a migrated file
(`write_sqlite_schema`; tests/db/test_migrations.py checks it equals what the migrations create), in one
transaction. Alembic's import and the twelve migrations took about 0.75 s of CPU, most of a seed-size
`altaviz pipeline run`.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry

from altaviz.config import get_settings, normalize_database_url
from altaviz.db.session import SQLITE_BUSY_TIMEOUT_MS, create_db_engine

if TYPE_CHECKING:  # Alembic loads only when a migration runs
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# The schema the migrations leave on SQLite, as its CREATE statements; its first line names the revision.
SQLITE_SCHEMA = Path(__file__).resolve().parent / "sqlite_schema.sql"

# Alembic keeps the running migration context in module globals: one migration per process at a time.
# Across processes, env.py serialises upgrades (PostgreSQL advisory lock, SQLite BEGIN IMMEDIATE).
_alembic_lock = threading.Lock()


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    with _config(url) as config:
        command.upgrade(config, revision)


def downgrade(url: str, revision: str) -> None:
    from alembic import command

    with _config(url) as config:
        command.downgrade(config, revision)


def current(url: str) -> str | None:
    """The revision the database is at; None when it has never been migrated."""
    from alembic.runtime.migration import MigrationContext

    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def problem(url: str, error: Exception) -> str:
    """One line saying what went wrong with a migration or a database connection, without SQL or a
    traceback (the password hidden)."""
    shown = make_url(normalize_database_url(url)).render_as_string(hide_password=True)
    CommandError = _loaded_command_error()
    if CommandError is not None and isinstance(error, CommandError):
        text = str(error)
        if "Can't locate revision" in text or "No such revision" in text or "is not a valid" in text:
            from alembic.script import ScriptDirectory

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


def _loaded_command_error() -> type[Exception] | None:
    """Alembic's CommandError when Alembic is loaded (nothing else can have raised it)."""
    import sys

    module = sys.modules.get("alembic.util.exc")
    return None if module is None else module.CommandError


def ensure_schema(url: str) -> None:
    """Bring the database to the latest schema (creating the SQLite file if needed).

    Alembic runs only when the database is behind: one at the head revision is left as it is, and a new
    SQLite file gets the head schema from SQLITE_SCHEMA (the same tables, indexes and constraints the
    migrations create, checked by the tests)."""
    url = normalize_database_url(url)
    head = head_from_files()
    if head is not None:
        if _at_revision(url, head):
            return
        if _create_sqlite_schema(url, head):
            return
    upgrade(url, "head")


_REVISION_LINE = re.compile(r"^(down_revision|revision)\b[^=\n]*=\s*(None|\"(\w+)\"|'(\w+)')\s*$", re.M)


def head_from_files() -> str | None:
    """The head revision, read from the revision files' `revision` and `down_revision` lines (without
    loading them, or Alembic); None when that is not one simple chain (Alembic then decides)."""
    revisions: dict[str, str | None] = {}
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        found = {m.group(1): m.group(3) or m.group(4) for m in _REVISION_LINE.finditer(path.read_text())}
        if "revision" not in found or "down_revision" not in found or not found["revision"]:
            return None
        revisions[str(found["revision"])] = found["down_revision"]
    parents = set(revisions.values())
    heads = [r for r in revisions if r not in parents]
    bases = [r for r, down in revisions.items() if down is None]
    if len(heads) != 1 or len(bases) != 1 or len(parents) != len(revisions):
        return None  # branches, merges or a gap
    return heads[0]


def _sqlite_file(url: str) -> Path | None:
    """The file of a plain SQLite URL (not in memory, not a URI filename); None for anything else."""
    sa_url = make_url(url)
    database = sa_url.database
    if sa_url.get_backend_name() != "sqlite" or sa_url.query or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        return None
    return Path(database)


def _at_revision(url: str, revision: str) -> bool:
    """Whether the database's alembic_version says `revision`. A database out of reach raises as the
    migration would (SQLAlchemy's errors); a missing table or file is False."""
    path = _sqlite_file(url)
    if path is not None:
        if not path.is_file():
            return False
        try:
            with closing(sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)) as con:
                rows = con.execute("SELECT version_num FROM alembic_version").fetchall()
        except sqlite3.Error:  # no such table, not a database, unreadable: the migration says what
            return False
        return rows == [(revision,)]
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:  # an unreachable database raises here, as upgrade would
            try:
                versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
            except SQLAlchemyError:
                return False
        return [tuple(row) for row in versions] == [(revision,)]
    finally:
        engine.dispose()


def sqlite_schema_statements(path: Path = SQLITE_SCHEMA) -> tuple[str | None, list[str]]:
    """The revision and statements of SQLITE_SCHEMA (tables first, then indexes, as dumped)."""
    text_ = path.read_text()
    first, _, rest = text_.partition("\n")
    match = re.fullmatch(r"-- alembic revision (\w+)", first.strip())
    statements = [s.strip() for s in rest.split(";\n\n") if s.strip()]
    return (match.group(1) if match else None), [s.removesuffix(";") for s in statements]


def _create_sqlite_schema(url: str, head: str) -> bool:
    """A new (empty) SQLite file brought to `head` from SQLITE_SCHEMA in one transaction; False when the
    file already has tables, the URL is not a plain file, or the script is not at `head`."""
    path = _sqlite_file(url)
    if path is None:
        return False
    revision, statements = sqlite_schema_statements()
    if revision != head:
        return False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        timeout = SQLITE_BUSY_TIMEOUT_MS / 1000
        with closing(sqlite3.connect(path, timeout=timeout, isolation_level=None)) as con:
            con.execute("PRAGMA journal_mode = WAL")  # as every connection of create_db_engine sets it
            con.execute("BEGIN IMMEDIATE")  # two processes at once: one creates it, the other finds it
            try:
                if con.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]:
                    con.execute("ROLLBACK")
                    return _at_revision(url, head)  # not empty: at head, or Alembic decides
                for statement in statements:
                    con.execute(statement)
                con.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (head,))
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
    except (sqlite3.Error, OSError):  # not a database, unwritable, locked too long: the migration says what
        return False
    return True


def dump_sqlite_schema(path: Path) -> str:
    """The schema of a SQLite file as SQLITE_SCHEMA holds it: its revision, then the CREATE statements
    of its tables and then of its indexes, triggers and views, in the order SQLite lists them."""
    with closing(sqlite3.connect(path)) as con:
        (revision,) = con.execute("SELECT version_num FROM alembic_version").fetchone()
        rows = con.execute(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
            "ORDER BY type != 'table', rowid"
        ).fetchall()
    return f"-- alembic revision {revision}\n" + "".join(f"{sql};\n\n" for (sql,) in rows)


def write_sqlite_schema() -> None:
    """Regenerate SQLITE_SCHEMA from the migrations (after adding one):
    python -c 'from altaviz.db.migrate import write_sqlite_schema; write_sqlite_schema()'"""
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "schema.db"
        upgrade(f"sqlite:///{path}", "head")
        SQLITE_SCHEMA.write_text(dump_sqlite_schema(path))


def alembic_config(url: str | None = None) -> Config:
    """An Alembic Config for this package's migrations (for `alembic` commands run from code)."""
    from alembic.config import Config

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
