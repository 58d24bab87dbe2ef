"""db.bulk.upsert on both backends: inserts, updates only what changed, applies Python-side defaults,
and on PostgreSQL loads more rows than one COPY chunk holds."""

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Engine, func, select

from altaviz.db import bulk
from altaviz.db.models import CompressorMetadata, Organization
from altaviz.db.session import session_scope
from altaviz.monitoring.models import RecentReading, StationLocation

KEY = ["organization_id", "compressor_id", "timestamp"]
START = datetime(2026, 3, 1, tzinfo=UTC)


def _fleet(engine: Engine, slug: str = "bulk") -> Organization:
    with session_scope(engine) as session:
        org = Organization(name=slug.title(), slug=slug)
        session.add(org)
        session.flush()
        bulk.upsert(
            session,
            StationLocation,
            [
                {
                    "organization_id": org.id,
                    "station_id": "S1",
                    "station_name": "One",
                    "latitude": 31.0,
                    "longitude": -102.0,
                }
            ],
            ["organization_id", "station_id"],
            ["station_name", "latitude", "longitude"],
        )
        for n in range(3):
            session.add(
                CompressorMetadata(
                    organization_id=org.id,
                    compressor_id=f"C-{n}",
                    station_id="S1",
                    model="M",
                    horsepower=1000,
                    install_date=START.date(),
                )
            )
        session.expunge(org)
        return org


def _readings(org: Organization, count: int) -> list[dict[str, Any]]:
    return [
        {
            "organization_id": org.id,
            "compressor_id": f"C-{i % 3}",
            "timestamp": START + timedelta(minutes=10 * (i // 3)),
            "vibration_mms": 3.0,
            "status": "healthy",
        }
        for i in range(count)
    ]


def test_upsert_inserts_then_changes_only_what_differs(db_engine: Engine) -> None:
    org = _fleet(db_engine)
    rows = _readings(org, bulk.COPY_ROWS * 2 + 501)  # three COPY chunks on PostgreSQL
    # a key given twice: the last row counts
    rows.append({**rows[0], "vibration_mms": 4.5})
    with session_scope(db_engine) as session:
        bulk.upsert(session, RecentReading, rows, KEY, ["vibration_mms", "status"])
    with session_scope(db_engine) as session:
        assert session.scalar(select(func.count()).select_from(RecentReading)) == len(rows) - 1
        first = session.get_one(RecentReading, (org.id, "C-0", START))
        assert first.vibration_mms == 4.5
        # a time in another zone is the same instant
        changed = {**rows[5], "timestamp": rows[5]["timestamp"].astimezone(timezone(timedelta(hours=-6)))}
        changed["vibration_mms"] = 9.25
        bulk.upsert(session, RecentReading, [changed, rows[6]], KEY, ["vibration_mms", "status"])
    with session_scope(db_engine) as session:
        assert session.scalar(select(func.count()).select_from(RecentReading)) == len(rows) - 1
        reading = session.get_one(RecentReading, (org.id, rows[5]["compressor_id"], rows[5]["timestamp"]))
        assert reading.vibration_mms == 9.25
        assert reading.timestamp.tzinfo is UTC
        station = session.get_one(StationLocation, (org.id, "S1"))
        assert station.created_at is not None  # the model's Python-side default, applied


def test_the_stamp_moves_only_when_a_value_changed(db_engine: Engine) -> None:
    org = _fleet(db_engine)
    key = ["organization_id", "compressor_id"]
    row = {
        "organization_id": org.id,
        "compressor_id": "C-1",
        "station_id": "S1",
        "model": "M",
        "horsepower": 1000,
        "install_date": START.date(),
    }
    old = datetime(2020, 1, 1, tzinfo=UTC)
    with session_scope(db_engine) as session:
        session.get_one(CompressorMetadata, (org.id, "C-1")).updated_at = old
    with session_scope(db_engine) as session:
        bulk.upsert(session, CompressorMetadata, [row], key, ["model", "horsepower"], stamp="updated_at")
    with session_scope(db_engine) as session:
        assert session.get_one(CompressorMetadata, (org.id, "C-1")).updated_at == old
        bulk.upsert(
            session,
            CompressorMetadata,
            [{**row, "horsepower": 1200}],
            key,
            ["model", "horsepower"],
            stamp="updated_at",
        )
    with session_scope(db_engine) as session:
        compressor = session.get_one(CompressorMetadata, (org.id, "C-1"))
        assert compressor.horsepower == 1200 and compressor.updated_at > old


def test_sqlite_bulk_writes_what_sqlalchemy_executemany_writes(db_engine: Engine) -> None:
    """SQLite's bulk path (statement compiled once, rows through the bind processors to the driver)
    stores exactly what SQLAlchemy's own executemany of the same rows stores: UUIDs, times in any zone,
    JSON documents, booleans and NULLs."""
    from sqlalchemy import text
    from sqlalchemy.dialects import sqlite

    from altaviz.monitoring.models import DataQualityMetric

    if db_engine.dialect.name != "sqlite":
        return  # PostgreSQL COPYs (test_upsert_inserts_then_changes_only_what_differs)
    org = _fleet(db_engine)
    other_id = _fleet(db_engine, "reference").id
    central = timezone(timedelta(hours=-6))

    def quality(organization_id: object) -> list[dict[str, object]]:
        return [
            {
                "organization_id": organization_id,
                "input_fingerprint": f"{i:064d}",
                "metric_timestamp": (START + timedelta(minutes=i)).astimezone(central if i % 2 else UTC),
                "scope": "compressor",
                "compressor_id": None if i % 7 == 0 else f"C-{i % 3}",
                "metric_type": ("freshness", "completeness", "consistency", "accuracy")[i % 4],
                "metric_value": None if i % 5 == 0 else i / 3,
                "pass_threshold": bool(i % 2),
                "details": {"bronze_rows": i, "nested": [1.5, None]},
            }
            for i in range(50)
        ]

    def readings(organization_id: object) -> list[dict[str, object]]:
        rows = _readings(org, 30)
        return [{**r, "organization_id": organization_id, "vibration_mms": i / 7} for i, r in enumerate(rows)]

    key = ["organization_id", "input_fingerprint", "scope", "metric_type"]
    with session_scope(db_engine) as session:
        bulk.insert_new(session, DataQualityMetric, quality(org.id), key)
        session.execute(sqlite.insert(DataQualityMetric), quality(other_id))
        bulk.upsert(session, RecentReading, readings(org.id), KEY, ["vibration_mms", "status"])
        session.execute(sqlite.insert(RecentReading), readings(other_id))
    columns = {
        "data_quality_metrics": "input_fingerprint, metric_timestamp, scope, compressor_id, metric_type, "
        "metric_value, pass_threshold, details, typeof(metric_timestamp), typeof(details)",
        "recent_readings": "compressor_id, timestamp, vibration_mms, status, typeof(timestamp)",
    }
    with db_engine.connect() as connection:
        ids = connection.execute(text("SELECT id FROM organizations ORDER BY slug")).scalars().all()
        assert len(ids) == 2
        for table, names in columns.items():
            stored = [
                connection.execute(
                    text(f"SELECT {names} FROM {table} WHERE organization_id = :o ORDER BY 1, 2, 3, 4, 5"),
                    {"o": organization},
                ).all()
                for organization in ids
            ]
            assert stored[0] == stored[1] and len(stored[0]) in (50, 30)
