"""Staleness: no data for WORKFLOW_STALENESS_HOURS (3) gives one alert, resolved when data returns."""

import threading
from datetime import timedelta

import pytest

from altaviz.alerts import workflows
from altaviz.alerts.models import STALENESS_CONDITION
from tests.workflows.helpers import T0, Fleet

LAST = T0 + timedelta(minutes=50)  # the newest reading: 12:50


def _reporting_until_last(fleet: Fleet) -> None:
    for compressor in ("COMP-001", "COMP-002", "COMP-003"):
        fleet.add_readings(compressor, T0 - timedelta(hours=5), T0)
        fleet.add_freshness(compressor, LAST, LAST + timedelta(minutes=5))


def test_alert_at_three_hours_without_data_not_a_second_before(fleet: Fleet) -> None:
    _reporting_until_last(fleet)
    fleet.clock.set(LAST + timedelta(hours=3) - timedelta(seconds=1))
    assert fleet.run("staleness") == {"staleness": 0}
    fleet.clock.set(LAST + timedelta(hours=3))
    assert fleet.run("staleness") == {"staleness": 3}
    stale = fleet.alerts(condition=STALENESS_CONDITION)
    assert [a.compressor_id for a in stale] == ["COMP-001", "COMP-002", "COMP-003"]
    alert = stale[0]
    assert (alert.alert_type, alert.severity, alert.source, alert.is_active) == (
        "staleness",
        "warning",
        "workflow",
        True,
    )
    assert alert.alert_timestamp == LAST and alert.raised_at == LAST + timedelta(hours=3)
    assert (
        alert.message is not None and "no readings from COMP-001 since 2026-03-02 12:50 UTC" in alert.message
    )


def test_hour_resolution_without_freshness_checks_never_understates_staleness(fleet: Fleet) -> None:
    fleet.add_readings("COMP-001", T0 - timedelta(hours=2), T0)  # newest hour 12:00, exact time unknown
    fleet.clock.set(T0 + timedelta(hours=3))
    assert fleet.run("staleness", workflow_staleness_hours=3) == {"staleness": 3}  # 002/003 never reported


def test_never_duplicated_while_open_and_resolved_when_data_returns(fleet: Fleet) -> None:
    _reporting_until_last(fleet)
    fleet.clock.set(LAST + timedelta(hours=4))
    assert fleet.run("staleness") == {"staleness": 3}
    before = fleet.snapshot()
    for _ in range(3):
        fleet.clock.advance(minutes=15)
        assert fleet.run("staleness") == {"staleness": 0}
    assert fleet.snapshot() == before

    # COMP-001 reports again at 17:00.
    back = T0 + timedelta(hours=5)
    fleet.add_readings("COMP-001", back, back)
    fleet.add_freshness("COMP-001", back, back + timedelta(minutes=2))
    fleet.clock.set(back + timedelta(minutes=5))
    assert fleet.run("staleness") == {"staleness": 1}
    resolved = fleet.alerts(condition=STALENESS_CONDITION, compressor_id="COMP-001")[0]
    assert resolved.resolved and resolved.resolved_by == "system (staleness)"
    assert not resolved.is_active and resolved.returned_to_normal_at == back
    assert resolved.resolution_note is not None and "Data returned" in resolved.resolution_note
    assert len(fleet.alerts(condition=STALENESS_CONDITION, resolved=False)) == 2

    # It goes quiet again: a new episode, the old one stays resolved.
    fleet.clock.set(back + timedelta(hours=3))
    assert fleet.run("staleness") == {"staleness": 1}
    episodes = fleet.alerts(condition=STALENESS_CONDITION, compressor_id="COMP-001")
    assert [a.resolved for a in episodes] == [True, False]


def test_a_compressor_that_never_reported_is_stale_from_its_registration(fleet: Fleet) -> None:
    fleet.clock.set(T0)
    assert fleet.run("staleness") == {"staleness": 3}
    assert "has never reported" in (fleet.alerts()[0].message or "") or "since it was registered" in (
        fleet.alerts()[0].message or ""
    )


@pytest.mark.parametrize("serialize", [True, False], ids=["advisory-lock", "unique-index-only"])
def test_two_concurrent_runs_create_no_duplicate(
    fleet: Fleet, db_backend: str, serialize: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if db_backend != "postgresql":
        pytest.skip("SQLite serializes writers (BEGIN IMMEDIATE); the race is PostgreSQL's")
    _reporting_until_last(fleet)
    fleet.clock.set(LAST + timedelta(hours=4))
    if not serialize:
        # Both transactions read "no open staleness alert" before either inserts.
        barrier = threading.Barrier(2, timeout=20)
        original = workflows.newest_readings

        def newest_then_wait(*args: object, **kwargs: object) -> object:
            found = original(*args, **kwargs)  # type: ignore[arg-type]
            barrier.wait()
            return found

        monkeypatch.setattr(workflows, "newest_readings", newest_then_wait)
    runner = fleet.workflows().runner
    runner = type(runner)(runner.sessions, runner.config, runner.clock, runner.notify, serialize)
    results: list[workflows.WorkflowResult] = []

    def run() -> None:
        results.append(runner.run_one("staleness", fleet.organization_id, trigger="api"))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [r.outcome for r in results] == ["succeeded", "succeeded"], [r.error for r in results]
    assert sorted(r.result_count for r in results) == [0, 3]
    open_alerts = fleet.alerts(condition=STALENESS_CONDITION, resolved=False)
    assert sorted(a.compressor_id for a in open_alerts) == ["COMP-001", "COMP-002", "COMP-003"]


def test_two_concurrent_runs_of_all_act_once(fleet: Fleet, db_backend: str) -> None:
    if db_backend != "postgresql":
        pytest.skip("SQLite serializes writers (BEGIN IMMEDIATE); the race is PostgreSQL's")
    _reporting_until_last(fleet)
    for compressor in ("COMP-001", "COMP-002"):
        fleet.add_alert(compressor, raised_at=T0)
    fleet.clock.set(LAST + timedelta(hours=4))
    totals: list[dict[str, int]] = []

    def run() -> None:
        execution = fleet.workflows().execute("all", [fleet.organization_id], trigger="api")
        totals.append({r.workflow: r.result_count for r in execution.results})

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(totals) == 2
    summed = {name: totals[0][name] + totals[1][name] for name in totals[0]}
    assert summed == {"escalation": 2, "auto_resolve": 0, "staleness": 3, "cleanup": 0}
    assert len(fleet.alerts(condition=STALENESS_CONDITION)) == 3
