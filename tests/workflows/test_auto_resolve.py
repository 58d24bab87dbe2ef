"""Auto-resolve: a compressor back to normal for WORKFLOW_AUTO_RESOLVE_HOURS (2) has its alerts resolved."""

from datetime import timedelta

from tests.workflows.helpers import T0, Fleet

RETURNED = T0 + timedelta(minutes=20)


def test_resolves_after_two_hours_of_normal_readings_not_before(fleet: Fleet) -> None:
    alert_id = fleet.add_alert(is_active=False, returned_to_normal_at=RETURNED)  # back to normal 12:20
    fleet.add_readings("COMP-001", T0 - timedelta(hours=3), T0 + timedelta(hours=2))  # hours up to 14:00
    # The pipeline's freshness check places the newest reading at 14:19: 1 h 59 min of normal data.
    fleet.add_freshness("COMP-001", RETURNED + timedelta(hours=2, minutes=-1), T0 + timedelta(hours=3))
    fleet.clock.set(T0 + timedelta(hours=3))
    assert fleet.run("auto_resolve") == {"auto_resolve": 0}
    assert not fleet.alert(alert_id).resolved

    # The next load: the newest reading is at 14:20, exactly two hours after the return.
    fleet.add_freshness("COMP-001", RETURNED + timedelta(hours=2), T0 + timedelta(hours=3, minutes=10))
    fleet.clock.advance(minutes=15)
    assert fleet.run("auto_resolve") == {"auto_resolve": 1}
    alert = fleet.alert(alert_id)
    assert alert.resolved and alert.resolved_by == "system (auto-resolve)"
    assert alert.resolved_at == fleet.clock.now
    assert alert.resolution_note is not None and "back to normal" in alert.resolution_note
    assert alert.acknowledged and alert.acknowledged_by == "system (auto-resolve)"


def test_not_while_the_condition_or_another_holds_on_the_compressor(fleet: Fleet) -> None:
    still_active = fleet.add_alert("COMP-001")  # the condition holds now: never auto-resolved
    returned = fleet.add_alert(
        "COMP-001", condition="discharge_temp_f", is_active=False, returned_to_normal_at=RETURNED
    )
    other = fleet.add_alert("COMP-002", is_active=False, returned_to_normal_at=RETURNED)
    for compressor in ("COMP-001", "COMP-002"):
        fleet.add_readings(compressor, T0, T0 + timedelta(hours=5))
    fleet.clock.set(T0 + timedelta(hours=6))
    assert fleet.run("auto_resolve") == {"auto_resolve": 1}
    assert not fleet.alert(still_active).resolved
    assert not fleet.alert(returned).resolved  # its compressor is not back to normal
    assert fleet.alert(other).resolved


def test_no_data_after_the_return_is_no_evidence(fleet: Fleet) -> None:
    alert_id = fleet.add_alert(is_active=False, returned_to_normal_at=RETURNED)
    fleet.add_readings("COMP-001", T0 - timedelta(hours=2), T0)  # data stopped at the return
    fleet.clock.set(T0 + timedelta(days=1))
    assert fleet.run("auto_resolve") == {"auto_resolve": 0}
    assert not fleet.alert(alert_id).resolved


def test_a_second_run_changes_nothing(fleet: Fleet) -> None:
    fleet.add_alert(is_active=False, returned_to_normal_at=RETURNED)
    fleet.add_readings("COMP-001", T0, T0 + timedelta(hours=4))
    fleet.clock.set(T0 + timedelta(hours=5))
    assert fleet.run("auto_resolve") == {"auto_resolve": 1}
    before = fleet.snapshot()
    assert fleet.run("auto_resolve") == {"auto_resolve": 0}
    assert fleet.snapshot() == before
