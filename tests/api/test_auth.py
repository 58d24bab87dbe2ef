"""Sign-up, sign-in, sessions (cookie flags, expiry, sign-out), CSRF, and role/plan read per request."""

from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from altaviz.accounts.models import Organization, User, UserSession
from altaviz.accounts.roles import Role
from altaviz.accounts.tokens import encode_session_cookie, new_session_token
from altaviz.db.session import session_scope
from tests.api.world import (
    BASE_URL,
    PASSWORD,
    SeededOrg,
    anonymous_client,
    key_client,
    member_client,
    open_client,
)

NEW_PASSWORD = "a completely new pass phrase"


def _signup(client: TestClient, email: str = "Jane.Doe@Acme-Gas.com", **extra: str) -> dict[str, object]:
    response = client.post(
        "/api/auth/signup",
        json={
            "email": email,
            "password": PASSWORD,
            "name": "Jane Doe",
            "organization_name": "Acme Gas",
            **extra,
        },
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_signup_creates_organization_and_owner_and_signs_in(client: TestClient, app: FastAPI) -> None:
    body = _signup(client)
    assert body["role"] == "owner"
    assert body["user"]["email"] == "jane.doe@acme-gas.com"  # type: ignore[index]
    assert body["organization"]["name"] == "Acme Gas"  # type: ignore[index]
    assert body["organization"]["plan"]["tier"] == "free"  # type: ignore[index]
    session_info = client.get("/api/auth/session").json()
    assert session_info["user"]["email"] == "jane.doe@acme-gas.com"
    with session_scope(app.state.engine) as db:
        user = db.scalars(select(User)).one()
        assert user.password_hash is not None and user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
        org = db.get(Organization, user.organization_id)
        assert org is not None and org.slug == "acme-gas"


def test_session_cookie_flags(client: TestClient, app: FastAPI) -> None:
    response = client.post("/api/auth/signup", json={"email": "flags@acme-gas.com", "password": PASSWORD})
    cookies = response.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookies if c.startswith("__Host-altaviz_session="))
    lowered = session_cookie.lower()
    assert "httponly" in lowered and "secure" in lowered and "samesite=lax" in lowered and "path=/" in lowered
    assert "max-age=28800" in lowered  # 8 hours
    csrf_cookie = next(c for c in cookies if c.startswith("__Host-altaviz_csrf="))
    assert "httponly" not in csrf_cookie.lower() and "secure" in csrf_cookie.lower()


def test_development_cookies_are_not_secure(settings_factory: object, tmp_path: object) -> None:
    from altaviz.server import create_app

    app = create_app(settings_factory(env="development"))  # type: ignore[operator]
    with TestClient(app, base_url="http://testserver") as client:
        response = client.post("/api/auth/signup", json={"email": "dev@acme-gas.com", "password": PASSWORD})
        assert response.status_code == 201
        cookie = next(c for c in response.headers.get_list("set-cookie") if "altaviz_session=" in c)
        assert cookie.startswith("altaviz_session=") and "secure" not in cookie.lower()
        assert client.get("/api/auth/session").status_code == 200
        assert "strict-transport-security" not in response.headers


def test_signup_rejects_duplicates_and_bad_input(client: TestClient) -> None:
    _signup(client, email="dup@acme-gas.com")
    again = client.post("/api/auth/signup", json={"email": "DUP@acme-gas.com ", "password": PASSWORD})
    assert again.status_code in (409, 422)
    again = client.post("/api/auth/signup", json={"email": "dup@acme-gas.com", "password": PASSWORD})
    assert again.status_code == 409 and again.json()["code"] == "email_taken"
    weak = client.post("/api/auth/signup", json={"email": "weak@acme-gas.com", "password": "short"})
    assert weak.status_code == 422 and weak.json()["errors"][0]["parameter"] == "password"
    assert "12 characters" in weak.json()["error"]
    bad = client.post("/api/auth/signup", json={"email": "not-an-email", "password": PASSWORD})
    assert bad.status_code == 422 and "'email'" in bad.json()["error"]
    extra = client.post(
        "/api/auth/signup", json={"email": "x@acme-gas.com", "password": PASSWORD, "role": "owner"}
    )
    assert extra.status_code == 422 and "'role'" in extra.json()["error"]


