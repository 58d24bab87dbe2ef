"""Rate limits: 60 a minute per client IP (health included), 10 for sign-in, headers, trusted proxies,
and a Redis store shared by several app instances (the subprocess tests cover several workers)."""

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from altaviz.accounts.roles import Role
from altaviz.accounts.signin_limit import DEVICE_COOKIE
from altaviz.config import Settings
from altaviz.server import create_app
from tests.api.world import BASE_URL, PASSWORD, limiter_verdicts, seed_organization


@pytest.fixture
def limited(sqlite_settings_factory: Callable[..., Settings]) -> Iterator[Callable[..., FastAPI]]:
    apps: list[FastAPI] = []

    def build(**overrides: object) -> FastAPI:
        # /api/health is the counted route here: its database probe gets its whole budget, and a call it
        # still answers 503 on a busy machine reads as let through (`limiter_verdicts`)
        values = {
            "rate_limit_per_minute": 60,
            "rate_limit_auth_per_minute": 10,
            "health_timeout_seconds": 0.9,
            **overrides,
        }
        app = create_app(sqlite_settings_factory(**values))
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.state.engine.dispose()


def _statuses(client: TestClient, count: int, path: str = "/api/health", **kwargs: object) -> list[int]:
    return limiter_verdicts([client.get(path, **kwargs).status_code for _ in range(count)])  # type: ignore[arg-type]


def test_sixty_then_429_with_headers(limited: Callable[..., FastAPI]) -> None:
    with TestClient(limited(), base_url=BASE_URL) as client:
        first = client.get("/api/health")
        assert limiter_verdicts([first.status_code]) == [200]
        assert first.headers["ratelimit-limit"] == "60" and first.headers["ratelimit-remaining"] == "59"
        assert first.headers["ratelimit-policy"] == '"default";q=60;w=60'
        assert first.headers["ratelimit"].startswith('"default";r=59;t=')
        assert 0 < int(first.headers["ratelimit-reset"]) <= 60
        assert first.headers["x-ratelimit-limit"] == "60"
        statuses = [200, *_statuses(client, 64)]
        assert statuses[:60] == [200] * 60 and statuses[60:] == [429] * 5
        refused = client.get("/api/fleet")
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["ratelimit-remaining"] == "0"
        assert refused.json()["code"] == "rate_limited" and "60 per minute" in refused.json()["error"]
        assert refused.headers["x-request-id"] == refused.json()["requestId"]
        assert refused.headers["x-frame-options"] == "DENY"  # 429s carry the security headers too


def test_sign_in_has_its_own_tighter_bucket(limited: Callable[..., FastAPI]) -> None:
    with TestClient(limited(), base_url=BASE_URL) as client:
        body = {"email": "nobody@example.com", "password": "wrong password"}
        statuses = [client.post("/api/auth/login", json=body).status_code for _ in range(12)]
        assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
        assert "sign-in attempts" in client.post("/api/auth/signup", json={}).json()["error"]
        assert _statuses(client, 1) == [200]  # the general bucket is untouched


def test_a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(limited: Callable[..., FastAPI]) -> None:
    app = limited(rate_limit_per_minute=5)
    with TestClient(app, base_url=BASE_URL, client=("203.0.113.7", 4000)) as client:
        forged = [{"X-Forwarded-For": f"198.51.100.{n}"} for n in range(7)]
        spoofed = [client.get("/api/health", headers=headers) for headers in forged]
        statuses = limiter_verdicts([response.status_code for response in spoofed])
    assert statuses == [200] * 5 + [429, 429]


def test_a_trusted_proxy_forwards_the_client_address(limited: Callable[..., FastAPI]) -> None:
    app = limited(rate_limit_per_minute=5, trusted_proxies="10.0.0.0/8")
    with TestClient(app, base_url=BASE_URL, client=("10.1.2.3", 4000)) as proxy:
        for n in range(3):  # three clients behind the proxy, six requests each
            forwarded = {"X-Forwarded-For": f"198.51.100.{n}"}
            assert _statuses(proxy, 6, headers=forwarded) == [200] * 5 + [429]
        # A client that forges its own X-Forwarded-For gains nothing: the proxy appends the real
        # address and the right-most untrusted one counts.
        forged = {"X-Forwarded-For": "192.0.2.99, 198.51.100.0"}
        assert proxy.get("/api/health", headers=forged).status_code == 429


def test_the_redis_store_is_shared_between_instances(
    limited: Callable[..., FastAPI], redis_url: str, redis_prefix: str
) -> None:
    shared = {"rate_limit_storage_uri": redis_url, "rate_limit_key_prefix": redis_prefix}
    one, two = limited(**shared), limited(**shared)
    with TestClient(one, base_url=BASE_URL) as a, TestClient(two, base_url=BASE_URL) as b:
        statuses = limiter_verdicts([(a if n % 2 else b).get("/api/health").status_code for n in range(65)])
    assert statuses[:60] == [200] * 60 and statuses[60:] == [429] * 5


