"""AUTH_SECRET: required and strong outside development; the demo and development keep their own."""

import os
import secrets
from pathlib import Path

from altaviz.config import Settings

MIN_SECRET_BYTES = 32
SECRET_FILE_NAME = "auth_secret"  # noqa: S105 — a file name, not a secret
# Values seen in templates, tutorials and the original system's examples; never acceptable.
KNOWN_DEFAULT_SECRETS = frozenset(
    {
        "changeme",
        "change-me",
        "change_me",
        "secret",
        "mysecret",
        "supersecret",
        "development",
        "dev-secret",
        "test-secret",
        "your-secret-here",
        "your-auth-secret",
        "your-auth-secret-here",
        "your_auth_secret_here",
        "replace-me",
        "generate-with-openssl-rand-base64-32",
        "a-very-long-development-secret-at-least-32-chars",
        "this-is-a-test-secret-of-32-chars",
        "test-secret-for-ci-at-least-32-characters",
        "altaviz",
        "altaviz-secret",
        "0123456789abcdef0123456789abcdef",
        "00000000000000000000000000000000",
    }
)
# Words of template values ("your-secret-here", "change-me-in-production", ...).
_PLACEHOLDER_WORDS = ("change", "replace", "your-", "your_", "-here", "placeholder", "example")


class AuthSecretError(RuntimeError):
    pass


def auth_secret_problem(secret: str | None) -> str | None:
    """What is wrong with `secret` for production use, or None when it will do."""
    if not secret:
        return "AUTH_SECRET is not set"
    lowered = secret.strip().lower()
    if lowered in KNOWN_DEFAULT_SECRETS or any(word in lowered for word in _PLACEHOLDER_WORDS):
        return "AUTH_SECRET is a known default or placeholder value"
    size = len(secret.encode())
    if size < MIN_SECRET_BYTES:
        return f"AUTH_SECRET is {size} bytes long; it must be at least {MIN_SECRET_BYTES}"
    if len(set(secret)) < 10:
        return "AUTH_SECRET repeats too few distinct characters to be random"
    return None


def resolve_auth_secret(settings: Settings) -> bytes:
    """The key that signs sessions.

    Outside development AUTH_SECRET must be set and strong, or the service refuses to start. In
    development an unset secret is generated once and kept in the data directory (file mode 0600),
    so every worker and every restart signs with the same key.
    """
    secret = settings.auth_secret.get_secret_value() if settings.auth_secret else None
    if settings.env != "development":
        problem = auth_secret_problem(secret)
        if problem:
            raise AuthSecretError(
                f"{problem}. Outside development (ALTAVIZ_ENV={settings.env}) the service will not start "
                f"without a random AUTH_SECRET of at least {MIN_SECRET_BYTES} bytes; generate one with "
                "`openssl rand -base64 32`."
            )
    if secret:
        return secret.encode()
    return load_or_create_secret(settings.data_dir / SECRET_FILE_NAME).encode()


def load_or_create_secret(path: Path) -> str:
    """Read the secret kept at `path`, creating it (atomically, 0600) on first use."""
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    # Written in full under a private name, then linked into place: another worker racing us either
    # wins (and we read its secret) or finds the complete file, never a half-written one.
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(value + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:
            return _read(path)
    finally:
        temporary.unlink(missing_ok=True)
    return value


def _read(path: Path) -> str:
    value = path.read_text().strip()
    if not value:
        raise AuthSecretError(f"{path} is empty; delete it to have a new secret generated")
    return value
