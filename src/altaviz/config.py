"""One Settings object: every environment variable Altaviz reads, typed, defaulted and validated.

Nothing else in the code base reads os.environ. The README's configuration table lists the same names.
"""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    pipeline_memory_limit: str = Field(
        "4GB",
        validation_alias=_env("PIPELINE_MEMORY_LIMIT"),
        description="Memory cap for the embedded DuckDB engine; it spills to disk beyond it.",
    )
    pipeline_threads: int | None = Field(
        None,
        ge=1,
        validation_alias=_env("PIPELINE_THREADS"),
        description="Worker threads for the embedded engine; default all cores.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", validation_alias=_env("LOG_LEVEL")
    )

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


def normalize_database_url(url: str) -> str:
    """Accept the URLs operators paste (postgres://, postgresql://) and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
