"""`altaviz workflows …`, `altaviz alerts …` and `altaviz notifications …`. Registered on the main command
line in altaviz/cli.py.

Alert actions from the command line act as a named member of the organization (`--as EMAIL`), who must
be an operator or above, exactly as through the API; they are audited the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from altaviz.config import Settings, get_settings
from altaviz.observability.console import terminal_console

if TYPE_CHECKING:  # SQLAlchemy loads with the first command that uses the database
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

workflows_app = typer.Typer(help="The alert workflows: escalation, auto-resolve, staleness, cleanup.")
alerts_app = typer.Typer(help="Alerts: list, acknowledge, resolve, shelve, unshelve.", no_args_is_help=True)
notifications_app = typer.Typer(help="Notification channels and delivery.", no_args_is_help=True)
out = terminal_console()  # piped: no wrapping at 80 columns
err = terminal_console(stderr=True)

OrganizationOption = Annotated[
    str | None, typer.Option("--organization", "-o", help="Organization id or slug; default every one.")
]
OneOrganization = Annotated[str, typer.Option("--organization", "-o", help="Organization id or slug.")]
AsMember = Annotated[
    str, typer.Option("--as", help="E-mail of the member acting (operator or above), for the record.")
]


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(1)


@contextmanager
def _database() -> Iterator[tuple[Settings, Engine]]:
    from altaviz.db.migrate import ensure_schema
    from altaviz.db.session import create_db_engine

    settings = get_settings()
    ensure_schema(settings.sqlalchemy_url)
    engine = create_db_engine(settings.sqlalchemy_url, settings)
    try:
        yield settings, engine
    finally:
        engine.dispose()


def _organization(session: Session, reference: str) -> Any:
    from sqlalchemy import select

    from altaviz.accounts.models import Organization

    try:
        found = session.get(Organization, uuid.UUID(reference))
    except ValueError:
        found = session.scalars(select(Organization).where(Organization.slug == reference)).first()
    if found is None:
        raise _fail(f"no organization {reference!r} (give its id or slug; `altaviz orgs create` makes one)")
    return found


def _user_errors(action: Callable[[], Any]) -> Any:
    from altaviz.accounts.errors import ServiceError

    try:
        return action()
    except (ServiceError, ValueError) as error:
        raise _fail(str(error)) from None


# --- workflows -------------------------------------------------------------------------------------------


@workflows_app.command("run")
def workflows_run(
    workflow: Annotated[
        str,
        typer.Option(help="all (escalation, auto_resolve, staleness, cleanup in that order) or one of them."),
    ] = "all",
    organization: OrganizationOption = None,
    deliver: Annotated[
        bool, typer.Option("--deliver/--no-deliver", help="Deliver the notifications already due.")
    ] = True,
) -> None:
    """Run the workflows now, for one organization or all of them; exits 1 if any run failed."""
    from sqlalchemy import select

    from altaviz.accounts import audit
    from altaviz.alerts.scheduler import Workflows
    from altaviz.alerts.workflows import workflow_names
    from altaviz.db.session import session_factory

    _user_errors(lambda: workflow_names(workflow))
    with _database() as (settings, engine):
        sessions = session_factory(engine)
        slugs: dict[uuid.UUID, str] = {}
        with sessions() as session:
            targets = [_organization(session, organization).id] if organization else None
            from altaviz.accounts.models import Organization

            slugs = {row[0]: row[1] for row in session.execute(select(Organization.id, Organization.slug))}
        workflows = Workflows(sessions, settings)
        execution = workflows.execute(workflow, targets, trigger="cli", actor=audit.Actor.system("cli"))
        report = workflows.dispatch() if deliver else None
    from rich.table import Table  # here only: `pipeline run` loads this module

    table = Table(title=f"workflow={workflow}")
    for column in ("organization", "workflow", "alerts changed", "outcome", "ms"):
        table.add_column(column)
    for result in execution.results:
        table.add_row(
            slugs.get(result.organization_id, str(result.organization_id)),
            result.workflow,
            str(result.result_count),
            result.outcome if result.outcome == "succeeded" else f"[red]{result.outcome}: {result.error}[/]",
            f"{result.duration_ms:.0f}",
        )
    out.print(table)
    for result in execution.results:
        for line in result.details[:20]:
            out.print(f"  {line}")
        if len(result.details) > 20:
            out.print(f"  … and {len(result.details) - 20} more ({result.workflow})")
    summary = f"{execution.notifications_queued} notifications queued"
    if report is not None:
        summary += f"; delivered {report.sent}, to retry {report.retried}, failed {report.failed}"
    out.print(summary)
    if not execution.succeeded:
        raise typer.Exit(1)


@workflows_app.command("runs")
def workflows_runs(
    organization: OneOrganization,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
) -> None:
    """The organization's most recent workflow runs."""
    from altaviz.accounts.scoping import OrgScope
    from altaviz.alerts.workflows import recent_runs
    from altaviz.db.session import session_factory

    with _database() as (_settings, engine), session_factory(engine)() as session:
        org = _organization(session, organization)
        rows, total = recent_runs(session, OrgScope(org.id), limit=limit)
    from rich.table import Table  # here only: `pipeline run` loads this module

    table = Table(title=f"workflow runs of {org.slug} ({total} in all)")
    for column in ("started (UTC)", "workflow", "trigger", "alerts changed", "outcome", "ms"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            f"{row.started_at:%Y-%m-%d %H:%M:%S}",
            row.workflow,
            row.trigger,
            str(row.result_count),
            row.outcome,
            f"{row.duration_ms:.0f}",
        )
    out.print(table)


