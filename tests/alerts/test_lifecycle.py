"""The alert lifecycle in the service layer: acknowledge, resolve, shelve, unshelve; who and when,
409s that say why, an audit record for every action, shelves that end by themselves."""

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from altaviz.accounts import audit
from altaviz.accounts.audit import AuditLog
from altaviz.accounts.errors import Conflict, NotFound
from altaviz.accounts.scoping import OrgScope
from altaviz.alerts import service
from tests.workflows.helpers import T0, Fleet, seed_fleet

ANN = audit.Actor("user", "00000000-0000-4000-8000-000000000001", "Ann Operator")
BOB = audit.Actor("user", "00000000-0000-4000-8000-000000000002", "Bob Operator")


def _audit(fleet: Fleet) -> list[tuple[str, str | None, str, str | None]]:
    with fleet.sessions() as session:
        rows = session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
        return [(r.action, r.target_id, r.actor_name, r.ip) for r in rows]


def test_acknowledge_records_who_and_when_once(fleet: Fleet) -> None:
    alert_id = fleet.add_alert()
    scope = OrgScope(fleet.organization_id)
    with fleet.sessions() as session:
        alert = service.acknowledge(
            session, scope, alert_id, ANN, ip="10.1.2.3", now=T0 + timedelta(minutes=5)
        )
        session.commit()
    assert (alert.acknowledged_by, alert.acknowledged_at, alert.state) == (
        "Ann Operator",
        T0 + timedelta(minutes=5),
        "active_acknowledged",
    )
    with fleet.sessions() as session, pytest.raises(Conflict, match="already acknowledged by Ann Operator"):
        service.acknowledge(session, scope, alert_id, BOB, now=T0 + timedelta(minutes=6))
    assert _audit(fleet) == [("alert.acknowledge", str(alert_id), "Ann Operator", "10.1.2.3")]


def test_resolve_with_a_note_acknowledges_too_and_only_once(fleet: Fleet) -> None:
    alert_id = fleet.add_alert(is_active=False, returned_to_normal_at=T0)
    scope = OrgScope(fleet.organization_id)
    with fleet.sessions() as session:
        alert = service.resolve(
            session, scope, alert_id, ANN, " bearing replaced ", now=T0 + timedelta(hours=1)
        )
        session.commit()
    assert (
        alert.resolved and alert.resolved_by == "Ann Operator" and alert.resolution_note == "bearing replaced"
    )
    assert alert.acknowledged_by == "Ann Operator" and alert.state == "resolved"
    with fleet.sessions() as session, pytest.raises(Conflict, match="already resolved by Ann Operator"):
        service.resolve(session, scope, alert_id, BOB, None)
    with fleet.sessions() as session, pytest.raises(Conflict, match="already acknowledged"):
        service.acknowledge(session, scope, alert_id, BOB)
    with fleet.sessions() as session:
        entry = session.scalars(select(AuditLog)).one()
        assert entry.action == "alert.resolve" and entry.details is not None
        assert entry.details["note"] == "bearing replaced" and entry.details["compressorId"] == "COMP-001"


def test_shelve_hides_the_alert_until_the_shelf_expires(fleet: Fleet) -> None:
    alert_id = fleet.add_alert()
    scope = OrgScope(fleet.organization_id)
    with fleet.sessions() as session:
        alert = service.shelve(
            session, scope, alert_id, ANN, minutes=90, reason="sensor being replaced", now=T0
        )
        session.commit()
    assert alert.shelved and alert.state == "shelved"
    assert (alert.shelved_until, alert.shelved_by, alert.shelve_reason) == (
        T0 + timedelta(minutes=90),
        "Ann Operator",
        "sensor being replaced",
    )

    def visible(at_minutes: int) -> list[int]:
        with fleet.sessions() as session:
            page = service.list_alerts(
                session, scope, status="active", shelved=False, now=T0 + timedelta(minutes=at_minutes)
            )
            return [a.id for a in page.items]

    def shelved(at_minutes: int) -> list[int]:
        with fleet.sessions() as session:
            page = service.list_alerts(session, scope, shelved=True, now=T0 + timedelta(minutes=at_minutes))
            return [a.id for a in page.items]

    assert visible(89) == [] and shelved(89) == [alert_id]
    assert visible(90) == [alert_id] and shelved(90) == []  # back by itself: nothing had to run
    with fleet.sessions() as session:
        back = service.get_alert(session, scope, alert_id, now=T0 + timedelta(minutes=90))
    assert not back.shelved and back.state == "active_unacknowledged"


