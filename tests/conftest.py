"""Shared database fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ALTAVIZ_TEST_POSTGRES_URL (default: the local `test` database). An unreachable
server fails the PostgreSQL tests; ALTAVIZ_TEST_POSTGRES_URL=skip skips them instead.
"""

import itertools
import os
import sqlite3
from collections.abc import Iterator
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from altaviz.config import normalize_database_url
from altaviz.db import migrate
from altaviz.db.session import create_db_engine, session_factory

POSTGRES_URL_ENV = "ALTAVIZ_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = ["sqlite", "postgresql"]

_empty_database_numbers = itertools.count()


def _admin_engine(url: str) -> Engine:
    # lock_timeout: a connection a test leaked inside a transaction makes TRUNCATE fail, not hang.
    return create_engine(
        url,
        poolclass=NullPool,
        isolation_level="AUTOCOMMIT",
        connect_args={"connect_timeout": 5, "options": "-c lock_timeout=10000"},
    )


def _database_url(admin_url: str, name: str) -> str:
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _create_database(admin_url: str, name: str) -> str:
    _drop_database(admin_url, name)
    engine = _admin_engine(admin_url)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        engine.dispose()
    return _database_url(admin_url, name)


def _drop_database(admin_url: str, name: str) -> None:
    engine = _admin_engine(admin_url)
    try:
        with engine.connect() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """A PostgreSQL URL with the right to CREATE/DROP DATABASE (never migrated by the tests)."""
    raw = os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL)
    if raw.strip().lower() == "skip":
        pytest.skip(f"PostgreSQL tests disabled by {POSTGRES_URL_ENV}=skip")
    url = normalize_database_url(raw)
    engine = _admin_engine(url)
    problem: str | None = None
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except OperationalError as error:
        problem = str(error.orig)
    finally:
        engine.dispose()
    if problem is not None:
        shown = make_url(url).render_as_string(hide_password=True)
        pytest.fail(
            f"PostgreSQL is unreachable at {shown}: {problem}\n"
            f"Start it, point {POSTGRES_URL_ENV} at a server, or set {POSTGRES_URL_ENV}=skip "
            "to skip the PostgreSQL tests.",
            pytrace=False,
        )
    return url


@pytest.fixture(scope="session")
def _pg_migrated_url(pg_admin_url: str) -> Iterator[str]:
    name = f"altaviz_test_{os.getpid()}"
    url = _create_database(pg_admin_url, name)
    migrate.upgrade(url)
    yield url
    _drop_database(pg_admin_url, name)


def _emptying_statement(url: str) -> str:
    """One statement that empties every table and restarts every sequence, as `TRUNCATE … RESTART
    IDENTITY CASCADE` would: DELETE, children before the tables they reference. On the few rows a test
    leaves, that takes ~0.1 s where TRUNCATE (a new file for each of ~30 tables and their indexes) took
    1.3 s per test."""
    engine = _admin_engine(url)
    try:
        with engine.connect() as connection:
            tables = connection.execute(
                text(
                    "SELECT tablename FROM pg_tables"
                    " WHERE schemaname = current_schema() AND tablename <> 'alembic_version'"
                )
            ).scalars()
            order: TopologicalSorter[str] = TopologicalSorter({table: set() for table in tables})
            references = connection.execute(
                text(
                    "SELECT child.relname, parent.relname FROM pg_constraint AS k"
                    " JOIN pg_class AS child ON child.oid = k.conrelid"
                    " JOIN pg_class AS parent ON parent.oid = k.confrelid"
                    " WHERE k.contype = 'f' AND child.relnamespace = current_schema()::regnamespace"
                )
            )
            for child, parent in references:
                if child != parent:
                    order.add(parent, child)  # the child's rows go first
    finally:
        engine.dispose()
    try:
        children_first = list(order.static_order())
    except CycleError as cycle:
        cycle_text = " -> ".join(cycle.args[1])
        raise AssertionError(f"foreign keys form a cycle ({cycle_text}): no order to delete in") from None
    deletes = " ".join(f'DELETE FROM "{table}";' for table in children_first)
    restart = (
        "PERFORM setval(c.oid, s.seqstart, false) FROM pg_sequence AS s"
        " JOIN pg_class AS c ON c.oid = s.seqrelid WHERE c.relnamespace = current_schema()::regnamespace;"
    )
    return f"DO $$ BEGIN {deletes} {restart} END $$"


@pytest.fixture(scope="session")
def _pg_emptying_statement(_pg_migrated_url: str) -> str:
    return _emptying_statement(_pg_migrated_url)


@pytest.fixture
def pg_url(_pg_migrated_url: str, _pg_emptying_statement: str) -> str:
    """The session's migrated PostgreSQL database, every table emptied before the test."""
    engine = _admin_engine(_pg_migrated_url)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(_pg_emptying_statement)
    finally:
        engine.dispose()
    return _pg_migrated_url


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "altaviz.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(_sqlite_template: Path, tmp_path: Path) -> str:
    """A fresh SQLite file at the latest schema (a copy of a template migrated once per session)."""
    path = tmp_path / "altaviz.db"
    source, target = sqlite3.connect(_sqlite_template), sqlite3.connect(path)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    return f"sqlite:///{path}"


@pytest.fixture(params=BACKENDS, ids=BACKENDS)
def db_url(request: pytest.FixtureRequest) -> str:
    """A migrated, empty database on each backend."""
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


@pytest.fixture(params=BACKENDS, ids=BACKENDS)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it, not even alembic_version (for migration tests)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    admin_url = str(request.getfixturevalue("pg_admin_url"))
    name = f"altaviz_empty_{os.getpid()}_{next(_empty_database_numbers)}"
    url = _create_database(admin_url, name)
    yield url
    _drop_database(admin_url, name)


@pytest.fixture
def db_backend(db_url: str) -> str:
    """'sqlite' or 'postgresql', for the few tests whose expectations differ by backend."""
    return make_url(db_url).get_backend_name()


@pytest.fixture
def db_engine(db_url: str) -> Iterator[Engine]:
    engine = create_db_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def db_session(db_engine: Engine) -> Iterator[Session]:
    with session_factory(db_engine)() as session:
        yield session
