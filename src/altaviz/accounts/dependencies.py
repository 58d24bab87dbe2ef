"""Request dependencies shared by the JSON API and the pages: database session, the principal,
organization scope and role checks.

The principal is resolved from an `x-api-key` header, or else from the session cookie, and its
role and plan are read from the database, or from the worker's principal cache while that is sure to
be current (accounts.principal_cache: on PostgreSQL, for at most AUTH_CACHE_SECONDS, dropped at once
when the organization changes). A request that presents an API key is
judged by that key alone (a wrong key never falls back to the cookie). Cookie-authenticated state
changes must echo the CSRF token in the X-CSRF-Token header.
"""

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request, Response, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from altaviz.accounts.errors import Forbidden, NotAuthenticated
from altaviz.accounts.models import UserSession
from altaviz.accounts.principal import Principal
from altaviz.accounts.principal_cache import PrincipalCache
from altaviz.accounts.roles import Role
from altaviz.accounts.scoping import OrgScope
from altaviz.accounts.service import (
    ApiAccessNotInPlan,
    activity_due,
    principal_for_api_key,
    principal_for_session,
    record_activity,
)
from altaviz.accounts.tokens import (
    API_KEY_HEADER,
    CSRF_HEADER,
    cookie_names,
    csrf_token,
    csrf_token_matches,
    decode_session_cookie,
    encode_session_cookie,
    sha256_hex,
)
from altaviz.config import Settings
from altaviz.db.session import SQLITE_BEGIN_IMMEDIATE

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

api_key_header = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    scheme_name="ApiKey",
    description="An organization API key (created by an admin). Browsers use the session cookie instead.",
)


@dataclass(frozen=True)
class AuthConfig:
    secret: bytes
    secure_cookies: bool
    session_lifetime: timedelta
    session_cookie: str
    csrf_cookie: str

    @classmethod
    def from_settings(cls, settings: Settings, secret: bytes) -> "AuthConfig":
        secure = settings.env != "development"
        session_cookie, csrf_cookie = cookie_names(secure)
        return cls(
            secret=secret,
            secure_cookies=secure,
            session_lifetime=timedelta(hours=settings.session_hours),
            session_cookie=session_cookie,
            csrf_cookie=csrf_cookie,
        )


def auth_config(request: Request) -> AuthConfig:
    config: AuthConfig = request.app.state.auth
    return config


def set_session_cookies(
    response: Response, config: AuthConfig, token: str, record: UserSession, user_id: uuid.UUID
) -> None:
    """The signed session cookie (HttpOnly) and the CSRF cookie the page's script sends back."""
    cookie = encode_session_cookie(config.secret, token, user_id, record.created_at, record.expires_at)
    max_age = int(config.session_lifetime.total_seconds())
    response.set_cookie(
        config.session_cookie,
        cookie,
        max_age=max_age,
        path="/",
        secure=config.secure_cookies,
        httponly=True,
        samesite="lax",
    )
    response.set_cookie(
        config.csrf_cookie,
        csrf_token(config.secret, token),
        max_age=max_age,
        path="/",
        secure=config.secure_cookies,
        httponly=False,
        samesite="strict",
    )


async def get_db(request: Request) -> AsyncIterator[Session]:
    """One database session per request; connections come from the service's pool.

    A request holds a pooled connection only inside one worker-thread call: authentication ends its
    transaction before returning, and so does every route (`release`). Holding a connection while
    waiting for the next worker thread lets a burst of requests take every connection and every
    thread and wait on each other until the pool timeout.
    """
    session: Session = request.app.state.session_factory()
    try:
        yield session
    finally:
        if session.in_transaction():  # an error path left a transaction open: closing does I/O
            await run_in_threadpool(session.close)
        else:
            session.close()


def release(db: Session) -> None:
    """End the request's read transaction, returning its connection to the pool."""
    if db.in_transaction():
        db.rollback()


DbSession = Annotated[Session, Depends(get_db)]


def optional_principal(
    request: Request, db: DbSession, api_key: Annotated[str | None, Security(api_key_header)]
) -> Principal | None:
    """The caller, or None when the request carries no credentials at all."""
    try:
        return _resolve_principal(request, db, api_key)
    finally:
        release(db)


def _resolve_principal(
    request: Request, db: Session, api_key: str | None, connect: Callable[[], object] | None = None
) -> Principal | None:
    """The caller: from the worker's principal cache, or else from the database (`connect` is called
    first then, to open the connection the way the caller wants it)."""
    config = auth_config(request)
    cache: PrincipalCache = request.app.state.principal_cache
    now = datetime.now(UTC)
    # Presence decides, not value: an empty or wrong key is refused, never read as "no key".
    api_key = request.headers.get(API_KEY_HEADER, api_key)
    if api_key is not None:
        credential = "key:" + sha256_hex(api_key.strip())
        principal = cache.get(credential)
        if principal is None:
            generation = cache.generation()
            if connect is not None:
                connect()
            try:
                principal = principal_for_api_key(db, api_key.strip(), now)
            except ApiAccessNotInPlan as error:
                raise Forbidden(str(error)) from None
            if principal is None:
                raise NotAuthenticated("Invalid, expired or revoked API key")
            cache.put(credential, principal, generation)
    else:
        cookie = request.cookies.get(config.session_cookie)
        claims = decode_session_cookie(config.secret, cookie) if cookie else None
        if claims is None:
            return None
        credential = f"session:{claims.user_id}:{sha256_hex(claims.session_token)}"
        principal = cache.get(credential)
        if principal is None:
            generation = cache.generation()
            if connect is not None:
                connect()
            principal = principal_for_session(db, claims, now)
            if principal is None:
                return None
            cache.put(credential, principal, generation)
        if request.method not in SAFE_METHODS:
            assert principal.session_token is not None
            presented = request.headers.get(CSRF_HEADER)
            if not csrf_token_matches(config.secret, principal.session_token, presented):
                raise Forbidden(
                    f"Missing or invalid CSRF token: send the {CSRF_HEADER} header with the value of the "
                    f"{config.csrf_cookie} cookie"
                )
    if activity_due(principal, now):
        _record_activity(db, principal, now)
        cache.touched(credential, principal, now)
    request.state.principal = principal
    return principal


