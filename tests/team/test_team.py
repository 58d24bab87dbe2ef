"""The team: invitations end to end through a local SMTP server, owner rules, role changes and removal."""

import re
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from altaviz.accounts.audit import AuditLog
from altaviz.accounts.models import Invitation, User
from altaviz.accounts.roles import Role
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
    open_client,
    seed_organization,
    session_cookie_for,
)
from tests.team.smtp import Inbox, free_port, smtp_server

NEW_PASSWORD = "a brand new pass phrase 2026"
TOKEN = re.compile(r"/invitations/accept\?token=([A-Za-z0-9_\-]+)")


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    with smtp_server() as running:
        yield running


@pytest.fixture
def mail_app(settings_factory: Callable[..., Settings], inbox: Inbox) -> Iterator[FastAPI]:
    application = create_app(
        settings_factory(
            smtp_host="127.0.0.1",
            smtp_port=inbox.port,
            smtp_security="none",
            smtp_from="Altaviz <team@altaviz.test>",
            public_url="https://ops.example.com",
        )
    )
    yield application
    close_clients()
    application.state.engine.dispose()


@pytest.fixture
def alpha(mail_app: FastAPI) -> SeededOrg:
    return seed_organization(mail_app.state.engine, "alpha", "Alpha")


@pytest.fixture
def bravo(mail_app: FastAPI) -> SeededOrg:
    return seed_organization(mail_app.state.engine, "bravo", "Bravo")


def actions(app: FastAPI, org: SeededOrg) -> list[str]:
    with session_scope(app.state.engine) as db:
        query = select(AuditLog.action).where(AuditLog.organization_id == org.id).order_by(AuditLog.id)
        return list(db.scalars(query))


def invite(
    app: FastAPI, org: SeededOrg, email: str, role: str, by: Role = Role.ADMIN
) -> tuple[TestClient, dict]:  # type: ignore[type-arg]
    client = member_client(app, org.users[by])
    response = client.post("/api/team/invitations", json={"email": email, "role": role})
    return client, {"status": response.status_code, **response.json()}


def test_invitation_by_email_end_to_end(mail_app: FastAPI, alpha: SeededOrg, inbox: Inbox) -> None:
    _, created = invite(mail_app, alpha, "New.Tech@Example.com", "operator")
    assert created["status"] == 201, created
    assert created["email"] == "new.tech@example.com" and created["role"] == "operator"
    assert created["email_sent"] is True and created["accept_url"] is None
    expires = datetime.fromisoformat(created["expires_at"])
    assert expires - datetime.fromisoformat(created["created_at"]) == timedelta(days=7)

    (message,) = inbox.messages
    assert inbox.recipients == [["new.tech@example.com"]]
    assert message["Subject"] == "You have been invited to Alpha Gas on Altaviz"
    assert message["From"] == "Altaviz <team@altaviz.test>"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert "as operator" in text and "expires on" in text
    match = TOKEN.search(text)
    assert match is not None and text.count("https://ops.example.com/invitations/accept?token=") == 1
    token = match.group(1)
    with session_scope(mail_app.state.engine) as db:
        stored = db.scalars(select(Invitation).where(Invitation.email == "new.tech@example.com")).one()
        assert token not in stored.token_hash  # only a hash is kept

    visitor = anonymous_client(mail_app)
    preview = visitor.post("/api/auth/invitations/preview", json={"token": token})
    assert preview.status_code == 200
    assert preview.json()["organization_name"] == "Alpha Gas" and preview.json()["role"] == "operator"

    accepted = visitor.post(
        "/api/auth/invitations/accept", json={"token": token, "password": NEW_PASSWORD, "name": "Nia Tech"}
    )
    assert accepted.status_code == 201, accepted.text
    session = accepted.json()
    assert session["user"]["email"] == "new.tech@example.com" and session["role"] == "operator"
    assert session["organization"]["id"] == str(alpha.id)
    assert visitor.get("/api/auth/session").json()["user"]["name"] == "Nia Tech"  # signed in by the cookie

    fresh = TestClient(mail_app, base_url=BASE_URL)
    with fresh:
        login = fresh.post(
            "/api/auth/login", json={"email": "new.tech@example.com", "password": NEW_PASSWORD}
        )
        assert login.status_code == 200 and login.json()["organization"]["slug"] == "alpha"

    used_again = anonymous_client(mail_app).post(
        "/api/auth/invitations/accept", json={"token": token, "password": NEW_PASSWORD}
    )
    assert used_again.status_code == 410 and used_again.json()["code"] == "invitation_invalid"
    assert (
        anonymous_client(mail_app).post("/api/auth/invitations/preview", json={"token": token}).status_code
        == 410
    )
    assert {"team.invited", "team.invitation_accepted", "auth.login"} <= set(actions(mail_app, alpha))


