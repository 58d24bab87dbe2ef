"""The alert actions, workflow runs and notification channels through the HTTP API."""

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from altaviz.accounts.audit import AuditLog
from altaviz.accounts.roles import Role
from altaviz.alerts import workflows
from altaviz.alerts.models import AlertHistory, WorkflowRun
from altaviz.config import Settings
from altaviz.db.session import session_scope
from altaviz.server import create_app
from tests.api.world import (
    BASE_URL,
    SeededOrg,
    anonymous_client,
    close_clients,
    key_client,
    member_client,
    seed_organization,
)

KEY = "a" * 20 + "f0e1d2c3b4a5968778695a4b3c2d1e0f"
OLD_KEY = "b" * 20 + "0123456789abcdef0123456789abcdef"


@pytest.fixture
def keyed_app(settings_factory: Callable[..., Settings]) -> Iterator[FastAPI]:
    application = create_app(settings_factory(workflow_api_key=KEY, workflow_api_key_old=OLD_KEY))
    yield application
    close_clients()
    application.state.engine.dispose()


@pytest.fixture
def alpha(keyed_app: FastAPI) -> SeededOrg:
    return seed_organization(keyed_app.state.engine, "alpha", "Alpha")


def _run(
    app: FastAPI, key: str | None, body: object = None, workflow: str = "all", raw: str | None = None
) -> object:
    client = key_client(app, key) if key is not None else anonymous_client(app)
    if raw is not None:
        return client.post(
            f"/api/workflows/run?workflow={workflow}",
            content=raw,
            headers={"Content-Type": "application/json"},
        )
    return client.post(f"/api/workflows/run?workflow={workflow}", json=body)


def test_workflow_key_runs_the_named_organization(keyed_app: FastAPI, alpha: SeededOrg) -> None:
    for key in (KEY, OLD_KEY):  # the old key still works during a rotation
        response = _run(keyed_app, key, {"organizationId": str(alpha.id)})
        assert response.status_code == 200, response.text  # type: ignore[attr-defined]
        body = response.json()  # type: ignore[attr-defined]
        assert body["success"] is True and body["organizationId"] == str(alpha.id)
        assert [r["workflow"] for r in body["results"]] == [
            "escalation",
            "auto_resolve",
            "staleness",
            "cleanup",
        ]
        assert all(r["actionsCount"] == r["resultCount"] for r in body["results"])
    with session_scope(keyed_app.state.engine) as session:
        entries = session.scalars(select(AuditLog).where(AuditLog.action == "workflow.execute")).all()
        assert len(entries) == 8 and {e.actor_name for e in entries} == {"workflow key"}
        assert all(e.organization_id == alpha.id for e in entries)


@pytest.mark.parametrize(
    ("body", "raw", "status", "message"),
    [
        ({"organizationId": "not-a-uuid"}, None, 400, "Valid organizationId (UUID) required"),
        ({}, None, 400, "Valid organizationId (UUID) required"),
        (None, "{not json", 400, "Invalid JSON body"),
        ({"organizationId": str(uuid.uuid4())}, None, 404, "Organization not found"),
    ],
)
def test_workflow_key_request_errors(
    keyed_app: FastAPI, alpha: SeededOrg, body: object, raw: str | None, status: int, message: str
) -> None:
    response = _run(keyed_app, KEY, body, raw=raw)
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.json()["error"] == message  # type: ignore[attr-defined]


def test_the_caller_is_authenticated_before_the_body_is_read(keyed_app: FastAPI, alpha: SeededOrg) -> None:
    deep = "[" * 10_000 + "]" * 10_000
    for raw in ("{not json", deep, "[1, 2, 3]"):
        for key in (None, "c" * 64):  # no credential, a wrong one: 401 whatever the body
            response = _run(keyed_app, key, raw=raw)
            assert response.status_code == 401, (raw[:10], response.text)  # type: ignore[attr-defined]
        viewer = member_client(keyed_app, alpha.users[Role.VIEWER]).post(
            "/api/workflows/run", content=raw, headers={"Content-Type": "application/json"}
        )
        assert viewer.status_code == 403, viewer.text
    # Authenticated, a body nested 10,000 deep is a 400 that says so (it was a 500 with a traceback).
    response = _run(keyed_app, KEY, raw=deep)
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert response.json()["code"] == "json_too_deep"  # type: ignore[attr-defined]


