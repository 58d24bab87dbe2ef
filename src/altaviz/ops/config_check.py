"""`altaviz check-config`: the production settings of the environment, checked before a deploy.

Every check reads the one Settings object (so it sees exactly what the service would). A required
setting that is missing, invalid or weak for production is a problem, and any problem fails the check.
Optional settings — e-mail (SMTP_HOST), the public address (ALTAVIZ_PUBLIC_URL) and the platform
workflow key (WORKFLOW_API_KEY) — turn features on; a deployment may run without them on purpose, so
their absence is a warning that says what will not work, and the check still passes.
"""

import ipaddress
from dataclasses import dataclass

from pydantic import ValidationError

from altaviz.accounts.authsecret import auth_secret_problem
from altaviz.config import Settings


@dataclass(frozen=True)
class Finding:
    setting: str
    problem: str | None  # None: fine
    # an optional setting's problem is a warning: it does not fail the check
    optional: bool = False

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def fails(self) -> bool:
        return self.problem is not None and not self.optional

    @property
    def warns(self) -> bool:
        return self.problem is not None and self.optional


def check() -> list[Finding]:
    """The findings for this process's environment, read exactly as the service reads it."""
    try:
        settings = Settings()
    except ValidationError as error:
        return [
            Finding(_setting_name(e["loc"]), f"invalid: {e['msg']}") for e in error.errors(include_url=False)
        ]
    return findings(settings)


def _setting_name(location: tuple[object, ...]) -> str:
    return str(location[0]).upper() if location else "settings"


def findings(settings: Settings) -> list[Finding]:
    secret = settings.auth_secret.get_secret_value() if settings.auth_secret else None
    stripe_on = settings.stripe_secret_key is not None
    results = [
        Finding(
            "ALTAVIZ_ENV", "is development: set it to production" if settings.env == "development" else None
        ),
        Finding("AUTH_SECRET", _without_name(auth_secret_problem(secret), "AUTH_SECRET ")),
        Finding("DATABASE_URL", _database_problem(settings.database_url)),
        Finding(
            "WORKFLOW_API_KEY",
            None
            if settings.workflow_api_key
            else "is not set: only signed-in users can trigger workflows (the runbook's operator "
            "trigger with x-api-key cannot be used)",
            optional=True,
        ),
        Finding(
            "RATE_LIMIT_STORAGE_URI",
            "is in-process memory: with several workers or instances each counts alone (use redis://…)"
            if settings.rate_limit_storage_uri.startswith("memory")
            else None,
        ),
        Finding("TRUSTED_PROXIES", _proxies_problem(settings.trusted_proxies)),
        Finding(
            "CORS_ORIGINS",
            "allows any origin ('*')" if "*" in settings.cors_origins else None,
        ),
        Finding(
            "STRIPE_WEBHOOK_SECRET",
            "is missing while billing is on (STRIPE_SECRET_KEY is set): webhooks would be refused"
            if stripe_on and settings.stripe_webhook_secret is None
            else None,
        ),
        Finding(
            "STRIPE_PRICE_ID_PRO / STRIPE_PRICE_ID_ENTERPRISE",
            "are missing while billing is on: checkout cannot sell a plan"
            if stripe_on and not (settings.stripe_price_pro and settings.stripe_price_enterprise)
            else None,
        ),
        Finding(
            "SMTP_HOST",
            None if settings.smtp_host else "is not set: invitations and alert e-mails cannot be sent",
            optional=True,
        ),
        Finding(
            "ALTAVIZ_PUBLIC_URL",
            None
            if settings.public_url
            else "is not set: links in e-mails and Stripe's return pages use the address a request came to",
            optional=True,
        ),
    ]
    return results


def _without_name(problem: str | None, name: str) -> str | None:
    return None if problem is None else problem.removeprefix(name)


def _database_problem(url: str | None) -> str | None:
    if not url:
        return "is not set: the service would use the embedded SQLite file in the data directory"
    if url.startswith("sqlite"):
        return "points at SQLite: production runs on PostgreSQL"
    return None


def _proxies_problem(proxies: list[str]) -> str | None:
    for proxy in proxies:
        try:
            network = ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            return f"{proxy!r} is not an address or network"
        if network.prefixlen == 0:
            return f"{proxy} trusts every address: any client could choose its rate-limit bucket"
    return None
