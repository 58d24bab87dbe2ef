"""`altaviz billing …`: data retention by plan, and setting a plan by hand (contracts billed outside
Stripe). Registered on the main command line in altaviz/cli.py."""

from typing import Annotated

import typer

from altaviz.observability.console import terminal_console

billing_app = typer.Typer(help="Plans and data retention.", no_args_is_help=True)
out = terminal_console()  # piped: no wrapping at 80 columns
err = terminal_console(stderr=True)


@billing_app.command("retention")
def retention(
    organization: Annotated[
        str | None, typer.Option(help="Slug of one organization; default every organization.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be deleted; delete nothing.")
    ] = False,
) -> None:
    """Delete data older than each organization's plan keeps (Free 7, Pro 90, Enterprise 365 days).

    Hourly aggregates, data-quality checks and closed alerts go; open alerts stay whatever their age.
    Run it daily (cron, or the scheduler).
    """
    from sqlalchemy import select

    from altaviz.accounts.models import Organization
    from altaviz.accounts.service import OrganizationNotFound, get_organization_by_slug
    from altaviz.billing.limits import apply_retention, apply_retention_everywhere
    from altaviz.config import get_settings
    from altaviz.db.migrate import ensure_schema
    from altaviz.db.session import create_db_engine, session_scope

    settings = get_settings()
    ensure_schema(settings.sqlalchemy_url)
    engine = create_db_engine(settings.sqlalchemy_url, settings)
    try:
        with session_scope(engine) as session:
            if organization is None:
                results = apply_retention_everywhere(session, dry_run=dry_run)
            else:
                try:
                    org = get_organization_by_slug(session, organization)
                except OrganizationNotFound as error:
                    err.print(f"error: {error}")
                    raise typer.Exit(1) from None
                results = [apply_retention(session, org.id, dry_run=dry_run)]
            slugs = dict(session.execute(select(Organization.id, Organization.slug)).tuples().all())
    finally:
        engine.dispose()
    from rich.table import Table  # here only: `pipeline run` loads this module

    table = Table(title="retention (dry run: nothing deleted)" if dry_run else "retention")
    for column in ("organization", "plan", "keeps", "hourly aggregates", "quality checks", "closed alerts"):
        table.add_column(column)
    for result in results:
        table.add_row(
            slugs.get(result.organization_id, str(result.organization_id)),
            result.tier,
            f"{result.history_days} days",
            f"{result.hourly_aggregates:,}",
            f"{result.quality_checks:,}",
            f"{result.alerts:,}",
        )
    out.print(table)


@billing_app.command("set-plan")
def set_plan(
    organization: Annotated[str, typer.Argument(help="Organization slug.")],
    tier: Annotated[str, typer.Argument(help="free, pro or enterprise.")],
) -> None:
    """Put an organization on a plan by hand (e.g. an Enterprise contract invoiced outside Stripe).
    Audited; takes effect on the organization's next request."""
    from altaviz.accounts.auditing import audit_system
    from altaviz.accounts.plans import PLANS, plan_for
    from altaviz.accounts.service import OrganizationNotFound, get_organization_by_slug
    from altaviz.config import get_settings
    from altaviz.db.migrate import ensure_schema
    from altaviz.db.session import create_db_engine, session_scope

    if tier not in PLANS:
        raise typer.BadParameter(f"choose one of {', '.join(PLANS)}", param_hint="TIER")
    settings = get_settings()
    ensure_schema(settings.sqlalchemy_url)
    engine = create_db_engine(settings.sqlalchemy_url, settings)
    try:
        with session_scope(engine) as session:
            try:
                org = get_organization_by_slug(session, organization)
            except OrganizationNotFound as error:
                err.print(f"error: {error}")
                raise typer.Exit(1) from None
            before = org.subscription_tier
            org.subscription_tier = tier
            org.max_compressors = plan_for(tier).max_compressors
            audit_system(
                session,
                org.id,
                "billing.plan_changed",
                what="cli",
                target_type="organization",
                target_id=org.id,
                details={"from_tier": before, "to_tier": tier, "source": "altaviz billing set-plan"},
            )
            out.print(f"{org.slug}: {plan_for(before).name} → {plan_for(tier).name}")
    finally:
        engine.dispose()
