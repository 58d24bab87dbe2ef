"""Engine and session behaviour on both backends: integrity, time zones, pool limits, timeouts."""

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session

from altaviz.config import get_settings
from altaviz.db.migrate import migration_engine
from altaviz.db.models import CompressorMetadata, Organization
from altaviz.db.session import POOL_TIMEOUT_SECONDS, create_db_engine, session_factory, session_scope


def _organization(slug: str = "demo", **values: object) -> Organization:
    return Organization(name=slug.title(), slug=slug, **values)


def test_sqlite_pragmas(sqlite_url: str) -> None:
    engine = create_db_engine(sqlite_url)
    try:
        with engine.connect() as connection:
            pragmas = {
                name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("foreign_keys", "journal_mode", "busy_timeout")
            }
        assert pragmas == {"foreign_keys": 1, "journal_mode": "wal", "busy_timeout": 5000}
    finally:
        engine.dispose()


def test_foreign_keys_are_enforced(db_session: Session) -> None:
    org = _organization()
    db_session.add(org)
    db_session.flush()
    db_session.add(
        CompressorMetadata(
            organization_id=org.id,
            compressor_id="COMP-001",
            station_id="NO-SUCH-STATION",
            model="Ajax DPC-360",
            horsepower=1340,
            install_date=date(2020, 1, 1),
        )
    )
    with pytest.raises(IntegrityError):
        db_session.flush()


def test_utc_datetime_round_trips_as_aware_utc(db_engine: Engine) -> None:
    local = datetime(2025, 3, 9, 7, 30, 15, 123456, tzinfo=timezone(timedelta(hours=-6)))
    with session_scope(db_engine) as session:
        org = _organization(created_at=local, updated_at=local)
        session.add(org)
        session.flush()
        org_id = org.id

    with session_factory(db_engine)() as session:
        created_at = session.scalars(select(Organization.created_at).where(Organization.id == org_id)).one()
    assert created_at == local
    assert created_at.tzinfo is UTC
    assert created_at.hour == 13


def test_naive_datetime_is_rejected(db_session: Session) -> None:
    db_session.add(_organization(created_at=datetime(2025, 1, 1, 12, 0)))
    with pytest.raises(StatementError, match="naive datetime"):
        db_session.flush()


def test_session_scope_commits_or_rolls_back(db_engine: Engine) -> None:
    with session_scope(db_engine) as session:
        session.add(_organization("kept"))
    with pytest.raises(RuntimeError), session_scope(db_engine) as session:
        session.add(_organization("discarded"))
        session.flush()
        raise RuntimeError("boom")

    with session_factory(db_engine)() as session:
        assert session.scalars(select(Organization.slug)).all() == ["kept"]


def test_savepoint_rolls_back_only_its_own_work(db_engine: Engine) -> None:
    """On SQLite this needs session.py's own BEGIN: the sqlite3 driver would commit at RELEASE."""
    with session_scope(db_engine) as session:
        session.add(_organization("outer"))
        session.flush()
        with pytest.raises(IntegrityError), session.begin_nested():
            session.add(_organization("outer"))  # duplicate slug
        session.add(_organization("after"))

    with session_factory(db_engine)() as session:
        assert sorted(session.scalars(select(Organization.slug))) == ["after", "outer"]


@pytest.mark.slow
def test_exhausted_postgres_pool_fails_fast(
    pg_url: str, record_property: Callable[[str, object], None]
) -> None:
    engine = create_db_engine(pg_url, get_settings().model_copy(update={"db_pool_max": 1}))
    try:
        with engine.connect() as held:
            held.execute(text("SELECT 1"))
            started = time.monotonic()
            with pytest.raises(PoolTimeoutError, match="limit of size 1 overflow 0 reached"):
                engine.connect()
            record_property("pool_wait_seconds", round(time.monotonic() - started, 2))
    finally:
        engine.dispose()
    assert engine.pool.timeout() == POOL_TIMEOUT_SECONDS  # type: ignore[attr-defined]


def test_statement_timeout_is_applied_on_postgres(pg_url: str) -> None:
    engine = create_db_engine(pg_url, get_settings().model_copy(update={"db_statement_timeout_ms": 150}))
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SHOW statement_timeout").scalar() == "150ms"
            with pytest.raises(OperationalError, match="statement timeout"):
                connection.exec_driver_sql("SELECT pg_sleep(2)")
    finally:
        engine.dispose()


def test_migrations_run_without_statement_timeout(pg_url: str) -> None:
    engine = migration_engine(pg_url)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SHOW statement_timeout").scalar() == "0"
    finally:
        engine.dispose()
