"""/metrics exports what docs/MONITORING.md queries, with the labels the queries use, and only to
callers the configuration lets in; request logs are JSON lines carrying the X-Request-ID."""

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from altaviz.accounts.roles import Role
from altaviz.config import Settings
from altaviz.observability.logging import configure_logging
from altaviz.pipeline.run import PipelineError, PipelineOptions, run_pipeline
from altaviz.server import create_app
from tests.api.conftest import make_settings
from tests.api.world import BASE_URL, seed_organization

TOKEN = "metrics-token-for-tests-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def app(sqlite_url: str, tmp_path: Path) -> Iterator[FastAPI]:
    application = create_app(
        make_settings(sqlite_url, tmp_path, metrics_token=TOKEN, rate_limit_auth_per_minute=1)
    )
    yield application
    application.state.engine.dispose()


def scrape(client: TestClient) -> dict[str, list[Any]]:
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def value(samples: dict[str, list[Any]], name: str, **labels: str) -> float:
    return float(
        sum(s.value for s in samples.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items()))
    )


def test_metrics_the_monitoring_queries_use_are_exported_with_their_labels(app: FastAPI) -> None:
    org = seed_organization(app.state.engine, "alpha", "Alpha")
    with TestClient(app, base_url=BASE_URL) as client:
        before = scrape(client)
        assert client.get("/api/health").status_code == 200
        assert client.get("/api/compressors/COMP-001").status_code == 401
        assert client.get("/api/compressors/COMP-002").status_code == 401
        assert client.get("/no/such/page").status_code == 404
        ran = client.post(
            "/api/workflows/run",
            params={"workflow": "escalation"},
            json={},
            headers={"x-api-key": org.api_keys[Role.ADMIN]},
        )
        assert ran.status_code == 200, ran.text
        logins = [client.post("/api/auth/login", json={"email": "x@example.com", "password": "wrong"})]
        logins.append(client.post("/api/auth/login", json={"email": "x@example.com", "password": "wrong"}))
        assert logins[-1].status_code == 429
        after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    # Error rate: requests by route template (never the raw path), method and status.
    requests = "altaviz_http_requests_total"
    assert grew(requests, route="/api/health", method="GET", status="200") == 1
    assert grew(requests, route="/api/compressors/{compressor_id}", method="GET", status="401") == 2
    assert not [s for s in after[requests] if "COMP-00" in s.labels["route"]]
    assert grew(requests, route="unmatched", method="GET", status="404") == 1
    assert grew(requests, route="unmatched", method="POST", status="429") == 1  # refused before routing
    # Slow calls: the latency histogram by route template and method, with a bucket at 2 s.
    buckets = "altaviz_http_request_duration_seconds_bucket"
    assert grew(buckets, route="/api/health", method="GET", le="2.0") == 1
    assert grew(buckets, route="/api/health", method="GET", le="+Inf") == 1
    assert grew("altaviz_http_request_duration_seconds_count", route="/api/health", method="GET") == 1
    # Workflow executions by workflow and outcome, on the same registry.
    executions = "altaviz_workflow_executions_total"
    assert grew(executions, workflow="escalation", outcome="succeeded", organization=str(org.id)) == 1
    # Rate-limit rejections and the database pool (read at scrape time).
    assert grew("altaviz_rate_limit_rejections_total", bucket="auth") == 1
    for gauge in ("altaviz_db_pool_connections_in_use", "altaviz_db_pool_waiting", "altaviz_db_pool_size"):
        assert gauge in after


def test_pipeline_runs_are_counted_by_outcome(app: FastAPI, tmp_path: Path) -> None:
    settings: Settings = app.state.settings
    with TestClient(app, base_url=BASE_URL) as client:
        before = scrape(client)
        with pytest.raises(PipelineError):  # an empty lake: the run fails, and is counted as such
            run_pipeline(
                settings.model_copy(update={"data_dir": tmp_path / "empty"}),
                PipelineOptions(skip_bronze=True, skip_db=True),
            )
        after = scrape(client)
    name = "altaviz_pipeline_runs_total"
    assert value(after, name, outcome="failure") - value(before, name, outcome="failure") == 1
    assert "altaviz_pipeline_duration_seconds_count" in after


def test_metrics_refuse_unauthorised_callers(app: FastAPI, sqlite_url: str, tmp_path: Path) -> None:
    with TestClient(app, base_url=BASE_URL) as client:  # the test client's address is not loopback
        anonymous = client.get("/metrics")
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"] == "Bearer"
        assert "altaviz_" not in anonymous.text
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/metrics", headers=AUTH).status_code == 200
    open_app = create_app(make_settings(sqlite_url, tmp_path))  # no token: loopback only
    try:
        with TestClient(open_app, base_url=BASE_URL, client=("127.0.0.1", 40000)) as local:
            assert local.get("/metrics").status_code == 200
            # Through a proxy the service was not told about, the peer is no proof of anything.
            assert local.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 403
            for header in ("Forwarded", "X-Real-IP", "True-Client-IP"):
                value = "for=203.0.113.9" if header == "Forwarded" else "203.0.113.9"
                assert local.get("/metrics", headers={header: value}).status_code == 403, header
        with TestClient(open_app, base_url=BASE_URL, client=("203.0.113.9", 40000)) as remote:
            assert remote.get("/metrics").status_code == 403
            assert remote.get("/metrics", headers=AUTH).status_code == 403
    finally:
        open_app.state.engine.dispose()


def test_metrics_are_never_open_to_everyone_outside_development(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="METRICS_ALLOW"):
        Settings(env="production", metrics_allow="0.0.0.0/0", data_dir=tmp_path)
    assert Settings(env="development", metrics_allow="0.0.0.0/0", data_dir=tmp_path).metrics_allow
    assert Settings(env="production", metrics_allow="none", data_dir=tmp_path).metrics_allow == []


def test_metrics_are_exempt_from_the_rate_limit(sqlite_url: str, tmp_path: Path) -> None:
    limited = create_app(make_settings(sqlite_url, tmp_path, metrics_token=TOKEN, rate_limit_per_minute=2))
    try:
        with TestClient(limited, base_url=BASE_URL) as client:
            assert all(client.get("/metrics", headers=AUTH).status_code == 200 for _ in range(5))
    finally:
        limited.state.engine.dispose()


@pytest.fixture
def json_logs(app: FastAPI) -> Iterator[io.StringIO]:
    configure_logging(app.state.settings.model_copy(update={"log_format": "json"}))
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "_altaviz_handler", False)]
    stream = io.StringIO()
    for handler in ours:
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(stream)
    yield stream
    for handler in ours:
        root.removeHandler(handler)
    access = logging.getLogger("uvicorn.access")
    access.disabled, access.propagate = False, True


def test_request_logs_are_json_with_the_request_id(app: FastAPI, json_logs: io.StringIO) -> None:
    with TestClient(app, base_url=BASE_URL) as client:
        response = client.get("/api/compressors/COMP-001", headers={"X-Request-ID": "trace-0123456789"})
    assert response.headers["x-request-id"] == "trace-0123456789"
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "altaviz.access"]
    assert access, lines
    entry = access[-1]
    assert entry["request_id"] == "trace-0123456789"
    assert (entry["method"], entry["route"], entry["status"]) == (
        "GET",
        "/api/compressors/{compressor_id}",
        401,
    )
    assert isinstance(entry["duration_ms"], float)
    assert {"timestamp", "level", "message"} <= entry.keys()
