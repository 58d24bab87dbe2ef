"""The audit log: a row for each audited action (actor, organization, action, target, IP, time), the
admin listing with filters and pagination, and never a secret."""

import json
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from altaviz.accounts.audit import AuditLog
from altaviz.accounts.roles import Role
from altaviz.db.session import session_scope
from tests.api.world import (
    BASE_URL,
    PASSWORD,
    SeededOrg,
    anonymous_client,
    member_client,
)

CLIENT_IP = "198.51.100.7"


def rows(app: FastAPI, org: SeededOrg, prefix: str = "") -> list[AuditLog]:
    with session_scope(app.state.engine) as db:
        query = select(AuditLog).where(AuditLog.organization_id == org.id, AuditLog.action.startswith(prefix))
        return list(db.scalars(query.order_by(AuditLog.id)))


def test_sign_ins_are_audited_success_and_failure(app: FastAPI, org_a: SeededOrg, org_b: SeededOrg) -> None:
    email = org_a.emails[Role.OPERATOR]
    headers = {"X-Forwarded-For": "203.0.113.9"}  # from an untrusted peer: ignored
    with TestClient(app, base_url=BASE_URL, client=(CLIENT_IP, 40123), headers=headers) as client:
        wrong = client.post("/api/auth/login", json={"email": email, "password": "not the password"})
        right = client.post("/api/auth/login", json={"email": email.upper(), "password": PASSWORD})
        stranger = client.post("/api/auth/login", json={"email": "stranger@nowhere.example", "password": "x"})
    assert (wrong.status_code, right.status_code, stranger.status_code) == (401, 200, 401)

    failed, succeeded = rows(app, org_a, "auth.")
    assert failed.action == "auth.login_failed" and succeeded.action == "auth.login"
    for entry in (failed, succeeded):
        assert entry.actor_type == "user" and entry.actor_id == str(org_a.users[Role.OPERATOR])
        assert entry.target_type == "user" and entry.target_id == str(org_a.users[Role.OPERATOR])
        assert entry.created_at is not None and entry.created_at.tzinfo is not None
        assert (
            entry.ip is None or entry.ip != "203.0.113.9"
        )  # X-Forwarded-For from an untrusted peer is ignored
    assert failed.details == {"email": email, "reason": "wrong password"}
    assert "not the password" not in json.dumps([failed.details, succeeded.details])
    assert rows(app, org_b, "auth.") == []  # an unknown address belongs to no organization


def test_api_keys_and_team_changes_are_audited_without_secrets(app: FastAPI, org_a: SeededOrg) -> None:
    admin = member_client(app, org_a.users[Role.ADMIN])
    created = admin.post("/api/api-keys", json={"name": "nightly export", "role": "viewer"}).json()
    assert admin.delete(f"/api/api-keys/{created['id']}").status_code == 200
    invited = admin.post("/api/team/invitations", json={"email": "new@example.com", "role": "viewer"}).json()
    admin.patch(f"/api/team/members/{org_a.users[Role.VIEWER]}", json={"role": "operator"})
    admin.delete(f"/api/team/members/{org_a.users[Role.OPERATOR]}")
    new_password = "another long pass phrase 99"
    admin.post("/api/auth/password", json={"current_password": PASSWORD, "new_password": new_password})

    entries = rows(app, org_a)
    by_action = {entry.action: entry for entry in entries}
    assert {
        "api_key.created",
        "api_key.revoked",
        "team.invited",
        "team.role_changed",
        "team.member_removed",
        "auth.password_changed",
    } <= set(by_action)
    key = by_action["api_key.created"]
    assert key.target_type == "api_key" and key.target_id == created["id"]
    assert key.actor_name == "Alpha Admin" and key.actor_id == str(org_a.users[Role.ADMIN])
    assert key.details is not None and key.details["prefix"] == created["prefix"]
    assert by_action["team.role_changed"].details == {
        "email": org_a.emails[Role.VIEWER],
        "from": "viewer",
        "to": "operator",
    }
    everything = json.dumps([[e.details, e.target_id, e.actor_name] for e in entries])
    token = invited["accept_url"].split("token=", 1)[1]
    for secret in (created["key"], token, PASSWORD, new_password):
        assert secret not in everything


def test_alert_actions_are_in_the_log(app: FastAPI, org_a: SeededOrg) -> None:
    operator = member_client(app, org_a.users[Role.OPERATOR])
    alert = org_a.alert_ids["warning"]
    assert operator.post(f"/api/alerts/{alert}/acknowledge").status_code == 200
    assert operator.post(f"/api/alerts/{alert}/resolve", json={"note": "bearing replaced"}).status_code == 200
    listed = member_client(app, org_a.users[Role.ADMIN]).get("/api/audit", params={"action": "alert."}).json()
    resolved, acknowledged = (item["action"] for item in listed["items"])  # newest first
    assert "resolve" in resolved and "acknowledge" in acknowledged
    assert {item["target_id"] for item in listed["items"]} == {str(alert)}
    assert {item["actor_id"] for item in listed["items"]} == {str(org_a.users[Role.OPERATOR])}


def test_listing_filters_pages_and_stays_in_the_organization(
    app: FastAPI, org_a: SeededOrg, org_b: SeededOrg
) -> None:
    admin = member_client(app, org_a.users[Role.ADMIN])
    for n in range(5):
        admin.post("/api/api-keys", json={"name": f"key {n}", "role": "viewer"})
    member_client(app, org_b.users[Role.ADMIN]).post(
        "/api/api-keys", json={"name": "bravo key", "role": "viewer"}
    )

    first = admin.get("/api/audit", params={"action": "api_key.created", "limit": 2}).json()
    assert first["total"] == 5 and first["limit"] == 2 and len(first["items"]) == 2
    rest = admin.get("/api/audit", params={"action": "api_key.created", "limit": 2, "offset": 4}).json()
    assert len(rest["items"]) == 1
    names = [item["details"]["name"] for item in first["items"]] + [rest["items"][0]["details"]["name"]]
    assert names == ["key 4", "key 3", "key 0"]  # newest first
    assert "bravo" not in json.dumps(admin.get("/api/audit", params={"limit": 200}).json()).lower()

    actor = str(org_a.users[Role.ADMIN])
    assert admin.get("/api/audit", params={"actor_id": actor}).json()["total"] == 5
    assert admin.get("/api/audit", params={"actor_id": str(org_b.users[Role.ADMIN])}).json()["total"] == 0
    assert (
        admin.get("/api/audit", params={"target_type": "api_key", "action": "api_key."}).json()["total"] == 5
    )
    future = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    assert admin.get("/api/audit", params={"since": future}).json()["total"] == 0
    assert admin.get("/api/audit", params={"since": past, "until": future}).json()["total"] == 5
    assert admin.get("/api/audit", params={"since": "2026-01-01T00:00:00"}).status_code == 422  # no zone
    assert admin.get("/api/audit", params={"action": "DROP TABLE"}).status_code == 422
    assert member_client(app, org_a.users[Role.OPERATOR]).get("/api/audit").status_code == 403
    assert anonymous_client(app).get("/api/audit").status_code == 401


def test_signup_is_audited_in_the_new_organization(app: FastAPI) -> None:
    with TestClient(app, base_url=BASE_URL) as visitor:
        answer = visitor.post(
            "/api/auth/signup", json={"email": "founder@example.com", "password": "the founders pass phrase"}
        ).json()
        log = visitor.get("/api/audit").json()
    assert [item["action"] for item in log["items"]] == ["auth.signup"]
    assert log["items"][0]["target_id"] == answer["organization"]["id"]
    assert "founders pass phrase" not in json.dumps(log)
