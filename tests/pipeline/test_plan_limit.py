"""The plan's compressor limit in the pipeline: readings of compressors beyond it are quarantined with
the reason "plan limit", the organization is told once, and an upgrade releases them on the next run."""

from pathlib import Path

from sqlalchemy import func, select, update

from altaviz.accounts.audit import AuditLog as AuditEntry
from altaviz.accounts.models import Organization
from altaviz.accounts.service import create_organization
from altaviz.billing.models import PlanLimitQuarantine
from altaviz.db.session import create_db_engine, session_scope
from altaviz.monitoring.models import SensorReadingAgg
from tests.pipeline.helpers import copy_landing, lake_rows, run, settings_for, write_readings


def test_readings_beyond_the_plan_are_held_back_until_an_upgrade(
    tmp_path: Path, default_landing: Path, db_url: str
) -> None:
    data_dir = copy_landing(default_landing, tmp_path / "free")
    engine = create_db_engine(db_url)
    try:
        with session_scope(engine) as session:
            create_organization(session, "Small Gas Co", slug="small", tier="free", max_compressors=2)
        settings = settings_for(data_dir, db_url)
        result = run(settings, organization="small")

        held = lake_rows(data_dir, "silver/quarantine", where="reason LIKE 'plan limit%'")
        held_back = {r["compressor_id"] for r in held}
        assert len(held_back) == 8 and len(held) == 8 * 1008
        assert result.summary.plan_limited == {c: 1008 for c in held_back}
        with session_scope(engine) as session:
            loaded = set(session.scalars(select(SensorReadingAgg.compressor_id).distinct()))
            noted = {r.compressor_id: r.readings for r in session.scalars(select(PlanLimitQuarantine))}
            told = session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "billing.plan_limit_quarantine")
            )
        assert loaded == {"COMP-001", "COMP-002"}
        assert noted == {c: 1008 for c in held_back}
        assert told == 1
        assert result.summary.quality.get("accuracy") is True, "held-back readings are not a quality failure"

        # A new hour of readings: the counts grow, the organization is not told again.
        write_readings(
            data_dir / "landing",
            "more.parquet",
            [
                {
                    "compressor_id": "COMP-010",
                    "timestamp": max(r["timestamp"] for r in held).replace(minute=55),
                }
            ],
        )
        run(settings, organization="small")
        with session_scope(engine) as session:
            assert (
                session.get_one(
                    PlanLimitQuarantine,
                    (session.scalar(select(Organization.id).where(Organization.slug == "small")), "COMP-010"),
                ).readings
                == 1009
            )
            assert (
                session.scalar(
                    select(func.count())
                    .select_from(AuditEntry)
                    .where(AuditEntry.action == "billing.plan_limit_quarantine")
                )
                == 1
            )

        # The upgrade applies on the next run: everything is recomputed and nothing is held back.
        with session_scope(engine) as session:
            session.execute(
                update(Organization)
                .where(Organization.slug == "small")
                .values(subscription_tier="enterprise", max_compressors=None)
            )
        run(settings, organization="small")
        assert not lake_rows(data_dir, "silver/quarantine", where="reason LIKE 'plan limit%'")
        with session_scope(engine) as session:
            assert len(set(session.scalars(select(SensorReadingAgg.compressor_id).distinct()))) == 10
    finally:
        engine.dispose()
