"""POST /api/ingest/readings: readings into the organization's landing zone (ingest keys and admins)."""

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from altaviz.accounts.dependencies import Caller, CallerOf, DbSession, authorize_ingest, release
from altaviz.accounts.errors import NotAuthenticated
from altaviz.accounts.principal import Principal
from altaviz.api.errors import ErrorBody, error_response, error_responses, request_id_of
from altaviz.api.ratelimit import rate_limit_headers
from altaviz.config import Settings
from altaviz.ingest import service, status
from altaviz.ingest.formats import IngestError
from altaviz.ingest.rules import ERRORS_SHOWN, MAX_ROWS, limits_text
from altaviz.ingest.schemas import IngestAnswer, Reading
from altaviz.observability.metrics import record_rate_limit_rejection

router = APIRouter(prefix="/ingest", tags=["ingest"])

DESCRIPTION = f"""
Send readings of your registered compressors. Authenticate with an API key of the kind **ingest**
(it can send readings and nothing else) or an admin key (or an admin's session).

**Formats**, by `Content-Type`: `application/json` (an array of readings, or `{{"readings": [...]}}`),
`application/x-ndjson` (one reading per line), `text/csv` (a header line with the column names) and
`application/vnd.apache.parquet`; `Content-Encoding: gzip` for any of them.
**Columns**: `compressor_id`, `timestamp` (RFC 3339 with an offset, or epoch milliseconds),
`vibration_mms`, `discharge_temp_f`, `suction_pressure_psi`, `discharge_pressure_psi`,
`horsepower_consumption`, `gas_flow_mcf`, optional `operating_hours`. A reading needs at least one sensor.

**Limits**: {limits_text()}. Beyond them the answer is 413 (decided before the body is read);
a gzip body that inflates beyond 256 MB too.

**Each row is judged**: unknown or archived compressor, invalid id, missing or invalid timestamp, more
than 10 minutes in the future or older than your plan's history window, a value that is not a number or
is physically impossible, a duplicate (same compressor and timestamp) of an earlier row.
**Partly refused batches** follow AWS IoT SiteWise's per-entry errors: the batch is not all-or-nothing.
The accepted rows are stored; the answer gives the counts and, in `refused_rows`, the first
{ERRORS_SHOWN} refused rows with row number and reason. **200** when at least one row was stored
(`status` "accepted" or "partial"), **422** when none was (`status` "refused"). Every refused row
is kept in your organization's quarantine with its reason.

**Durability**: a 2xx means the accepted rows are written, fsynced and renamed into your landing zone:
a crash right after the answer loses nothing. The pipeline shows them on the dashboard after its next pass.

**Idempotency-Key** (recommended; any text up to 255 characters, e.g. a UUID per batch): a retry with
the same key and the same body gets the first answer back (header `Idempotent-Replayed: true`) and
stores nothing twice, also when the retry arrives while the first request is still running; the same
key with another body is **409**. Keys are remembered for INGEST_IDEMPOTENCY_HOURS (24 h by default).

**Rate limit**: INGEST_RATE_LIMIT_PER_MINUTE requests a minute per key (600 by default); 429 with
`Retry-After` beyond. Ingest requests do not count against the per-IP limit of the other routes.

`?dry_run=true` judges the rows and answers the same way, storing nothing (the upload page's check).
"""

BINARY = {"schema": {"type": "string", "format": "binary"}}
REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"type": "array", "items": Reading.model_json_schema(), "maxItems": MAX_ROWS},
                        {
                            "type": "object",
                            "required": ["readings"],
                            "properties": {
                                "readings": {
                                    "type": "array",
                                    "items": Reading.model_json_schema(),
                                    "maxItems": MAX_ROWS,
                                }
                            },
                        },
                    ]
                }
            },
            "application/x-ndjson": BINARY,
            "text/csv": BINARY,
            "application/vnd.apache.parquet": BINARY,
        },
    }
}
RESPONSES: dict[int | str, dict[str, Any]] = {
    **error_responses(401, 403, 429, 503),
    400: {"model": ErrorBody, "description": "The body is not the format its Content-Type names."},
    409: {"model": ErrorBody, "description": "The Idempotency-Key was used with another body."},
    413: {"model": ErrorBody, "description": "Too many rows or bytes: " + limits_text() + "."},
    415: {"model": ErrorBody, "description": "An unsupported Content-Type or Content-Encoding."},
    422: {
        "model": ErrorBody,
        "description": "No row was stored: all were refused (the body also holds the fields of the 200 "
        "answer, refused_rows included), or the request holds no reading.",
    },
}


def _authorize(db: Session, who: Caller) -> Principal:
    try:
        return authorize_ingest(db, who)
    finally:
        release(db)


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 once it goes over `limit` (the size middleware checks first)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise IngestError(413, "too_large", f"The body is over {limit:,} bytes; {limits_text()}")
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise IngestError(413, "too_large", f"The body is over {limit:,} bytes; {limits_text()}")
        parts.append(chunk)
    return b"".join(parts)