def test_slugs_stay_unique(client: TestClient, app: FastAPI) -> None:
    for n in range(3):
        client.post(
            "/api/auth/signup",
            json={"email": f"u{n}@acme-gas.com", "password": PASSWORD, "organization_name": "Acme"},
        )
    with session_scope(app.state.engine) as db:
        slugs = db.scalars(select(Organization.slug)).all()
    assert len(set(slugs)) == 3 and "acme" in slugs


def test_login_logout(app: FastAPI, org_a: SeededOrg) -> None:
    with TestClient(app, base_url=BASE_URL) as client:
        wrong = client.post(
            "/api/auth/login", json={"email": org_a.emails[Role.VIEWER], "password": "nope nope"}
        )
        unknown = client.post("/api/auth/login", json={"email": "ghost@example.com", "password": PASSWORD})
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json()["error"] == unknown.json()["error"] == "Invalid email or password"

        ok = client.post(
            "/api/auth/login", json={"email": org_a.emails[Role.VIEWER].upper(), "password": PASSWORD}
        )
        assert ok.status_code == 200 and ok.json()["role"] == "viewer"
        stolen = dict(client.cookies)
        assert client.get("/api/fleet").status_code == 200
        csrf = ok.json()["csrf_token"]
        assert client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
        assert client.get("/api/fleet").status_code == 401

    # The cookie of the ended session is worthless even if someone kept a copy.
    replay = TestClient(
        app, base_url=BASE_URL, headers={"Cookie": "; ".join(f"{k}={v}" for k, v in stolen.items())}
    )
    assert replay.get("/api/fleet").status_code == 401
    with session_scope(app.state.engine) as db:
        assert db.scalars(select(UserSession.revoked_at)).one() is not None


def test_expired_tampered_and_foreign_cookies_are_refused(app: FastAPI, org_a: SeededOrg) -> None:
    config = app.state.auth
    user_id = org_a.users[Role.OWNER]
    now = datetime.now(UTC)
    token = new_session_token()
    from altaviz.accounts.tokens import sha256_hex

    with session_scope(app.state.engine) as db:
        db.add(
            UserSession(
                token_hash=sha256_hex(token),
                user_id=user_id,
                created_at=now,
                expires_at=now + timedelta(hours=8),
                last_seen_at=now,
            )
        )

    def status(cookie: str) -> int:
        client = open_client(app, {"Cookie": f"{config.session_cookie}={cookie}"})
        return client.get("/api/organization").status_code

    good = encode_session_cookie(config.secret, token, user_id, now, now + timedelta(hours=8))
    assert status(good) == 200
    assert status(good[:-2] + ("AA" if not good.endswith("AA") else "BB")) == 401  # tampered signature
    assert (
        status(encode_session_cookie(b"another-secret" * 4, token, user_id, now, now + timedelta(hours=8)))
        == 401
    )
    assert (
        status(
            encode_session_cookie(
                config.secret, token, user_id, now - timedelta(hours=9), now - timedelta(hours=1)
            )
        )
        == 401
    )
    # The row's own expiry counts too, whatever the cookie claims.
    with session_scope(app.state.engine) as db:
        db.execute(update(UserSession).values(expires_at=now - timedelta(seconds=1)))
    assert status(good) == 401


def test_cookie_state_changes_need_the_csrf_token(app: FastAPI, org_a: SeededOrg) -> None:
    member = member_client(app, org_a.users[Role.OPERATOR])
    csrf = member.headers.pop("X-CSRF-Token")
    alert = org_a.alert_ids["critical"]
    refused = member.post(f"/api/alerts/{alert}/acknowledge")
    assert refused.status_code == 403 and "CSRF" in refused.json()["error"]
    assert (
        member.post(f"/api/alerts/{alert}/acknowledge", headers={"X-CSRF-Token": "forged"}).status_code == 403
    )
    assert member.get(f"/api/alerts/{alert}").json()["acknowledged"] is False  # nothing happened
    assert member.post(f"/api/alerts/{alert}/acknowledge", headers={"X-CSRF-Token": csrf}).status_code == 200
    # A machine with a key has no ambient credentials, so no CSRF token is needed.
    key = key_client(app, org_a.api_keys[Role.OPERATOR])
    assert key.post(f"/api/alerts/{org_a.alert_ids['warning']}/acknowledge").status_code == 200


