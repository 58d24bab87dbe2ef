"""Escalation: active warnings unacknowledged for WORKFLOW_ESCALATION_HOURS (4) become critical."""

from datetime import timedelta

from tests.workflows.helpers import T0, Fleet

FOUR_HOURS = timedelta(hours=4)
SECOND = timedelta(seconds=1)


def test_escalates_at_four_hours_not_a_second_before(fleet: Fleet) -> None:
    alert_id = fleet.add_alert(raised_at=T0)

    fleet.clock.set(T0 + FOUR_HOURS - SECOND)
    assert fleet.run("escalation") == {"escalation": 0}
    assert fleet.alert(alert_id).severity == "warning"

    fleet.clock.set(T0 + FOUR_HOURS)
    assert fleet.run("escalation") == {"escalation": 1}
    alert = fleet.alert(alert_id)
    assert alert.severity == "critical"
    assert alert.escalated_at == T0 + FOUR_HOURS
    assert alert.escalation_note is not None and "Escalated from warning to critical" in alert.escalation_note
    assert alert.message is not None and "Vibration" in alert.message  # the pipeline's text is untouched
    assert not alert.acknowledged and not alert.resolved


def test_escalation_hours_come_from_settings(fleet: Fleet) -> None:
    alert_id = fleet.add_alert(raised_at=T0)
    fleet.clock.set(T0 + timedelta(hours=1))
    assert fleet.run("escalation", workflow_escalation_hours=1) == {"escalation": 1}
    assert fleet.alert(alert_id).severity == "critical"


def test_only_active_unacknowledged_unshelved_open_warnings(fleet: Fleet) -> None:
    skipped = [
        fleet.add_alert("COMP-001", acknowledged=True, acknowledged_by="Ann", acknowledged_at=T0),
        fleet.add_alert("COMP-001", condition="discharge_temp_f", is_active=False, returned_to_normal_at=T0),
        fleet.add_alert("COMP-002", severity="critical", alert_type="threshold_critical"),
        fleet.add_alert(
            "COMP-002", condition="gas_flow_mcf", resolved=True, resolved_by="Ann", resolved_at=T0
        ),
        fleet.add_alert(
            "COMP-003",
            shelved_until=T0 + timedelta(hours=6),
            shelved_by="Ann",
            shelved_at=T0,
            shelve_reason="sensor swap",
        ),
    ]
    escalated = fleet.add_alert("COMP-003", condition="horsepower_consumption")
    fleet.clock.set(T0 + timedelta(hours=5))
    assert fleet.run("escalation") == {"escalation": 1}
    assert fleet.alert(escalated).severity == "critical"
    assert [fleet.alert(i).escalated_at for i in skipped] == [None] * len(skipped)

    # The shelved one comes back when its shelf ends, and is escalated then.
    fleet.clock.set(T0 + timedelta(hours=6))
    assert fleet.run("escalation") == {"escalation": 1}
    assert fleet.alert(skipped[-1]).severity == "critical"


def test_a_second_run_changes_nothing(fleet: Fleet) -> None:
    fleet.add_alert(raised_at=T0)
    fleet.clock.set(T0 + timedelta(hours=5))
    assert fleet.run("escalation") == {"escalation": 1}
    before = fleet.snapshot()
    fleet.clock.advance(minutes=15)
    assert fleet.run("escalation") == {"escalation": 0}
    assert fleet.snapshot() == before


def test_escalation_survives_a_pipeline_reload(fleet: Fleet) -> None:
    alert_id = fleet.add_alert(raised_at=T0)
    fleet.clock.set(T0 + timedelta(hours=5))
    fleet.run("escalation")
    with fleet.sessions() as session:  # what the pipeline's upsert does to the episode's severity
        alert = session.get(type(fleet.alert(alert_id)), alert_id)
        assert alert is not None
        alert.severity = "warning"
        session.commit()
    assert fleet.run("escalation") == {"escalation": 0}  # not a new escalation ...
    assert fleet.alert(alert_id).severity == "critical"  # ... but it stands
