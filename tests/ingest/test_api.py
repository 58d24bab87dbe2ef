"""POST /api/ingest/readings through the app: formats, row judgement, limits, keys, idempotency."""

import gzip
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI

from altaviz.accounts.roles import Role
from altaviz.config import Settings
from altaviz.ingest.judge import ACCEPTED_SCHEMA, REFUSED_SCHEMA
from altaviz.server import create_app
from tests.api.routes import PROTECTED
from tests.api.world import SeededOrg, close_clients, key_client, member_client, seed_organization
from tests.ingest.conftest import make_ingest_key
from tests.ingest.helpers import ENCODERS, as_csv, gzipped, landed, landed_rows, reading, series

URL = "/api/ingest/readings"


def post(app: FastAPI, key: str, body: bytes, content_type: str = "application/json", **headers: str) -> Any:
    return key_client(app, key).post(URL, content=body, headers={"Content-Type": content_type, **headers})


def data_dir(app: FastAPI) -> Any:
    return app.state.settings.data_dir


@pytest.mark.parametrize("content_type", sorted(ENCODERS))
@pytest.mark.parametrize("gzip_it", [False, True], ids=["plain", "gzip"])
def test_every_format_lands_one_parquet_file_in_the_contract_schema(
    app: FastAPI, org_a: SeededOrg, ingest_key: str, content_type: str, gzip_it: bool
) -> None:
    rows = series(30)
    body = ENCODERS[content_type](rows)
    headers = {"Content-Encoding": "gzip"} if gzip_it else {}
    response = post(app, ingest_key, gzipped(body) if gzip_it else body, content_type, **headers)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["status"], answer["rows"], answer["accepted"], answer["refused"]) == (
        "accepted",
        30,
        30,
        0,
    )
    files = landed(data_dir(app), org_a.slug)
    assert len(files) == 1
    table = pq.read_table(files[0])
    assert table.schema.equals(ACCEPTED_SCHEMA, check_metadata=False)
    stored = table.to_pylist()
    assert {(r["compressor_id"], r["timestamp"]) for r in stored} == {
        (r["compressor_id"], datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00"))) for r in rows
    }
    assert all(r["vibration_mms"] == 3.1 and r["operating_hours"] == 1200.5 for r in stored)
    assert not landed(data_dir(app), org_a.slug, "refused")
    # Nothing half-written is left beside it.
    assert [p.name for p in files[0].parent.iterdir()] == [files[0].name]


def test_json_object_form_and_epoch_milliseconds(app: FastAPI, org_a: SeededOrg, ingest_key: str) -> None:
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    rows = [reading("COMP-001", timestamp=int(moment.timestamp() * 1000))]
    rows.append(reading("COMP-002", timestamp=moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")))
    rows.append(
        reading(
            "COMP-003",
            timestamp=(moment + timedelta(hours=5, minutes=30)).strftime("%Y-%m-%dT%H:%M:%S+05:30"),
        )
    )
    response = post(app, ingest_key, json.dumps({"readings": rows}).encode())
    assert response.status_code == 200, response.text
    assert {r["timestamp"] for r in landed_rows(data_dir(app), org_a.slug)} == {moment}


def test_a_partly_refused_batch_stores_the_good_rows_and_names_each_refused_one(
    app: FastAPI, org_a: SeededOrg, org_b: SeededOrg, ingest_key: str
) -> None:
    rows = [
        reading("COMP-001", 30),  # 1 good
        reading("COMP-001", 30),  # 2 duplicate of 1
        reading("C" * 65),  # 3 id too long
        reading(org_b.own_compressor),  # 4 another organization's compressor
        reading("COMP-002", timestamp="2026-01-01T00:00:00"),  # 5 no offset
        reading("COMP-002", -30),  # 6 future
        reading("COMP-002", 60 * 24 * 400),  # 7 older than the plan's history (enterprise: 365 days)
        reading("COMP-002", vibration_mms="loud"),  # 8 not a number
        reading("COMP-002", discharge_temp_f=5000),  # 9 impossible
        reading("COMP-003", vibration_mms="NaN"),  # 10 NaN as text (JSON itself has no NaN)
        {"timestamp": reading()["timestamp"]},  # 11 no compressor
        reading("COMP-003", 40, timestamp=None),  # 12 no timestamp
        reading(
            "COMP-003",
            50,
            **{
                name: None
                for name in (
                    "vibration_mms",
                    "discharge_temp_f",
                    "suction_pressure_psi",
                    "discharge_pressure_psi",
                    "horsepower_consumption",
                    "gas_flow_mcf",
                )
            },
        ),  # 13 no sensor
        "not a reading",  # 14
        reading("COMP-003", 20, vibration_mms=None),  # 15 good: one sensor missing is a reading
    ]
    response = post(app, ingest_key, json.dumps(rows).encode())
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["status"], answer["accepted"], answer["refused"]) == ("partial", 2, 13)
    reasons = {row["row"]: row["reason"] for row in answer["refused_rows"]}
    assert sorted(reasons) == list(range(2, 15))
    expected = {
        2: "duplicate of row 1",
        3: "65 characters long; the limit is 64",
        4: f"unknown compressor: {org_b.own_compressor} is not registered",
        5: "invalid timestamp 2026-01-01T00:00:00: use RFC 3339 with an offset",
        6: "more than 10 minutes in the future",
        7: "older than the plan's history window of 365 days",
        8: "vibration_mms is not a number: loud",
        9: "discharge_temp_f 5000",
        10: "vibration_mms",
        11: "missing compressor_id",
        12: "missing timestamp",
        13: "no sensor value",
        14: "not an object",
    }
    for row, fragment in expected.items():
        assert fragment in reasons[row], (row, reasons[row])
    assert "physically impossible" in reasons[9] and "physically impossible" in reasons[10]

    stored = landed_rows(data_dir(app), org_a.slug)
    assert sorted(r["compressor_id"] for r in stored) == ["COMP-001", "COMP-003"]
    refused_files = landed(data_dir(app), org_a.slug, "refused")
    assert len(refused_files) == 1
    refused = pq.read_table(refused_files[0])
    assert refused.schema.equals(REFUSED_SCHEMA, check_metadata=False)
    kept = refused.to_pylist()
    assert [r["row_number"] for r in kept] == list(range(2, 15))
    assert kept[6]["vibration_mms"] == "loud" and kept[6]["source"].startswith("api:")
    assert not landed(data_dir(app), org_b.slug)  # nothing reached the other organization


def test_a_batch_with_no_good_row_is_422_and_its_rows_are_kept(
    app: FastAPI, org_a: SeededOrg, ingest_key: str
) -> None:
    response = post(app, ingest_key, json.dumps([reading("NOT-OURS"), reading("X" * 65)]).encode())
    assert response.status_code == 422
    answer = response.json()
    assert answer["code"] == "all_rows_refused" and answer["status"] == "refused" and answer["accepted"] == 0
    assert "requestId" in answer
    assert not landed(data_dir(app), org_a.slug)
    assert len(landed_rows(data_dir(app), org_a.slug, "refused")) == 2


def test_a_65_character_id_is_refused_at_the_door(app: FastAPI, org_a: SeededOrg, ingest_key: str) -> None:
    """On SQLite and PostgreSQL alike (the app fixture runs on both): no load fails on it later."""
    response = post(app, ingest_key, json.dumps([reading("A" * 65), reading("A" * 64)]).encode())
    assert response.status_code == 422
    reasons = [row["reason"] for row in response.json()["refused_rows"]]
    assert reasons[0] == "compressor_id is 65 characters long; the limit is 64"
    assert reasons[1].startswith("unknown compressor")  # 64 characters is a valid id, just not registered


def test_dry_run_judges_without_storing(app: FastAPI, org_a: SeededOrg, ingest_key: str) -> None:
    body = json.dumps([reading("COMP-001"), reading("NOPE")]).encode()
    response = key_client(app, ingest_key).post(
        URL, params={"dry_run": "true"}, content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200
    assert response.json()["dry_run"] is True and response.json()["accepted"] == 1
    assert not landed(data_dir(app), org_a.slug) and not landed(data_dir(app), org_a.slug, "refused")


@pytest.mark.parametrize(
    ("content_type", "body", "status", "code"),
    [
        ("application/xml", b"<readings/>", 415, "unsupported_media_type"),
        ("application/json", b"[{", 400, "bad_json"),
        ("application/json", b'{"rows": []}', 422, "bad_shape"),
        ("application/json", b"[]", 422, "empty"),
        ("application/json", b"[" * 100_000, 400, "json_too_deep"),
        ("text/csv", b"compressor_id,timestamp\nCOMP-001,2026-01-01T00:00:00Z\n", 422, "missing_columns"),
        ("application/vnd.apache.parquet", b"PAR1 not really", 400, "bad_parquet"),
    ],
)
def test_unusable_requests_say_what_to_fix(
    app: FastAPI, org_a: SeededOrg, ingest_key: str, content_type: str, body: bytes, status: int, code: str
) -> None:
    response = post(app, ingest_key, body, content_type)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert response.json()["error"]


def test_too_many_rows_is_413_in_every_format(app: FastAPI, org_a: SeededOrg, ingest_key: str) -> None:
    many = [{"compressor_id": "COMP-001"}] * 100_001
    assert post(app, ingest_key, json.dumps(many).encode()).status_code == 413
    ndjson = b'{"compressor_id": "COMP-001"}\n' * 100_001
    assert post(app, ingest_key, ndjson, "application/x-ndjson").status_code == 413
    header = as_csv([reading()]).split(b"\n")[0]
    csv_body = header + b"\n" + b"COMP-001,1,1,1,1,1,1,1,1\n" * 100_001
    response = post(app, ingest_key, gzipped(csv_body), "text/csv", **{"Content-Encoding": "gzip"})
    assert response.status_code == 413 and response.json()["code"] == "too_many_rows"
    assert "100,000" in response.json()["error"] and "altaviz ingest" in response.json()["error"]
    table = pa.table({"compressor_id": ["COMP-001"] * 100_001})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    assert (
        post(app, ingest_key, sink.getvalue().to_pybytes(), "application/vnd.apache.parquet").status_code
        == 413
    )
    assert not landed(data_dir(app), org_a.slug)


def test_a_gzip_bomb_is_refused_with_413(app: FastAPI, org_a: SeededOrg, ingest_key: str) -> None:
    bomb = gzip.compress(b" " * (300 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 1024 * 1024
    response = post(app, ingest_key, bomb, "application/json", **{"Content-Encoding": "gzip"})
    assert response.status_code == 413 and "inflates" in response.json()["error"]


def test_a_body_over_the_limit_is_413_before_it_is_read(
    settings_factory: Callable[..., Settings],
) -> None:
    app = create_app(settings_factory(ingest_max_request_body_bytes=4096))
    try:
        org = seed_organization(app.state.engine, "alpha", "Alpha")
        _, key = make_ingest_key(app, org)
        body = json.dumps(series(100)).encode()
        assert len(body) > 4096
        response = post(app, key, body)
        assert response.status_code == 413, response.text
        # Refused by the size middleware from Content-Length, before the route or its body reading.
        assert response.json()["code"] == "body_too_large"
        assert not landed(app.state.settings.data_dir, org.slug)
    finally:
        close_clients()
        app.state.engine.dispose()


def test_an_ingest_key_can_read_nothing(app: FastAPI, org_a: SeededOrg, ingest_key: str) -> None:
    client = key_client(app, ingest_key)
    for route in PROTECTED:
        if route.path in (URL, "/api/ingest/status"):
            continue
        body = dict(route.body) if route.body is not None else None
        response = client.request(route.method, route.url(org_a), params=route.params, json=body)
        assert response.status_code == 403, (route, response.text)
        assert "ingest key" in response.json()["error"]
    # It may send readings.
    assert post(app, ingest_key, json.dumps([reading()]).encode()).status_code == 200


def test_who_may_send_readings(app: FastAPI, org_a: SeededOrg) -> None:
    body = json.dumps([reading()]).encode()
    for role in (Role.VIEWER, Role.OPERATOR):
        response = post(app, org_a.api_keys[role], body)
        assert response.status_code == 403 and "Admin access required" in response.json()["error"]
    assert post(app, org_a.api_keys[Role.ADMIN], body).status_code == 200
    admin = member_client(app, org_a.users[Role.ADMIN])
    response = admin.post(
        URL,
        content=json.dumps([reading(minutes_ago=5)]).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200
    assert key_client(app, "avz_" + "x" * 43).post(URL, content=body).status_code == 401


def test_an_admin_creates_an_ingest_key(app: FastAPI, org_a: SeededOrg) -> None:
    admin = member_client(app, org_a.users[Role.ADMIN])
    created = admin.post("/api/api-keys", json={"name": "gateway", "role": "ingest"})
    assert created.status_code == 201 and created.json()["role"] == "ingest"
    key = created.json()["key"]
    assert key_client(app, key).get("/api/fleet").status_code == 403
    assert post(app, key, json.dumps([reading()]).encode()).status_code == 200


def test_same_key_same_body_answers_once_and_stores_once(
    app: FastAPI, org_a: SeededOrg, ingest_key: str
) -> None:
    body = json.dumps([*series(5), reading("NOPE")]).encode()
    first = post(app, ingest_key, body, **{"Idempotency-Key": "batch-1"})
    again = post(app, ingest_key, body, **{"Idempotency-Key": "batch-1"})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and first.json()["idempotency_key"] == "batch-1"
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert len(landed(data_dir(app), org_a.slug)) == 1
    assert len(landed_rows(data_dir(app), org_a.slug)) == 5
    assert len(landed_rows(data_dir(app), org_a.slug, "refused")) == 1

    other = post(app, ingest_key, json.dumps(series(2)).encode(), **{"Idempotency-Key": "batch-1"})
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    assert len(landed_rows(data_dir(app), org_a.slug)) == 5
    # A failed request (not readable) does not keep its key: fixed, it goes through under the same key.
    assert post(app, ingest_key, b"[{", **{"Idempotency-Key": "batch-2"}).status_code == 400
    fixed = post(
        app, ingest_key, json.dumps([reading(minutes_ago=3)]).encode(), **{"Idempotency-Key": "batch-2"}
    )
    assert fixed.status_code == 200


def test_idempotency_keys_are_per_organization(
    app: FastAPI, org_a: SeededOrg, org_b: SeededOrg, ingest_key: str
) -> None:
    _, key_b = make_ingest_key(app, org_b)
    assert (
        post(app, ingest_key, json.dumps([reading()]).encode(), **{"Idempotency-Key": "k"}).status_code == 200
    )
    response = post(app, key_b, json.dumps(series(2)).encode(), **{"Idempotency-Key": "k"})
    assert response.status_code == 200 and response.json()["accepted"] == 2
    assert len(landed_rows(data_dir(app), org_b.slug)) == 2


def test_ingest_keys_have_their_own_rate_limit_apart_from_the_per_ip_one(
    sqlite_settings_factory: Callable[..., Settings],
) -> None:
    app = create_app(sqlite_settings_factory(rate_limit_per_minute=3, ingest_rate_limit_per_minute=2))
    try:
        org = seed_organization(app.state.engine, "alpha", "Alpha")
        _, key = make_ingest_key(app, org)
        _, other_key = make_ingest_key(app, org, "second gateway")
        answers = [post(app, key, json.dumps([reading(minutes_ago=m)]).encode()) for m in (5, 6, 7)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert int(answers[2].headers["retry-after"]) >= 1
        assert answers[0].headers["ratelimit-policy"] == '"ingest";q=2;w=60'
        assert post(app, other_key, json.dumps([reading(minutes_ago=8)]).encode()).status_code == 200
        # The same address still has its whole per-IP budget for the other routes.
        viewer = key_client(app, org.api_keys[Role.VIEWER])
        assert [viewer.get("/api/fleet").status_code for _ in range(3)] == [200, 200, 200]
        assert viewer.get("/api/fleet").status_code == 429
    finally:
        close_clients()
        app.state.engine.dispose()


def test_failed_ingest_credentials_count_against_the_ip(
    sqlite_settings_factory: Callable[..., Settings],
) -> None:
    app = create_app(sqlite_settings_factory(rate_limit_per_minute=2))
    try:
        seed_organization(app.state.engine, "alpha", "Alpha")
        body = json.dumps([reading()]).encode()
        statuses = [post(app, "avz_" + "x" * 43, body).status_code for _ in range(3)]
        assert statuses == [401, 401, 429]
    finally:
        close_clients()
        app.state.engine.dispose()


def _parquet_body(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())


def test_parquet_columns_of_other_types(app: FastAPI, org_a: SeededOrg, ingest_key: str) -> None:
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    sensors = {name: pa.array([1.0, 2.0], pa.float32()) for name in ("vibration_mms", "discharge_temp_f")}
    others = {
        name: pa.array([60, 61], pa.int32())
        for name in (
            "suction_pressure_psi",
            "discharge_pressure_psi",
            "horsepower_consumption",
            "gas_flow_mcf",
        )
    }
    table = pa.table(
        {
            "compressor_id": pa.array([b"COMP-001", b"COMP-002"], pa.binary()),
            "timestamp": pa.array([moment.replace(tzinfo=None)] * 2, pa.timestamp("ms")),  # no zone: UTC
            **sensors,
            **others,
            "site": ["north", "south"],
        }
    )
    response = post(app, ingest_key, _parquet_body(table), "application/vnd.apache.parquet")
    assert response.status_code == 200, response.text
    assert response.json()["ignored_columns"] == ["site"]
    assert {r["timestamp"] for r in landed_rows(data_dir(app), org_a.slug)} == {moment}

    nested = table.set_column(2, "vibration_mms", pa.array([[1.0], [2.0]]))
    response = post(app, ingest_key, _parquet_body(nested), "application/vnd.apache.parquet")
    assert response.status_code == 422 and "vibration_mms is of type list<" in response.json()["error"]


def test_json_true_or_false_is_not_a_number(app: FastAPI, org_a: SeededOrg, ingest_key: str) -> None:
    rows = [reading("COMP-001", 5), reading("COMP-002", 5, gas_flow_mcf=True)]
    answer = post(app, ingest_key, json.dumps(rows).encode()).json()
    assert answer["accepted"] == 1
    assert answer["refused_rows"][0]["reason"] == "gas_flow_mcf is not a number: true"


def test_ndjson_names_the_line_that_is_not_json(app: FastAPI, org_a: SeededOrg, ingest_key: str) -> None:
    body = json.dumps(reading()).encode() + b"\n\n{oops\n"
    response = post(app, ingest_key, body, "application/x-ndjson")
    assert response.status_code == 400 and response.json()["error"].startswith("Line 3 is not valid JSON")


def test_numbers_beyond_64_bits_are_judged_not_a_server_error(
    app: FastAPI, org_a: SeededOrg, ingest_key: str
) -> None:
    huge = 18446744073709551615
    rows = [
        reading("COMP-001", 5),
        reading("COMP-002", 5, timestamp=huge),
        reading("COMP-003", 5, vibration_mms=huge),
    ]
    answer = post(app, ingest_key, json.dumps(rows).encode()).json()
    reasons = [row["reason"] for row in answer["refused_rows"]]
    assert answer["accepted"] == 1 and reasons[0].startswith(f"invalid timestamp {huge}")
    assert "vibration_mms" in reasons[1] and "physically impossible" in reasons[1]