def _record_activity(db: Session, principal: Principal, now: datetime) -> None:
    # Best effort: a busy database must not fail the request over a last-used timestamp.
    try:
        begin_write(db)
        record_activity(db, principal, now)
        db.commit()
    except OperationalError:
        db.rollback()


# The checks below do no I/O: async, so they run on the event loop instead of a worker thread.
async def current_principal(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    if principal is None:
        raise NotAuthenticated(
            f"Authentication required: sign in, or send an organization API key in {API_KEY_HEADER}"
        )
    if principal.ingest_only:
        raise Forbidden(INGEST_ONLY)
    return principal


INGEST_ONLY = "This is an ingest key: it can only send readings (POST /api/ingest/readings), not read"


def _role_refused(principal: Principal, role: Role) -> Forbidden:
    if principal.ingest_only:
        return Forbidden(INGEST_ONLY)
    return Forbidden(f"{role.value.title()} access required; your role is {principal.role.value}")


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_role(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets through principals with `role` or a higher one."""

    async def check(principal: CurrentPrincipal) -> Principal:
        if not principal.has_role(role):
            raise _role_refused(principal, role)
        return principal

    check.__name__ = f"require_{role.value}"
    return check


async def require_member_session(principal: CurrentPrincipal) -> Principal:
    """Only a signed-in person (not an API key), e.g. to manage keys or change a password."""
    if principal.kind != "session":
        raise Forbidden("This action needs a signed-in member; API keys cannot perform it")
    return principal


async def org_scope(principal: CurrentPrincipal) -> OrgScope:
    return principal.scope


require_viewer = require_role(Role.VIEWER)
require_operator = require_role(Role.OPERATOR)
require_admin = require_role(Role.ADMIN)
require_owner = require_role(Role.OWNER)

Viewer = Annotated[Principal, Depends(require_viewer)]
Operator = Annotated[Principal, Depends(require_operator)]
Admin = Annotated[Principal, Depends(require_admin)]
Owner = Annotated[Principal, Depends(require_owner)]
MemberSession = Annotated[Principal, Depends(require_member_session)]


def begin_write(db: Session) -> None:
    """Start the request's write transaction.

    Ends the read transaction that authentication opened and begins anew, on SQLite with BEGIN
    IMMEDIATE: concurrent writers then queue on the busy timeout instead of failing with
    "database is locked" when a read transaction tries to become a write one.
    """
    if db.in_transaction():
        db.commit()
    db.connection(execution_options={SQLITE_BEGIN_IMMEDIATE: True})


# --- one worker-thread call per read request ----------------------------------------------------------
#
# The dependencies above resolve the caller in a worker thread of its own, before the route's own.
# The hot read routes instead take a `Caller` (gathered on the event loop, no I/O) and call
# `authorize` first thing inside their single worker-thread call: authentication, the query and
# releasing the connection then happen in one hop, which is measurably cheaper under load.


@dataclass(frozen=True, slots=True)
class Caller:
    """What a request presented, not yet checked against the database."""

    request: Request
    api_key: str | None


async def caller(request: Request, api_key: Annotated[str | None, Security(api_key_header)]) -> Caller:
    return Caller(request, request.headers.get(API_KEY_HEADER, api_key))


def authorize(db: Session, who: Caller, role: Role) -> Principal:
    """The principal behind `who`, checked for `role` (call it inside the route's worker thread).

    The request's reads then run in autocommit: no BEGIN and ROLLBACK round trips around them.
    """
    principal = authorize_any(db, who)
    if not principal.has_role(role):
        release(db)
        raise _role_refused(principal, role)
    return principal


def authorize_ingest(db: Session, who: Caller) -> Principal:
    """The principal behind `who` if it may send readings: an ingest key, or an admin."""
    principal = authorize_any(db, who)
    if not principal.may_ingest:
        release(db)
        raise Forbidden(
            f"Admin access required (or an ingest key) to send readings; your role is {principal.role.value}"
        )
    return principal


def authorize_any(db: Session, who: Caller) -> Principal:
    """The authenticated principal behind `who`, whatever its role (the caller checks what it may do)."""
    try:
        principal = _resolve_principal(
            who.request,
            db,
            who.api_key,
            lambda: db.connection(execution_options={"isolation_level": "AUTOCOMMIT"}),
        )
    except BaseException:
        release(db)
        raise
    if principal is None:
        release(db)
        raise NotAuthenticated(
            f"Authentication required: sign in, or send an organization API key in {API_KEY_HEADER}"
        )
    return principal


CallerOf = Annotated[Caller, Depends(caller)]
