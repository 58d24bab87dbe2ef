"""Migrations: upgrade, rollback and re-upgrade on both backends, and schema == models."""

import io
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import CheckConstraint, Engine, Table, inspect
from sqlalchemy.exc import SQLAlchemyError

from altaviz.db import migrate
from altaviz.db.models import Base, CompressorMetadata, Organization, StationLocation
from altaviz.db.session import create_db_engine, session_scope

MODEL_TABLES = set(Base.metadata.tables)


def _tables(url: str) -> set[str]:
    engine = create_db_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _head() -> str | None:
    return ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()


def test_first_revision_is_0001() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    assert [rev.revision for rev in script.walk_revisions()][-1] == "0001"
    assert script.get_revision("0001").down_revision is None


def test_upgrade_downgrade_upgrade(empty_db_url: str) -> None:
    assert migrate.current(empty_db_url) is None

    migrate.upgrade(empty_db_url)
    assert migrate.current(empty_db_url) == _head()
    assert _tables(empty_db_url) == MODEL_TABLES | {"alembic_version"}

    migrate.downgrade(empty_db_url, "base")
    assert migrate.current(empty_db_url) is None
    assert _tables(empty_db_url) <= {"alembic_version"}

    migrate.upgrade(empty_db_url)
    assert migrate.current(empty_db_url) == _head()
    assert _tables(empty_db_url) == MODEL_TABLES | {"alembic_version"}


def test_current_reports_0001_after_first_revision(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url, "0001")
    assert migrate.current(empty_db_url) == "0001"


def test_schema_matches_models(db_engine: Engine) -> None:
    with db_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def _reflected_foreign_keys(engine: Engine, table: str) -> set[tuple[Any, ...]]:
    return {
        (
            fk["name"],
            tuple(fk["constrained_columns"]),
            fk["referred_table"],
            tuple(fk["referred_columns"]),
            fk.get("options", {}).get("ondelete"),
        )
        for fk in inspect(engine).get_foreign_keys(table)
    }


def _model_foreign_keys(table: Table) -> set[tuple[Any, ...]]:
    return {
        (
            str(fk.name),
            tuple(column.name for column in fk.columns),
            fk.referred_table.name,
            tuple(element.column.name for element in fk.elements),
            fk.ondelete,
        )
        for fk in table.foreign_key_constraints
    }


def test_foreign_keys_and_checks_match_models(db_engine: Engine) -> None:
    """What compare_metadata leaves out: constraint names, ON DELETE rules, CHECK constraints."""
    inspector = inspect(db_engine)
    for table in Base.metadata.sorted_tables:
        assert _reflected_foreign_keys(db_engine, table.name) == _model_foreign_keys(table), table.name
        checks = {check["name"] for check in inspector.get_check_constraints(table.name)}
        expected = {str(c.name) for c in table.constraints if isinstance(c, CheckConstraint)}
        assert checks == expected, table.name


def test_downgrade_with_data_in_every_parent_table(db_url: str) -> None:
    engine = create_db_engine(db_url)
    try:
        with session_scope(engine) as session:
            org = Organization(name="Demo", slug="demo")
            session.add(org)
            session.flush()
            session.add(
                StationLocation(
                    organization_id=org.id,
                    station_id="STATION-A",
                    station_name="Eagle Ford",
                    latitude=28.9,
                    longitude=-98.5,
                )
            )
            session.flush()
            session.add(
                CompressorMetadata(
                    organization_id=org.id,
                    compressor_id="COMP-001",
                    station_id="STATION-A",
                    model="Ajax DPC-360",
                    horsepower=1340,
                    install_date=org.created_at.date(),
                )
            )
    finally:
        engine.dispose()

    migrate.downgrade(db_url, "base")
    assert _tables(db_url) <= {"alembic_version"}
    migrate.upgrade(db_url)
    assert _tables(db_url) == MODEL_TABLES | {"alembic_version"}


def test_ensure_schema_is_idempotent(db_url: str) -> None:
    migrate.ensure_schema(db_url)
    migrate.ensure_schema(db_url)
    assert migrate.current(db_url) == _head()


def test_ensure_schema_creates_sqlite_directory_from_any_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no alembic.ini here: the config must come from the package
    path = tmp_path / "data" / "nested" / "altaviz.db"
    migrate.ensure_schema(f"sqlite:///{path}")
    assert path.is_file()
    assert migrate.current(f"sqlite:///{path}") == _head()