def test_unknown_workflow_lists_the_available_ones(keyed_app: FastAPI, alpha: SeededOrg) -> None:
    response = _run(keyed_app, KEY, {"organizationId": str(alpha.id)}, workflow="nonexistent")
    assert response.status_code == 400  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert (
        body["code"] == "invalid_workflow" and "all" in body["available"] and "staleness" in body["available"]
    )
    # The original system's names still work.
    response = _run(keyed_app, KEY, {"organizationId": str(alpha.id)}, workflow="data_freshness_check")
    assert [r["workflow"] for r in response.json()["results"]] == ["staleness"]  # type: ignore[attr-defined]


def test_a_wrong_key_is_refused_never_read_as_a_session(keyed_app: FastAPI, alpha: SeededOrg) -> None:
    assert _run(keyed_app, "c" * 64, {"organizationId": str(alpha.id)}).status_code == 401  # type: ignore[attr-defined]
    assert _run(keyed_app, None, {"organizationId": str(alpha.id)}).status_code == 401  # type: ignore[attr-defined]


def test_sessions_run_their_own_organization_only_as_admin_or_owner(
    keyed_app: FastAPI, alpha: SeededOrg
) -> None:
    bravo = seed_organization(keyed_app.state.engine, "bravo", "Bravo")
    for role in (Role.ADMIN, Role.OWNER):
        response = member_client(keyed_app, alpha.users[role]).post("/api/workflows/run?workflow=cleanup")
        assert response.status_code == 200, response.text
        assert response.json()["organizationId"] == str(alpha.id)
    for role in (Role.VIEWER, Role.OPERATOR):
        response = member_client(keyed_app, alpha.users[role]).post("/api/workflows/run")
        assert response.status_code == 403 and "Admin access required" in response.json()["error"]
    admin = member_client(keyed_app, alpha.users[Role.ADMIN])
    response = admin.post("/api/workflows/run", json={"organizationId": str(bravo.id)})
    assert response.status_code == 404
    # An organization API key with the admin role runs its own organization too.
    response = key_client(keyed_app, alpha.api_keys[Role.ADMIN]).post("/api/workflows/run?workflow=staleness")
    assert response.status_code == 200 and response.json()["organizationId"] == str(alpha.id)
    runs = member_client(keyed_app, alpha.users[Role.VIEWER]).get("/api/workflows/runs").json()
    assert runs["total"] == 3 and {r["workflow"] for r in runs["items"]} == {"cleanup", "staleness"}
    assert member_client(keyed_app, bravo.users[Role.VIEWER]).get("/api/workflows/runs").json()["total"] == 0


