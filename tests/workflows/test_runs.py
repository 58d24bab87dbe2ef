"""workflow=all: order, idempotence, one transaction per run, telemetry (log line, Prometheus counters,
workflow_runs, audit), failure isolation, the scheduler's lease, and the CLI."""

import json
import logging
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select, update
from typer.testing import CliRunner

from altaviz.accounts.audit import AuditLog
from altaviz.accounts.models import Organization
from altaviz.alerts import workflows
from altaviz.alerts.models import STALENESS_CONDITION, AlertHistory, WorkflowRun
from altaviz.alerts.scheduler import SCHEDULED_JOB
from altaviz.cli import app
from tests.workflows.helpers import T0, Fleet, seed_fleet


def _busy_fleet(fleet: Fleet) -> None:
    """Something for each workflow to do at T0 + 8 days."""
    fleet.add_alert("COMP-001", raised_at=T0 + timedelta(days=8) - timedelta(hours=5))  # escalation
    fleet.add_alert("COMP-002", is_active=False, returned_to_normal_at=T0 + timedelta(days=7))  # auto-resolve
    fleet.add_alert("COMP-003", condition="gas_flow_mcf", is_active=False, returned_to_normal_at=T0)
    fleet.add_alert("COMP-001", condition="discharge_temp_f", severity="critical", raised_at=T0)  # cleanup
    fleet.add_readings("COMP-001", T0 + timedelta(days=8) - timedelta(hours=3), T0 + timedelta(days=8))
    fleet.add_readings("COMP-002", T0 + timedelta(days=7), T0 + timedelta(days=8))
    fleet.add_readings("COMP-003", T0, T0 + timedelta(days=7))  # silent for a day: staleness


def test_all_runs_the_four_in_order_and_a_second_run_changes_nothing(fleet: Fleet) -> None:
    _busy_fleet(fleet)
    fleet.clock.set(T0 + timedelta(days=8))
    counts = fleet.run("all")
    assert list(counts) == ["escalation", "auto_resolve", "staleness", "cleanup"]
    # COMP-003's week-old gas-flow alert is auto-resolved (its compressor has been normal since) before
    # cleanup would see it; COMP-001's 8-day-old critical alert is still active, so cleanup acknowledges it.
    assert counts == {"escalation": 1, "auto_resolve": 2, "staleness": 1, "cleanup": 1}
    before = fleet.snapshot()
    fleet.clock.advance(minutes=15)
    assert fleet.run("all") == {"escalation": 0, "auto_resolve": 0, "staleness": 0, "cleanup": 0}
    assert fleet.snapshot() == before


def test_a_staleness_alert_nobody_acknowledges_is_escalated_then_cleaned_up(fleet: Fleet) -> None:
    fleet.add_readings("COMP-001", T0 - timedelta(hours=5), T0)
    fleet.add_readings("COMP-002", T0, T0 + timedelta(days=9))
    fleet.add_readings("COMP-003", T0, T0 + timedelta(days=9))
    fleet.clock.set(T0 + timedelta(hours=4))
    assert fleet.run("all")["staleness"] == 1
    (stale,) = fleet.alerts(condition=STALENESS_CONDITION)
    fleet.clock.set(stale.raised_at + timedelta(hours=4))
    assert fleet.run("all")["escalation"] == 1
    assert fleet.alert(stale.id).severity == "critical"
    fleet.clock.set(stale.raised_at + timedelta(days=7))
    assert fleet.run("all")["cleanup"] == 1
    assert fleet.alert(stale.id).acknowledged_by == "system (cleanup)"


def test_telemetry_log_counter_runs_table_and_audit(fleet: Fleet, caplog: pytest.LogCaptureFixture) -> None:
    _busy_fleet(fleet)
    fleet.clock.set(T0 + timedelta(days=8))
    labels = {"workflow": "escalation", "organization": str(fleet.organization_id), "trigger": "cli"}
    before = (
        REGISTRY.get_sample_value("altaviz_workflow_executions_total", {**labels, "outcome": "succeeded"})
        or 0
    )
    results_before = (
        REGISTRY.get_sample_value(
            "altaviz_workflow_results_total",
            {"workflow": "escalation", "organization": labels["organization"]},
        )
        or 0
    )
    with caplog.at_level(logging.INFO, logger="altaviz.workflows"):
        fleet.run("all")
    events = [
        json.loads(r.getMessage().split(" ", 1)[1])
        for r in caplog.records
        if r.getMessage().startswith("workflow_executed ")
    ]
    assert [(e["workflow"], e["resultCount"], e["outcome"]) for e in events] == [
        ("escalation", 1, "succeeded"),
        ("auto_resolve", 2, "succeeded"),
        ("staleness", 1, "succeeded"),
        ("cleanup", 1, "succeeded"),
    ]
    assert {e["organizationId"] for e in events} == {str(fleet.organization_id)}
    assert (
        REGISTRY.get_sample_value("altaviz_workflow_executions_total", {**labels, "outcome": "succeeded"})
        == before + 1
    )
    assert (
        REGISTRY.get_sample_value(
            "altaviz_workflow_results_total",
            {"workflow": "escalation", "organization": labels["organization"]},
        )
        == results_before + 1
    )
    with fleet.sessions() as session:
        runs = session.scalars(
            select(WorkflowRun).order_by(WorkflowRun.started_at, WorkflowRun.workflow)
        ).all()
        assert sorted((r.workflow, r.result_count, r.outcome, r.trigger) for r in runs) == sorted(
            [
                ("escalation", 1, "succeeded", "cli"),
                ("auto_resolve", 2, "succeeded", "cli"),
                ("staleness", 1, "succeeded", "cli"),
                ("cleanup", 1, "succeeded", "cli"),
            ]
        )
        assert all(r.started_at == T0 + timedelta(days=8) and r.duration_ms >= 0 for r in runs)
        assert len({r.id for r in runs}) == 4
        entries = session.scalars(select(AuditLog).where(AuditLog.action == "workflow.execute")).all()
        assert sorted(e.target_id or "" for e in entries) == [
            "auto_resolve",
            "cleanup",
            "escalation",
            "staleness",
        ]
        assert all(e.actor_type == "system" and e.details and "runId" in e.details for e in entries)


