"""Size limits of a request: a body over its route's limit is refused with 413 before it is read, a
streamed one as soon as it goes over; an over-long address answers the JSON error (414 from the app,
400 from the HTTP parser beyond its own limit); deep JSON is a 400."""

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from altaviz.api.middleware import body_limit_for
from altaviz.config import Settings
from altaviz.server import create_app
from tests.api.world import BASE_URL

LIMIT = 64 * 1024
INGEST_LIMIT = 256 * 1024


@pytest.fixture
def limited_app(sqlite_settings_factory: Callable[..., Settings]) -> Iterator[FastAPI]:
    app = create_app(
        sqlite_settings_factory(max_request_body_bytes=LIMIT, ingest_max_request_body_bytes=INGEST_LIMIT)
    )
    yield app
    app.state.engine.dispose()


def _asgi_call(
    app: FastAPI, method: str, path: str, chunks: list[bytes], headers: list[tuple[bytes, bytes]]
) -> tuple[int, dict[str, Any], int]:
    """Calls the app as a server would; returns (status, JSON body, how many body chunks it read)."""
    read = 0
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        if read < len(chunks):
            read += 1
            return {"type": "http.request", "body": chunks[read - 1], "more_body": read < len(chunks)}
        await asyncio.sleep(3600)  # a client that never finishes: the app must not wait for it
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 443),
        "state": {},
    }

    async def run() -> None:
        await asyncio.wait_for(app(scope, receive, send), 10)

    asyncio.run(run())
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    if start["status"] == 413:  # the rest of the body is left unread: the connection is closed
        assert (b"connection", b"close") in start["headers"]
    return start["status"], json.loads(body), read


def test_a_declared_length_over_the_limit_is_refused_without_reading_the_body(limited_app: FastAPI) -> None:
    for path in ("/api/auth/login", "/api/stripe/webhooks"):
        status, body, read = _asgi_call(
            limited_app, "POST", path, [b"x" * 1024] * 100, [(b"content-length", str(LIMIT + 1).encode())]
        )
        assert (status, body["code"], read) == (413, "body_too_large", 0), path
        assert f"{LIMIT:,} bytes" in body["error"] and body["requestId"]


def test_a_streamed_body_is_refused_once_it_goes_over_the_limit(limited_app: FastAPI) -> None:
    chunks = [b" " * 16 * 1024] * 1000  # 16 MB without Content-Length, of which at most 80 KB is read
    for path in ("/api/auth/login", "/api/stripe/webhooks"):
        status, body, read = _asgi_call(limited_app, "POST", path, chunks, [])
        assert (status, body["code"]) == (413, "body_too_large"), (path, body)
        assert read == LIMIT // (16 * 1024) + 1, path
    # The workflow route authenticates first: an anonymous caller's body is not read at all.
    status, body, read = _asgi_call(limited_app, "POST", "/api/workflows/run", chunks, [])
    assert (status, read) == (401, 0)


def test_bodies_within_the_limit_are_read_as_before(limited_app: FastAPI) -> None:
    login = json.dumps({"email": "nobody@example.com", "password": "x" * 10}).encode()
    status, body, _ = _asgi_call(
        limited_app, "POST", "/api/auth/login", [login], [(b"content-length", str(len(login)).encode())]
    )
    assert status == 401, body


def test_ingest_routes_and_upload_posts_get_the_larger_limit(limited_app: FastAPI) -> None:
    assert body_limit_for("POST", "/api/ingest/readings", default=1, ingest=2) == 2
    assert body_limit_for("PUT", "/api/ingest/x", default=1, ingest=2) == 2
    assert body_limit_for("POST", "/data/upload", default=1, ingest=2) == 2
    assert body_limit_for("GET", "/data/upload", default=1, ingest=2) == 1
    assert body_limit_for("POST", "/api/ingestion", default=1, ingest=2) == 1
    assert body_limit_for("POST", "/api/auth/login", default=1, ingest=2) == 1
    size = str(LIMIT * 2).encode()  # over the default, within the ingest limit: reaches the route
    status, _, _ = _asgi_call(
        limited_app, "POST", "/api/ingest/none", [b"x" * LIMIT * 2], [(b"content-length", size)]
    )
    assert status != 413  # reaches the routes (404 or 401, whatever ingest answers)
    size = str(INGEST_LIMIT + 1).encode()
    status, body, read = _asgi_call(
        limited_app, "POST", "/api/ingest/none", [b"x"], [(b"content-length", size)]
    )
    assert (status, read) == (413, 0) and f"{INGEST_LIMIT:,} bytes" in body["error"]


def test_the_limits_are_settings_with_documented_defaults() -> None:
    settings = Settings()
    assert settings.max_request_body_bytes == 1024 * 1024
    assert settings.ingest_max_request_body_bytes == 16 * 1024 * 1024


def test_an_over_long_address_answers_the_json_error(limited_app: FastAPI) -> None:
    with TestClient(limited_app, base_url=BASE_URL) as client:
        response = client.get("/api/fleet", params={"q": "x" * 10_000})
    assert response.status_code == 414
    assert response.headers["content-type"] == "application/json"
    assert response.json()["code"] == "uri_too_long" and response.headers["x-request-id"]


def _raw_exchange(port: int, request: bytes) -> tuple[int, bytes, bytes]:
    """Sends a raw request; (status, head, body) of the answer. The server closes at once on a request
    it cannot parse, which can reset the connection before the answer is read: tried up to 3 times."""
    for attempt in range(3):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
                connection.sendall(request)
                data = b""
                while chunk := connection.recv(65536):
                    data += chunk
        except ConnectionResetError:
            if attempt == 2:
                raise
            continue
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split()[1]), head.lower(), body
    raise AssertionError("unreachable")


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_uvicorn_answers_what_it_cannot_parse_in_json_too(limited_app: FastAPI, http: str) -> None:
    from altaviz.api import http_protocol

    protocol = http_protocol.JsonErrorH11Protocol if http == "h11" else http_protocol.JsonErrorHttpProtocol
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(limited_app, port=port, http=protocol, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        requests = {
            "app's limit": b"GET /api/fleet?q=" + b"x" * 10_000 + b" HTTP/1.1\r\nHost: t\r\n\r\n",
            "malformed": b"NOT HTTP AT ALL\r\n\r\n",
        }
        if http == "httptools":  # h11 takes a whole long request that arrives in one piece
            requests["parser's limit"] = (
                b"GET /api/fleet?q=" + b"x" * 100_000 + b" HTTP/1.1\r\nHost: t\r\n\r\n"
            )
        answers = {}
        for name, request in requests.items():
            status, head, body = _raw_exchange(port, request)
            assert b"content-type: application/json" in head, name
            answers[name] = (status, json.loads(body)["code"])
        assert answers.pop("app's limit") == (414, "uri_too_long")
        assert set(answers.values()) == {(400, "invalid_http_request")}
    finally:
        server.should_exit = True
        thread.join(10)


def test_json_nested_too_deep_is_a_400_everywhere(limited_app: FastAPI) -> None:
    deep = "[" * 10_000 + "]" * 10_000
    with TestClient(limited_app, base_url=BASE_URL) as client:
        for path in ("/api/auth/login", "/api/auth/signup"):
            response = client.post(path, content=deep, headers={"Content-Type": "application/json"})
            assert response.status_code == 400, (path, response.text)
            assert response.json()["code"] == "json_too_deep", path
            assert "nested too deeply" in response.json()["error"]
