"""Early warnings (alert_type 'anomaly' and 'prediction', issue 19) share the alert lifecycle with two
rules of their own: escalation never turns them critical, and they are notified once, at 'warning'."""

import json
from datetime import timedelta

from tests.workflows.helpers import T0, Fleet
from tests.workflows.test_notifications import Receiver, _channels, receiver  # noqa: F401

EARLY = {
    "alert_type": "prediction",
    "condition": "prediction",
    "source": "health",
    "message": "Vibration projected to reach 8 mm/s in 31 h",
}


def test_escalation_leaves_early_warnings_at_warning(fleet: Fleet) -> None:
    early = fleet.add_alert(raised_at=T0, **EARLY)
    threshold = fleet.add_alert("COMP-002", raised_at=T0)
    fleet.clock.set(T0 + timedelta(hours=24))
    assert fleet.run("escalation") == {"escalation": 1}
    assert fleet.alert(early).severity == "warning" and fleet.alert(early).escalated_at is None
    assert fleet.alert(threshold).severity == "critical"


def test_an_early_warning_is_notified_once_at_warning(fleet: Fleet, receiver: Receiver) -> None:  # noqa: F811
    _channels(fleet, receiver)
    for compressor in ("COMP-001", "COMP-002", "COMP-003"):  # reporting: no staleness alerts
        fleet.add_readings(compressor, T0, T0 + timedelta(hours=10))
    alert_id = fleet.add_alert(raised_at=T0, **EARLY)
    fleet.add_alert("COMP-002", raised_at=T0, is_active=False, returned_to_normal_at=T0, **EARLY)  # over
    fleet.clock.set(T0 + timedelta(minutes=10))
    assert fleet.workflows().execute("all", [fleet.organization_id], trigger="cli").notifications_queued == 1
    fleet.clock.advance(seconds=30)
    assert fleet.workflows().dispatch().sent == 1
    events = json.loads(receiver.requests[-1][1])["events"]
    assert [(e["kind"], e["alertId"], e["severity"]) for e in events] == [
        ("early_warning", alert_id, "warning")
    ]
    assert "1 early warning" in json.loads(receiver.requests[-1][1])["summary"]
    fleet.clock.advance(hours=5)  # past the repeat interval: still no second message
    assert fleet.workflows().execute("all", [fleet.organization_id], trigger="cli").notifications_queued == 0
    assert fleet.alert(alert_id).notified_severity == "warning"
