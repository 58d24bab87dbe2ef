"""POST /api/ingest/status through the app: a connector's death and birth certificates mark compressors
offline and online on the fleet; judged like readings; idempotent; organization-scoped."""

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.orm import Session

from altaviz.accounts import data_version
from altaviz.accounts.roles import Role
from altaviz.monitoring.models import CompressorMetadata, CompressorState
from tests.api.world import SeededOrg, anonymous_client, key_client, member_client

URL = "/api/ingest/status"


def report(app: FastAPI, key: str, ids: list[str], state: str, at: datetime | int | str, **extra: Any) -> Any:
    stamp = at.isoformat() if isinstance(at, datetime) else at
    body = {"compressor_ids": ids, "state": state, "timestamp": stamp, **extra}
    return key_client(app, key).post(URL, json=body)


def fleet_rows(app: FastAPI, org: SeededOrg) -> tuple[dict[str, Any], dict[str, Any]]:
    answer = member_client(app, org.users[Role.VIEWER]).get("/api/fleet").json()
    return answer["summary"], {row["compressor_id"]: row for row in answer["items"]}


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_offline_shows_on_the_fleet_until_a_birth_and_a_retry_changes_nothing(
    app: FastAPI, org_a: SeededOrg, ingest_key: str
) -> None:
    summary, rows = fleet_rows(app, org_a)
    assert rows["COMP-003"]["offline_since"] is None
    online_before, healthy_before = summary["online"], summary["healthy"]
    assert rows["COMP-003"]["health_status"] == "healthy"
    death = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)

    answer = report(app, ingest_key, ["COMP-003"], "offline", death, reason="NDEATH of STATION-07")
    assert answer.status_code == 200, answer.text
    assert answer.json() | {"timestamp": None} == {
        "state": "offline",
        "timestamp": None,
        "accepted": 1,
        "recorded": 1,
        "superseded": 0,
        "refused": 0,
        "refused_compressors": [],
    }
    summary, rows = fleet_rows(app, org_a)
    assert rows["COMP-003"]["health_status"] == "stale"
    assert _parse(rows["COMP-003"]["offline_since"]) == death
    assert rows["COMP-003"]["offline_reason"] == "NDEATH of STATION-07"
    assert (summary["online"], summary["healthy"]) == (online_before - 1, healthy_before - 1)
    detail = member_client(app, org_a.users[Role.VIEWER]).get("/api/compressors/COMP-003").json()
    assert _parse(detail["offline_since"]) == death and detail["health_status"] == "stale"

    # the connector retries (same report), and a late birth from before the death arrives: no change
    again = report(app, ingest_key, ["COMP-003"], "offline", death, reason="NDEATH of STATION-07")
    assert (again.status_code, again.json()["recorded"], again.json()["superseded"]) == (200, 0, 1)
    late = report(
        app, ingest_key, ["COMP-003"], "online", int((death - timedelta(minutes=1)).timestamp() * 1000)
    )
    assert (late.status_code, late.json()["superseded"]) == (200, 1)
    assert fleet_rows(app, org_a)[1]["COMP-003"]["health_status"] == "stale"

    # alerts in alarm still rank first: a critical compressor that goes offline stays critical
    assert report(app, ingest_key, ["COMP-001"], "offline", death).status_code == 200
    summary, rows = fleet_rows(app, org_a)
    assert rows["COMP-001"]["health_status"] == "critical" and rows["COMP-001"]["offline_since"] is not None
    assert summary["online"] == online_before - 2

    birth = report(app, ingest_key, ["COMP-003"], "online", death + timedelta(seconds=20), reason="NBIRTH")
    assert (birth.status_code, birth.json()["recorded"]) == (200, 1)
    summary, rows = fleet_rows(app, org_a)
    assert rows["COMP-003"]["offline_since"] is None and rows["COMP-003"]["health_status"] == "healthy"
    assert summary["online"] == online_before - 1


def test_a_reading_newer_than_the_death_clears_it_and_older_ones_do_not(
    app: FastAPI, org_a: SeededOrg, ingest_key: str
) -> None:
    death = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    assert report(app, ingest_key, ["COMP-003"], "offline", death).status_code == 200

    def newest_reading(moment: datetime) -> None:  # what the pipeline's load keeps
        with Session(app.state.engine) as session, session.begin():
            session.execute(
                update(CompressorState)
                .where(
                    CompressorState.organization_id == org_a.id, CompressorState.compressor_id == "COMP-003"
                )
                .values(last_reading_at=moment)
            )
            data_version.bump(session, org_a.id)

    newest_reading(death - timedelta(seconds=10))  # buffered before the death, forwarded after it
    assert fleet_rows(app, org_a)[1]["COMP-003"]["offline_since"] is not None
    newest_reading(death + timedelta(seconds=10))
    row = fleet_rows(app, org_a)[1]["COMP-003"]
    assert row["offline_since"] is None and row["health_status"] == "healthy"


def test_judged_like_readings(app: FastAPI, org_a: SeededOrg, org_b: SeededOrg, ingest_key: str) -> None:
    now = datetime.now(UTC)
    with Session(app.state.engine) as session, session.begin():
        session.execute(
            update(CompressorMetadata)
            .where(
                CompressorMetadata.organization_id == org_a.id, CompressorMetadata.compressor_id == "COMP-003"
            )
            .values(archived_at=now)
        )
    answer = report(
        app, ingest_key, ["COMP-001", "COMP-003", org_b.own_compressor, "bad id!", "COMP-001"], "offline", now
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["accepted"], body["refused"]) == (1, 3)
    reasons = {row["compressor_id"]: row["reason"] for row in body["refused_compressors"]}
    assert reasons["COMP-003"].startswith("archived compressor")
    assert reasons[org_b.own_compressor].startswith("unknown compressor")  # another organization's
    assert "characters outside" in reasons["bad id!"]
    # org B's own compressor is untouched
    assert fleet_rows(app, org_b)[1][org_b.own_compressor]["offline_since"] is None

    nothing = report(app, ingest_key, ["NOPE-1"], "offline", now)
    assert nothing.status_code == 422 and nothing.json()["accepted"] == 0
    # an error body as the route declares it (schemathesis found the 422 without `error`)
    refusal = nothing.json()
    assert refusal["code"] == "all_compressors_refused" and "all 1 were refused" in refusal["error"]
    for stamp, words in (
        (now + timedelta(minutes=11), "in the future"),
        (now - timedelta(days=400), "history window"),
        ("yesterday", "invalid timestamp"),
        ("2026-12-06T08:00:00", "invalid timestamp"),  # no offset
    ):
        refused = report(app, ingest_key, ["COMP-001"], "offline", stamp)
        assert refused.status_code == 422 and words in refused.json()["error"], refused.text
    assert report(app, ingest_key, ["COMP-001"], "gone", now).status_code == 422
    assert report(app, ingest_key, [], "offline", now).status_code == 422


def test_keys_and_roles(app: FastAPI, org_a: SeededOrg) -> None:
    body = {"compressor_ids": ["COMP-001"], "state": "offline", "timestamp": datetime.now(UTC).isoformat()}
    assert anonymous_client(app).post(URL, json=body).status_code == 401
    assert key_client(app, org_a.api_keys[Role.VIEWER]).post(URL, json=body).status_code == 403
    assert key_client(app, org_a.api_keys[Role.ADMIN]).post(URL, json=body).status_code == 200
