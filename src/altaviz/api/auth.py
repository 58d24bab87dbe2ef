"""Sign-up, sign-in, sign-out, the current session, password change."""

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from sqlalchemy.exc import IntegrityError

from altaviz.accounts import service
from altaviz.accounts.auditing import audit_action, audit_user, record_failed_sign_in
from altaviz.accounts.dependencies import (
    AuthConfig,
    CurrentPrincipal,
    DbSession,
    MemberSession,
    auth_config,
    begin_write,
    optional_principal,
    set_session_cookies,
)
from altaviz.accounts.errors import Forbidden, NotAuthenticated
from altaviz.accounts.models import User
from altaviz.accounts.principal import OrganizationInfo, Principal
from altaviz.accounts.schemas import (
    ApiKeyIdentity,
    LoginRequest,
    OrganizationOut,
    PasswordChangeRequest,
    PlanOut,
    SessionOut,
    SignUpRequest,
    UserOut,
)
from altaviz.accounts.signin_limit import DEVICE_COOKIE, AccountSignInLimiter, set_device_cookie
from altaviz.accounts.tokens import csrf_token
from altaviz.api.errors import ApiError, error_responses

router = APIRouter(prefix="/auth", tags=["accounts"])
Config = Annotated[AuthConfig, Depends(auth_config)]


def check_origin(request: Request) -> None:
    """Refuse sign-in and sign-up posted from another site's page (login CSRF)."""
    origin = request.headers.get("origin")
    if origin is None or (origin == "null" and request.headers.get("sec-fetch-site") == "same-origin"):
        return
    own = f"{request.url.scheme}://{request.url.netloc}"
    if origin.rstrip("/") != own and origin.rstrip("/") not in request.app.state.settings.cors_origins:
        raise Forbidden(f"Requests from {origin} may not sign in here")


SameOrigin = Depends(check_origin)


def organization_out(organization: OrganizationInfo) -> OrganizationOut:
    plan = organization.plan
    plan_out = PlanOut(**{**asdict(plan), "windows": list(plan.windows)})
    return OrganizationOut(
        id=organization.id,
        name=organization.name,
        slug=organization.slug,
        subscription_status=organization.status,
        plan=plan_out,
        time_zone=organization.time_zone,
    )


def session_out(principal: Principal, config: AuthConfig) -> SessionOut:
    if principal.kind == "api_key":
        assert principal.api_key_id is not None and principal.api_key_name is not None
        return SessionOut(
            authenticated_by="api_key",
            role=principal.role.value,
            organization=organization_out(principal.organization),
            api_key=ApiKeyIdentity(id=principal.api_key_id, name=principal.api_key_name, role=principal.role),
        )
    assert principal.user_id is not None and principal.email is not None and principal.session_token
    return SessionOut(
        authenticated_by="session",
        role=principal.role.value,
        organization=organization_out(principal.organization),
        user=UserOut(id=principal.user_id, email=principal.email, name=principal.name, role=principal.role),
        expires_at=principal.session_expires_at,
        csrf_token=csrf_token(config.secret, principal.session_token),
    )


def _sign_in(
    request: Request, response: Response, db: DbSession, config: AuthConfig, user: User
) -> SessionOut:
    client = request.client.host if request.client else None
    record, token = service.start_session(
        db, user, config.session_lifetime, client, request.headers.get("user-agent")
    )
    principal = service.session_principal(db, user, record, token)
    db.commit()
    set_session_cookies(response, config, token, record, user.id)
    return session_out(principal, config)


@router.post(
    "/signup",
    status_code=status.HTTP_201_CREATED,
    response_model=SessionOut,
    dependencies=[SameOrigin],
    responses=error_responses(403, 409, 422, 429, 503),
    summary="Create an organization (Free plan) and its owner, and sign in",
)
def sign_up(
    body: SignUpRequest, request: Request, response: Response, db: DbSession, config: Config
) -> SessionOut:
    begin_write(db)
    user, _org = service.sign_up(
        db,
        email=str(body.email),
        password=body.password,
        name=body.name,
        organization_name=body.organization_name,
    )
    audit_user(
        db,
        user.organization_id,
        user.id,
        user.name or user.email,
        "auth.signup",
        target_type="organization",
        target_id=user.organization_id,
        ip=request.client.host if request.client else None,
    )
    try:
        db.commit()
    except IntegrityError:  # the same address signed up a moment ago
        db.rollback()
        raise service.EmailTaken("An account with this email already exists") from None
    return _sign_in(request, response, db, config, user)


@router.post(
    "/login",
    response_model=SessionOut,
    dependencies=[SameOrigin],
    responses=error_responses(401, 403, 422, 429, 503),
    summary="Sign in with email and password (sets an 8-hour session cookie); failed sign-ins are "
    "limited per account too (429 with Retry-After)",
)
def login(
    body: LoginRequest, request: Request, response: Response, db: DbSession, config: Config
) -> SessionOut:
    guard: AccountSignInLimiter = request.app.state.signin_limiter
    if limited := guard.check(body.email, request.cookies.get(DEVICE_COOKIE)):
        raise ApiError(429, limited.message, "sign_in_limited", {"Retry-After": str(limited.retry_after)})
    begin_write(db)
    user = service.authenticate(db, body.email, body.password)
    ip = request.client.host if request.client else None
    if user is None:
        db.rollback()
        guard.failed(body.email)
        begin_write(db)
        record_failed_sign_in(db, body.email, ip)
        db.commit()
        raise NotAuthenticated("Invalid email or password")
    set_device_cookie(response, guard, user.email, config.secure_cookies)
    audit_user(
        db,
        user.organization_id,
        user.id,
        user.name or user.email,
        "auth.login",
        target_type="user",
        target_id=user.id,
        ip=ip,
    )
    db.commit()
    return _sign_in(request, response, db, config, user)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 429, 503),
    summary="Sign out: end the session and clear its cookies",
)
def logout(
    response: Response,
    db: DbSession,
    config: Config,
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> None:
    if principal is not None and principal.session_id is not None:
        begin_write(db)
        service.end_session(db, principal.session_id)
        db.commit()
    for name in (config.session_cookie, config.csrf_cookie):
        response.delete_cookie(
            name, path="/", secure=config.secure_cookies, httponly=name == config.session_cookie
        )


@router.get(
    "/session",
    response_model=SessionOut,
    responses=error_responses(401, 403, 429, 503),
    summary="Who is calling: user or API key, role, organization and plan",
)
def current_session(principal: CurrentPrincipal, config: Config) -> SessionOut:
    return session_out(principal, config)


@router.post(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 422, 429, 503),
    summary="Change your password (signs out your other sessions)",
)
def change_password(
    body: PasswordChangeRequest, principal: MemberSession, db: DbSession, request: Request
) -> None:
    assert principal.user_id is not None
    begin_write(db)
    if not service.change_password(db, principal.user_id, body.current_password, body.new_password):
        db.rollback()
        raise Forbidden("The current password is not correct")
    ended = service.end_other_sessions(db, principal.user_id, keep=principal.session_id)
    audit_action(
        db,
        principal,
        "auth.password_changed",
        target_type="user",
        target_id=principal.user_id,
        ip=request.client.host if request.client else None,
        details={"other_sessions_ended": ended},
    )
    db.commit()