def test_an_address_of_another_organization_is_refused_never_moved(
    mail_app: FastAPI, alpha: SeededOrg, bravo: SeededOrg, inbox: Inbox
) -> None:
    foreign = bravo.emails[Role.OPERATOR]
    # The inviting admin learns nothing about the address: the answer is the one any invitation gets.
    _, unknown = invite(mail_app, alpha, "nobody-yet@example.com", "admin")
    _, foreign_answer = invite(mail_app, alpha, foreign, "admin")
    assert foreign_answer["status"] == unknown["status"] == 201
    assert set(foreign_answer) == set(unknown) and foreign_answer["email"] == foreign
    assert "another organization" not in str(foreign_answer)
    assert [m["To"] for m in inbox.messages] == ["nobody-yet@example.com", foreign]  # only its owner reads it
    token_of_foreign = TOKEN.search(inbox.messages[-1].get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
    assert token_of_foreign is not None
    refused = anonymous_client(mail_app).post(
        "/api/auth/invitations/accept", json={"token": token_of_foreign.group(1), "password": NEW_PASSWORD}
    )
    assert refused.status_code == 409 and "another organization" in refused.json()["error"]
    _, member = invite(mail_app, alpha, alpha.emails[Role.VIEWER], "admin")
    assert member["status"] == 409 and "already a member" in member["error"]
    with session_scope(mail_app.state.engine) as db:
        user = db.scalars(select(User).where(User.email == foreign)).one()
        assert user.organization_id == bravo.id and user.role == "operator"

    # The address gets an account elsewhere after the invitation was sent: accepting is refused too.
    _, created = invite(mail_app, alpha, "later@example.com", "viewer")
    token = TOKEN.search(inbox.messages[-1].get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
    assert created["status"] == 201 and token is not None
    signup = anonymous_client(mail_app).post(
        "/api/auth/signup", json={"email": "later@example.com", "password": NEW_PASSWORD}
    )
    assert signup.status_code == 201
    late = anonymous_client(mail_app).post(
        "/api/auth/invitations/accept", json={"token": token.group(1), "password": NEW_PASSWORD}
    )
    assert late.status_code == 409 and "another organization" in late.json()["error"]


def test_expired_revoked_and_replaced_links_stop_working(
    mail_app: FastAPI, alpha: SeededOrg, inbox: Inbox
) -> None:
    def token_of(index: int) -> str:
        found = TOKEN.search(inbox.messages[index].get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
        assert found is not None
        return found.group(1)

    invite(mail_app, alpha, "first@example.com", "viewer")
    invite(mail_app, alpha, "first@example.com", "operator")  # a new invitation replaces the pending one
    first, second = token_of(0), token_of(1)
    visitor = anonymous_client(mail_app)
    assert visitor.post("/api/auth/invitations/preview", json={"token": first}).status_code == 410
    assert visitor.post("/api/auth/invitations/preview", json={"token": second}).json()["role"] == "operator"

    with session_scope(mail_app.state.engine) as db:  # a week and a second later
        db.execute(
            update(Invitation)
            .where(Invitation.email == "first@example.com")
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    expired = visitor.post("/api/auth/invitations/accept", json={"token": second, "password": NEW_PASSWORD})
    assert expired.status_code == 410 and "expired" in expired.json()["error"]

    admin, created = invite(mail_app, alpha, "third@example.com", "viewer")
    listed = admin.get("/api/team/invitations").json()
    assert created["id"] in [item["id"] for item in listed["items"]]
    assert admin.delete(f"/api/team/invitations/{created['id']}").json()["revoked_at"] is not None
    revoked = visitor.post(
        "/api/auth/invitations/accept", json={"token": token_of(2), "password": NEW_PASSWORD}
    )
    assert revoked.status_code == 410
    assert "team.invitation_revoked" in actions(mail_app, alpha)
    with session_scope(mail_app.state.engine) as db:
        assert (
            db.scalar(select(User).where(User.email.in_(["first@example.com", "third@example.com"]))) is None
        )


def test_only_an_owner_invites_an_owner(mail_app: FastAPI, alpha: SeededOrg) -> None:
    _, by_admin = invite(mail_app, alpha, "boss@example.com", "owner", by=Role.ADMIN)
    assert by_admin["status"] == 403 and "Only an owner" in by_admin["error"]
    _, by_owner = invite(mail_app, alpha, "boss@example.com", "owner", by=Role.OWNER)
    assert by_owner["status"] == 201


def test_a_mail_server_that_is_down_leaves_no_invitation(
    settings_factory: Callable[..., Settings],
) -> None:
    application = create_app(
        settings_factory(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_security="none")
    )
    try:
        org = seed_organization(application.state.engine, "alpha", "Alpha")
        response = member_client(application, org.users[Role.ADMIN]).post(
            "/api/team/invitations", json={"email": "nobody@example.com", "role": "viewer"}
        )
        assert response.status_code == 502 and response.json()["code"] == "email_failed"
        with session_scope(application.state.engine) as db:
            assert db.scalar(select(Invitation).where(Invitation.email == "nobody@example.com")) is None
    finally:
        close_clients()
        application.state.engine.dispose()


def test_without_smtp_the_admin_gets_the_link_once(app: FastAPI, org_a: SeededOrg) -> None:
    response = member_client(app, org_a.users[Role.ADMIN]).post(
        "/api/team/invitations", json={"email": "hand@example.com", "role": "viewer"}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["email_sent"] is False and body["accept_url"].startswith(
        "https://testserver/invitations/accept"
    )
    token = body["accept_url"].split("token=", 1)[1]
    accepted = anonymous_client(app).post(
        "/api/auth/invitations/accept", json={"token": token, "password": NEW_PASSWORD}
    )
    assert accepted.status_code == 201 and accepted.json()["role"] == "viewer"
    listed = member_client(app, org_a.users[Role.ADMIN]).get("/api/team/invitations").json()
    assert "accept_url" not in str(listed) and token not in str(listed)


# --- roles and removal ---------------------------------------------------------------------------------


def _role(app: FastAPI, user_id: uuid.UUID) -> str:
    with session_scope(app.state.engine) as db:
        user = db.get(User, user_id)
        assert user is not None
        return user.role


def test_last_owner_is_protected_and_only_owners_touch_owners(app: FastAPI, org_a: SeededOrg) -> None:
    owner, admin = org_a.users[Role.OWNER], org_a.users[Role.ADMIN]
    as_owner, as_admin = member_client(app, owner), member_client(app, admin)

    demote_self = as_owner.patch(f"/api/team/members/{owner}", json={"role": "admin"})
    assert demote_self.status_code == 409 and "last owner" in demote_self.json()["error"]
    assert as_owner.delete(f"/api/team/members/{owner}").status_code == 409  # not yourself
    assert as_admin.patch(f"/api/team/members/{owner}", json={"role": "viewer"}).status_code == 403
    removed_by_admin = as_admin.delete(f"/api/team/members/{owner}")
    assert removed_by_admin.status_code == 403 and "Only an owner" in removed_by_admin.json()["error"]
    promote = as_admin.patch(f"/api/team/members/{admin}", json={"role": "owner"})
    assert promote.status_code == 403 and "Only an owner" in promote.json()["error"]
    assert _role(app, owner) == "owner" and _role(app, admin) == "admin"

    # An owner makes a second owner; then either may step down, but not both.
    assert as_owner.patch(f"/api/team/members/{admin}", json={"role": "owner"}).json()["role"] == "owner"
    assert as_owner.patch(f"/api/team/members/{owner}", json={"role": "admin"}).json()["role"] == "admin"
    second = member_client(app, admin)
    last = second.patch(f"/api/team/members/{admin}", json={"role": "operator"})
    assert last.status_code == 409 and "last owner" in last.json()["error"]
    assert second.delete(f"/api/team/members/{owner}").status_code == 204  # a former owner, now admin
    assert _role(app, admin) == "owner"
    with session_scope(app.state.engine) as db:
        entries = db.scalars(
            select(AuditLog)
            .where(AuditLog.organization_id == org_a.id, AuditLog.action.startswith("team."))
            .order_by(AuditLog.id)
        ).all()
        changes = [(e.action, (e.details or {}).get("from"), (e.details or {}).get("to")) for e in entries]
    assert changes == [
        ("team.role_changed", "admin", "owner"),
        ("team.role_changed", "owner", "admin"),
        ("team.member_removed", None, None),
    ]


def test_role_changes_and_removal_apply_on_the_next_request(app: FastAPI, org_a: SeededOrg) -> None:
    as_admin = member_client(app, org_a.users[Role.ADMIN])
    operator_user = org_a.users[Role.OPERATOR]
    operator = member_client(app, operator_user)
    alert = org_a.alert_ids["warning"]

    assert as_admin.patch(f"/api/team/members/{operator_user}", json={"role": "viewer"}).status_code == 200
    assert operator.post(f"/api/alerts/{alert}/acknowledge").status_code == 403  # already a viewer
    assert as_admin.patch(f"/api/team/members/{operator_user}", json={"role": "admin"}).status_code == 200
    assert operator.get("/api/team/invitations").status_code == 200  # now an admin

    viewer_user = org_a.users[Role.VIEWER]
    viewer = member_client(app, viewer_user)
    assert viewer.get("/api/fleet").status_code == 200
    assert as_admin.delete(f"/api/team/members/{viewer_user}").status_code == 204
    assert viewer.get("/api/fleet").status_code == 401  # the session ended with the account
    assert as_admin.delete(f"/api/team/members/{viewer_user}").status_code == 404
    members = as_admin.get("/api/team/members").json()
    assert members["total"] == 3 and org_a.emails[Role.VIEWER] not in str(members)
    bad = as_admin.patch(f"/api/team/members/{operator_user}", json={"role": "superadmin"})
    assert bad.status_code == 422


def test_two_owners_demoting_each_other_at_once_leave_one_owner(app: FastAPI, org_a: SeededOrg) -> None:
    first, second = org_a.users[Role.OWNER], org_a.users[Role.ADMIN]
    member_client(app, first).patch(f"/api/team/members/{second}", json={"role": "owner"})
    # One client (one event loop, as in a real worker) shared by both threads, each with its own session.
    headers = {}
    for user in (first, second):
        name, value, csrf = session_cookie_for(app, user)
        headers[user] = {"Cookie": f"{name}={value}", "X-CSRF-Token": csrf}
    shared = open_client(app)
    statuses: list[int] = []
    start = threading.Barrier(2)

    def demote(actor: uuid.UUID, target: uuid.UUID) -> None:
        start.wait()
        response = shared.patch(f"/api/team/members/{target}", json={"role": "admin"}, headers=headers[actor])
        statuses.append(response.status_code)

    threads = [
        threading.Thread(target=demote, args=(first, second)),
        threading.Thread(target=demote, args=(second, first)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # The loser is refused either as the last owner (409) or, when its request started after the other
    # committed, as no longer an owner (403); never do both succeed.
    assert sorted(statuses) in ([200, 403], [200, 409]), statuses
    assert sorted([_role(app, first), _role(app, second)]) == ["admin", "owner"]


def test_invitation_links_are_rate_limited_like_sign_in(
    sqlite_settings_factory: Callable[..., Settings],
) -> None:
    application = create_app(sqlite_settings_factory(rate_limit_auth_per_minute=3))
    try:
        visitor = anonymous_client(application)
        body = {"token": "guessing-a-token-0000", "password": NEW_PASSWORD}
        statuses = [visitor.post("/api/auth/invitations/accept", json=body).status_code for _ in range(4)]
        assert statuses == [410, 410, 410, 429]
        assert (
            visitor.post("/api/auth/invitations/preview", json={"token": "guessing-a-token-0000"}).status_code
            == 429
        )
    finally:
        close_clients()
        application.state.engine.dispose()


def test_api_keys_never_carry_more_than_their_creator_and_keep_their_creator(
    app: FastAPI, org_a: SeededOrg
) -> None:
    """Removing the admin who made keys revokes them; demoting a creator caps their keys to the new
    role (ingest keys, which need an admin, are revoked); either way the listing still says who made
    them."""
    owner = member_client(app, org_a.users[Role.OWNER])
    admin_user, operator_user = org_a.users[Role.ADMIN], org_a.users[Role.OPERATOR]

    def make_keys(user: uuid.UUID) -> dict[str, tuple[str, str]]:
        client = member_client(app, user)
        made = {}
        for role in ("admin", "operator", "viewer", "ingest"):
            created = client.post("/api/api-keys", json={"name": f"{role} key", "role": role})
            assert created.status_code == 201, created.text
            made[role] = (created.json()["id"], created.json()["key"])
        return made

    removed_keys = make_keys(admin_user)
    assert key_client(app, removed_keys["admin"][1]).get("/api/audit").status_code == 200
    assert owner.delete(f"/api/team/members/{admin_user}").status_code == 204
    for role, (_, key) in removed_keys.items():
        assert key_client(app, key).get("/api/fleet").status_code == 401, role
        assert key_client(app, key).get("/api/audit").status_code == 401, role

    assert owner.patch(f"/api/team/members/{operator_user}", json={"role": "admin"}).status_code == 200
    demoted_keys = make_keys(operator_user)
    assert owner.patch(f"/api/team/members/{operator_user}", json={"role": "viewer"}).status_code == 200
    capped = key_client(app, demoted_keys["admin"][1])
    assert capped.get("/api/auth/session").json()["role"] == "viewer"
    assert capped.get("/api/audit").status_code == 403 and capped.get("/api/fleet").status_code == 200
    assert key_client(app, demoted_keys["operator"][1]).get("/api/auth/session").json()["role"] == "viewer"
    assert key_client(app, demoted_keys["ingest"][1]).get("/api/fleet").status_code == 401

    listed = {item["id"]: item for item in owner.get("/api/api-keys").json()["items"]}
    for role, (key_id, _) in removed_keys.items():
        item = listed[key_id]
        assert item["revoked_at"] is not None, role
        assert item["created_by"] == str(admin_user) and item["created_by_email"] == org_a.emails[Role.ADMIN]
    assert listed[demoted_keys["admin"][0]]["role"] == "viewer"
    assert listed[demoted_keys["admin"][0]]["created_by_email"] == org_a.emails[Role.OPERATOR]
    assert listed[demoted_keys["ingest"][0]]["revoked_at"] is not None
    assert listed[demoted_keys["viewer"][0]]["revoked_at"] is None
    with session_scope(app.state.engine) as db:
        entries = db.scalars(select(AuditLog).where(AuditLog.action == "team.member_removed")).all()
        assert {k["to"] for entry in entries for k in (entry.details or {})["keys_changed"]} == {"revoked"}
