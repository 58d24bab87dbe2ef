"""One ingest request, start to answer: idempotency claim, parse, judge, durable landing write, answer.

The answer follows AWS IoT SiteWise's per-entry errors (BatchPutAssetPropertyValue): a batch is not
all-or-nothing. Accepted rows are stored and the answer lists the refused ones with their row number
and reason; 200 when at least one row was stored (`status` "accepted" or "partial"), 422 when none
was ("refused"). Every refused row, not only the first 100 listed, is kept in the organization's
landing/<org>/refused/ with its reason, from where the pipeline brings it into the quarantine.
"""

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from altaviz.accounts.models import Organization
from altaviz.accounts.plans import plan_for
from altaviz.accounts.scoping import OrgScope, scoped
from altaviz.db.session import SQLITE_BEGIN_IMMEDIATE
from altaviz.ingest.formats import IngestError, format_of, inflate, parse
from altaviz.ingest.judge import Judgement, judge
from altaviz.ingest.landing import READINGS, REFUSED, organization_landing, write_durably
from altaviz.ingest.models import IngestRequest
from altaviz.ingest.rules import ERRORS_SHOWN, MAX_ROWS
from altaviz.monitoring.models import CompressorMetadata

# A claim whose request never answered (its process died) is taken over after this long.
STALE_CLAIM = timedelta(minutes=2)
# A retry arriving while the first request still runs waits this long for its answer.
CONCURRENT_WAIT_SECONDS = 30.0
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Tenant:
    organization_id: uuid.UUID
    slug: str
    history_days: int


@dataclass(frozen=True)
class Request:
    body: bytes
    content_type: str | None
    content_encoding: str | None = None
    idempotency_key: str | None = None
    dry_run: bool = False
    source: str = "api"
    max_rows: int | None = MAX_ROWS  # None: no limit (the CLI, on the server)


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False
    headers: dict[str, str] = field(default_factory=dict)


def registered_compressors(db: Session, scope: OrgScope) -> dict[str, bool]:
    """The organization's compressor ids, True for archived ones."""
    query = scoped(
        select(CompressorMetadata.compressor_id, CompressorMetadata.archived_at), scope, CompressorMetadata
    )
    return {row.compressor_id: row.archived_at is not None for row in db.execute(query)}


