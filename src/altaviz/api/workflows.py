"""Running the alert workflows on demand, and their log.

POST /api/workflows/run?workflow=all is the runbook's command. Who may call it:
- the platform operators' workflow key (`x-api-key: $WORKFLOW_API_KEY`, or WORKFLOW_API_KEY_OLD during a
  rotation; compared in constant time) for the organization named in the body `{"organizationId": ...}`;
- otherwise the regular credentials: an admin's or owner's session (CSRF checked), or an organization
  API key with the admin role, for its own organization. A wrong key is refused (401), never read as
  "no key".
"""

import hashlib
import hmac
import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from altaviz.accounts import audit
from altaviz.accounts.dependencies import Caller, CallerOf, DbSession, authorize, release
from altaviz.accounts.errors import NotFound
from altaviz.accounts.models import Organization
from altaviz.accounts.principal import Principal
from altaviz.accounts.roles import Role
from altaviz.accounts.tokens import API_KEY_HEADER
from altaviz.alerts.scheduler import Execution, Workflows
from altaviz.alerts.schemas import (
    WorkflowResultOut,
    WorkflowRunOut,
    WorkflowRunPage,
    WorkflowRunRecord,
    WorkflowRunRequest,
)
from altaviz.alerts.workflows import CHOICES, recent_runs, workflow_names
from altaviz.api.alerts import client_ip
from altaviz.api.errors import JSON_TOO_DEEP, ApiError, error_response, error_responses, read_answer
from altaviz.api.params import Offset, limit
from altaviz.config import Settings

router = APIRouter(prefix="/workflows", tags=["workflows"])


def workflow_key_matches(settings: Settings, presented: str) -> bool:
    """Constant-time comparison with the current and the previous workflow key (digests of equal
    length, so neither the keys' lengths nor non-ASCII input change the comparison)."""
    digest = hashlib.sha256(presented.strip().encode("utf-8", "surrogatepass")).digest()
    matched = False
    for secret in (settings.workflow_api_key, settings.workflow_api_key_old):
        if secret is not None:
            expected = hashlib.sha256(secret.get_secret_value().encode()).digest()
            matched |= hmac.compare_digest(digest, expected)
    return matched


def _body(raw: bytes) -> WorkflowRunRequest:
    if not raw.strip():
        return WorkflowRunRequest()
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "Invalid JSON body", "invalid_json") from None
    except RecursionError:
        raise ApiError(400, JSON_TOO_DEEP, "json_too_deep") from None
    if not isinstance(data, dict):
        raise ApiError(
            400, 'The body must be a JSON object such as {"organizationId": "<uuid>"}', "invalid_json"
        )
    try:
        return WorkflowRunRequest.model_validate(data)
    except ValidationError:
        raise ApiError(400, "Valid organizationId (UUID) required", "invalid_organization") from None


def _organization_id(value: str | None) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ApiError(400, "Valid organizationId (UUID) required", "invalid_organization") from None


def _answer(requested: str, organization_id: uuid.UUID, execution: Execution) -> WorkflowRunOut:
    return WorkflowRunOut(
        success=execution.succeeded,
        workflow=requested,
        organizationId=str(organization_id),
        results=[
            WorkflowResultOut(
                workflow=r.workflow,
                organizationId=str(r.organization_id),
                resultCount=r.result_count,
                actionsCount=r.result_count,
                details=r.details,
                outcome="succeeded" if r.outcome == "succeeded" else "failed",
                runId=str(r.run_id),
                startedAt=r.started_at,
                durationMs=round(r.duration_ms, 3),
                notificationsQueued=r.notifications,
            )
            for r in execution.results
        ],
        notificationsQueued=execution.notifications_queued,
    )


def _authenticate(request: Request, db: Session, key: str | None) -> Principal | None:
    """Who calls: None for the platform operators' workflow key, else an organization's admin (or
    owner). Raises NotAuthenticated/Forbidden before anything of the request's body is read."""
    if key is not None and workflow_key_matches(request.app.state.settings, key):
        return None
    try:
        return authorize(db, Caller(request, key), Role.ADMIN)
    finally:
        release(db)


