"""Bulk export (Enterprise): hourly aggregates and alerts as CSV or Parquet, streamed."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime

from altaviz.accounts.auditing import audit_action
from altaviz.accounts.dependencies import DbSession, Viewer, begin_write
from altaviz.api.billing import client_ip
from altaviz.api.errors import ApiError, error_responses
from altaviz.api.params import CompressorFilter
from altaviz.billing import export
from altaviz.db.base import utcnow

router = APIRouter(prefix="/export", tags=["export"])
Format = Annotated[Literal["csv", "parquet"], Query(description="csv or parquet.")]
Start = Annotated[
    AwareDatetime | None, Query(description="From (ISO 8601 with zone); default the plan's history.")
]
End = Annotated[AwareDatetime | None, Query(description="Until (ISO 8601 with zone); default now.")]
_FILE: dict[int | str, dict[str, Any]] = {
    200: {"description": "The file, streamed.", "content": {m: {} for m in export.MEDIA_TYPES.values()}}
}


def _export(
    dataset: str,
    principal: Viewer,
    db: DbSession,
    request: Request,
    fmt: str,
    start: AwareDatetime | None,
    end: AwareDatetime | None,
    compressor: str | None,
) -> StreamingResponse:
    export.require_bulk_export(principal.plan)
    try:
        first, last = export.clamp_range(principal.plan, start, end)
    except ValueError as error:
        raise ApiError(422, f"Invalid range: {error}", "invalid_parameter") from None
    begin_write(db)
    audit_action(
        db,
        principal,
        "export.downloaded",
        target_type=dataset,
        ip=client_ip(request),
        details={
            "format": fmt,
            "start": first.isoformat(),
            "end": last.isoformat(),
            "compressor": compressor,
        },
    )
    db.commit()
    job = export.ExportRequest(dataset, fmt, first, last, compressor)
    name = f"altaviz-{dataset}-{principal.organization.slug}-{utcnow():%Y%m%dT%H%MZ}.{fmt}"
    return StreamingResponse(
        export.stream(request.app.state.engine, principal.scope, job),
        media_type=export.MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/aggregates",
    response_class=StreamingResponse,
    responses={**_FILE, **error_responses(401, 403, 422, 429, 503)},
    summary="Hourly aggregates of every compressor (or one) as CSV or Parquet (Enterprise)",
)
def export_aggregates(
    principal: Viewer,
    db: DbSession,
    request: Request,
    format: Format = "csv",
    start: Start = None,
    end: End = None,
    compressor: CompressorFilter = None,
) -> StreamingResponse:
    return _export("aggregates", principal, db, request, format, start, end, compressor)


@router.get(
    "/alerts",
    response_class=StreamingResponse,
    responses={**_FILE, **error_responses(401, 403, 422, 429, 503)},
    summary="Alerts (episodes) as CSV or Parquet (Enterprise)",
)
def export_alerts(
    principal: Viewer,
    db: DbSession,
    request: Request,
    format: Format = "csv",
    start: Start = None,
    end: End = None,
    compressor: CompressorFilter = None,
) -> StreamingResponse:
    return _export("alerts", principal, db, request, format, start, end, compressor)
