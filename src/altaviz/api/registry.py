"""The fleet registry: stations, compressor models, compressors and the fleet import.

Reads are for any member; writes for admins and owners (sessions or admin API keys), audited.
The list of stations with their health is GET /api/stations (api/fleet.py); this module adds the
writes beside it.
"""

import uuid
from collections.abc import Callable
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Header, Path, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from altaviz.accounts.dependencies import Admin, CallerOf, DbSession, authorize, begin_write
from altaviz.accounts.roles import Role
from altaviz.api.errors import error_responses, read_answer
from altaviz.api.params import Offset, limit
from altaviz.fleet.identifiers import COMPRESSOR_ID_MAX_LENGTH, COMPRESSOR_ID_PATTERN
from altaviz.registry import fleet_import, service
from altaviz.registry.schemas import (
    CompressorCreate,
    CompressorPage,
    CompressorRemoval,
    CompressorUpdate,
    FieldError,
    ImportResult,
    ModelCreate,
    ModelList,
    ModelUpdate,
    RegisteredCompressor,
    RegisteredModel,
    RegisteredStation,
    StationCreate,
    StationUpdate,
)

router = APIRouter(tags=["fleet registry"])
READ_ERRORS = error_responses(401, 403, 422, 429, 503)
WRITE_ERRORS = error_responses(401, 403, 404, 409, 422, 429, 503)
ID_PATTERN = f"^{COMPRESSOR_ID_PATTERN}$"

# `:path`: an id may hold "/" (sent percent-encoded or not).
StationPath = Annotated[
    str, Path(pattern=ID_PATTERN, max_length=COMPRESSOR_ID_MAX_LENGTH, description="The station's id.")
]
CompressorIdPath = Annotated[
    str, Path(pattern=ID_PATTERN, max_length=COMPRESSOR_ID_MAX_LENGTH, description="The compressor's id.")
]
ModelPath = Annotated[uuid.UUID, Path(description="The model's id (GET /api/compressor-models).")]

T = TypeVar("T")


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def write(db: DbSession, action: Callable[[], T]) -> T:
    """Run a registry write in the request's write transaction; a field the service refuses is a 422."""
    begin_write(db)
    try:
        result = action()
    except FieldError as error:
        db.rollback()
        raise RequestValidationError(
            [{"loc": ("body", *error.field.split(".")), "msg": str(error), "type": "value_error"}]
        ) from None
    db.commit()
    return result


# --- stations ----------------------------------------------------------------------------------------


@router.post(
    "/stations",
    response_model=RegisteredStation,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE_ERRORS,
    summary="Register a station (admin)",
)
def create_station(
    body: StationCreate, principal: Admin, db: DbSession, request: Request
) -> RegisteredStation:
    return write(db, lambda: service.create_station(db, principal, body, client_ip(request)))


@router.patch(
    "/stations/{station_id:path}",
    response_model=RegisteredStation,
    responses=WRITE_ERRORS,
    summary="Change a station's name, position, basin, region, city or state (admin)",
)
def update_station(
    station_id: StationPath, body: StationUpdate, principal: Admin, db: DbSession, request: Request
) -> RegisteredStation:
    return write(db, lambda: service.update_station(db, principal, station_id, body, client_ip(request)))


@router.delete(
    "/stations/{station_id:path}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=WRITE_ERRORS,
    summary="Delete a station without compressors (admin); 409 while compressors refer to it",
)
def delete_station(station_id: StationPath, principal: Admin, db: DbSession, request: Request) -> Response:
    write(db, lambda: service.delete_station(db, principal, station_id, client_ip(request)))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- compressor models -------------------------------------------------------------------------------


@router.get(
    "/compressor-models",
    response_model=ModelList,
    responses=READ_ERRORS,
    summary="The compressor models of the organization, with how many compressors run each",
)
def list_models(who: CallerOf, db: DbSession) -> Response:
    principal = authorize(db, who, Role.VIEWER)
    return read_answer(db, service.list_models(db, principal.scope))


@router.post(
    "/compressor-models",
    response_model=RegisteredModel,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE_ERRORS,
    summary="Register a compressor model: manufacturer, model and rated HP (admin)",
)
def create_model(body: ModelCreate, principal: Admin, db: DbSession, request: Request) -> RegisteredModel:
    return write(db, lambda: service.create_model(db, principal, body, client_ip(request)))