def ingest(
    db: Session,
    tenant: Tenant,
    landing_dir: Path,
    request: Request,
    *,
    retention: timedelta = timedelta(hours=24),
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Answer:
    key = request.idempotency_key
    if key is not None and not (0 < len(key) <= MAX_KEY_LENGTH and key.isprintable()):
        raise IngestError(
            400, "bad_idempotency_key", f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters"
        )
    if key is None or request.dry_run:
        return _process(db, tenant, landing_dir, request, now(), uuid.uuid4().hex[:20])
    digest = _request_digest(request)
    claim = _claim(db, tenant.organization_id, key, digest, now, retention)
    if isinstance(claim, Answer):
        return claim
    batch_id = hashlib.sha256(f"{tenant.organization_id}:{key}".encode()).hexdigest()[:20]
    try:
        answer = _process(db, tenant, landing_dir, request, claim, batch_id)
    except BaseException:
        _forget(db, tenant.organization_id, key)
        raise
    _record(db, tenant.organization_id, key, answer, now())
    return Answer(answer.status_code, {**answer.body, "idempotency_key": key})


def _process(
    db: Session, tenant: Tenant, landing_dir: Path, request: Request, received: datetime, batch_id: str
) -> Answer:
    fmt = format_of(request.content_type)
    batch = parse(inflate(request.body, request.content_encoding), fmt, request.max_rows)
    registered = registered_compressors(db, OrgScope(tenant.organization_id))
    if db.in_transaction():
        db.rollback()  # no connection held while judging and writing
    judged = judge(
        batch, registered=registered, now=received, history_days=tenant.history_days, source=request.source
    )
    if judged.rows == 0:
        raise IngestError(422, "empty", "The request holds no readings")
    name = f"{received:%Y%m%dT%H%M%S}Z-{batch_id}.parquet"
    if not request.dry_run:
        # Refused rows first: a crash between the two writes loses no refusal of an accepted batch.
        root = organization_landing(landing_dir, tenant.slug)
        if judged.refused.num_rows:
            write_durably(judged.refused, root / REFUSED, name)
        if judged.accepted.num_rows:
            write_durably(judged.accepted, root / READINGS, name)
    return _answer(judged, fmt, batch.ignored_columns, request.dry_run, batch_id)


def _answer(judged: Judgement, fmt: str, ignored: tuple[str, ...], dry_run: bool, batch_id: str) -> Answer:
    accepted = judged.accepted.num_rows
    refused = judged.refused.num_rows
    shown = judged.refused.slice(0, ERRORS_SHOWN).select(
        ["row_number", "compressor_id", "timestamp", "reason"]
    )
    refused_rows = [
        {
            "row": row["row_number"],
            "compressor_id": row["compressor_id"],
            "timestamp": row["timestamp"],
            "reason": row["reason"],
        }
        for row in shown.to_pylist()
    ]
    status = "accepted" if refused == 0 else ("partial" if accepted else "refused")
    body: dict[str, Any] = {
        "status": status,
        "dry_run": dry_run,
        "batch_id": batch_id,
        "format": fmt,
        "rows": judged.rows,
        "accepted": accepted,
        "refused": refused,
        "refused_rows": refused_rows,
        "refused_rows_truncated": refused > len(refused_rows),
        "ignored_columns": list(ignored),
    }
    if accepted:
        return Answer(200, body)
    verb = "would be stored" if dry_run else "was stored"
    return Answer(
        422,
        {
            "error": f"No reading {verb}: all {refused:,} rows were refused (see refused_rows)",
            "code": "all_rows_refused",
            **body,
        },
    )


def _request_digest(request: Request) -> str:
    h = hashlib.sha256()
    h.update(f"{request.content_type}\n{request.content_encoding}\n".encode())
    h.update(request.body)
    return h.hexdigest()


def _begin_write(db: Session) -> None:
    if db.in_transaction():
        db.commit()
    db.connection(execution_options={SQLITE_BEGIN_IMMEDIATE: True})


def _claim(
    db: Session,
    organization_id: uuid.UUID,
    key: str,
    digest: str,
    now: Callable[[], datetime],
    retention: timedelta,
) -> datetime | Answer:
    """The moment the key was first claimed (go ahead), or the answer to give instead."""
    deadline = time.monotonic() + CONCURRENT_WAIT_SECONDS
    while True:
        moment = now()
        _begin_write(db)
        db.execute(
            delete(IngestRequest).where(
                IngestRequest.organization_id == organization_id,
                IngestRequest.created_at < moment - retention,
            )
        )
        row = db.get(IngestRequest, (organization_id, key), populate_existing=True)
        if row is None:
            try:
                with db.begin_nested():
                    db.add(
                        IngestRequest(
                            organization_id=organization_id,
                            idempotency_key=key,
                            request_sha256=digest,
                            created_at=moment,
                        )
                    )
                db.commit()
                return moment
            except IntegrityError:  # another request claimed it between our read and insert
                db.rollback()
                continue
        found = (row.request_sha256, row.status_code, row.response_body, row.created_at)
        db.commit()
        sha, status_code, response_body, created_at = found
        if sha != digest:
            return Answer(
                409,
                {
                    "error": "This Idempotency-Key was used with a different request body; use a new key for "
                    "a new batch",
                    "code": "idempotency_key_reused",
                },
            )
        if status_code is not None and response_body is not None:
            return Answer(status_code, json.loads(response_body), replayed=True)
        if moment - created_at > STALE_CLAIM:
            return created_at  # its first request died before answering: take over (same landing name)
        if time.monotonic() > deadline:
            return Answer(
                409,
                {
                    "error": "A request with this Idempotency-Key is still being processed; retry shortly",
                    "code": "idempotency_key_in_use",
                },
                headers={"Retry-After": "5"},
            )
        time.sleep(0.1)


def _record(db: Session, organization_id: uuid.UUID, key: str, answer: Answer, moment: datetime) -> None:
    body = json.dumps({**answer.body, "idempotency_key": key})
    _begin_write(db)
    db.execute(
        update(IngestRequest)
        .where(IngestRequest.organization_id == organization_id, IngestRequest.idempotency_key == key)
        .values(status_code=answer.status_code, response_body=body, completed_at=moment)
    )
    db.commit()


def _forget(db: Session, organization_id: uuid.UUID, key: str) -> None:
    """Release the claim of a request that failed as a whole: the client may fix it and reuse the key."""
    db.rollback()
    _begin_write(db)
    db.execute(
        delete(IngestRequest).where(
            IngestRequest.organization_id == organization_id,
            IngestRequest.idempotency_key == key,
            IngestRequest.status_code.is_(None),
        )
    )
    db.commit()


class UnknownOrganization(LookupError):
    pass


def tenant_for_slug(db: Session, slug: str) -> Tenant:
    """The organization named by `slug` (the CLI's --organization)."""
    row = db.execute(
        select(Organization.id, Organization.subscription_tier).where(Organization.slug == slug)
    ).one_or_none()
    if row is None:
        raise UnknownOrganization(f"no organization with the slug {slug!r} (altaviz orgs list shows them)")
    return Tenant(row.id, slug, plan_for(row.subscription_tier).history_days)
