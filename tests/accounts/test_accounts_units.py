"""Accounts building blocks: password hashing and policy, session tokens, CSRF tokens, API keys,
plans, roles, and the rule that tenant queries are scoped only through accounts.scoping."""

import itertools
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from argon2 import PasswordHasher, Type

from altaviz.accounts import passwords, plans, tokens
from altaviz.accounts.models import Organization
from altaviz.accounts.roles import Role
from altaviz.accounts.scoping import OrgScope, scoped, scoped_template
from altaviz.monitoring.models import CompressorMetadata

SECRET = b"unit-test-secret-3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f"
SRC = Path(__file__).resolve().parents[2] / "src" / "altaviz"


def test_password_hashes_use_argon2id_at_production_cost() -> None:
    hasher = passwords._hasher
    assert hasher.type is Type.ID
    assert hasher.memory_cost >= 19 * 1024 and hasher.time_cost >= 2  # OWASP's argon2id minimum
    hashed = passwords.hash_password("correct horse battery staple")
    assert hashed.startswith("$argon2id$") and "correct horse" not in hashed
    assert passwords.verify_password(hashed, "correct horse battery staple")
    assert not passwords.verify_password(hashed, "correct horse battery stapler")
    assert not passwords.verify_password("not a hash", "anything")
    weaker = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("x")
    assert passwords.needs_rehash(weaker) and not passwords.needs_rehash(hashed)


@pytest.mark.parametrize(
    "password,email",
    [
        ("short", None),
        ("a" * 300, None),
        ("password1234", None),
        ("aaaaaaaaaaaaaab", None),
        ("me@acme-gas.com", "ME@acme-gas.com"),
    ],
)
def test_password_policy_rejects(password: str, email: str | None) -> None:
    with pytest.raises(passwords.WeakPassword):
        passwords.check_password_policy(password, email)


def test_password_policy_accepts_a_passphrase() -> None:
    passwords.check_password_policy("river maple quartz lantern", "someone@acme-gas.com")


def test_session_cookies_are_signed_and_expire() -> None:
    now = datetime.now(UTC)
    later = now + timedelta(hours=8)
    user = uuid.uuid4()
    cookie = tokens.encode_session_cookie(SECRET, "sid-123", user, now, later)
    assert tokens.decode_session_cookie(SECRET, cookie) == tokens.SessionClaims("sid-123", user)
    assert tokens.decode_session_cookie(b"another secret entirely, 32 bytes+", cookie) is None
    tampered = cookie[:-1] + ("A" if cookie[-1] != "A" else "B")
    assert tokens.decode_session_cookie(SECRET, tampered) is None
    ended = now - timedelta(seconds=1)
    expired = tokens.encode_session_cookie(SECRET, "sid", user, now - timedelta(hours=9), ended)
    assert tokens.decode_session_cookie(SECRET, expired) is None
    claims = {
        "iss": "altaviz",
        "sid": "x",
        "sub": str(user),
        "iat": int(time.time()),
        "exp": int(time.time()) + 60,
    }
    assert tokens.decode_session_cookie(SECRET, jwt.encode(claims, "", algorithm="none")) is None
    no_subject = {key: value for key, value in claims.items() if key != "sub"}
    assert tokens.decode_session_cookie(SECRET, jwt.encode(no_subject, SECRET, algorithm="HS256")) is None
    assert tokens.decode_session_cookie(SECRET, "garbage") is None


def test_csrf_tokens_belong_to_one_session() -> None:
    token = tokens.csrf_token(SECRET, "session-a")
    assert tokens.csrf_token_matches(SECRET, "session-a", token)
    assert not tokens.csrf_token_matches(SECRET, "session-b", token)
    assert not tokens.csrf_token_matches(SECRET, "session-a", None)
    assert not tokens.csrf_token_matches(SECRET, "session-a", "ü" * 10)  # non-ASCII never raises


def test_api_keys_are_random_and_recognisable() -> None:
    keys = {tokens.new_api_key()[0] for _ in range(100)}
    assert len(keys) == 100
    key, prefix = tokens.new_api_key()
    assert key.startswith("avz_") and len(key) >= 40 and key.startswith(prefix) and len(prefix) == 12
    assert tokens.looks_like_api_key(key) and not tokens.looks_like_api_key("Bearer xyz")
    assert tokens.sha256_hex(key) != key and len(tokens.sha256_hex(key)) == 64


def test_plans() -> None:
    assert plans.plan_for("free").windows == ("1hr",) and plans.plan_for("free").history_days == 7
    assert plans.plan_for("pro").allows_window("24hr") and plans.plan_for("pro").max_compressors == 20
    assert plans.plan_for("enterprise").max_compressors is None and plans.plan_for("enterprise").predictions
    assert plans.plan_for("platinum") is plans.FREE  # never a paid plan by accident
    assert plans.plans_with("api_access") == "Pro or Enterprise"
    assert plans.plans_with_window("4hr") == "Pro or Enterprise"


def test_roles_are_ordered() -> None:
    order = [Role.VIEWER, Role.OPERATOR, Role.ADMIN, Role.OWNER]
    for low, high in itertools.pairwise(order):
        assert high.at_least(low) and not low.at_least(high)
    assert all(role.at_least(role) for role in order)


def test_the_scoping_helpers_refuse_non_tenant_tables() -> None:
    from sqlalchemy import select

    scope = OrgScope(uuid.uuid4())
    with pytest.raises(ValueError):
        scoped(select(CompressorMetadata), scope)
    with pytest.raises(TypeError):
        scoped(select(Organization), scope, Organization)
    with pytest.raises(TypeError):
        scoped_template(select(Organization), Organization.__table__)
    statement = scoped(select(CompressorMetadata), scope, CompressorMetadata)
    assert "compressor_metadata.organization_id = " in str(statement)


@pytest.mark.parametrize(
    "module",
    ["monitoring/service.py", "alerts/service.py", "accounts/service.py", "health/service.py", "api", "web"],
)
def test_tenant_filters_come_only_from_the_scoping_helper(module: str) -> None:
    """Outside accounts/scoping.py, `organization_id ==` may only join two tables on the same
    organization; comparing it with a value is the helper's job."""
    path = SRC / module
    files = sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.exists() else []
    offences = []
    for file in files:
        for number, line in enumerate(file.read_text().splitlines(), 1):
            for match in re.finditer(r"organization_id\s*==\s*([\w.\[\]\"']+)", line):
                if not match.group(1).endswith("organization_id"):
                    offences.append(f"{file.relative_to(SRC)}:{number}: {line.strip()}")
    assert offences == []