def test_illegal_shelving_transitions_are_conflicts_that_say_why(fleet: Fleet) -> None:
    alert_id = fleet.add_alert()
    resolved_id = fleet.add_alert(
        "COMP-002", resolved=True, resolved_by="Ann", resolved_at=T0, acknowledged=True
    )
    scope = OrgScope(fleet.organization_id)
    with fleet.sessions() as session, pytest.raises(Conflict, match="is not shelved"):
        service.unshelve(session, scope, alert_id, ANN, now=T0)
    with fleet.sessions() as session, pytest.raises(Conflict, match="resolved alert cannot be shelved"):
        service.shelve(session, scope, resolved_id, ANN, minutes=10, reason="x", now=T0)
    with fleet.sessions() as session:
        service.shelve(session, scope, alert_id, ANN, minutes=30, reason="nuisance", now=T0)
        session.commit()
    with fleet.sessions() as session, pytest.raises(Conflict, match="already shelved by Ann Operator until"):
        service.shelve(session, scope, alert_id, BOB, minutes=10, reason="x", now=T0 + timedelta(minutes=1))
    with fleet.sessions() as session:
        back = service.unshelve(session, scope, alert_id, BOB, now=T0 + timedelta(minutes=5))
        session.commit()
    assert not back.shelved and back.shelved_until == T0 + timedelta(minutes=5)
    with fleet.sessions() as session, pytest.raises(Conflict, match="is not shelved"):
        service.unshelve(session, scope, alert_id, BOB, now=T0 + timedelta(minutes=6))
    # A shelf that has ended can be replaced by a new one.
    with fleet.sessions() as session:
        again = service.shelve(
            session, scope, alert_id, BOB, minutes=10, reason="again", now=T0 + timedelta(minutes=7)
        )
        session.commit()
    assert again.shelved_by == "Bob Operator"
    assert [a for a, *_ in _audit(fleet)] == ["alert.shelve", "alert.unshelve", "alert.shelve"]


def test_shelve_needs_a_reason_and_a_sane_duration(fleet: Fleet) -> None:
    alert_id = fleet.add_alert()
    scope = OrgScope(fleet.organization_id)
    with fleet.sessions() as session:
        with pytest.raises(ValueError, match="reason"):
            service.shelve(session, scope, alert_id, ANN, minutes=10, reason="   ")
        with pytest.raises(ValueError, match="1 to 10080 minutes"):
            service.shelve(session, scope, alert_id, ANN, minutes=0, reason="x")


def test_another_organizations_alert_is_not_found(fleet: Fleet) -> None:
    alert_id = fleet.add_alert()
    other = OrgScope(seed_fleet(fleet.engine, slug="other"))
    actions: tuple[Callable[[Session], object], ...] = (
        lambda s: service.acknowledge(s, other, alert_id, ANN),
        lambda s: service.resolve(s, other, alert_id, ANN, None),
        lambda s: service.shelve(s, other, alert_id, ANN, minutes=5, reason="x"),
        lambda s: service.unshelve(s, other, alert_id, ANN),
    )
    for action in actions:
        with fleet.sessions() as session, pytest.raises(NotFound):
            action(session)
    alert = fleet.alert(alert_id)
    assert not (alert.acknowledged or alert.resolved or alert.shelved_until)
    assert _audit(fleet) == []
