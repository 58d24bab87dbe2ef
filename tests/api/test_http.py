"""What every answer carries: security headers, request ids, sanitised errors, CORS, the docs."""

import logging
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from altaviz.config import Settings
from altaviz.server import create_app
from tests.api.world import BASE_URL


@pytest.fixture
def http_app(sqlite_settings_factory: Callable[..., Settings]) -> FastAPI:
    app = create_app(sqlite_settings_factory())

    def explode() -> None:
        raise RuntimeError("connection string postgres://admin:hunter2@db/prod exploded")

    app.add_api_route("/api/test-explode", explode, include_in_schema=False)
    return app


def _assert_security_headers(response: object, hsts: bool = True) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    csp = headers["content-security-policy"]
    script_src = next(part for part in csp.split(";") if part.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert "frame-ancestors 'none'" in csp
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert ("strict-transport-security" in headers) is hsts
    assert headers["x-request-id"]


def test_every_answer_carries_security_headers(http_app: FastAPI) -> None:
    with TestClient(http_app, base_url=BASE_URL) as client:
        for path, status in (
            ("/api/health", 200),
            ("/api/fleet", 401),
            ("/api/nowhere", 404),
            ("/api/docs", 200),
        ):
            response = client.get(path)
            assert response.status_code == status, path
            _assert_security_headers(response)
        assert client.get("/api/fleet").headers["cache-control"] == "no-store"
        assert client.delete("/api/health").status_code == 405


def test_unexpected_errors_say_only_the_request_id(
    http_app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(http_app, base_url=BASE_URL) as client, caplog.at_level(logging.ERROR):
        response = client.get("/api/test-explode")
    assert response.status_code == 500
    body = response.json()
    assert set(body) == {"error", "requestId"} and body["error"] == "Internal server error"
    assert response.headers["x-request-id"] == body["requestId"]
    assert "hunter2" not in response.text and "RuntimeError" not in response.text
    _assert_security_headers(response)
    record = next(r for r in caplog.records if "unhandled error" in r.getMessage())
    assert record.request_id == body["requestId"]  # type: ignore[attr-defined]
    assert record.exc_info is not None  # the log keeps the traceback the client never sees


def test_request_ids(http_app: FastAPI) -> None:
    with TestClient(http_app, base_url=BASE_URL) as client:
        given = client.get("/api/health", headers={"X-Request-ID": "lb-7f3a9c21"})
        assert given.headers["x-request-id"] == "lb-7f3a9c21"
        junk = client.get("/api/health", headers={"X-Request-ID": "<script>"})
        assert junk.headers["x-request-id"] != "<script>" and len(junk.headers["x-request-id"]) == 32
        assert (
            client.get("/api/health").headers["x-request-id"]
            != client.get("/api/health").headers["x-request-id"]
        )
        not_found = client.get("/api/nowhere").json()
        assert not_found["code"] == "not_found" and "GET /api/nowhere" in not_found["error"]


def test_cors_only_for_configured_origins(sqlite_settings_factory: Callable[..., Settings]) -> None:
    allowed = "https://ops.example.com"
    app = create_app(sqlite_settings_factory(cors_origins=f"{allowed}, https://other.example.com"))
    with TestClient(app, base_url=BASE_URL) as client:
        preflight = client.options(
            "/api/alerts/1/acknowledge",
            headers={
                "Origin": allowed,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-csrf-token",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == allowed
        assert preflight.headers["access-control-allow-credentials"] == "true"
        simple = client.get("/api/health", headers={"Origin": allowed})
        assert simple.headers["access-control-allow-origin"] == allowed
        assert "ratelimit-remaining" in simple.headers["access-control-expose-headers"].lower()
        evil = client.get("/api/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in evil.headers
        evil_preflight = client.options(
            "/api/health", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
        )
        assert "access-control-allow-origin" not in evil_preflight.headers
    plain = create_app(sqlite_settings_factory())
    with TestClient(plain, base_url=BASE_URL) as client:
        assert (
            "access-control-allow-origin"
            not in client.get("/api/health", headers={"Origin": allowed}).headers
        )


def test_settings_reject_bad_proxy_and_origin_lists(sqlite_settings_factory: Callable[..., Settings]) -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        sqlite_settings_factory(trusted_proxies="10.0.0.0/8, proxy.internal")
    with pytest.raises(ValueError, match="not an origin"):
        sqlite_settings_factory(cors_origins="ops.example.com")
    with pytest.raises(ValueError, match="memory://"):
        sqlite_settings_factory(rate_limit_storage_uri="memcached://x")


def test_docs_and_schema(http_app: FastAPI) -> None:
    with TestClient(http_app, base_url=BASE_URL) as client:
        page = client.get("/api/docs")
        assert page.status_code == 200 and "<script>" not in page.text.replace("<script src=", "")
        assert "script-src 'self';" in page.headers["content-security-policy"]
        assert client.get("/api/docs/init.js").status_code == 200
        assert client.get("/api/docs/static/swagger-ui-bundle.js").status_code == 200
        schema = client.get("/api/openapi.json").json()
    assert schema["info"]["title"] == "Altaviz API"
    readings = schema["paths"]["/api/compressors/{compressor_id}/readings"]["get"]
    assert readings["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert schema["components"]["securitySchemes"]["ApiKey"]["name"] == "x-api-key"
