"""Error bodies and the handlers that map every failure to one of them.

Every error is `{"error": "<sentence>", "code": "<machine code>", "requestId": "<id>"}`; a user can fix
a 4xx from its sentence. Unexpected failures are logged with the request id and answered
`{"error": "Internal server error", "requestId": "<id>"}` — nothing else leaves the server.
"""

import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from altaviz.accounts.dependencies import release
from altaviz.accounts.errors import Conflict, Forbidden, NotAuthenticated, NotFound, UpgradeRequired
from altaviz.accounts.passwords import WeakPassword
from altaviz.accounts.service import EmailTaken

log = logging.getLogger("altaviz.api")

INTERNAL_ERROR = "Internal server error"
WWW_AUTHENTICATE = 'ApiKey realm="altaviz", header="x-api-key"'


class ParameterError(BaseModel):
    parameter: str = Field(description="Name of the parameter (or body field) at fault.")
    location: str = Field(description="query, path, header, cookie or body.")
    message: str


class ErrorBody(BaseModel):
    error: str = Field(description="What went wrong, as a sentence a person can act on.")
    code: str | None = Field(None, description="Stable machine-readable code.")
    requestId: str | None = Field(None, description="Quote it when reporting a problem.")
    errors: list[ParameterError] | None = None
    plan: str | None = Field(None, description="The organization's plan (upgrade_required only).")


class ApiError(Exception):
    def __init__(
        self, status: int, message: str, code: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})


def request_id_of(scope: Scope) -> str:
    state = scope.setdefault("state", {})
    value = state.get("request_id")
    if not isinstance(value, str):
        value = uuid.uuid4().hex
        state["request_id"] = value
    return value


def error_response(
    request: Request,
    status: int,
    message: str,
    code: str,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "error": message,
        "code": code,
        **extra,
        "requestId": request_id_of(request.scope),
    }
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def internal_error_body(scope: Scope) -> dict[str, str]:
    return {"error": INTERNAL_ERROR, "requestId": request_id_of(scope)}


def _describe(errors: Sequence[Any]) -> list[ParameterError]:
    described = []
    for error in errors:
        location = [str(part) for part in error.get("loc", ())]
        where = location[0] if location else "request"
        name = ".".join(location[1:]) or where
        message = str(error.get("msg", "is invalid"))
        if error.get("type") == "json_invalid":
            name, message = "body", "Request body is not valid JSON"
        elif error.get("type") == "missing":
            message = "Field required"
        described.append(ParameterError(parameter=name, location=where, message=message))
    return described


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _describe(exc.errors())
    first = (
        errors[0] if errors else ParameterError(parameter="request", location="request", message="invalid")
    )
    noun = "request body" if first.location == "body" else f"{first.location} parameter"
    message = f"Invalid {noun} '{first.parameter}': {first.message}"
    if first.parameter == "body" and first.location == "body":
        message = f"Invalid request body: {first.message}"
    return error_response(request, 422, message, "invalid_parameter", errors=[e.model_dump() for e in errors])


JSON_TOO_DEEP = (
    "The JSON body is nested too deeply to read; send a flatter document (a few levels, as the API "
    "documents)."
)


def is_json_too_deep(error: BaseException | None) -> bool:
    """A RecursionError raised while decoding JSON (the standard library's decoder recurses per level)."""
    return isinstance(error, RecursionError) and "decoding a JSON" in str(error)


async def _recursion(request: Request, exc: Exception) -> JSONResponse:
    if not is_json_too_deep(exc):
        raise exc  # a bug, not bad input: the middleware logs it and answers 500
    return error_response(request, 400, JSON_TOO_DEEP, "json_too_deep")


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and is_json_too_deep(exc.__cause__):  # FastAPI reading a route's body
        return error_response(request, 400, JSON_TOO_DEEP, "json_too_deep")
    codes = {
        404: "not_found",
        405: "method_not_allowed",
        401: "unauthorized",
        403: "forbidden",
        413: "body_too_large",
    }
    message = str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = f"No such endpoint: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}"
    return error_response(
        request, exc.status_code, message, codes.get(exc.status_code, "http_error"), exc.headers
    )


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(request, exc.status, exc.message, exc.code, exc.headers)


async def _not_authenticated(request: Request, exc: Exception) -> JSONResponse:
    return error_response(request, 401, str(exc), "unauthorized", {"WWW-Authenticate": WWW_AUTHENTICATE})


async def _forbidden(request: Request, exc: Exception) -> JSONResponse:
    return error_response(request, 403, str(exc), "forbidden")


async def _upgrade(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, UpgradeRequired)
    return error_response(request, 403, str(exc), "upgrade_required", plan=exc.plan)


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return error_response(request, 404, str(exc), "not_found")


async def _conflict(request: Request, exc: Exception) -> JSONResponse:
    return error_response(request, 409, str(exc), "conflict")


async def _email_taken(request: Request, exc: Exception) -> JSONResponse:
    return error_response(request, 409, str(exc), "email_taken")


async def _weak_password(request: Request, exc: Exception) -> JSONResponse:
    return error_response(
        request,
        422,
        str(exc),
        "invalid_parameter",
        errors=[ParameterError(parameter="password", location="body", message=str(exc)).model_dump()],
    )


async def _pool_timeout(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database pool exhausted", extra={"request_id": request_id_of(request.scope)})
    seconds = request.app.state.settings.db_pool_timeout_seconds
    return error_response(
        request,
        503,
        f"The service is busy: no database connection became free within {seconds:g} s. Try again shortly.",
        "database_busy",
        {"Retry-After": "2"},
    )


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.error(
        "database unavailable: %s",
        exc.__class__.__name__,
        exc_info=exc,
        extra={"request_id": request_id_of(request.scope)},
    )
    return error_response(
        request,
        503,
        "The database is unavailable or did not answer in time. Try again shortly.",
        "database_unavailable",
        {"Retry-After": "5"},
    )


async def _db_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    if exc.connection_invalidated:
        return await _database_unavailable(request, exc)
    raise exc  # a bug, not an outage: the middleware logs it and answers 500


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(NotAuthenticated, _not_authenticated)
    app.add_exception_handler(UpgradeRequired, _upgrade)
    app.add_exception_handler(Forbidden, _forbidden)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(Conflict, _conflict)
    app.add_exception_handler(EmailTaken, _email_taken)
    app.add_exception_handler(WeakPassword, _weak_password)
    app.add_exception_handler(PoolTimeoutError, _pool_timeout)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(DBAPIError, _db_error)
    app.add_exception_handler(RecursionError, _recursion)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer."""
    described = {
        401: "No valid session or API key.",
        403: "The role, credential or plan does not allow this.",
        404: "No such object in your organization.",
        409: "The object's state does not allow this.",
        422: "A parameter or body field is invalid; `errors` names it.",
        429: "Too many requests; see Retry-After.",
        503: "The database is unavailable or busy; retry later.",
    }
    return {status: {"model": ErrorBody, "description": described[status]} for status in statuses}


def model_json(model: BaseModel, status_code: int = 200) -> Response:
    """The model as a JSON response, serialised once in Rust by pydantic.

    Read routes return this instead of the model, so FastAPI does not validate the answer again in a
    worker thread; their `response_model` still documents it (and the schemathesis run checks the
    two agree).
    """
    return Response(model.__pydantic_serializer__.to_json(model), status_code, media_type="application/json")


def read_answer(db: Session, model: BaseModel) -> Response:
    """End the read transaction (the connection goes back to the pool in this same worker thread),
    then answer with the model."""
    release(db)
    return model_json(model)