@pytest.mark.slow
def test_concurrent_upgrades_do_not_collide(empty_db_url: str) -> None:
    """The pipeline and the service may both bring the schema up at start-up, in separate processes."""
    code = "import sys; from altaviz.db import migrate; migrate.ensure_schema(sys.argv[1])"
    processes = [
        subprocess.Popen([sys.executable, "-c", code, empty_db_url], stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    errors = [process.communicate(timeout=120)[1] for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], errors
    assert migrate.current(empty_db_url) == _head()


def test_offline_mode_renders_postgresql_sql() -> None:
    config = migrate.alembic_config("postgresql://user@db.invalid/altaviz")
    config.output_buffer = io.StringIO()
    command.upgrade(config, "head", sql=True)
    sql = config.output_buffer.getvalue()
    assert "CREATE TABLE organizations" in sql
    assert "JSONB" in sql


def test_head_from_files_is_alembics_head() -> None:
    assert migrate.head_from_files() == _head()


def test_sqlite_schema_file_is_what_the_migrations_create(tmp_path: Path) -> None:
    """sqlite_schema.sql, which ensure_schema runs on a new SQLite file, holds exactly the schema the
    migrations leave. After adding a migration, regenerate it:
    python -c 'from altaviz.db.migrate import write_sqlite_schema; write_sqlite_schema()'"""
    path = tmp_path / "migrated.db"
    migrate.upgrade(f"sqlite:///{path}")
    dumped = tmp_path / "dumped.sql"
    dumped.write_text(migrate.dump_sqlite_schema(path))
    assert _canonical(dumped) == _canonical(migrate.SQLITE_SCHEMA)


def _items(body: str) -> list[str]:
    """A CREATE TABLE body's top-level items (columns, constraints), split at commas outside brackets."""
    items, depth, current = [], 0, ""
    for char in body:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            items.append(current.strip())
            current = ""
        else:
            current += char
    return [*items, current.strip()]


def _canonical_statement(sql: str) -> tuple[str, ...]:
    """A CREATE statement with its table constraints in a fixed order: Alembic's batch mode (SQLite
    table rebuilds) writes them in an order that changes from one process to the next."""
    head, paren, rest = sql.partition("(")
    if not head.upper().startswith("CREATE TABLE") or not paren:
        return (" ".join(sql.split()),)
    items = _items(rest[: rest.rindex(")")])
    columns = [" ".join(i.split()) for i in items if not i.upper().startswith("CONSTRAINT")]
    constraints = sorted(" ".join(i.split()) for i in items if i.upper().startswith("CONSTRAINT"))
    return (" ".join(head.split()), *columns, *constraints)


def _canonical(schema_file: Path) -> tuple[str | None, list[tuple[str, ...]]]:
    revision, statements = migrate.sqlite_schema_statements(schema_file)
    return revision, sorted(_canonical_statement(s) for s in statements)


def _sqlite_master(path: Path) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(path)) as con:
        rows = con.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
    canonical = [(t, n, tbl, None if sql is None else _canonical_statement(sql)) for t, n, tbl, sql in rows]
    return sorted(canonical, key=str)


def _pragmas(path: Path) -> dict[str, Any]:
    with closing(sqlite3.connect(path)) as con:
        tables = [name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {
            "journal_mode": con.execute("PRAGMA journal_mode").fetchone(),
            "version": con.execute("SELECT version_num FROM alembic_version").fetchall(),
            **{
                t: (
                    con.execute(f'PRAGMA table_xinfo("{t}")').fetchall(),
                    # without the numbers SQLite gives constraints and indexes in their order of creation
                    sorted(row[1:] for row in con.execute(f'PRAGMA foreign_key_list("{t}")')),
                    sorted(
                        (*row[1:], con.execute(f'PRAGMA index_xinfo("{row[1]}")').fetchall())
                        for row in con.execute(f'PRAGMA index_list("{t}")').fetchall()
                        if not row[1].startswith("sqlite_autoindex")
                    ),
                    sorted(row[2:] for row in con.execute(f'PRAGMA index_list("{t}")')),
                )
                for t in tables
            },
        }


def test_ensure_schema_on_a_new_sqlite_file_equals_the_migrations(tmp_path: Path) -> None:
    """A new SQLite file gets the head schema without running the migrations (nor loading Alembic), and
    it is the same database the migrations make: every table, column, default, index, constraint."""
    migrated, created = tmp_path / "migrated.db", tmp_path / "new" / "created.db"
    migrate.upgrade(f"sqlite:///{migrated}")
    code = (
        "import sys; from altaviz.db import migrate; migrate.ensure_schema(sys.argv[1]); "
        "print(sorted(m.split('.')[0] for m in sys.modules if m.startswith('alembic'))[:1])"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code, f"sqlite:///{created}"], capture_output=True, text=True, check=True
    )
    assert shown.stdout.strip() == "[]"  # Alembic never loaded
    assert _sqlite_master(created) == _sqlite_master(migrated)
    assert _pragmas(created) == _pragmas(migrated)
    assert migrate.current(f"sqlite:///{created}") == _head()


def test_ensure_schema_at_head_loads_no_alembic(db_url: str) -> None:
    code = (
        "import sys; from altaviz.db import migrate; migrate.ensure_schema(sys.argv[1]); "
        "print(any(m.startswith('alembic') for m in sys.modules))"
    )
    shown = subprocess.run([sys.executable, "-c", code, db_url], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "False"
    assert migrate.current(db_url) == _head()


def test_ensure_schema_migrates_a_database_behind(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url, "0010")
    migrate.ensure_schema(empty_db_url)
    assert migrate.current(empty_db_url) == _head()
    assert _tables(empty_db_url) == MODEL_TABLES | {"alembic_version"}


def test_ensure_schema_on_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    """Not SQLite: the migration's own error, as before (no half-made schema)."""
    path = tmp_path / "altaviz.db"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(SQLAlchemyError):
        migrate.ensure_schema(f"sqlite:///{path}")
