"""One Settings object: every environment variable Altaviz reads, typed, defaulted and validated.

Nothing else in the code base reads os.environ. The README's configuration table lists the same names.
"""

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Failed sign-ins allowed per account by default (`limits` tiers; accounts/signin_limit.py parses them).
SIGN_IN_ACCOUNT_LIMITS = "5/minute;10/10 minutes;20/hour"


def _env(name: str) -> AliasChoices:
    return AliasChoices(name)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore", env_file=None)

    env: Literal["development", "test", "production"] = Field(
        "development",
        validation_alias=_env("ALTAVIZ_ENV"),
        description="Deployment environment; production enables the strict start-up checks.",
    )
    data_dir: Path = Field(
        Path("data"),
        validation_alias=_env("ALTAVIZ_DATA_DIR"),
        description="Root of the landing zone and the lake (landing/, lake/) and of the SQLite file.",
    )
    database_url: str | None = Field(
        None,
        validation_alias=_env("DATABASE_URL"),
        description="SQLAlchemy URL of the operational database; default SQLite in the data directory.",
    )
    db_pool_max: int = Field(20, ge=1, validation_alias=_env("DB_POOL_MAX"))
    db_pool_timeout_seconds: float = Field(
        5.0,
        gt=0,
        le=300,
        validation_alias=_env("DB_POOL_TIMEOUT"),
        description="Seconds a request waits for a pooled connection before failing (the API answers 503).",
    )
    db_statement_timeout_ms: int = Field(
        30_000,
        ge=0,
        validation_alias=_env("DB_STATEMENT_TIMEOUT"),
        description="PostgreSQL statement timeout in milliseconds (0 disables).",
    )
    default_organization: str = Field(
        "altaviz-demo",
        min_length=1,
        validation_alias=_env("ALTAVIZ_ORGANIZATION"),
        description="Slug of the organization the pipeline loads into when none is named.",
    )
    reading_interval_minutes: int = Field(
        10,
        ge=1,
        le=1440,
        validation_alias=_env("PIPELINE_INTERVAL_MINUTES"),
        description="How often a compressor is expected to report; drives completeness and gaps.",
    )
    freshness_sla_minutes: int = Field(15, ge=1, validation_alias=_env("PIPELINE_FRESHNESS_SLA_MINUTES"))
    max_reading_age_days: int = Field(
        730,
        ge=1,
        validation_alias=_env("PIPELINE_MAX_READING_AGE_DAYS"),
        description="A reading stamped more than this many days before it was loaded is quarantined as "
        "too old (a clock reset to 1970, say), instead of stretching the batch's expected span; the "
        "default covers the longest plan history (365 days) twice over, so a backfill fits.",
    )
    pipeline_memory_limit: str = Field(
        "3GB",
        validation_alias=_env("PIPELINE_MEMORY_LIMIT"),
        description="Memory cap for the embedded DuckDB engine; it spills to disk beyond it.",
    )
    pipeline_chunk_rows: int = Field(
        2_000_000,
        ge=1,
        validation_alias=_env("PIPELINE_CHUNK_ROWS"),
        description="Readings per chunk of the fleet in a full embedded run: bigger fleets run in chunks "
        "of compressors, so memory stays bounded and time grows linearly.",
    )
    alert_stopped_share: float = Field(
        0.1,
        ge=0,
        lt=1,
        validation_alias=_env("ALERT_STOPPED_SHARE"),
        description="A reading is of a stopped unit when its horsepower and gas flow are both below this "
        "share of the compressor's warning limits for them (the organization's effective limits; 180 HP "
        "and 600 Mcf/day by default); a stopped unit's readings judge no threshold. 0 turns state-based "
        "suppression off (every reading is judged as running).",
    )
    alert_settle_minutes: int = Field(
        240,
        ge=0,
        le=1440,
        validation_alias=_env("ALERT_SETTLE_MINUTES"),
        description="After a stopped unit starts again, its low-flow, low-suction and temperature-rate "
        "limits are not judged for this many minutes (the start's own transient: flow and pressures come "
        "up, the discharge temperature climbs back); while stopped, no threshold is judged. 0 judges "
        "every limit from the first running reading.",
    )
    prediction_horizon_hours: float = Field(
        72,
        gt=0,
        le=24 * 30,
        validation_alias=_env("PREDICTION_HORIZON_HOURS"),
        description="An early warning of alert_type 'prediction' is raised when a metric is projected to "
        "reach its critical limit (warning limit where it has none) within this many hours.",
    )
    pipeline_threads: int | None = Field(
        None,
        ge=1,
        validation_alias=_env("PIPELINE_THREADS"),
        description="Worker threads for the embedded engine; default all cores.",
    )
    pipeline_watch_seconds: float = Field(
        30,
        gt=0,
        validation_alias=_env("PIPELINE_WATCH_SECONDS"),
        description="`altaviz pipeline watch` looks for waiting data this often and runs a pass when "
        "there is some: a pass starts at most this often.",
    )
    pipeline_watch_metrics_port: int = Field(
        9108,
        ge=0,
        le=65535,
        validation_alias=_env("PIPELINE_WATCH_METRICS_PORT"),
        description="Port where `altaviz pipeline watch` serves Prometheus /metrics (the per-organization "
        "lag of waiting data, passes, failures); 0 turns it off.",
    )
    spark_master: str = Field(
        "local[*]",
        validation_alias=_env("SPARK_MASTER"),
        description="Spark master for --engine spark: local[*], spark://host:7077, yarn, ...",
    )
    spark_driver_memory: str = Field("4g", validation_alias=_env("SPARK_DRIVER_MEMORY"))
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", validation_alias=_env("LOG_LEVEL")
    )

    # --- web service -------------------------------------------------------------------------------
    auth_secret: SecretStr | None = Field(
        None,
        validation_alias=_env("AUTH_SECRET"),
        description="Key that signs session cookies; mandatory (32+ bytes, not a known default) "
        "outside development.",
    )
    session_hours: float = Field(
        8, gt=0, le=24 * 30, validation_alias=_env("SESSION_HOURS"), description="Session lifetime."
    )
    server_host: str = Field("127.0.0.1", validation_alias=_env("ALTAVIZ_HOST"))
    server_port: int = Field(8000, ge=1, le=65535, validation_alias=_env("ALTAVIZ_PORT"))
    server_workers: int = Field(1, ge=1, le=64, validation_alias=_env("WEB_CONCURRENCY"))
    shutdown_grace_seconds: float = Field(
        30,
        ge=0,
        validation_alias=_env("SHUTDOWN_GRACE_SECONDS"),
        description="On SIGTERM, how long in-flight requests may run before the service stops anyway.",
    )
    health_timeout_seconds: float = Field(
        0.5,
        gt=0,
        le=0.9,
        validation_alias=_env("HEALTH_CHECK_TIMEOUT"),
        description="Budget of /api/health's database probe; the answer always comes within a second.",
    )
    rate_limit_per_minute: int = Field(60, ge=1, validation_alias=_env("RATE_LIMIT_PER_MINUTE"))
    rate_limit_auth_per_minute: int = Field(10, ge=1, validation_alias=_env("RATE_LIMIT_AUTH_PER_MINUTE"))
    sign_in_account_limits: str = Field(
        SIGN_IN_ACCOUNT_LIMITS,
        validation_alias=_env("SIGN_IN_ACCOUNT_LIMITS"),
        description="Failed sign-ins allowed per account (from any address), as `limits` tiers; past one, "
        "that account's sign-in answers 429 until its window frees (a browser that signed in to it "
        "before is exempt).",
    )
    rate_limit_storage_uri: str = Field(
        "memory://",
        validation_alias=_env("RATE_LIMIT_STORAGE_URI"),
        description="memory:// (one process) or redis://host:port/db (shared by workers and instances).",
    )
    rate_limit_key_prefix: str = Field(
        "altaviz", min_length=1, max_length=64, validation_alias=_env("RATE_LIMIT_KEY_PREFIX")
    )
    max_request_body_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        validation_alias=_env("MAX_REQUEST_BODY_BYTES"),
        description="Largest request body accepted (bytes); a larger one is refused with 413 before it "
        "is read (from Content-Length, or as soon as a streamed body goes over).",
    )
    ingest_max_request_body_bytes: int = Field(
        16 * 1024 * 1024,
        ge=1024,
        validation_alias=_env("INGEST_MAX_REQUEST_BODY_BYTES"),
        description="Largest request body of the ingest routes (/api/ingest/...) and the upload page's "
        "POSTs (/data/...), in bytes.",
    )
    ingest_rate_limit_per_minute: int = Field(
        600,
        ge=1,
        validation_alias=_env("INGEST_RATE_LIMIT_PER_MINUTE"),
        description="Requests a minute to POST /api/ingest/readings per API key (per member for admins "
        "signed in); ingest requests do not count against RATE_LIMIT_PER_MINUTE per IP.",
    )
    ingest_idempotency_hours: int = Field(
        24,
        ge=1,
        le=24 * 30,
        validation_alias=_env("INGEST_IDEMPOTENCY_HOURS"),
        description="How long an ingest Idempotency-Key is remembered (a retry within it gets the first "
        "answer).",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=_env("TRUSTED_PROXIES"),
        description="Comma-separated proxy IPs/networks whose X-Forwarded-For is believed.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=_env("CORS_ORIGINS"),
        description="Comma-separated origins (scheme://host[:port]) allowed to call the API from a browser.",
    )

    auth_cache_seconds: float = Field(
        5.0,
        ge=0,
        le=60,
        validation_alias=_env("AUTH_CACHE_SECONDS"),
        description="Seconds a worker keeps an authenticated key or session without asking the database "
        "(PostgreSQL only; every change the service makes to the organization, its members, keys, "
        "sessions or data drops it at once, in every worker); 0 turns the cache off.",
    )
    read_cache_max_bytes: int = Field(
        32 * 1024 * 1024,
        ge=0,
        validation_alias=_env("READ_CACHE_MAX_BYTES"),
        description="Memory for cached answers of the fleet and alert lists, per worker process (least "
        "recently used go first); 0 turns the cache off.",
    )
    read_cache_max_age_seconds: float = Field(
        2.0,
        ge=0,
        le=60,
        validation_alias=_env("READ_CACHE_MAX_AGE"),
        description="Seconds a cached answer may be served (writes show at once whatever this is; it "
        "bounds how late changes driven by time alone show, such as a shelf running out); 0 turns "
        "the cache off.",
    )

    web_refresh_seconds: float = Field(
        30,
        ge=0.5,
        le=3600,
        validation_alias=_env("WEB_REFRESH_SECONDS"),
        description="How often the dashboard pages refresh their live parts (HTMX polling).",
    )

    # --- observability ---------------------------------------------------------------------------------
    log_format: Literal["json", "text"] | None = Field(
        None,
        validation_alias=_env("LOG_FORMAT"),
        description="json (one object a line, with request_id) or text; default text in development, "
        "json elsewhere.",
    )
    metrics_token: SecretStr | None = Field(
        None,
        validation_alias=_env("METRICS_TOKEN"),
        description="Bearer token that opens /metrics from any address (Authorization: Bearer ...).",
    )
    metrics_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1/32", "::1/128"],
        validation_alias=_env("METRICS_ALLOW"),
        description="Comma-separated client IPs/networks that may read /metrics without the token; "
        "default loopback only; 'none' for token only.",
    )
    metrics_pushgateway_url: str | None = Field(
        None,
        validation_alias=_env("METRICS_PUSHGATEWAY_URL"),
        description="Prometheus Pushgateway the pipeline command pushes its run metrics to.",
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        None,
        validation_alias=_env("OTEL_EXPORTER_OTLP_ENDPOINT"),
        description="OTLP endpoint; with the otel extra installed, enables tracing.",
    )
    otel_traces_exporter: str | None = Field(
        None,
        validation_alias=_env("OTEL_TRACES_EXPORTER"),
        description="OpenTelemetry traces exporter; set (other than 'none') it enables tracing too.",
    )
    otel_service_name: str = Field(
        "altaviz",
        min_length=1,
        validation_alias=_env("OTEL_SERVICE_NAME"),
        description="Traces' service name.",
    )

    # --- billing (Stripe) ------------------------------------------------------------------------------
    stripe_secret_key: SecretStr | None = Field(
        None,
        validation_alias=_env("STRIPE_SECRET_KEY"),
        description="Stripe API secret key (sk_live_..., sk_test_...); without it checkout and the "
        "billing portal answer 503 and everything else keeps working.",
    )
    stripe_webhook_secret: SecretStr | None = Field(
        None,
        validation_alias=_env("STRIPE_WEBHOOK_SECRET"),
        description="Signing secret of the webhook endpoint (whsec_...); without it webhooks are refused.",
    )
    stripe_price_pro: str | None = Field(
        None, validation_alias=_env("STRIPE_PRICE_ID_PRO"), description="Stripe price id of the Pro plan."
    )
    stripe_price_enterprise: str | None = Field(
        None,
        validation_alias=_env("STRIPE_PRICE_ID_ENTERPRISE"),
        description="Stripe price id of the Enterprise plan.",
    )
    stripe_api_base: str | None = Field(
        None,
        validation_alias=_env("STRIPE_API_BASE"),
        description="Another Stripe API address (e.g. stripe-mock); default Stripe's own.",
    )
    public_url: str | None = Field(
        None,
        validation_alias=_env("ALTAVIZ_PUBLIC_URL"),
        description="Public address of the service (https://ops.example.com), for links in e-mails and "
        "Stripe's return pages; default the address a request came to.",
    )

    # --- e-mail (SMTP) ---------------------------------------------------------------------------------
    smtp_host: str | None = Field(
        None, validation_alias=_env("SMTP_HOST"), description="SMTP server; without it no e-mail is sent."
    )
    smtp_port: int = Field(587, ge=1, le=65535, validation_alias=_env("SMTP_PORT"))
    smtp_username: str | None = Field(None, validation_alias=_env("SMTP_USERNAME"))
    smtp_password: SecretStr | None = Field(None, validation_alias=_env("SMTP_PASSWORD"))
    smtp_security: Literal["starttls", "ssl", "none"] = Field(
        "starttls",
        validation_alias=_env("SMTP_SECURITY"),
        description="starttls (port 587), ssl (implicit TLS, port 465) or none (a local relay only).",
    )
    smtp_from: str = Field(
        "Altaviz <noreply@altaviz.local>", validation_alias=_env("SMTP_FROM"), description="Sender address."
    )
    smtp_timeout_seconds: float = Field(10, gt=0, le=120, validation_alias=_env("SMTP_TIMEOUT"))

    # --- alert workflows and notifications -----------------------------------------------------------
    workflow_api_key: SecretStr | None = Field(
        None,
        validation_alias=_env("WORKFLOW_API_KEY"),
        description="Platform operators' key for POST /api/workflows/run (header x-api-key, any "
        "organization named in the body); 32+ characters (openssl rand -hex 32). Unset: only sessions.",
    )
    workflow_api_key_old: SecretStr | None = Field(
        None,
        validation_alias=_env("WORKFLOW_API_KEY_OLD"),
        description="The previous workflow key, still accepted while callers move to the new one.",
    )
    workflow_escalation_hours: float = Field(
        4,
        gt=0,
        le=24 * 30,
        validation_alias=_env("WORKFLOW_ESCALATION_HOURS"),
        description="Hours an active warning may stay unacknowledged before it is escalated to critical.",
    )
    workflow_auto_resolve_hours: float = Field(
        2,
        gt=0,
        le=24 * 30,
        validation_alias=_env("WORKFLOW_AUTO_RESOLVE_HOURS"),
        description="Hours of normal readings after a compressor's last alert returned to normal "
        "before its open alerts are resolved by the system.",
    )
    workflow_staleness_hours: float = Field(
        3,
        gt=0,
        le=24 * 30,
        validation_alias=_env("WORKFLOW_STALENESS_HOURS"),
        description="Hours without data before a compressor gets a data-staleness alert.",
    )
    workflow_cleanup_days: float = Field(
        7,
        gt=0,
        le=365,
        validation_alias=_env("WORKFLOW_CLEANUP_DAYS"),
        description="Days an alert may stay unactioned before the system acknowledges it.",
    )
    workflow_interval_minutes: float = Field(
        15,
        gt=0,
        le=24 * 60,
        validation_alias=_env("WORKFLOW_INTERVAL_MINUTES"),
        description="How often the service's scheduler runs workflow=all for every organization.",
    )
    workflow_scheduler_enabled: bool = Field(
        True,
        validation_alias=_env("WORKFLOW_SCHEDULER"),
        description="Run the workflow and notification scheduler inside the service.",
    )
    notify_group_wait_seconds: float = Field(
        30,
        ge=0,
        le=3600,
        validation_alias=_env("NOTIFY_GROUP_WAIT_SECONDS"),
        description="How long a compressor's first notification waits to gather the rest of a burst.",
    )
    notify_group_interval_minutes: float = Field(
        5,
        ge=0,
        le=24 * 60,
        validation_alias=_env("NOTIFY_GROUP_INTERVAL_MINUTES"),
        description="At most one message per compressor and channel within this interval.",
    )
    notify_repeat_interval_hours: float = Field(
        4,
        gt=0,
        le=24 * 30,
        validation_alias=_env("NOTIFY_REPEAT_INTERVAL_HOURS"),
        description="A critical alert still unacknowledged is notified again after this long.",
    )
    notify_max_attempts: int = Field(
        8,
        ge=1,
        le=50,
        validation_alias=_env("NOTIFY_MAX_ATTEMPTS"),
        description="Delivery attempts per message (exponential back-off from 30 s) before it is "
        "marked failed.",
    )
    notify_dispatch_seconds: float = Field(
        15,
        ge=1,
        le=3600,
        validation_alias=_env("NOTIFY_DISPATCH_SECONDS"),
        description="How often the service looks for notifications due for delivery.",
    )
    notify_timeout_seconds: float = Field(
        10,
        gt=0,
        le=120,
        validation_alias=_env("NOTIFY_TIMEOUT"),
        description="Timeout of one webhook delivery.",
    )

    @field_validator("workflow_api_key", "workflow_api_key_old")
    @classmethod
    def _check_workflow_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if len(value.get_secret_value().strip()) < 32:
            raise ValueError("must be at least 32 characters (generate one with: openssl rand -hex 32)")
        return SecretStr(value.get_secret_value().strip())

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_proxies(cls, value: object) -> object:
        items = _split_list(value)
        if isinstance(items, list):
            for item in items:
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError:
                    raise ValueError(f"{item!r} is not an IP address or network (e.g. 10.0.0.0/8)") from None
        return items

    @field_validator("metrics_allow", mode="before")
    @classmethod
    def _parse_metrics_allow(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() == "none":
            return []
        items = _split_list(value)
        if isinstance(items, list):
            for item in items:
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError:
                    raise ValueError(f"{item!r} is not an IP address or network (e.g. 10.0.0.0/8)") from None
        return items

    @model_validator(mode="after")
    def _metrics_not_open(self) -> "Settings":
        """Outside development /metrics is never open to every address."""
        if self.env != "development":
            for item in self.metrics_allow:
                if ipaddress.ip_network(item, strict=False).prefixlen == 0:
                    raise ValueError(
                        f"METRICS_ALLOW={item} would expose /metrics to everyone outside development: "
                        "name your Prometheus servers' networks, or use METRICS_TOKEN"
                    )
        return self

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _parse_origins(cls, value: object) -> object:
        items = _split_list(value)
        if isinstance(items, list):
            for item in items:
                parts = urlsplit(item)
                if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
                    raise ValueError(f"{item!r} is not an origin such as https://app.example.com")
            return [item.rstrip("/") for item in items]
        return items

    @field_validator("public_url", "stripe_api_base", "metrics_pushgateway_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{value!r} is not an address such as https://ops.example.com")
        return value.strip().rstrip("/")

    @field_validator("sign_in_account_limits")
    @classmethod
    def _check_account_limits(cls, value: str) -> str:
        if value == SIGN_IN_ACCOUNT_LIMITS:
            return value  # the default: every command builds Settings, and `limits` takes ~40 ms to load
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError:
            raise ValueError(f"{value!r}: use tiers such as 5/minute;20/hour") from None
        return value

    @field_validator("rate_limit_storage_uri")
    @classmethod
    def _check_storage(cls, value: str) -> str:
        schemes = ("memory://", "redis://", "rediss://", "redis+unix://")
        if not value.startswith(schemes):
            raise ValueError(f"{value!r}: use memory:// or redis://host:port/db")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def landing_dir(self) -> Path:
        return self.data_dir / "landing"

    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'altaviz.db').resolve()}"


def _split_list(value: object) -> object:
    """Comma-separated environment values ("a, b") as a list; lists pass through."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def normalize_database_url(url: str) -> str:
    """Accept the URLs operators paste (postgres://, postgresql://) and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
