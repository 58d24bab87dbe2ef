"""POST /api/ingest/status: a field connector reports compressors going offline or coming back.

A Sparkplug B death certificate (NDEATH/DDEATH) means the compressors behind it stopped reporting at
that moment; a birth certificate (NBIRTH/DBIRTH) means they are back. The report is judged as readings
are: the timestamp (RFC 3339 with an offset, or epoch milliseconds) no more than 10 minutes in the
future nor older than the plan's history window, else the whole report is refused (422); each
compressor id valid, registered and not archived, else that compressor is refused with its reason and
the others are recorded (200 when at least one was, 422 when none was).

Idempotent without a key: each compressor keeps its newest event (monitoring.connectivity), and a
report replaces it only when it is at least as new, so a retried or re-ordered report changes nothing
(counted as `superseded`). A change bumps the organization's data version: the fleet shows it on its
next read.
"""

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from altaviz.accounts import data_version
from altaviz.accounts.scoping import OrgScope
from altaviz.fleet.identifiers import compressor_id_problem
from altaviz.ingest.formats import IngestError
from altaviz.ingest.rules import FUTURE_TOLERANCE
from altaviz.ingest.service import registered_compressors
from altaviz.monitoring.connectivity import REASON_LENGTH, CompressorConnectivity

MAX_COMPRESSORS = 10_000
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")


class StatusReport(BaseModel):
    compressor_ids: list[str] = Field(
        min_length=1, max_length=MAX_COMPRESSORS, description="Registered compressors of your organization."
    )
    state: Literal["offline", "online"] = Field(
        description="offline: a death certificate (stopped reporting); online: a birth certificate."
    )
    timestamp: str | int = Field(
        description="When it happened at the source: RFC 3339 with an offset, or epoch milliseconds."
    )
    reason: str | None = Field(
        None,
        max_length=REASON_LENGTH,
        pattern=r"^[^\x00-\x1f]*$",  # printable: no NUL (PostgreSQL refuses it in text), no newlines
        description="Shown with the state, e.g. 'NDEATH of STATION-07'.",
    )


class RefusedCompressor(BaseModel):
    compressor_id: str
    reason: str


class StatusAnswer(BaseModel):
    state: Literal["offline", "online"]
    timestamp: datetime
    accepted: int = Field(description="Compressors whose report was valid.")
    recorded: int = Field(description="Of those, compressors whose state this report set.")
    superseded: int = Field(
        description="Of those, compressors that already held this or a newer event (a retry changes nothing)."
    )
    refused: int
    refused_compressors: list[RefusedCompressor]


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict[str, Any]


def _moment(value: str | int) -> datetime:
    if isinstance(value, bool):
        raise IngestError(422, "invalid_timestamp", "timestamp must be RFC 3339 text or epoch milliseconds")
    if isinstance(value, int):
        try:
            return datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError) as error:
            raise IngestError(422, "invalid_timestamp", f"invalid timestamp {value}") from error
    text = value.strip()
    if text.lstrip("-").isdigit():
        return _moment(int(text))
    if _RFC3339.fullmatch(text) is None:
        raise IngestError(
            422, "invalid_timestamp", f"invalid timestamp {value!r}: RFC 3339 with an offset, or epoch ms"
        )
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _judge_time(moment: datetime, now: datetime, history_days: int) -> None:
    stamp = f"{moment:%Y-%m-%dT%H:%M:%SZ}"
    if moment > now + FUTURE_TOLERANCE:
        raise IngestError(
            422,
            "invalid_timestamp",
            f"timestamp {stamp} is more than 10 minutes in the future (check the clock and the time zone)",
        )
    if moment < now - timedelta(days=history_days):
        raise IngestError(
            422, "invalid_timestamp", f"timestamp {stamp} is older than the plan's history window"
        )


def _refusal(compressor_id: str, registered: dict[str, bool]) -> str | None:
    problem = compressor_id_problem(compressor_id)
    if problem is not None:
        return problem
    if compressor_id not in registered:
        return (
            f"unknown compressor: {compressor_id} is not registered in this organization's fleet "
            "(register it first)"
        )
    if registered[compressor_id]:
        return f"archived compressor: {compressor_id} is archived; restore it to report its state"
    return None


def record(
    db: Session,
    scope: OrgScope,
    report: StatusReport,
    *,
    history_days: int,
    source: str,
    now: datetime | None = None,
) -> Answer:
    """Judge the report and keep each valid compressor's newest event (one transaction)."""
    received = now or datetime.now(UTC)
    moment = _moment(report.timestamp)
    _judge_time(moment, received, history_days)
    registered = registered_compressors(db, scope)
    accepted: list[str] = []
    refused: list[dict[str, str]] = []
    for compressor_id in dict.fromkeys(report.compressor_ids):
        reason = _refusal(compressor_id, registered)
        if reason is None:
            accepted.append(compressor_id)
        else:
            refused.append({"compressor_id": compressor_id, "reason": reason})
    recorded = _upsert(db, scope.organization_id, accepted, report, moment, source[:200], received)
    if recorded:
        data_version.bump(db, scope.organization_id)
    db.commit()
    body = StatusAnswer(
        state=report.state,
        timestamp=moment,
        accepted=len(accepted),
        recorded=recorded,
        superseded=len(accepted) - recorded,
        refused=len(refused),
        refused_compressors=[RefusedCompressor(**row) for row in refused],
    )
    if accepted:
        return Answer(200, body.model_dump(mode="json"))
    # the route's 422 is an ErrorBody (as the readings route's all-refused one), with the answer's fields
    return Answer(
        422,
        {
            "error": f"No compressor recorded: all {len(refused):,} were refused (see refused_compressors)",
            "code": "all_compressors_refused",
            **body.model_dump(mode="json"),
        },
    )


def _upsert(
    db: Session,
    organization_id: uuid.UUID,
    compressors: list[str],
    report: StatusReport,
    moment: datetime,
    source: str,
    received: datetime,
) -> int:
    """Insert or replace each compressor's event unless it holds a newer one: the rows written."""
    if not compressors:
        return 0
    table: Any = CompressorConnectivity.__table__
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    rows = [
        {
            "organization_id": organization_id,
            "compressor_id": compressor_id,
            "state": report.state,
            "changed_at": moment,
            "reason": report.reason,
            "source": source,
            "received_at": received,
        }
        for compressor_id in compressors
    ]
    new = insert(table)
    replace = ("state", "changed_at", "reason", "source", "received_at")
    statement = new.on_conflict_do_update(
        index_elements=["organization_id", "compressor_id"],
        set_={name: new.excluded[name] for name in replace},
        # newer wins; at the same moment only a change of state (a retry is no change)
        where=(table.c.changed_at < new.excluded.changed_at)
        | ((table.c.changed_at == new.excluded.changed_at) & (table.c.state != new.excluded.state)),
    ).returning(table.c.compressor_id)
    written = 0
    for start in range(0, len(rows), 1000):
        written += len(db.execute(statement, rows[start : start + 1000]).all())
    return written