# --- alerts ----------------------------------------------------------------------------------------------


def _member(session: Session, organization_id: uuid.UUID, email: str) -> Any:
    from sqlalchemy import select

    from altaviz.accounts.models import Organization, User
    from altaviz.accounts.principal import OrganizationInfo, Principal
    from altaviz.accounts.roles import Role

    user = session.scalars(
        select(User).where(User.email == email.strip().lower(), User.organization_id == organization_id)
    ).first()
    if user is None or not user.is_active:
        raise _fail(f"{email} is not an active member of this organization")
    role = Role(user.role)
    if not role.at_least(Role.OPERATOR):
        raise _fail(f"Operator access required; {email} is a {role.value}")
    org = session.get(Organization, organization_id)
    assert org is not None
    return Principal(
        kind="session",
        role=role,
        organization=OrganizationInfo(
            org.id, org.name, org.slug, org.subscription_tier, org.subscription_status
        ),
        user_id=user.id,
        email=user.email,
        name=user.name,
    )


def _act(organization: str, email: str, action: Callable[[Session, Any], Any]) -> Any:
    from altaviz.db.session import SQLITE_BEGIN_IMMEDIATE, session_factory

    with _database() as (_settings, engine), session_factory(engine)() as session:
        session.connection(execution_options={SQLITE_BEGIN_IMMEDIATE: True})
        org = _organization(session, organization)
        principal = _member(session, org.id, email)
        alert = _user_errors(lambda: action(session, principal))
        session.commit()
        return alert


def _show(alert: Any, verb: str) -> None:
    out.print(
        f"alert {alert.id} on {alert.compressor_id} ({alert.condition}, {alert.severity}) {verb}; "
        f"now {alert.state}"
    )