async def _admit(request: Request, who: Caller, db: Session) -> tuple[Principal, dict[str, str]] | Response:
    """The caller if it may send data and is within its key's ingest budget (with the RateLimit
    headers to answer with), else the 429 answer; failed authentications count against the client's IP."""
    try:
        principal = await run_in_threadpool(_authorize, db, who)
    except NotAuthenticated:
        # Only valid credentials get the per-key budget: failed attempts count against the client's IP.
        client_ip = request.client.host if request.client else "unknown"
        refused = await request.app.state.limiter.hit("default", client_ip)
        if refused is not None and not refused.allowed:
            record_rate_limit_rejection("default")
            limited = {name.decode(): value.decode() for name, value in rate_limit_headers(refused)}
            return error_response(
                request,
                429,
                f"Too many requests: the limit is {refused.limit} per minute; "
                f"retry in {refused.reset_after} s",
                "rate_limited",
                {**limited, "Retry-After": str(refused.reset_after)},
            )
        raise
    client = f"key:{principal.api_key_id}" if principal.api_key_id else f"user:{principal.user_id}"
    decision = await request.app.state.limiter.hit("ingest", client)
    headers: dict[str, str] = {}
    if decision is not None:
        headers = {name.decode(): value.decode() for name, value in rate_limit_headers(decision)}
        if not decision.allowed:
            record_rate_limit_rejection("ingest")
            return error_response(
                request,
                429,
                f"Too many ingest requests for this key: the limit is {decision.limit} per minute; "
                f"retry in {decision.reset_after} s (send bigger batches: up to {MAX_ROWS:,} readings each)",
                "rate_limited",
                {**headers, "Retry-After": str(decision.reset_after)},
            )
    return principal, headers


@router.post(
    "/readings",
    response_model=IngestAnswer,
    responses=RESPONSES,
    summary="Send readings (JSON, NDJSON, CSV or Parquet; gzip allowed)",
    description=DESCRIPTION,
    openapi_extra=REQUEST_BODY,
)
async def ingest_readings(
    request: Request,
    who: CallerOf,
    db: DbSession,
    dry_run: Annotated[bool, Query(description="Judge the rows and answer, storing nothing.")] = False,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", description="One per batch; a retry with it stores nothing twice."),
    ] = None,
) -> Response:
    settings: Settings = request.app.state.settings
    admitted = await _admit(request, who, db)
    if isinstance(admitted, Response):
        return admitted
    principal, headers = admitted
    try:
        body = await _read_body(request, settings.ingest_max_request_body_bytes)
        tenant = service.Tenant(
            principal.organization.id, principal.organization.slug, principal.plan.history_days
        )
        ingest_request = service.Request(
            body=body,
            content_type=request.headers.get("content-type"),
            content_encoding=request.headers.get("content-encoding"),
            idempotency_key=idempotency_key,
            dry_run=dry_run,
            source=f"api:{principal.api_key_name}" if principal.api_key_name else f"api:{principal.email}",
        )
        answer = await run_in_threadpool(
            service.ingest,
            db,
            tenant,
            settings.landing_dir,
            ingest_request,
            retention=timedelta(hours=settings.ingest_idempotency_hours),
        )
    except IngestError as error:
        return error_response(request, error.status, error.message, error.code, headers)
    headers.update(answer.headers)
    if answer.replayed:
        headers["Idempotent-Replayed"] = "true"
    body_out = dict(answer.body)
    if answer.status_code >= 400:
        body_out["requestId"] = request_id_of(request.scope)
    return JSONResponse(body_out, status_code=answer.status_code, headers=headers)


STATUS_DESCRIPTION = f"""
A field connector reports compressors going **offline** (a Sparkplug B NDEATH/DDEATH: they stopped
reporting at `timestamp`) or back **online** (a birth certificate). Same keys as readings (an ingest
key or an admin) and the same per-key budget.

The fleet shows an offline compressor with `offline_since` and `offline_reason`, as `stale` unless an
alert in alarm ranks it worse (never healthy, never counted online), until a reading newer than
`timestamp` arrives or an `online` report; the staleness workflow raises its data-staleness alert
at its next run instead of after WORKFLOW_STALENESS_HOURS.

Judged as readings are: the timestamp no more than 10 minutes in the future nor older than the plan's
history window (else 422 for the whole report); each compressor registered and not archived (else
listed in `refused_compressors`, the others recorded). **200** when at least one compressor was
accepted, **422** when none was. **Idempotent**: each compressor keeps its newest event; a retried or
late report (not newer than what is kept) changes nothing and is counted as `superseded`.
At most {status.MAX_COMPRESSORS:,} compressors per report.
"""


@router.post(
    "/status",
    response_model=status.StatusAnswer,
    responses={
        **error_responses(401, 403, 429, 503),
        422: {"model": ErrorBody, "description": "An invalid report, or no compressor accepted."},
    },
    summary="Report compressors offline or online (Sparkplug death and birth certificates)",
    description=STATUS_DESCRIPTION,
)
async def ingest_status(
    request: Request, who: CallerOf, db: DbSession, report: status.StatusReport
) -> Response:
    admitted = await _admit(request, who, db)
    if isinstance(admitted, Response):
        return admitted
    principal, headers = admitted
    try:
        answer = await run_in_threadpool(
            status.record,
            db,
            principal.scope,
            report,
            history_days=principal.plan.history_days,
            source=f"api:{principal.api_key_name}" if principal.api_key_name else f"api:{principal.email}",
        )
    except IngestError as error:
        return error_response(request, error.status, error.message, error.code, headers)
    body = dict(answer.body)
    if answer.status_code >= 400:
        body["requestId"] = request_id_of(request.scope)
    return JSONResponse(body, status_code=answer.status_code, headers=headers)
