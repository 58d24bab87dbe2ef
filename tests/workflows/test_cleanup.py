"""Cleanup: alerts unactioned for WORKFLOW_CLEANUP_DAYS (7) are acknowledged by the system."""

from datetime import timedelta

from tests.workflows.helpers import T0, Fleet

WEEK = timedelta(days=7)


def test_acknowledges_after_seven_days_not_a_second_before(fleet: Fleet) -> None:
    alert_id = fleet.add_alert(raised_at=T0, severity="critical", alert_type="threshold_critical")
    fleet.clock.set(T0 + WEEK - timedelta(seconds=1))
    assert fleet.run("cleanup") == {"cleanup": 0}
    fleet.clock.set(T0 + WEEK)
    assert fleet.run("cleanup") == {"cleanup": 1}
    alert = fleet.alert(alert_id)
    assert alert.acknowledged and alert.acknowledged_by == "system (cleanup)"
    assert alert.acknowledged_at == T0 + WEEK
    assert not alert.resolved  # acknowledged, not resolved


def test_leaves_acknowledged_resolved_and_shelved_alerts(fleet: Fleet) -> None:
    acked = fleet.add_alert(acknowledged=True, acknowledged_by="Ann", acknowledged_at=T0)
    resolved = fleet.add_alert(
        "COMP-002", resolved=True, resolved_by="Ann", resolved_at=T0, acknowledged=True
    )
    shelved = fleet.add_alert(
        "COMP-003", shelved_until=T0 + timedelta(days=8), shelved_at=T0, shelved_by="Ann", shelve_reason="x"
    )
    fleet.clock.set(T0 + timedelta(days=7, hours=1))
    assert fleet.run("cleanup") == {"cleanup": 0}
    assert fleet.alert(acked).acknowledged_by == "Ann"
    assert fleet.alert(resolved).acknowledged_by is None
    assert not fleet.alert(shelved).acknowledged


def test_a_second_run_changes_nothing(fleet: Fleet) -> None:
    fleet.add_alert(raised_at=T0)
    fleet.clock.set(T0 + timedelta(days=8))
    assert fleet.run("cleanup") == {"cleanup": 1}
    before = fleet.snapshot()
    assert fleet.run("cleanup") == {"cleanup": 0}
    assert fleet.snapshot() == before