@router.patch(
    "/compressor-models/{model_id}",
    response_model=RegisteredModel,
    responses=WRITE_ERRORS,
    summary="Change a model (admin); its compressors show the new name and rated HP",
)
def update_model(
    model_id: ModelPath, body: ModelUpdate, principal: Admin, db: DbSession, request: Request
) -> RegisteredModel:
    return write(db, lambda: service.update_model(db, principal, model_id, body, client_ip(request)))


@router.delete(
    "/compressor-models/{model_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=WRITE_ERRORS,
    summary="Delete a model no compressor uses (admin), with its threshold overrides",
)
def delete_model(model_id: ModelPath, principal: Admin, db: DbSession, request: Request) -> Response:
    write(db, lambda: service.delete_model(db, principal, model_id, client_ip(request)))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- compressors -------------------------------------------------------------------------------------


@router.get(
    "/compressors",
    response_model=CompressorPage,
    responses=READ_ERRORS,
    summary="Registered compressors (the fleet, the archive or both) and the plan's count",
)
def list_compressors(
    who: CallerOf,
    db: DbSession,
    archived: Annotated[
        Literal["false", "true", "all"],
        Query(description="false: the fleet; true: archived compressors only; all: both."),
    ] = "false",
    station: Annotated[
        str | None,
        Query(pattern=ID_PATTERN, max_length=COMPRESSOR_ID_MAX_LENGTH, description="Only this station."),
    ] = None,
    limit: Annotated[int, limit(1000)] = 100,
    offset: Offset = 0,
) -> Response:
    principal = authorize(db, who, Role.VIEWER)
    return read_answer(
        db,
        service.list_compressors(
            db, principal, archived=archived, station=station, limit=limit, offset=offset
        ),
    )


@router.post(
    "/compressors",
    response_model=RegisteredCompressor,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE_ERRORS,
    summary="Register a compressor (admin); refused with 403 upgrade_required beyond the plan's compressors",
)
def create_compressor(
    body: CompressorCreate, principal: Admin, db: DbSession, request: Request
) -> RegisteredCompressor:
    return write(db, lambda: service.create_compressor(db, principal, body, client_ip(request)))


@router.patch(
    "/compressors/{compressor_id:path}",
    response_model=RegisteredCompressor,
    responses=WRITE_ERRORS,
    summary="Change a compressor's station, model, install date or notes; archive or restore it (admin)",
)
def update_compressor(
    compressor_id: CompressorIdPath, body: CompressorUpdate, principal: Admin, db: DbSession, request: Request
) -> RegisteredCompressor:
    return write(
        db, lambda: service.update_compressor(db, principal, compressor_id, body, client_ip(request))
    )


@router.delete(
    "/compressors/{compressor_id:path}",
    response_model=CompressorRemoval,
    responses=WRITE_ERRORS,
    summary="Remove a compressor (admin): archived when it has data (kept, restorable), deleted otherwise",
)
def remove_compressor(
    compressor_id: CompressorIdPath, principal: Admin, db: DbSession, request: Request
) -> CompressorRemoval:
    return write(db, lambda: service.remove_compressor(db, principal, compressor_id, client_ip(request)))


# --- import ------------------------------------------------------------------------------------------


@router.post(
    "/fleet/import",
    response_model=ImportResult,
    responses=error_responses(401, 403, 422, 429, 503),
    summary="Import stations, models and compressors from CSV or Parquet (admin); dry_run=true: no change",
    description=fleet_import.DESCRIPTION,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def import_fleet(
    request: Request,
    principal: Admin,
    db: DbSession,
    dry_run: Annotated[bool, Query(description="true: answer what would happen, change nothing.")] = False,
    content_type: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> ImportResult:
    content = await request.body()
    ip = client_ip(request)

    def run() -> ImportResult:
        begin_write(db)
        try:
            result = fleet_import.import_fleet(db, principal, content, content_type, dry_run=dry_run, ip=ip)
        except FieldError as error:
            db.rollback()
            raise RequestValidationError(
                [{"loc": ("body", *error.field.split(".")), "msg": str(error), "type": "value_error"}]
            ) from None
        except BaseException:
            db.rollback()
            raise
        if result.committed:
            db.commit()
        else:
            db.rollback()
        return result

    return await run_in_threadpool(run)
