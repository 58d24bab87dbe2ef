"""The data page (/data, admins): upload a CSV or Parquet of readings, see the check, then store.

The page's script sends the file to POST /api/ingest/readings (first with ?dry_run=true), so the
upload follows the API's rules and limits exactly; this module renders the page and the template.
"""

import csv
import io
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from altaviz.accounts.dependencies import DbSession, release
from altaviz.accounts.roles import Role
from altaviz.accounts.scoping import OrgScope
from altaviz.ingest.rules import COLUMNS, MAX_ROWS
from altaviz.ingest.service import registered_compressors
from altaviz.web.session import Member, needs, viewer_of
from altaviz.web.templating import templates

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

EXAMPLE_VALUES = {
    "vibration_mms": "3.2",
    "discharge_temp_f": "201.5",
    "suction_pressure_psi": "61.0",
    "discharge_pressure_psi": "1050.0",
    "horsepower_consumption": "1405.0",
    "gas_flow_mcf": "9800.0",
    "operating_hours": "12034.5",
}


@router.get("/data")
def data_page(request: Request, principal: Member) -> HTMLResponse:
    needs(principal, Role.ADMIN)
    limit = request.app.state.settings.ingest_max_request_body_bytes
    return templates.TemplateResponse(
        request,
        "data.html",
        {
            "viewer": viewer_of(request, principal),
            "nav": "data",
            "columns": COLUMNS,
            "max_rows": MAX_ROWS,
            "max_rows_text": f"{MAX_ROWS:,}",
            "max_bytes": limit,
            "max_mb": limit // (1024 * 1024),
        },
    )


@router.get("/data/template.csv")
def readings_template(principal: Member, db: DbSession) -> Response:
    """The columns, and two example readings of one of the organization's compressors."""
    needs(principal, Role.ADMIN)
    ids = sorted(
        c
        for c, archived in registered_compressors(db, OrgScope(principal.organization.id)).items()
        if not archived
    )
    release(db)
    compressor = ids[0] if ids else "COMP-001"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for minutes in (20, 10):
        moment = (now - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
        writer.writerow([compressor, moment, *(EXAMPLE_VALUES[name] for name in COLUMNS[2:])])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="altaviz-readings-template.csv"'},
    )
