"""Page routes: public pages, sign-up/in/out, and the dashboard (thin: parse, call views/services,
render). Queries live in the services; views.py assembles what each page shows."""

import json
from typing import Annotated, Any
from urllib.parse import quote

from email_validator import EmailNotValidError, validate_email
from fastapi import APIRouter, Depends, FastAPI, Form, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.exc import IntegrityError

from altaviz.accounts import service as accounts
from altaviz.accounts import team
from altaviz.accounts.auditing import audit_user, record_failed_sign_in
from altaviz.accounts.dependencies import DbSession, begin_write, optional_principal, release
from altaviz.accounts.errors import Conflict, NotFound
from altaviz.accounts.passwords import WeakPassword
from altaviz.accounts.plans import PLANS, Plan
from altaviz.accounts.principal import Principal
from altaviz.accounts.roles import API_KEY_KINDS, WHAT_EACH_ROLE_MAY_DO, Role
from altaviz.accounts.scoping import OrgScope
from altaviz.accounts.signin_limit import DEVICE_COOKIE, AccountSignInLimiter, set_device_cookie
from altaviz.alerts import service as alerts
from altaviz.billing import service as billing
from altaviz.registry import fleet_import
from altaviz.registry.schemas import FieldError
from altaviz.web import data, views
from altaviz.web.errors import install_page_errors
from altaviz.web.session import (
    LoginRequired,
    Member,
    clear_cookies,
    login_redirect,
    needs,
    safe_next,
    same_origin,
    sign_in,
    viewer_of,
)
from altaviz.web.static_files import CompressedStaticFiles
from altaviz.web.templating import STATIC_DIR, templates

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

STATUSES = ("active", "open", "shelved", "resolved", "all")
AlertId = Annotated[int, Path(ge=1, le=2**62)]
SEVERITIES = ("critical", "warning", "info")
HEALTH = ("critical", "warning", "stale", "not_monitored", "healthy")
_UNSET = object()


def install_web(app: FastAPI) -> None:
    app.mount("/static", CompressedStaticFiles(directory=STATIC_DIR), name="static")
    install_page_errors(app)
    app.add_exception_handler(LoginRequired, login_redirect)
    app.include_router(router)
    app.include_router(data.router)


def _render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true" and request.headers.get("hx-boosted") != "true"


# --- public pages -----------------------------------------------------------------------------------


SignedIn = Annotated[Principal | None, Depends(optional_principal)]


@router.get("/")
def landing(request: Request, principal: SignedIn) -> HTMLResponse:
    return _render(request, "landing.html", plans=PLANS.values(), signed_in=principal is not None)


@router.get("/pricing")
def pricing(request: Request, principal: SignedIn) -> HTMLResponse:
    return _render(request, "pricing.html", plans=PLANS.values(), signed_in=principal is not None)


@router.get("/login")
def login_page(request: Request, next: str | None = None, signed_out: bool = False) -> HTMLResponse:
    return _render(request, "login.html", next=safe_next(next), signed_out=signed_out, error=None, email="")


@router.post("/login")
def login(
    request: Request,
    db: DbSession,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str | None, Form()] = None,
) -> Response:
    target = safe_next(next)
    if not same_origin(request):
        return _render(
            request,
            "login.html",
            403,
            next=target,
            signed_out=False,
            email=email,
            error="This form was posted from another site. Open the sign-in page here and retry.",
        )
    guard: AccountSignInLimiter = request.app.state.signin_limiter
    if limited := guard.check(email, request.cookies.get(DEVICE_COOKIE)):
        page = _render(
            request, "login.html", 429, next=target, signed_out=False, email=email, error=limited.message
        )
        page.headers["Retry-After"] = str(limited.retry_after)
        return page
    begin_write(db)
    user = accounts.authenticate(db, email, password)
    ip = _client_ip(request)
    if user is None:
        db.rollback()
        guard.failed(email)
        begin_write(db)
        record_failed_sign_in(db, email, ip)
        db.commit()
        return _render(
            request,
            "login.html",
            401,
            next=target,
            signed_out=False,
            email=email,
            error="Wrong email or password. Check both, or create an account.",
        )
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
    response = RedirectResponse(target, status_code=303)
    sign_in(request, response, db, user)
    set_device_cookie(response, guard, user.email, request.app.state.auth.secure_cookies)
    return response


def _chosen_plan(plan: str | None) -> Plan | None:
    """The paid plan a visitor picked on the pricing page ("Start with Pro"), if any."""
    return PLANS[plan] if plan in billing.PAID_TIERS else None


