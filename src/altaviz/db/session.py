"""Engines and sessions for the operational database (SQLite by default, PostgreSQL in production)."""

import os
import socket
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, NullPool

from altaviz.config import Settings, get_settings, normalize_database_url

# Default wait for a pooled connection before failing (sqlalchemy.exc.TimeoutError); DB_POOL_TIMEOUT.
POOL_TIMEOUT_SECONDS = 5.0
SQLITE_BUSY_TIMEOUT_MS = 5_000
# Execution option: start SQLite transactions with BEGIN IMMEDIATE, taking the write lock up front
# (waiting up to the busy timeout). For writers that read first: a deferred transaction that comes
# to write after another writer committed fails at once with "database is locked".
SQLITE_BEGIN_IMMEDIATE = "altaviz_sqlite_begin_immediate"
# A new connection to a server that accepts but does not answer gives up after this (psycopg's minimum
# is 2 s). The API answers such requests sooner (api/middleware.py); this bounds the worker thread.
POSTGRES_CONNECT_TIMEOUT_SECONDS = 3


class LiveConnections:
    """Every DBAPI connection an engine opened (held weakly), so the service can cut them all when the
    database hangs: a query waiting on a server that accepted it but never answers has no client-side
    timeout, and shutting its socket down makes the driver fail at once (the pool then replaces it)."""

    def __init__(self) -> None:
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()

    def add(self, dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        with self._lock:
            self._connections.add(dbapi_connection)

    def cut_all(self) -> int:
        """Shut down the socket of every open connection; returns how many were cut."""
        with self._lock:
            connections = list(self._connections)
        cut = 0
        for connection in connections:
            try:
                duplicate = socket.socket(fileno=os.dup(connection.fileno()))
            except Exception:  # noqa: S112 — closed already (the driver says so its own way)
                continue
            try:
                duplicate.shutdown(socket.SHUT_RDWR)
                cut += 1
            except OSError:
                pass
            finally:
                duplicate.close()
        return cut


_LIVE: "weakref.WeakKeyDictionary[Engine, LiveConnections]" = weakref.WeakKeyDictionary()


def live_connections(engine: Engine) -> LiveConnections | None:
    """The engine's connection registry (PostgreSQL engines only; SQLite has no socket to hang on)."""
    return _LIVE.get(engine)


def create_db_engine(url: str | None = None, settings: Settings | None = None) -> Engine:
    """The engine for `url` (default: the configured database), tuned for its backend."""
    settings = settings or get_settings()
    sa_url = make_url(normalize_database_url(url) if url else settings.sqlalchemy_url)
    backend = sa_url.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(sa_url, settings)
    if backend == "postgresql":
        return _postgres_engine(sa_url, settings)
    return create_engine(sa_url, pool_pre_ping=True)


def _sqlite_engine(url: URL, settings: Settings) -> Engine:
    in_memory = url.database in (None, "", ":memory:") or "mode=memory" in str(url)
    # File databases get a QueuePool (with a wait limit); in-memory ones a pool that takes none.
    options = {} if in_memory else {"pool_timeout": settings.db_pool_timeout_seconds}
    engine = create_engine(url, **options)
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _on_sqlite_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Take BEGIN away from the sqlite3 driver (see _on_sqlite_begin); this also makes the PRAGMAs
    # below run outside a transaction, where foreign_keys takes effect.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
    finally:
        cursor.close()


def _on_sqlite_begin(connection: Connection) -> None:
    # Python < 3.12's sqlite3 never BEGINs before SELECT, DDL or SAVEPOINT, which breaks savepoints
    # and transactional migrations; SQLAlchemy's documented remedy is to emit BEGIN ourselves.
    options = connection.get_execution_options()
    if options.get("isolation_level") != "AUTOCOMMIT":
        connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get(SQLITE_BEGIN_IMMEDIATE) else "BEGIN")


def _postgres_engine(url: URL, settings: Settings) -> Engine:
    engine = create_engine(
        url,
        pool_size=settings.db_pool_max,
        max_overflow=0,
        pool_timeout=settings.db_pool_timeout_seconds,
        pool_pre_ping=True,
        connect_args={
            "options": f"-c statement_timeout={settings.db_statement_timeout_ms}",
            "connect_timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS,
            "application_name": "altaviz",
        },
    )
    registry = LiveConnections()
    event.listen(engine, "connect", registry.add)
    _LIVE[engine] = registry
    return engine


def create_probe_engine(url: str) -> Engine | None:
    """For PostgreSQL, an engine without a pool that the service uses only to ask whether the database
    answers (SELECT 1 on a fresh connection): unlike the service's pool it is never exhausted by busy
    requests, so "no answer" means the database, not the load. None for other databases."""
    sa_url = make_url(normalize_database_url(url))
    if sa_url.get_backend_name() != "postgresql":
        return None
    return create_engine(
        sa_url,
        poolclass=NullPool,
        connect_args={
            "options": "-c statement_timeout=2000",
            "connect_timeout": 2,  # psycopg's minimum
            "application_name": "altaviz-probe",
        },
    )


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to `engine`; objects stay readable after commit (no reload per attribute)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One unit of work: commits when the block succeeds, rolls back when it raises."""
    with session_factory(engine)() as session, session.begin():
        yield session