def test_a_failed_workflow_answers_500_after_the_others_ran(
    keyed_app: FastAPI, alpha: SeededOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> workflows.Outcome:
        raise RuntimeError("boom")

    monkeypatch.setitem(workflows.WORKFLOWS, "auto_resolve", broken)
    response = _run(keyed_app, KEY, {"organizationId": str(alpha.id)})
    assert response.status_code == 500  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert (
        body["code"] == "workflow_failed" and "auto_resolve" in body["error"] and "boom" not in body["error"]
    )
    assert [r["outcome"] for r in body["results"]] == ["succeeded", "failed", "succeeded", "succeeded"]


def test_shelve_and_unshelve_through_the_api(app: FastAPI, org_a: SeededOrg) -> None:
    alert_id = org_a.alert_ids["critical"]
    operator = member_client(app, org_a.users[Role.OPERATOR])
    response = operator.post(f"/api/alerts/{alert_id}/shelve", json={"minutes": 30, "reason": "valve swap"})
    assert response.status_code == 200, response.text
    alert = response.json()
    assert alert["shelved"] is True and alert["state"] == "shelved" and alert["shelve_reason"] == "valve swap"
    again = operator.post(f"/api/alerts/{alert_id}/shelve", json={"minutes": 30, "reason": "again"})
    assert again.status_code == 409 and "already shelved" in again.json()["error"]
    listed = operator.get("/api/alerts", params={"status": "active", "shelved": "false"}).json()
    assert alert_id not in {a["id"] for a in listed["items"]}
    for bad in ({"minutes": 0, "reason": "x"}, {"minutes": 10}, {"minutes": 10, "reason": "   "}):
        assert operator.post(f"/api/alerts/{alert_id}/shelve", json=bad).status_code == 422
    viewer = member_client(app, org_a.users[Role.VIEWER])
    assert viewer.post(f"/api/alerts/{alert_id}/unshelve").status_code == 403
    back = operator.post(f"/api/alerts/{alert_id}/unshelve")
    assert back.status_code == 200 and back.json()["shelved"] is False
    assert operator.post(f"/api/alerts/{alert_id}/unshelve").status_code == 409
    ack = operator.post(f"/api/alerts/{alert_id}/acknowledge")
    assert ack.status_code == 200
    with session_scope(app.state.engine) as session:
        actions = session.scalars(
            select(AuditLog.action).where(AuditLog.target_type == "alert").order_by(AuditLog.id)
        ).all()
        assert list(actions) == ["alert.shelve", "alert.unshelve", "alert.acknowledge"]
        entry = session.scalars(select(AuditLog).where(AuditLog.action == "alert.shelve")).one()
        assert entry.actor_type == "user" and entry.actor_id == str(org_a.users[Role.OPERATOR])
        assert entry.details is not None and entry.details["reason"] == "valve swap"


def test_an_expired_shelf_shows_the_alert_again(app: FastAPI, org_a: SeededOrg) -> None:
    alert_id = org_a.alert_ids["critical"]
    with session_scope(app.state.engine) as session:  # shelved by someone an hour ago, for 30 minutes
        alert = session.get(AlertHistory, alert_id)
        assert alert is not None
        alert.shelved_until = datetime.now(UTC) - timedelta(minutes=30)
        alert.shelved_by, alert.shelve_reason = "Ann", "test"
    body = member_client(app, org_a.users[Role.VIEWER]).get(f"/api/alerts/{alert_id}").json()
    assert body["shelved"] is False and body["state"] != "shelved" and body["shelved_by"] == "Ann"


def test_notification_channels(app: FastAPI, org_a: SeededOrg, org_b: SeededOrg) -> None:
    admin = member_client(app, org_a.users[Role.ADMIN])
    created = admin.post(
        "/api/notifications/channels",
        json={"kind": "webhook", "name": "pager", "target": "https://hooks.example.com/altaviz"},
    )
    assert created.status_code == 201, created.text
    channel = created.json()
    assert channel["secret"].startswith("whsec_")
    listed = admin.get("/api/notifications/channels").json()["items"]
    assert [c["id"] for c in listed] == [channel["id"]] and "secret" not in listed[0]
    bad = admin.post("/api/notifications/channels", json={"kind": "email", "name": "x", "target": "nope"})
    assert bad.status_code == 422
    other = member_client(app, org_b.users[Role.ADMIN])
    assert other.get("/api/notifications/channels").json()["items"] == []
    assert other.delete(f"/api/notifications/channels/{channel['id']}").status_code == 404
    operator = member_client(app, org_a.users[Role.OPERATOR])
    assert operator.get("/api/notifications/channels").status_code == 403
    assert admin.delete(f"/api/notifications/channels/{channel['id']}").status_code == 204
    assert admin.get("/api/notifications/channels").json()["items"] == []


def test_the_service_runs_the_scheduler_and_stops_it(settings_factory: Callable[..., Settings]) -> None:
    application = create_app(settings_factory(workflow_scheduler_enabled=True, workflow_interval_minutes=15))
    try:
        org = seed_organization(application.state.engine, "alpha", "Alpha")
        with TestClient(application, base_url=BASE_URL):
            scheduler = application.state.scheduler
            jobs = {job.id: job for job in scheduler.scheduler.get_jobs()}
            assert set(jobs) == {"workflows", "notifications", "retention"}
            assert jobs["workflows"].trigger.interval == timedelta(minutes=15)
            assert jobs["retention"].trigger.interval == timedelta(days=1)
            assert scheduler.scheduler.running
            scheduler._workflows()  # what the timer calls: this instance takes the lease and runs `all`
            scheduler._workflows()  # within the interval, the lease is still ours: it renews and runs again
            with session_scope(application.state.engine) as session:
                runs = session.scalars(select(WorkflowRun).where(WorkflowRun.organization_id == org.id)).all()
                assert len(runs) == 8 and {r.trigger for r in runs} == {"scheduler"}
        assert not scheduler.scheduler.running
    finally:
        application.state.engine.dispose()
