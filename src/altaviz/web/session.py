"""Who is looking at a page, and the sign-in cookies the pages set.

Pages use the same dependencies as the API (accounts.dependencies): the session cookie, role and
plan read fresh from the database on every request, CSRF token required on every state change
(htmx sends it in the X-CSRF-Token header from the page's meta tag). A page without a signed-in
member redirects to /login instead of answering 401.
"""

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from altaviz.accounts import service
from altaviz.accounts.dependencies import AuthConfig, auth_config, optional_principal, set_session_cookies
from altaviz.accounts.errors import Forbidden
from altaviz.accounts.models import User
from altaviz.accounts.principal import Principal
from altaviz.accounts.roles import Role
from altaviz.accounts.tokens import csrf_token


class LoginRequired(Exception):
    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class NotAllowed(Exception):
    """A signed-in member asked for a page action their role does not allow."""


async def login_redirect(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    target = f"/login?next={quote(exc.next_url, safe='/')}"
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def member(
    request: Request, principal: Annotated[Principal | None, Depends(optional_principal)]
) -> Principal:
    """The signed-in member (pages are for people: an API key gets the sign-in page too)."""
    if principal is None or principal.kind != "session":
        path = request.url.path
        if request.url.query and request.method == "GET":
            path += f"?{request.url.query}"
        raise LoginRequired(path if request.method == "GET" else "/dashboard")
    return principal


Member = Annotated[Principal, Depends(member)]


def needs(principal: Principal, role: Role) -> None:
    if not principal.has_role(role):
        raise Forbidden(f"{role.value.title()} access required; your role is {principal.role.value}")


@dataclass(frozen=True)
class Viewer:
    """What every dashboard template knows about the person looking at it."""

    principal: Principal
    csrf: str
    refresh_seconds: float

    @property
    def can_act(self) -> bool:
        """Acknowledge, resolve and shelve alerts."""
        return self.principal.has_role(Role.OPERATOR)

    @property
    def is_admin(self) -> bool:
        return self.principal.has_role(Role.ADMIN)

    @property
    def is_owner(self) -> bool:
        return self.principal.has_role(Role.OWNER)

    @property
    def display_name(self) -> str:
        return self.principal.name or self.principal.email or "member"


def viewer_of(request: Request, principal: Principal) -> Viewer:
    config = auth_config(request)
    assert principal.session_token is not None
    return Viewer(
        principal=principal,
        csrf=csrf_token(config.secret, principal.session_token),
        refresh_seconds=request.app.state.settings.web_refresh_seconds,
    )


def same_origin(request: Request) -> bool:
    """Sign-in and sign-up forms must come from our own pages (login CSRF)."""
    origin = request.headers.get("origin")
    if origin is None or (origin == "null" and request.headers.get("sec-fetch-site") == "same-origin"):
        return True
    own = f"{request.url.scheme}://{request.url.netloc}"
    return origin.rstrip("/") == own or origin.rstrip("/") in request.app.state.settings.cors_origins


def sign_in(request: Request, response: Response, db: Session, user: User) -> None:
    """Start a session for `user` and set its cookies on `response` (as POST /api/auth/login does)."""
    config: AuthConfig = auth_config(request)
    client = request.client.host if request.client else None
    record, token = service.start_session(
        db, user, config.session_lifetime, client, request.headers.get("user-agent")
    )
    db.commit()
    set_session_cookies(response, config, token, record, user.id)


def clear_cookies(request: Request, response: Response) -> None:
    config = auth_config(request)
    for name in (config.session_cookie, config.csrf_cookie):
        response.delete_cookie(
            name, path="/", secure=config.secure_cookies, httponly=name == config.session_cookie
        )


def safe_next(value: str | None) -> str:
    """Only a path on this site (no //host or scheme), else the fleet page."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/dashboard"