def test_sign_in_from_another_site_is_refused(app: FastAPI, org_a: SeededOrg) -> None:
    client = anonymous_client(app)
    body = {"email": org_a.emails[Role.VIEWER], "password": PASSWORD}
    assert (
        client.post("/api/auth/login", json=body, headers={"Origin": "https://evil.example"}).status_code
        == 403
    )
    assert client.post("/api/auth/login", json=body, headers={"Origin": BASE_URL}).status_code == 200


def test_role_change_applies_on_the_next_request(app: FastAPI, org_a: SeededOrg) -> None:
    member = member_client(app, org_a.users[Role.OPERATOR])
    alert = org_a.alert_ids["critical"]
    with session_scope(app.state.engine) as db:
        db.execute(update(User).where(User.id == org_a.users[Role.OPERATOR]).values(role="viewer"))
    demoted = member.post(f"/api/alerts/{alert}/acknowledge")
    assert demoted.status_code == 403 and "your role is viewer" in demoted.json()["error"]
    with session_scope(app.state.engine) as db:
        db.execute(update(User).where(User.id == org_a.users[Role.OPERATOR]).values(role="admin"))
    assert member.post(f"/api/alerts/{alert}/acknowledge").status_code == 200
    with session_scope(app.state.engine) as db:
        db.execute(update(User).where(User.id == org_a.users[Role.OPERATOR]).values(is_active=False))
    assert member.get("/api/fleet").status_code == 401


def test_plan_change_applies_on_the_next_request(app: FastAPI, org_a: SeededOrg) -> None:
    member = member_client(app, org_a.users[Role.VIEWER])
    url = "/api/compressors/COMP-001/readings"
    assert member.get(url, params={"window": "4hr"}).status_code == 200
    with session_scope(app.state.engine) as db:
        db.execute(update(Organization).where(Organization.id == org_a.id).values(subscription_tier="free"))
    downgraded = member.get(url, params={"window": "4hr"})
    assert downgraded.status_code == 403
    assert downgraded.json()["code"] == "upgrade_required" and downgraded.json()["plan"] == "free"
    assert "Pro or Enterprise" in downgraded.json()["error"]
    assert member.get(url, params={"window": "1hr"}).status_code == 200
    assert member.get("/api/auth/session").json()["organization"]["plan"]["tier"] == "free"
    with session_scope(app.state.engine) as db:
        db.execute(update(Organization).where(Organization.id == org_a.id).values(subscription_tier="pro"))
    assert member.get(url, params={"window": "24hr"}).status_code == 200


def test_password_change_ends_other_sessions(app: FastAPI, org_a: SeededOrg) -> None:
    here = member_client(app, org_a.users[Role.VIEWER])
    elsewhere = member_client(app, org_a.users[Role.VIEWER])
    wrong = here.post(
        "/api/auth/password", json={"current_password": "not it at all", "new_password": NEW_PASSWORD}
    )
    assert wrong.status_code == 403
    weak = here.post("/api/auth/password", json={"current_password": PASSWORD, "new_password": "short"})
    assert weak.status_code == 422
    ok = here.post("/api/auth/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert ok.status_code == 204
    assert here.get("/api/fleet").status_code == 200
    assert elsewhere.get("/api/fleet").status_code == 401
    login = anonymous_client(app).post(
        "/api/auth/login", json={"email": org_a.emails[Role.VIEWER], "password": NEW_PASSWORD}
    )
    assert login.status_code == 200


@pytest.mark.parametrize("role", [Role.OWNER])
def test_owner_renames_organization(app: FastAPI, org_a: SeededOrg, role: Role) -> None:
    owner = member_client(app, org_a.users[role])
    response = owner.patch("/api/organization", json={"name": "  Alpha Midstream "})
    assert response.status_code == 200 and response.json()["name"] == "Alpha Midstream"
    assert owner.patch("/api/organization", json={"name": ""}).status_code == 422
