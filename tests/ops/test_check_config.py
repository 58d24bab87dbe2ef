"""`altaviz check-config` names every missing or weak production setting and fails; a sound one passes."""

import os
import subprocess
import sys

import pytest

SOUND = {
    "ALTAVIZ_ENV": "production",
    "AUTH_SECRET": "kQ3v8Zr1xWm5Tn7Yb2Lc9Pd4Hf6Gj0Sa",
    "DATABASE_URL": "postgresql+psycopg://altaviz@db:5432/altaviz",
    "WORKFLOW_API_KEY": "9c1f" * 16,
    "RATE_LIMIT_STORAGE_URI": "redis://redis:6379/0",
    "TRUSTED_PROXIES": "10.0.0.0/8",
    "SMTP_HOST": "smtp.example.com",
    "ALTAVIZ_PUBLIC_URL": "https://altaviz.example.com",
    "STRIPE_SECRET_KEY": "sk_test_abc",
    "STRIPE_WEBHOOK_SECRET": "whsec_abc",
    "STRIPE_PRICE_ID_PRO": "price_pro",
    "STRIPE_PRICE_ID_ENTERPRISE": "price_ent",
}


def _run(env: dict[str, str]) -> tuple[int, str]:
    clean = {k: v for k, v in os.environ.items() if k not in SOUND and k != "CORS_ORIGINS"}
    done = subprocess.run(
        [sys.executable, "-m", "altaviz", "check-config"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, " ".join((done.stdout + done.stderr).split())


def test_a_sound_production_environment_passes() -> None:
    code, output = _run(SOUND)
    assert code == 0, output
    assert "all required production settings ok" in output
    assert "warning" not in output


def test_optional_settings_missing_are_warnings_and_the_check_passes() -> None:
    """A deployment may run without e-mail, a public URL and the workflow key on purpose (issue 18
    item 19): each is named with what will not work, as a warning, and the check exits 0."""
    env = {k: v for k, v in SOUND.items() if k not in ("SMTP_HOST", "ALTAVIZ_PUBLIC_URL", "WORKFLOW_API_KEY")}
    code, output = _run(env)
    assert code == 0, output
    assert "warning SMTP_HOST is not set: invitations and alert e-mails cannot be sent" in output
    assert "warning ALTAVIZ_PUBLIC_URL is not set" in output
    assert "warning WORKFLOW_API_KEY is not set" in output
    assert "all required production settings ok; 3 optional settings not set (warnings)" in output


def test_a_required_problem_still_fails_beside_warnings() -> None:
    env = {k: v for k, v in SOUND.items() if k not in ("SMTP_HOST", "DATABASE_URL")}
    code, output = _run(env)
    assert code == 1, output
    assert "problem DATABASE_URL is not set" in output
    assert "warning SMTP_HOST" in output
    assert "1 problem; 1 optional setting not set (warnings)" in output


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"AUTH_SECRET": "changeme"}, "AUTH_SECRET is a known default"),
        ({"AUTH_SECRET": "short-but-random-Q9x"}, "AUTH_SECRET is 20 bytes long; it must be at least 32"),
        ({"AUTH_SECRET": None}, "AUTH_SECRET is not set"),
        ({"DATABASE_URL": None}, "DATABASE_URL is not set"),
        ({"DATABASE_URL": "sqlite:///altaviz.db"}, "DATABASE_URL points at SQLite"),
        ({"STRIPE_WEBHOOK_SECRET": None}, "STRIPE_WEBHOOK_SECRET is missing while billing is on"),
        ({"RATE_LIMIT_STORAGE_URI": "memory://"}, "RATE_LIMIT_STORAGE_URI is in-process memory"),
        ({"TRUSTED_PROXIES": "0.0.0.0/0"}, "trusts every address"),
        ({"ALTAVIZ_ENV": "development"}, "ALTAVIZ_ENV is development"),
        ({"WORKFLOW_API_KEY": "short"}, "WORKFLOW_API_KEY invalid"),
    ],
)
def test_each_weak_setting_is_named_and_fails(change: dict[str, str | None], expected: str) -> None:
    env = {k: v for k, v in {**SOUND, **change}.items() if v is not None}
    code, output = _run(env)
    assert code == 1, output
    assert expected in output
