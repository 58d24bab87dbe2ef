"""Per-organization API keys: shown once, stored hashed, with a role, revocable, plan-gated."""

import uuid
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from sqlalchemy import select, update

from altaviz.accounts.models import ApiKey, Organization
from altaviz.accounts.roles import Role
from altaviz.db.session import session_scope
from tests.api.world import SeededOrg, key_client, member_client


def test_admin_creates_a_key_that_is_shown_once_and_stored_hashed(app: FastAPI, org_a: SeededOrg) -> None:
    admin = member_client(app, org_a.users[Role.ADMIN])
    created = admin.post("/api/api-keys", json={"name": " cron workflows ", "role": "operator"})
    assert created.status_code == 201, created.text
    body = created.json()
    key = body["key"]
    assert key.startswith("avz_") and len(key) > 40 and body["prefix"] == key[:12]
    assert body["name"] == "cron workflows" and body["role"] == "operator"
    listed = admin.get("/api/api-keys").json()
    assert listed["total"] == 4
    assert key not in str(listed) and all("key" not in item for item in listed["items"])
    with session_scope(app.state.engine) as db:
        stored = db.scalars(select(ApiKey).where(ApiKey.id == uuid.UUID(body["id"]))).one()
        assert stored.key_hash != key and key not in stored.key_hash and len(stored.key_hash) == 64

    machine = key_client(app, key)
    session = machine.get("/api/auth/session").json()
    assert session["authenticated_by"] == "api_key" and session["role"] == "operator"
    assert machine.post(f"/api/alerts/{org_a.alert_ids['critical']}/acknowledge").json()[
        "acknowledged_by"
    ] == ("api-key:cron workflows")
    with session_scope(app.state.engine) as db:
        assert (
            db.scalars(select(ApiKey.last_used_at).where(ApiKey.id == uuid.UUID(body["id"]))).one()
            is not None
        )


def test_revoked_and_expired_keys_stop_at_once(app: FastAPI, org_a: SeededOrg) -> None:
    admin = member_client(app, org_a.users[Role.ADMIN])
    key = org_a.api_keys[Role.VIEWER]
    machine = key_client(app, key)
    assert machine.get("/api/fleet").status_code == 200
    revoked = admin.delete(f"/api/api-keys/{org_a.api_key_ids[Role.VIEWER]}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    refused = machine.get("/api/fleet")
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]
    assert admin.delete(f"/api/api-keys/{org_a.api_key_ids[Role.VIEWER]}").status_code == 200  # idempotent

    expiring = admin.post("/api/api-keys", json={"name": "temp", "expires_in_days": 1}).json()
    assert key_client(app, expiring["key"]).get("/api/fleet").status_code == 200
    with session_scope(app.state.engine) as db:
        db.execute(
            update(ApiKey)
            .where(ApiKey.id == uuid.UUID(expiring["id"]))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert key_client(app, expiring["key"]).get("/api/fleet").status_code == 401


def test_a_wrong_key_never_falls_back_to_the_session(app: FastAPI, org_a: SeededOrg) -> None:
    member = member_client(app, org_a.users[Role.OWNER])
    assert member.get("/api/fleet").status_code == 200
    assert member.get("/api/fleet", headers={"x-api-key": "avz_wrong_key_wrong_key_wrong"}).status_code == 401
    assert member.get("/api/fleet", headers={"x-api-key": ""}).status_code == 401


def test_keys_cannot_exceed_their_creator_or_manage_keys(app: FastAPI, org_a: SeededOrg) -> None:
    admin = member_client(app, org_a.users[Role.ADMIN])
    assert admin.post("/api/api-keys", json={"name": "x", "role": "owner"}).status_code == 422
    assert admin.post("/api/api-keys", json={"name": "", "role": "viewer"}).status_code == 422
    assert admin.post("/api/api-keys", json={"name": "x", "expires_in_days": 0}).status_code == 422
    admin_key = key_client(app, org_a.api_keys[Role.ADMIN])
    refused = admin_key.post("/api/api-keys", json={"name": "more keys"})
    assert refused.status_code == 403 and "signed-in member" in refused.json()["error"]


def test_api_access_follows_the_plan(app: FastAPI, org_a: SeededOrg) -> None:
    machine = key_client(app, org_a.api_keys[Role.VIEWER])
    admin = member_client(app, org_a.users[Role.ADMIN])
    with session_scope(app.state.engine) as db:
        db.execute(update(Organization).where(Organization.id == org_a.id).values(subscription_tier="free"))
    refused = machine.get("/api/fleet")
    assert (
        refused.status_code == 403
        and "API access requires a Pro or Enterprise plan" in refused.json()["error"]
    )
    creating = admin.post("/api/api-keys", json={"name": "free"})
    assert creating.status_code == 403 and creating.json()["code"] == "upgrade_required"
    with session_scope(app.state.engine) as db:
        db.execute(update(Organization).where(Organization.id == org_a.id).values(subscription_tier="pro"))
    assert machine.get("/api/fleet").status_code == 200