def test_a_failing_workflow_rolls_back_is_logged_as_failed_and_the_others_run(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    _busy_fleet(fleet)
    fleet.clock.set(T0 + timedelta(days=8))

    def broken(session, scope, now, config):  # type: ignore[no-untyped-def]
        workflows.staleness(session, scope, now, config)  # its changes must not survive
        raise RuntimeError("disk on fire")

    monkeypatch.setitem(workflows.WORKFLOWS, "staleness", broken)
    execution = fleet.workflows().execute("all", [fleet.organization_id], trigger="api")
    assert [(r.workflow, r.outcome) for r in execution.results] == [
        ("escalation", "succeeded"),
        ("auto_resolve", "succeeded"),
        ("staleness", "failed"),
        ("cleanup", "succeeded"),
    ]
    assert not execution.succeeded
    assert fleet.alerts(condition=STALENESS_CONDITION) == []  # rolled back
    with fleet.sessions() as session:
        failed = session.scalars(select(WorkflowRun).where(WorkflowRun.outcome == "failed")).one()
    assert failed.workflow == "staleness" and failed.error == "RuntimeError: disk on fire"


def test_only_one_instance_holds_the_schedulers_lease(fleet: Fleet) -> None:
    one, two = fleet.workflows(), fleet.workflows()
    ttl = timedelta(minutes=13, seconds=30)
    assert one.acquire(SCHEDULED_JOB, "instance-1", ttl)
    assert not two.acquire(SCHEDULED_JOB, "instance-2", ttl)
    assert one.acquire(SCHEDULED_JOB, "instance-1", ttl)  # the holder renews
    fleet.clock.advance(minutes=13, seconds=30)
    assert two.acquire(SCHEDULED_JOB, "instance-2", ttl)  # expired: another instance takes over
    assert not one.acquire(SCHEDULED_JOB, "instance-1", ttl)

    _busy_fleet(fleet)
    fleet.clock.set(T0 + timedelta(days=8))
    assert two.run_scheduled("instance-2") is not None  # the lease above ended long ago: it runs ...
    assert one.run_scheduled("instance-1") is None  # ... and holds the lease for this interval


def test_the_scheduled_job_runs_every_organization_once_per_interval(fleet: Fleet) -> None:
    other = seed_fleet(fleet.engine, slug="second")
    _busy_fleet(fleet)
    fleet.clock.set(T0 + timedelta(days=8))
    first = fleet.workflows().run_scheduled("instance-1")
    assert first is not None and first.succeeded
    assert {r.organization_id for r in first.results} == {fleet.organization_id, other}
    assert all(r.trigger == "scheduler" for r in first.results)
    assert fleet.workflows().run_scheduled("instance-2") is None  # same interval, other instance
    fleet.clock.advance(minutes=15)
    again = fleet.workflows().run_scheduled("instance-2")
    assert again is not None and sum(r.result_count for r in again.results) == 0


def test_cli_runs_workflows_for_one_or_all_organizations(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    from altaviz.config import get_settings

    monkeypatch.setenv("DATABASE_URL", str(fleet.engine.url.render_as_string(hide_password=False)))
    monkeypatch.setenv("ALTAVIZ_DATA_DIR", str(fleet.settings.data_dir))
    get_settings.cache_clear()
    try:
        fleet.add_alert("COMP-001", raised_at=T0)  # years ago by the wall clock: escalated
        runner = CliRunner()
        done = runner.invoke(app, ["workflows", "run", "--workflow", "escalation", "--organization", "wf"])
        assert done.exit_code == 0, done.output
        assert "escalation" in done.output and "escalated to critical" in done.output
        done = runner.invoke(app, ["workflows", "run"])
        assert done.exit_code == 0, done.output
        for name in ("escalation", "auto_resolve", "staleness", "cleanup"):
            assert name in done.output
        done = runner.invoke(app, ["workflows", "run", "--workflow", "nonsense"])
        assert done.exit_code == 1 and "Unknown workflow" in done.output
        done = runner.invoke(app, ["workflows", "run", "--organization", "nowhere"])
        assert done.exit_code == 1 and "no organization" in done.output
        done = runner.invoke(app, ["workflows", "runs", "--organization", "wf"])
        assert done.exit_code == 0 and "cli" in done.output
    finally:
        get_settings.cache_clear()


def test_retention_runs_daily_on_one_instance(fleet: Fleet) -> None:
    """The service's daily job applies every organization's plan history, one instance a day."""
    with fleet.sessions() as session:
        session.execute(
            update(Organization)
            .where(Organization.id == fleet.organization_id)
            .values(subscription_tier="free")
        )
        session.commit()
    closed = fleet.add_alert(raised_at=T0, resolved=True, resolved_at=T0, resolved_by="ops@example.com")
    fleet.clock.set(T0 + timedelta(days=8))  # the Free plan keeps 7 days
    results = fleet.workflows().run_retention("instance-1")
    assert results is not None and [
        r.alerts for r in results if r.organization_id == fleet.organization_id
    ] == [1]
    with fleet.sessions() as session:
        assert session.get(AlertHistory, closed) is None
    assert fleet.workflows().run_retention("instance-2") is None  # the other instance waits a day
    fleet.clock.advance(days=1)
    assert fleet.workflows().run_retention("instance-2") is not None
