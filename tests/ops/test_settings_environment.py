"""Settings read the environment themselves (altaviz.config, without pydantic-settings): each field's
variable, its name matched regardless of case; a value given to the constructor wins over it; defaults
are validated; an error names the variable."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from altaviz.config import Settings


def test_each_field_reads_its_variable_whatever_the_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALTAVIZ_PORT", "9001")
    monkeypatch.setenv("pipeline_interval_minutes", "5")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example.com/, https://b.example.com")
    settings = Settings()
    assert settings.server_port == 9001
    assert settings.reading_interval_minutes == 5
    assert settings.cors_origins == ["https://a.example.com", "https://b.example.com"]
    assert settings.freshness_sla_minutes == 15  # not set: the default


def test_a_value_given_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ALTAVIZ_DATA_DIR", "/elsewhere")
    monkeypatch.setenv("ALTAVIZ_PORT", "9001")
    assert Settings(data_dir=tmp_path).data_dir == tmp_path  # by field name
    assert Settings(ALTAVIZ_PORT=9002).server_port == 9002  # by variable name
    assert Settings(data_dir=tmp_path).server_port == 9001  # the others still from the environment


def test_a_bad_value_is_named_by_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("altaviz_env", "prod")
    monkeypatch.setenv("ALTAVIZ_PORT", "abc")
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert [e["loc"] for e in raised.value.errors()] == [("ALTAVIZ_ENV",), ("ALTAVIZ_PORT",)]


def test_defaults_are_validated_and_bad_values_refused() -> None:
    # BaseSettings validated defaults: a field's validators run on its default as on a value read
    assert Settings.model_config.get("validate_default") is True
    with pytest.raises(ValidationError):
        Settings(TRUSTED_PROXIES="not-a-network")
