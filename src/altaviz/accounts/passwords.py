"""Password hashing (argon2id, argon2-cffi's RFC 9106 profile) and the password policy."""

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
# The most common choices that pass the length rule; a longer list belongs to a breach-corpus check.
COMMON_PASSWORDS = frozenset(
    {
        "123456789012",
        "password1234",
        "passwordpassword",
        "qwertyuiopas",
        "111111111111",
        "000000000000",
        "iloveyou1234",
        "adminadmin12",
        "administrator",
        "letmeinletmein",
        "welcome12345",
        "changeme1234",
        "altaviz12345",
    }
)

_hasher = PasswordHasher()


class WeakPassword(ValueError):
    pass


def check_password_policy(password: str, email: str | None = None) -> None:
    """Raise WeakPassword with a sentence that says what to change."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"Password must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"Password must be at most {MAX_PASSWORD_LENGTH} characters")
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or len(set(password)) < 4:
        raise WeakPassword("Password is too easy to guess; choose a longer, less common one")
    if email and lowered == email.lower():
        raise WeakPassword("Password must not be your email address")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash("altaviz-timing-equaliser")


def burn_verification_time(password: str) -> None:
    """Spend as long as a real verification, so an unknown e-mail is not told apart by timing."""
    verify_password(_dummy_hash(), password)