@alerts_app.command("list")
def alerts_list(
    organization: OneOrganization,
    status: Annotated[str, typer.Option(help="open, active, resolved or all.")] = "open",
    compressor: Annotated[str | None, typer.Option(help="Only this compressor.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
) -> None:
    """The organization's alerts, newest first."""
    from altaviz.accounts.scoping import OrgScope
    from altaviz.alerts import service
    from altaviz.db.session import session_factory

    if status not in ("open", "active", "resolved", "all"):
        raise typer.BadParameter("use open, active, resolved or all", param_hint="--status")
    with _database() as (_settings, engine), session_factory(engine)() as session:
        org = _organization(session, organization)
        page = service.list_alerts(
            session, OrgScope(org.id), status=status, compressor=compressor, limit=limit
        )
    from rich.table import Table  # here only: `pipeline run` loads this module

    table = Table(title=f"{status} alerts of {org.slug} ({page.total} in all)")
    for column in ("id", "compressor", "condition", "severity", "raised (UTC)", "state", "by"):
        table.add_column(column)
    for alert in page.items:
        by = (
            alert.resolved_by or alert.shelved_by
            if alert.shelved or alert.resolved
            else alert.acknowledged_by
        )
        table.add_row(
            str(alert.id),
            alert.compressor_id,
            alert.condition,
            alert.severity,
            f"{alert.raised_at:%Y-%m-%d %H:%M}",
            alert.state,
            by or "",
        )
    out.print(table)


@alerts_app.command("acknowledge")
def alerts_acknowledge(
    alert_id: Annotated[int, typer.Argument(min=1)], organization: OneOrganization, member: AsMember
) -> None:
    """Acknowledge an alert."""
    from altaviz.alerts import service

    alert = _act(organization, member, lambda s, p: service.acknowledge(s, p.scope, alert_id, p))
    _show(alert, f"acknowledged by {alert.acknowledged_by}")


@alerts_app.command("resolve")
def alerts_resolve(
    alert_id: Annotated[int, typer.Argument(min=1)],
    organization: OneOrganization,
    member: AsMember,
    note: Annotated[str | None, typer.Option(help="What was found and done.")] = None,
) -> None:
    """Resolve an alert, with a note."""
    from altaviz.alerts import service

    alert = _act(organization, member, lambda s, p: service.resolve(s, p.scope, alert_id, p, note))
    _show(alert, f"resolved by {alert.resolved_by}")


@alerts_app.command("shelve")
def alerts_shelve(
    alert_id: Annotated[int, typer.Argument(min=1)],
    organization: OneOrganization,
    member: AsMember,
    minutes: Annotated[int, typer.Option(min=1, max=7 * 24 * 60, help="How long (up to 7 days).")],
    reason: Annotated[str, typer.Option(help="Why (for the shift log and the audit).")],
) -> None:
    """Shelve an alert for a time; it comes back by itself when the time is up."""
    from altaviz.alerts import service

    alert = _act(
        organization,
        member,
        lambda s, p: service.shelve(s, p.scope, alert_id, p, minutes=minutes, reason=reason),
    )
    _show(alert, f"shelved until {alert.shelved_until:%Y-%m-%d %H:%M} UTC")


@alerts_app.command("unshelve")
def alerts_unshelve(
    alert_id: Annotated[int, typer.Argument(min=1)], organization: OneOrganization, member: AsMember
) -> None:
    """Bring a shelved alert back now."""
    from altaviz.alerts import service

    alert = _act(organization, member, lambda s, p: service.unshelve(s, p.scope, alert_id, p))
    _show(alert, "unshelved")


# --- notifications ---------------------------------------------------------------------------------------


def _add_channel(organization: str, kind: str, name: str, target: str) -> Any:
    from pydantic import ValidationError

    from altaviz.accounts import audit
    from altaviz.accounts.scoping import OrgScope
    from altaviz.db.session import session_factory
    from altaviz.notifications import service
    from altaviz.notifications.schemas import ChannelCreate

    try:
        body = ChannelCreate.model_validate({"kind": kind, "name": name, "target": target})
    except ValidationError as error:
        raise _fail("; ".join(str(e["msg"]) for e in error.errors())) from None
    with _database() as (_settings, engine), session_factory(engine)() as session:
        org = _organization(session, organization)
        channel = service.create_channel(
            session, OrgScope(org.id), kind=body.kind, name=body.name, target=body.target, created_by="cli"
        )
        audit.record(
            session,
            organization_id=org.id,
            actor=audit.Actor.system("cli"),
            action="notification_channel.create",
            target_type="notification_channel",
            target_id=str(channel.id),
            details={"kind": channel.kind, "name": channel.name, "target": channel.target},
        )
        session.commit()
        return channel


@notifications_app.command("add-email")
def notifications_add_email(
    organization: OneOrganization,
    to: Annotated[str, typer.Option(help="Comma-separated addresses.")],
    name: Annotated[str, typer.Option(help="A name for people.")] = "e-mail",
) -> None:
    """Send the organization's notifications to these addresses (needs SMTP_HOST)."""
    channel = _add_channel(organization, "email", name, to)
    out.print(f"channel {channel.id}: e-mail to {channel.target}")


@notifications_app.command("add-webhook")
def notifications_add_webhook(
    organization: OneOrganization,
    url: Annotated[str, typer.Option(help="The http(s) address to POST to.")],
    name: Annotated[str, typer.Option(help="A name for people.")] = "webhook",
) -> None:
    """POST the organization's notifications to a URL, signed with HMAC-SHA256 (secret shown once)."""
    channel = _add_channel(organization, "webhook", name, url)
    out.print(f"channel {channel.id}: webhook to {channel.target}")
    out.print(
        f"signing secret (shown once; X-Altaviz-Signature = sha256=HMAC(secret, body)): {channel.secret}"
    )


@notifications_app.command("list")
def notifications_list(organization: OneOrganization) -> None:
    """The organization's channels."""
    from altaviz.accounts.scoping import OrgScope
    from altaviz.db.session import session_factory
    from altaviz.notifications import service

    with _database() as (_settings, engine), session_factory(engine)() as session:
        org = _organization(session, organization)
        channels = service.list_channels(session, OrgScope(org.id))
    from rich.table import Table  # here only: `pipeline run` loads this module

    table = Table(title=f"notification channels of {org.slug}")
    for column in ("id", "kind", "name", "target", "enabled"):
        table.add_column(column)
    for channel in channels:
        table.add_row(
            str(channel.id), channel.kind, channel.name, channel.target, "yes" if channel.enabled else "no"
        )
    out.print(table)


@notifications_app.command("remove")
def notifications_remove(
    channel_id: Annotated[str, typer.Argument(help="The channel's id.")], organization: OneOrganization
) -> None:
    """Remove a channel (and its queued messages)."""
    from altaviz.accounts.scoping import OrgScope
    from altaviz.db.session import session_factory
    from altaviz.notifications import service

    try:
        key = uuid.UUID(channel_id)
    except ValueError:
        raise _fail(f"{channel_id!r} is not a channel id") from None
    with _database() as (_settings, engine), session_factory(engine)() as session:
        org = _organization(session, organization)
        _user_errors(lambda: service.delete_channel(session, OrgScope(org.id), key))
        session.commit()
    out.print(f"removed channel {channel_id}")


@notifications_app.command("send")
def notifications_send() -> None:
    """Deliver every notification due now (the service does this by itself every NOTIFY_DISPATCH_SECONDS)."""
    from altaviz.alerts.scheduler import Workflows
    from altaviz.db.session import session_factory

    with _database() as (settings, engine):
        report = Workflows(session_factory(engine), settings).dispatch()
    out.print(f"delivered {report.sent}, to retry {report.retried}, failed {report.failed}")
    for error in report.errors:
        err.print(f"  {error}")
    if report.failed:
        raise typer.Exit(1)
