"""Session cookies (JWT signed with AUTH_SECRET), CSRF tokens and API keys.

A session cookie carries a random session id ("sid") inside an HS256 JWT; the database keeps only
the SHA-256 of the id, so neither a database leak nor a forged cookie opens a session. The CSRF
token is an HMAC of the session id: a page (or script) of our origin reads it from a readable
cookie and echoes it in a header, which another site cannot do.
"""

import base64
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

ISSUER = "altaviz"
ALGORITHM = "HS256"
SESSION_COOKIE = "altaviz_session"
CSRF_COOKIE = "altaviz_csrf"
# Outside development cookies are Secure and take the __Host- prefix: the browser then refuses them
# over plain HTTP, from a sub-domain, or with a Domain or a Path other than /.
SECURE_COOKIE_PREFIX = "__Host-"
CSRF_HEADER = "X-CSRF-Token"
API_KEY_HEADER = "x-api-key"
API_KEY_PREFIX = "avz_"
API_KEY_DISPLAY_CHARS = 12


@dataclass(frozen=True)
class SessionClaims:
    session_token: str
    user_id: uuid.UUID


def cookie_names(secure: bool) -> tuple[str, str]:
    """(session cookie, CSRF cookie) for this deployment."""
    prefix = SECURE_COOKIE_PREFIX if secure else ""
    return prefix + SESSION_COOKIE, prefix + CSRF_COOKIE


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def encode_session_cookie(
    secret: bytes, session_token: str, user_id: uuid.UUID, issued_at: datetime, expires_at: datetime
) -> str:
    claims = {
        "iss": ISSUER,
        "sid": session_token,
        "sub": str(user_id),
        "iat": int(issued_at.timestamp()),
        "exp": int(expires_at.timestamp()),
    }
    import jwt  # PyJWT (and cryptography) only where cookies are made or read: not by the pipeline

    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_session_cookie(secret: bytes, value: str) -> SessionClaims | None:
    """The claims of a valid, unexpired cookie signed with `secret`; None for anything else."""
    import jwt

    try:
        claims = jwt.decode(
            value,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sid", "sub", "iss"]},
        )
        return SessionClaims(session_token=str(claims["sid"]), user_id=uuid.UUID(str(claims["sub"])))
    except (jwt.InvalidTokenError, ValueError, TypeError):
        return None


def csrf_token(secret: bytes, session_token: str) -> str:
    digest = hmac.new(secret, b"csrf:" + session_token.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def csrf_token_matches(secret: bytes, session_token: str, presented: str | None) -> bool:
    if not presented:
        return False
    return hmac.compare_digest(csrf_token(secret, session_token).encode(), presented.encode())


def new_api_key() -> tuple[str, str]:
    """(the key, shown once; its display prefix)."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    return key, key[:API_KEY_DISPLAY_CHARS]


def looks_like_api_key(value: str) -> bool:
    return value.startswith(API_KEY_PREFIX) and 20 <= len(value) <= 200
