"""The shared database fixtures themselves: each PostgreSQL test starts from empty tables and restarted
sequences (tests/conftest.py empties them with DELETEs in foreign-key order, not TRUNCATE)."""

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tests.api.world import seed_organization
from tests.conftest import _emptying_statement


def _counts(url: str) -> tuple[dict[str, int], dict[str, bool]]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            tables = connection.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            ).scalars()
            rows = {t: connection.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in tables}
            sequences = connection.execute(
                text(
                    "SELECT c.relname FROM pg_sequence AS s JOIN pg_class AS c ON c.oid = s.seqrelid"
                    " WHERE c.relnamespace = current_schema()::regnamespace"
                )
            ).scalars()
            called = {
                s: connection.execute(text(f'SELECT is_called FROM "{s}"')).scalar_one() for s in sequences
            }
    finally:
        engine.dispose()
    return rows, called


def test_every_table_is_emptied_and_every_sequence_restarted(pg_url: str) -> None:
    engine = create_engine(pg_url, poolclass=NullPool)
    seed_organization(engine, "alpha", "Alpha")  # users, keys, compressors, alerts (a serial id), audit
    engine.dispose()
    rows, called = _counts(pg_url)
    assert rows["organizations"] == 1 and rows["alert_history"] > 0 and called["alert_history_id_seq"]

    with create_engine(pg_url, poolclass=NullPool, isolation_level="AUTOCOMMIT").connect() as connection:
        connection.exec_driver_sql(_emptying_statement(pg_url))
    rows, called = _counts(pg_url)
    assert {table: n for table, n in rows.items() if n and table != "alembic_version"} == {}
    assert rows["alembic_version"] == 1  # the schema stays migrated
    assert called and not any(called.values())