@router.get("/signup")
def signup_page(request: Request, plan: Annotated[str | None, Query(max_length=20)] = None) -> HTMLResponse:
    return _render(request, "signup.html", error=None, form={}, plan=_chosen_plan(plan))


@router.post("/signup")
def signup(
    request: Request,
    db: DbSession,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
    name: Annotated[str, Form(max_length=200)] = "",
    company: Annotated[str, Form(max_length=200)] = "",
    plan: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    form = {"email": email, "name": name, "company": company}
    chosen = _chosen_plan(plan)

    def again(message: str, status: int) -> HTMLResponse:
        return _render(request, "signup.html", status, error=message, form=form, plan=chosen)

    if not same_origin(request):
        return again("This form was posted from another site. Open the sign-up page here and retry.", 403)
    try:
        address = validate_email(email.strip(), check_deliverability=False).normalized
    except EmailNotValidError as error:
        return again(f"That email address is not valid: {error}", 422)
    begin_write(db)
    try:
        user, _org = accounts.sign_up(
            db, email=address, password=password, name=name, organization_name=company
        )
        audit_user(
            db,
            user.organization_id,
            user.id,
            user.name or user.email,
            "auth.signup",
            target_type="organization",
            target_id=user.organization_id,
            ip=_client_ip(request),
        )
        db.commit()
    except WeakPassword as error:
        db.rollback()
        return again(str(error), 422)
    except (accounts.EmailTaken, IntegrityError):
        db.rollback()
        return again("An account with this email already exists. Sign in instead.", 409)
    target = "/dashboard" if chosen is None else _checkout_after_sign_up(request, db, user, chosen)
    response = RedirectResponse(target, status_code=303)
    sign_in(request, response, db, user)
    return response


def _checkout_after_sign_up(request: Request, db: Any, user: Any, plan: Plan) -> str:
    """Where a new owner who chose a paid plan goes: that plan's Stripe checkout, or — when billing is
    not configured or Stripe fails — the billing section, which says so (the organization is on Free)."""
    app_state = request.app.state
    client: Any = getattr(app_state, "stripe_client", _UNSET)
    if client is _UNSET:  # built once, shared with the billing API (api/billing.py)
        client = app_state.stripe_client = billing.stripe_client(app_state.settings)
    base = app_state.settings.public_url or str(request.base_url).rstrip("/")
    begin_write(db)
    try:
        session_id, url = billing.start_checkout(
            db,
            OrgScope(user.organization_id),
            client,
            app_state.settings,
            tier=plan.tier,
            email=user.email,
            base_url=base,
        )
    except billing.BillingNotConfigured:
        db.rollback()
        return f"/dashboard/settings?chose={plan.tier}&checkout=not-configured#billing"
    except (billing.StripeUnavailable, Conflict):
        db.rollback()
        return f"/dashboard/settings?chose={plan.tier}&checkout=failed#billing"
    audit_user(
        db,
        user.organization_id,
        user.id,
        user.name or user.email,
        "billing.checkout_started",
        target_type="organization",
        target_id=user.organization_id,
        ip=_client_ip(request),
        details={"plan": plan.tier, "checkout_session": session_id},
    )
    db.commit()
    return url


@router.post("/logout")
def logout(request: Request, db: DbSession, principal: Member) -> Response:
    if principal.session_id is not None:
        begin_write(db)
        accounts.end_session(db, principal.session_id)
        db.commit()
    response = Response(status_code=204, headers={"HX-Redirect": "/login?signed_out=true"})
    clear_cookies(request, response)
    return response


# --- dashboard ----------------------------------------------------------------------------------------


@router.get("/dashboard")
def fleet_page(
    request: Request,
    db: DbSession,
    principal: Member,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    station: Annotated[str | None, Query(max_length=50)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    find: Annotated[str | None, Query(max_length=50)] = None,
    sort: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    if find and find.strip():
        return RedirectResponse(
            f"/dashboard/compressors/{quote(find.strip().upper(), safe='')}", status_code=303
        )
    context = views.fleet_overview(
        db,
        principal.scope,
        page=page,
        station=station or None,
        status=status if status in HEALTH else None,
        plan=principal.plan,
        sort=sort if sort in views.FLEET_SORTS else "health",
    )
    release(db)
    name = "fleet_live.html" if _is_htmx(request) else "fleet.html"
    return _render(request, name, viewer=viewer_of(request, principal), nav="fleet", **context)


@router.get("/dashboard/compressors/{compressor_id}")
def compressor_page(
    request: Request,
    db: DbSession,
    principal: Member,
    compressor_id: str,
    window: Annotated[str, Query(pattern="^(1hr|4hr|24hr)$")] = "1hr",
    range: Annotated[str, Query(pattern="^(1H|4H|24H|7D)$")] = "24H",
) -> Response:
    viewer = viewer_of(request, principal)
    try:
        context = views.compressor_page(
            db, principal.scope, principal.plan, compressor_id[:50], window=window, range_key=range
        )
    except NotFound:
        release(db)
        return _render(
            request,
            "not_found.html",
            404,
            viewer=viewer,
            nav="fleet",
            what=f"Compressor {compressor_id[:50]}",
        )
    release(db)
    name = "compressor_live.html" if _is_htmx(request) else "compressor.html"
    return _render(
        request, name, viewer=viewer, nav="fleet", windows=views.WINDOWS, ranges=views.RANGES, **context
    )


@router.get("/dashboard/alerts")
def alerts_page(
    request: Request,
    db: DbSession,
    principal: Member,
    status: Annotated[str, Query(pattern="^(active|open|shelved|resolved|all)$")] = "active",
    severity: Annotated[str | None, Query(max_length=10)] = None,
    compressor: Annotated[str | None, Query(max_length=50)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    context = views.alerts_page(
        db,
        principal.scope,
        status=status,
        severity=severity if severity in SEVERITIES else None,
        compressor=(compressor or "").strip().upper() or None,
        page=page,
        history_days=principal.plan.history_days,
    )
    release(db)
    name = "alerts_live.html" if _is_htmx(request) else "alerts.html"
    return _render(request, name, viewer=viewer_of(request, principal), nav="alerts", **context)


def _alert_row(request: Request, principal: Any, alert: Any, message: str | None = None) -> HTMLResponse:
    return _render(
        request, "alert_row.html", viewer=viewer_of(request, principal), alert=alert, message=message
    )


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _alert_action(
    request: Request, db: Any, principal: Any, alert_id: int, action: Any, done: str
) -> Response:
    """Run an alert action (it audits itself) and answer with the alert's row, or the reason it failed.

    A done action also triggers `alerts-changed` after the row is swapped in: the page's live region
    refreshes at once (counts, tabs, cards) and the message is announced (aria-live; app.js)."""
    needs(principal, Role.OPERATOR)
    begin_write(db)
    try:
        alert = action()
        db.commit()
        response = _alert_row(request, principal, alert, done)
        what = f"{done}: {alert.compressor_id} {alert.condition} alert."
        response.headers["HX-Trigger-After-Swap"] = json.dumps({"alerts-changed": {"message": what}})
        return response
    except (Conflict, ValueError) as error:
        db.rollback()
        return _alert_row(request, principal, alerts.get_alert(db, principal.scope, alert_id), str(error))


@router.post("/dashboard/alerts/{alert_id}/acknowledge")
def acknowledge_alert(request: Request, db: DbSession, principal: Member, alert_id: AlertId) -> Response:
    return _alert_action(
        request,
        db,
        principal,
        alert_id,
        lambda: alerts.acknowledge(db, principal.scope, alert_id, principal, ip=_client_ip(request)),
        "Acknowledged",
    )


@router.post("/dashboard/alerts/{alert_id}/resolve")
def resolve_alert(
    request: Request,
    db: DbSession,
    principal: Member,
    alert_id: AlertId,
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    return _alert_action(
        request,
        db,
        principal,
        alert_id,
        lambda: alerts.resolve(
            db, principal.scope, alert_id, principal, note.replace("\x00", ""), ip=_client_ip(request)
        ),
        "Resolved",
    )


@router.post("/dashboard/alerts/{alert_id}/shelve")
def shelve_alert(
    request: Request,
    db: DbSession,
    principal: Member,
    alert_id: AlertId,
    minutes: Annotated[int, Form(ge=1, le=alerts.MAX_SHELVE_MINUTES)],
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    return _alert_action(
        request,
        db,
        principal,
        alert_id,
        lambda: alerts.shelve(
            db,
            principal.scope,
            alert_id,
            principal,
            minutes=minutes,
            reason=reason.replace("\x00", ""),
            ip=_client_ip(request),
        ),
        "Shelved",
    )


@router.post("/dashboard/alerts/{alert_id}/unshelve")
def unshelve_alert(request: Request, db: DbSession, principal: Member, alert_id: AlertId) -> Response:
    return _alert_action(
        request,
        db,
        principal,
        alert_id,
        lambda: alerts.unshelve(db, principal.scope, alert_id, principal, ip=_client_ip(request)),
        "Back from the shelf",
    )


@router.get("/dashboard/data-quality")
def quality_page(
    request: Request,
    db: DbSession,
    principal: Member,
    hours: Annotated[int, Query(ge=1, le=720)] = 24,
) -> Response:
    settings = request.app.state.settings
    context = views.quality_page(db, principal.scope, hours=hours, sla_minutes=settings.freshness_sla_minutes)
    release(db)
    name = "quality_live.html" if _is_htmx(request) else "quality.html"
    return _render(request, name, viewer=viewer_of(request, principal), nav="quality", **context)


# --- settings -----------------------------------------------------------------------------------------


def _settings(request: Request, db: Any, principal: Any, **extra: Any) -> HTMLResponse:
    context = views.settings_page(db, principal, request.app.state.settings)
    release(db)
    return _render(
        request,
        "settings_body.html" if _is_htmx(request) else "settings.html",
        viewer=viewer_of(request, principal),
        nav="settings",
        plans=PLANS.values(),
        key_roles=API_KEY_KINDS,
        roles=WHAT_EACH_ROLE_MAY_DO,
        **context,
        **{"notice": None, **extra},
    )


@router.get("/dashboard/settings")
def settings_page(
    request: Request,
    db: DbSession,
    principal: Member,
    checkout: Annotated[str | None, Query(max_length=20)] = None,
    chose: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    notice = {
        "success": "Thank you: the payment went through. The new plan applies as soon as Stripe confirms it "
        "(usually within seconds; reload to see it).",
        "canceled": "Checkout canceled: nothing was charged and the plan is unchanged.",
    }.get(checkout or "")
    chosen = _chosen_plan(chose)
    if chosen is not None and checkout == "not-configured":
        notice = (
            f"Your account is ready, on the Free plan for now. You chose {chosen.name}, but billing is not "
            "configured on this server (no Stripe key or price for that plan), so no checkout could start "
            "and nothing was charged. A platform operator can set the plan with `altaviz billing set-plan`."
        )
    elif chosen is not None and checkout == "failed":
        notice = (
            f"Your account is ready, on the Free plan for now. The checkout for {chosen.name} could not "
            f"start: Stripe refused or did not answer. Nothing was charged; try “Upgrade to {chosen.name}” "
            "below in a moment."
        )
    return _settings(request, db, principal, notice=notice)


@router.get("/dashboard/settings/fleet")
def fleet_registry_page(
    request: Request,
    db: DbSession,
    principal: Member,
    archived: Annotated[str, Query(pattern="^(false|true|all)$")] = "false",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """Stations, models and compressors: list, edit (admins), import with a dry run first."""
    context = views.fleet_registry_page(db, principal, archived=archived, page=page)
    release(db)
    return _render(
        request, "settings_fleet.html", viewer=viewer_of(request, principal), nav="settings", **context
    )


@router.get("/dashboard/settings/fleet/template.csv")
def fleet_template(principal: Member) -> Response:
    return Response(
        fleet_import.template_csv(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="altaviz-fleet-template.csv"'},
    )


@router.get("/dashboard/settings/thresholds")
def thresholds_page(
    request: Request,
    db: DbSession,
    principal: Member,
    scope: Annotated[str, Query(max_length=80)] = "organization",
) -> Response:
    """Effective thresholds of a scope (organization, model, compressor) and, for admins, its overrides."""
    viewer = viewer_of(request, principal)
    try:
        context = views.thresholds_page(db, principal, scope)
    except (NotFound, FieldError) as error:
        release(db)
        what = f"The threshold scope {scope[:80]!r} ({error})"
        return _render(request, "not_found.html", 404, viewer=viewer, nav="settings", what=what)
    release(db)
    return _render(request, "settings_thresholds.html", viewer=viewer, nav="settings", **context)


@router.get("/settings/billing")
def billing_return(request: Request) -> RedirectResponse:
    """Where Stripe sends the browser back after checkout or the portal."""
    checkout = request.query_params.get("checkout")
    query = f"?checkout={checkout}" if checkout in ("success", "canceled") else ""
    return RedirectResponse(f"/dashboard/settings{query}#billing", status_code=303)


@router.get("/invitations/accept")
def accept_invitation_page(request: Request, db: DbSession, token: str = "") -> HTMLResponse:
    """The page an invitation e-mail links to: who invites whom, then name and password."""
    try:
        preview = team.preview_invitation(db, token) if 10 <= len(token) <= 200 else None
    except team.InvitationInvalid:
        preview = None
    release(db)
    if preview is None:
        return _render(
            request, "accept_invitation.html", 410, preview=None, token="", error=team.INVALID_LINK
        )
    return _render(request, "accept_invitation.html", preview=preview, token=token, error=None)
