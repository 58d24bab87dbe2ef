"""Plan limits at their edges: which compressors a plan covers, the plan-limit notice, retention by plan,
windows, history and API access following a plan change on the next request."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from altaviz.accounts.audit import AuditLog
from altaviz.accounts.models import Organization
from altaviz.accounts.roles import Role
from altaviz.accounts.scoping import OrgScope
from altaviz.alerts.models import AlertHistory
from altaviz.billing.limits import (
    PLAN_LIMIT_REASON,
    allowed_compressors,
    apply_retention,
    compressor_order,
    record_plan_limit_quarantine,
)
from altaviz.db.session import session_scope
from altaviz.monitoring.models import (
    CompressorMetadata,
    DataQualityMetric,
    MaintenanceEvent,
    SensorReadingAgg,
    StationLocation,
)
from altaviz.monitoring.service import maintenance_events
from tests.api.world import SeededOrg, key_client, member_client, seed_organization

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _org(session: Session, tier: str) -> uuid.UUID:
    org = Organization(name=f"{tier} org", slug=f"{tier}-{uuid.uuid4().hex[:6]}", subscription_tier=tier)
    session.add(org)
    session.flush()
    session.add(
        StationLocation(organization_id=org.id, station_id="S", station_name="S", latitude=0, longitude=0)
    )
    session.flush()
    return org.id


def _register(session: Session, org_id: uuid.UUID, compressor: str, at: datetime) -> None:
    session.add(
        CompressorMetadata(
            organization_id=org_id,
            compressor_id=compressor,
            station_id="S",
            model="Ajax",
            horsepower=1340,
            install_date=date(2022, 1, 1),
            created_at=at,
        )
    )
    session.flush()


def _set_tier(session: Session, org_id: uuid.UUID, tier: str) -> None:
    session.execute(update(Organization).where(Organization.id == org_id).values(subscription_tier=tier))


def test_free_covers_two_and_registered_compressors_keep_their_place(db_session: Session) -> None:
    org = _org(db_session, "free")
    batch = {"COMP-003", "COMP-001", "COMP-002"}
    assert allowed_compressors(db_session, org, batch) == {"COMP-001", "COMP-002"}
    assert allowed_compressors(db_session, org, {"COMP-009"}) == {"COMP-009"}  # 1 of 2 used
    assert allowed_compressors(db_session, org, set()) == set()

    # COMP-009 and COMP-005 registered first: a new COMP-001 does not push them out.
    _register(db_session, org, "COMP-009", NOW - timedelta(days=2))
    _register(db_session, org, "COMP-005", NOW - timedelta(days=1))
    assert compressor_order(db_session, org, {"COMP-001"}) == ["COMP-009", "COMP-005", "COMP-001"]
    assert allowed_compressors(db_session, org, {"COMP-001", "COMP-005", "COMP-009"}) == {
        "COMP-005",
        "COMP-009",
    }


def test_pro_covers_exactly_twenty_and_enterprise_all(db_session: Session) -> None:
    org = _org(db_session, "pro")
    ids = {f"C-{n:03d}" for n in range(1, 22)}
    allowed = allowed_compressors(db_session, org, ids)
    assert len(allowed) == 20 and "C-021" not in allowed
    assert allowed_compressors(db_session, org, {f"C-{n:03d}" for n in range(1, 21)}) == {
        f"C-{n:03d}" for n in range(1, 21)
    }
    _set_tier(db_session, org, "enterprise")  # read from the database on every call
    big = {f"C-{n:04d}" for n in range(5000)}
    assert allowed_compressors(db_session, org, big) == big
    _set_tier(db_session, org, "free")
    assert allowed_compressors(db_session, org, ids) == {"C-001", "C-002"}


def test_quarantine_notice_is_recorded_once_and_shown(db_session: Session) -> None:
    org = _org(db_session, "free")
    first = record_plan_limit_quarantine(
        db_session, org, {"COMP-003": 144, "COMP-004": 144, "COMP-005": 0}, NOW
    )
    assert first == ["COMP-003", "COMP-004"]
    again = record_plan_limit_quarantine(db_session, org, {"COMP-003": 6}, NOW + timedelta(hours=1))
    assert again == []
    audits = db_session.scalars(
        select(AuditLog).where(AuditLog.action == "billing.plan_limit_quarantine")
    ).all()
    assert len(audits) == 1 and audits[0].details is not None
    assert audits[0].details["compressors"] == ["COMP-003", "COMP-004"]
    assert audits[0].details["reason"] == PLAN_LIMIT_REASON == "plan limit"


def test_the_billing_page_tells_the_organization(app: FastAPI) -> None:
    org = seed_organization(app.state.engine, "alpha", "Alpha", tier="free")
    with session_scope(app.state.engine) as db:
        record_plan_limit_quarantine(db, org.id, {"COMP-003": 144, "ALPHA-9": 12})
    body = member_client(app, org.users[Role.ADMIN]).get("/api/billing").json()
    assert [q["compressor_id"] for q in body["usage"]["quarantined"]] == ["ALPHA-9", "COMP-003"]
    (notice,) = [n for n in body["notices"] if "plan limit" in n]
    assert (
        "covers 2 compressors" in notice
        and "156 so far" in notice
        and "Upgrade to Pro or Enterprise" in notice
    )


def _fill(session: Session, org_id: uuid.UUID, hours_back: list[float]) -> None:
    _register(session, org_id, "COMP-001", NOW - timedelta(days=400))
    for hours in hours_back:
        at = NOW - timedelta(hours=hours)
        session.add(
            SensorReadingAgg(
                organization_id=org_id,
                compressor_id="COMP-001",
                agg_timestamp=at,
                window_type="1hr",
                reading_count=6,
                expected_readings=6,
                missing_readings=0,
                violation_count=0,
            )
        )
        session.add(
            DataQualityMetric(
                organization_id=org_id,
                input_fingerprint=f"fp-{hours}",
                metric_timestamp=at,
                scope="fleet",
                metric_type="freshness",
                metric_value=1.0,
                pass_threshold=True,
            )
        )
    session.flush()


def _alert(session: Session, org_id: uuid.UUID, days_ago: float, *, open_: bool) -> int:
    started = NOW - timedelta(days=days_ago)
    alert = AlertHistory(
        organization_id=org_id,
        compressor_id="COMP-001",
        condition=f"vibration_mms-{days_ago}-{open_}",
        alert_type="threshold_warning",
        severity="warning",
        sensor_name="vibration_mms",
        alert_timestamp=started,
        raised_at=started,
        last_violation_at=started + timedelta(hours=1),
        returned_to_normal_at=None if open_ else started + timedelta(hours=2),
        is_active=open_,
        violation_count=2,
        resolved=False,
        source="pipeline",
    )
    session.add(alert)
    session.flush()
    return alert.id


def test_retention_keeps_exactly_what_the_plan_covers(db_session: Session) -> None:
    org = _org(db_session, "free")
    week = 7 * 24
    _fill(db_session, org, [1, week - 1, week, week + 1, 100 * 24])
    kept_open = _alert(db_session, org, 30, open_=True)
    old_closed = _alert(db_session, org, 30, open_=False)
    recent_closed = _alert(db_session, org, 2, open_=False)

    dry = apply_retention(db_session, org, NOW, dry_run=True)
    assert (dry.hourly_aggregates, dry.quality_checks, dry.alerts) == (2, 2, 1)
    assert db_session.scalar(select(func.count()).select_from(SensorReadingAgg)) == 5

    done = apply_retention(db_session, org, NOW)
    assert (done.hourly_aggregates, done.quality_checks, done.alerts) == (2, 2, 1)
    assert done.cutoff == NOW - timedelta(days=7) and done.history_days == 7
    left = sorted(db_session.scalars(select(SensorReadingAgg.agg_timestamp)))
    assert [NOW - t for t in left] == [timedelta(hours=week), timedelta(hours=week - 1), timedelta(hours=1)]
    alerts = set(db_session.scalars(select(AlertHistory.id)))
    assert alerts == {kept_open, recent_closed} and old_closed not in alerts

    _set_tier(db_session, org, "pro")  # 90 days: the 100-day-old rows are already gone, nothing else goes
    assert apply_retention(db_session, org, NOW).hourly_aggregates == 0


@pytest.mark.parametrize("tier", ["free", "pro", "enterprise"])
def test_windows_history_and_api_access_follow_the_plan(app: FastAPI, tier: str) -> None:
    org = seed_organization(app.state.engine, "alpha", "Alpha", tier=tier)
    viewer = member_client(app, org.users[Role.VIEWER])
    for window in ("1hr", "4hr", "24hr"):
        response = viewer.get("/api/compressors/COMP-001/readings", params={"window": window})
        allowed = window == "1hr" or tier != "free"
        assert response.status_code == (200 if allowed else 403), (tier, window, response.text)
        if not allowed:
            assert response.json()["code"] == "upgrade_required"
    days = {"free": 7, "pro": 90, "enterprise": 365}[tier]
    inside = (datetime.now(UTC) - timedelta(days=days) + timedelta(hours=1)).isoformat()
    outside = (datetime.now(UTC) - timedelta(days=days, hours=1)).isoformat()
    assert viewer.get("/api/compressors/COMP-001/readings", params={"end": inside}).status_code == 200
    assert viewer.get("/api/compressors/COMP-001/readings", params={"end": outside}).status_code == 403

    key = key_client(app, org.api_keys[Role.VIEWER]).get("/api/fleet")
    assert key.status_code == (403 if tier == "free" else 200)
    created = member_client(app, org.users[Role.ADMIN]).post(
        "/api/api-keys", json={"name": "k", "role": "viewer"}
    )
    assert created.status_code == (403 if tier == "free" else 201)


def test_a_downgrade_applies_on_the_next_request(app: FastAPI, org_a: SeededOrg) -> None:
    viewer = member_client(app, org_a.users[Role.VIEWER])
    machine = key_client(app, org_a.api_keys[Role.VIEWER])
    assert viewer.get("/api/compressors/COMP-001/readings", params={"window": "24hr"}).status_code == 200
    assert machine.get("/api/export/alerts").status_code == 200
    with session_scope(app.state.engine) as db:
        _set_tier(db, org_a.id, "pro")
    assert machine.get("/api/export/alerts").status_code == 403  # bulk export is Enterprise
    with session_scope(app.state.engine) as db:
        _set_tier(db, org_a.id, "free")
    assert viewer.get("/api/compressors/COMP-001/readings", params={"window": "24hr"}).status_code == 403
    assert machine.get("/api/fleet").status_code == 403


@pytest.mark.parametrize(
    ("tier", "days_ago", "listed"), [("free", 6.9, True), ("free", 7.1, False), ("pro", 7.1, True)]
)
def test_alert_list_follows_the_plans_history(app: FastAPI, tier: str, days_ago: float, listed: bool) -> None:
    org = seed_organization(app.state.engine, "alpha", "Alpha", tier=tier)
    started = datetime.now(UTC) - timedelta(days=days_ago)
    with session_scope(app.state.engine) as db:
        ids = {}
        for resolved in (True, False):
            alert = AlertHistory(
                organization_id=org.id,
                compressor_id="COMP-002",
                condition=f"gas_flow_mcf-{resolved}",
                alert_type="threshold_warning",
                severity="warning",
                sensor_name="gas_flow_mcf",
                alert_timestamp=started,
                raised_at=started,
                last_violation_at=started,
                returned_to_normal_at=started + timedelta(hours=1),
                is_active=False,
                violation_count=2,
                resolved=resolved,
                resolved_at=started + timedelta(hours=2) if resolved else None,
                source="pipeline",
            )
            db.add(alert)
            db.flush()
            ids[resolved] = alert.id
    viewer = member_client(app, org.users[Role.VIEWER])
    shown = {item["id"] for item in viewer.get("/api/alerts", params={"limit": 200}).json()["items"]}
    assert (ids[True] in shown) is listed  # a resolved alert older than the plan's history is not listed
    assert ids[False] in shown  # an unresolved one always is
    total = viewer.get("/api/alerts", params={"limit": 1}).json()["total"]
    assert total == len(org.alert_ids) + (2 if listed else 1)


def test_maintenance_history_follows_the_plan(db_session: Session) -> None:
    """Maintenance records come with the fleet metadata on every load; the plan's history filters reads."""
    org = _org(db_session, "free")
    _register(db_session, org, "COMP-001", NOW - timedelta(days=400))
    for event_id, days in (("recent", 6), ("edge", 7), ("old", 8)):
        at = NOW - timedelta(days=days)
        db_session.add(
            MaintenanceEvent(
                organization_id=org,
                event_id=event_id,
                compressor_id="COMP-001",
                performed_at=at,
                event_date=at.date(),
                event_type="scheduled",
            )
        )
    db_session.flush()
    scope = OrgScope(org)
    listed = maintenance_events(db_session, scope, history_days=7, now=NOW)
    assert [e.event_id for e in listed.items] == ["recent", "edge"] and listed.total == 2
    assert maintenance_events(db_session, scope, history_days=None, now=NOW).total == 3
