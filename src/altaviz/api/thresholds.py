"""Alarm thresholds per organization, compressor model and compressor: read (any member), replace
(admin), and the history of changes. The scope is named in the query: `organization` (default),
`model:<model id>` or `compressor:<compressor id>`."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from altaviz.accounts.dependencies import Admin, CallerOf, DbSession, authorize, begin_write
from altaviz.accounts.roles import Role
from altaviz.api.errors import error_responses, read_answer
from altaviz.api.params import Offset, limit
from altaviz.registry import thresholds
from altaviz.registry.schemas import FieldError, ThresholdHistory, ThresholdsOut, ThresholdsPut

router = APIRouter(prefix="/thresholds", tags=["thresholds"])
ScopeParam = Annotated[
    str,
    Query(
        max_length=80,
        description="organization, model:<model id> or compressor:<compressor id>.",
    ),
]


def _invalid(error: FieldError, location: str) -> RequestValidationError:
    where = ("query", "scope") if error.field == "scope" else (location, *error.field.split("."))
    return RequestValidationError([{"loc": where, "msg": str(error), "type": "value_error"}])


@router.get(
    "",
    response_model=ThresholdsOut,
    responses=error_responses(401, 403, 404, 422, 429, 503),
    summary="A scope's own overrides and the effective values there, with where each value comes from",
)
def get_thresholds(who: CallerOf, db: DbSession, scope: ScopeParam = "organization") -> Response:
    principal = authorize(db, who, Role.VIEWER)
    try:
        answer = thresholds.get_thresholds(db, principal.scope, scope)
    except FieldError as error:
        raise _invalid(error, "query") from None
    return read_answer(db, answer)


@router.put(
    "",
    response_model=ThresholdsOut,
    responses=error_responses(401, 403, 404, 409, 422, 429, 503),
    summary="Replace a scope's overrides (admin); audited and versioned. An inconsistent set is a 422 "
    "naming the field",
)
def put_thresholds(
    body: ThresholdsPut, principal: Admin, db: DbSession, request: Request, scope: ScopeParam = "organization"
) -> ThresholdsOut:
    begin_write(db)
    try:
        answer = thresholds.put_thresholds(
            db, principal, scope, body, request.client.host if request.client else None
        )
    except FieldError as error:
        db.rollback()
        raise _invalid(error, "body") from None
    db.commit()
    return answer


@router.get(
    "/history",
    response_model=ThresholdHistory,
    responses=error_responses(401, 403, 422, 429, 503),
    summary="Every change of the organization's thresholds, newest first (version, scope, before, after)",
)
def threshold_history(
    who: CallerOf, db: DbSession, limit: Annotated[int, limit(200)] = 50, offset: Offset = 0
) -> Response:
    principal = authorize(db, who, Role.VIEWER)
    return read_answer(db, thresholds.history(db, principal.scope, limit=limit, offset=offset))