def _run(
    request: Request, db: Session, principal: Principal | None, body: WorkflowRunRequest, requested: str
) -> tuple[uuid.UUID, Execution]:
    settings: Settings = request.app.state.settings
    ip = client_ip(request)
    if principal is None:  # the workflow key: any organization, named in the body
        organization_id = _organization_id(body.organizationId)
        try:
            if db.get(Organization, organization_id) is None:
                raise NotFound("Organization not found")
        finally:
            release(db)
        actor = audit.Actor("api_key", None, "workflow key")
    else:
        organization_id = principal.organization.id
        if body.organizationId is not None and _organization_id(body.organizationId) != organization_id:
            raise NotFound("Organization not found")
        actor = audit.Actor.of(principal)
    try:
        workflow_names(requested)
    except ValueError:
        raise _InvalidWorkflow() from None
    workflows = Workflows(request.app.state.session_factory, settings)
    execution = workflows.execute(requested, [organization_id], trigger="api", actor=actor, ip=ip)
    return organization_id, execution


class _InvalidWorkflow(Exception):
    pass


@router.post(
    "/run",
    response_model=WorkflowRunOut,
    responses={
        **error_responses(401, 403, 404, 422, 429, 503),
        400: {"description": "Invalid JSON, organizationId or workflow name (`available` lists the names)."},
        500: {"description": "A workflow failed (the others ran); see GET /api/workflows/runs."},
    },
    summary="Run the alert workflows now (workflow key, or an admin of the organization)",
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": WorkflowRunRequest.model_json_schema()}},
        }
    },
)
async def run_workflows(
    request: Request,
    who: CallerOf,
    db: DbSession,
    workflow: Annotated[
        str,
        Query(
            max_length=40,
            description="all (escalation, auto_resolve, staleness, cleanup in that order) or one of them.",
        ),
    ] = "all",
) -> Response:
    key = request.headers.get(API_KEY_HEADER, who.api_key)
    principal = await run_in_threadpool(_authenticate, request, db, key)  # before reading the body
    body = _body(await request.body())
    try:
        organization_id, execution = await run_in_threadpool(_run, request, db, principal, body, workflow)
    except _InvalidWorkflow:
        return error_response(
            request,
            400,
            f"Invalid workflow {workflow!r}; use one of: {', '.join(CHOICES)}",
            "invalid_workflow",
            available=list(CHOICES),
        )
    answer = _answer(workflow, organization_id, execution)
    if not execution.succeeded:
        failed = [r for r in execution.results if r.outcome != "succeeded"]
        return error_response(
            request,
            500,
            f"Workflow {', '.join(r.workflow for r in failed)} failed (the others ran); "
            f"see GET /api/workflows/runs (run {failed[0].run_id})",
            "workflow_failed",
            results=json.loads(answer.model_dump_json())["results"],
        )
    return JSONResponse(json.loads(answer.model_dump_json()))


@router.get(
    "/runs",
    response_model=WorkflowRunPage,
    responses=error_responses(401, 403, 422, 429, 503),
    summary="The organization's workflow runs, newest first",
)
def list_runs(
    who: CallerOf,
    db: DbSession,
    workflow: Annotated[str | None, Query(description="Only this workflow.", max_length=40)] = None,
    limit: Annotated[int, limit(200)] = 50,
    offset: Offset = 0,
) -> Response:
    principal = authorize(db, who, Role.VIEWER)
    name: str | None = None
    if workflow is not None:
        try:
            (name,) = workflow_names(workflow) if workflow != "all" else (None,)
        except ValueError as error:
            release(db)
            raise ApiError(422, str(error), "validation_error") from None
    rows, total = recent_runs(db, principal.scope, workflow=name, limit=limit, offset=offset)
    items: list[Any] = [
        WorkflowRunRecord(
            id=str(row.id),
            workflow=row.workflow,
            trigger=row.trigger,
            started_at=row.started_at,
            duration_ms=row.duration_ms,
            result_count=row.result_count,
            outcome=row.outcome,
            details=row.details,
            error=row.error,
        )
        for row in rows
    ]
    return read_answer(db, WorkflowRunPage(items=items, total=total, limit=limit, offset=offset))