def test_memory_stores_are_not_shared(limited: Callable[..., FastAPI]) -> None:
    """The contrast that makes the Redis test meaningful: separate memory stores each allow 60."""
    one, two = limited(), limited()
    with TestClient(one, base_url=BASE_URL) as a, TestClient(two, base_url=BASE_URL) as b:
        statuses = limiter_verdicts([(a if n % 2 else b).get("/api/health").status_code for n in range(65)])
    assert statuses == [200] * 65


def test_an_unreachable_store_fails_open(
    limited: Callable[..., FastAPI], caplog: pytest.LogCaptureFixture
) -> None:
    app = limited(rate_limit_storage_uri="redis://127.0.0.1:1/0")
    with TestClient(app, base_url=BASE_URL) as client:
        response = client.get("/api/health")
    assert response.status_code == 200 and "ratelimit-limit" not in response.headers
    assert "rate-limit store unreachable" in caplog.text


def test_failed_sign_ins_are_limited_per_account_whatever_the_address(
    limited: Callable[..., FastAPI], redis_url: str, redis_prefix: str
) -> None:
    """30 wrong passwords for one account from 15 addresses: past the account's limit every attempt
    is 429 with Retry-After (its delay capped by the longest window), even with the right password
    from a new address; the owner's browser, which signed in before, still gets in."""
    app = limited(
        rate_limit_storage_uri=redis_url,
        rate_limit_key_prefix=redis_prefix,
        sign_in_account_limits="5/minute;10/hour",
        trusted_proxies=["127.0.0.1"],
    )
    org = seed_organization(app.state.engine, "alpha", "Alpha")
    email, other = org.emails[Role.OWNER], org.emails[Role.ADMIN]

    with TestClient(app, base_url=BASE_URL, client=("127.0.0.1", 4000)) as client:

        def login(address: str, who: str, password: str, device: str | None = None) -> Any:
            client.cookies.clear()
            headers = {"X-Forwarded-For": address}
            if device is not None:
                headers["Cookie"] = f"{DEVICE_COOKIE}={device}"
            return client.post("/api/auth/login", json={"email": who, "password": password}, headers=headers)

        signed_in = login("198.51.100.1", email, PASSWORD)
        assert signed_in.status_code == 200
        device = signed_in.cookies[DEVICE_COOKIE]
        answers = [login(f"203.0.113.{n % 15}", email.upper(), f"guess number {n}") for n in range(30)]
        assert [a.status_code for a in answers] == [401] * 5 + [429] * 25
        refused = answers[-1]
        assert (
            refused.json()["code"] == "sign_in_limited"
            and "Too many failed sign-ins" in refused.json()["error"]
        )
        assert 1 <= int(refused.headers["retry-after"]) <= 3600  # a delay, never a lock-out for good
        assert login("192.0.2.50", email, PASSWORD).status_code == 429  # no oracle while limited
        assert login("192.0.2.51", other, PASSWORD).status_code == 200  # other accounts are untouched
        assert login("198.51.100.1", email, PASSWORD, device=device).status_code == 200  # the owner's browser
        assert login("192.0.2.52", email, PASSWORD, device="forged").status_code == 429


def test_the_account_limit_is_a_delay_that_runs_out(limited: Callable[..., FastAPI]) -> None:
    app = limited(sign_in_account_limits="2/2 seconds")
    org = seed_organization(app.state.engine, "alpha", "Alpha")
    email = org.emails[Role.VIEWER]
    with TestClient(app, base_url=BASE_URL) as client:
        body = {"email": email, "password": "wrong password"}
        assert [client.post("/api/auth/login", json=body).status_code for _ in range(3)] == [401, 401, 429]
        time.sleep(2.1)
        right = client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert right.status_code == 200, right.text


def test_the_sign_in_page_shares_the_account_limit(limited: Callable[..., FastAPI]) -> None:
    app = limited(sign_in_account_limits="3/minute")
    org = seed_organization(app.state.engine, "alpha", "Alpha")
    email = org.emails[Role.VIEWER]
    with TestClient(app, base_url=BASE_URL, follow_redirects=False) as client:
        form = {"email": email, "password": "wrong password"}
        headers = {"Origin": BASE_URL}
        assert [client.post("/login", data=form, headers=headers).status_code for _ in range(3)] == [401] * 3
        page = client.post("/login", data={**form, "password": PASSWORD}, headers=headers)
        assert page.status_code == 429 and "Too many failed sign-ins" in page.text
        assert int(page.headers["retry-after"]) >= 1
        assert client.post("/api/auth/login", json={"email": email, "password": PASSWORD}).status_code == 429
