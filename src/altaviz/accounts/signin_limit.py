"""Failed sign-ins counted per account, so guessing one account's password from many addresses is
slowed down as much as from one, without letting anyone lock the owner out for good.

- Each failed sign-in for an address counts in every tier of SIGN_IN_ACCOUNT_LIMITS (default
  `5/minute;10/10 minutes;20/hour`, moving windows of the `limits` library, in the rate limiter's
  store: memory:// or Redis shared by every worker and instance). Once a tier is full, sign-in for
  that account answers 429 with Retry-After until its oldest failure leaves the window: the delay grows
  with the failures (a minute, then ten, then an hour) and never exceeds the longest window. While
  limited, the password is not even checked, so guesses learn nothing.
- A browser that signed in to the account before carries a device cookie (an HMAC of the address
  with AUTH_SECRET, 90 days): its attempts are not subject to the per-account limit (OWASP's device
  cookies), so the owner signs in from their own browser even while someone is guessing. The per-IP
  limit still applies to everyone.
- A successful sign-in does not clear the account's failures (they leave their windows by themselves),
  so an owner signing in does not hand a guesser a fresh allowance. The store's keys are a SHA-256 of
  the address, never the address itself. If the store is unreachable, sign-in is not limited (and it
  is logged).
"""

import hashlib
import hmac
import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter
from starlette.responses import Response

from altaviz.accounts.service import normalize_email
from altaviz.config import Settings

log = logging.getLogger("altaviz.accounts")

DEVICE_COOKIE = "altaviz_device"
DEVICE_COOKIE_DAYS = 90
STORE_TIMEOUT_SECONDS = 1.0
NAMESPACE = "sign-in-account"


@dataclass(frozen=True)
class AccountLimited:
    retry_after: int  # seconds until the account's next attempt is heard

    @property
    def message(self) -> str:
        return (
            "Too many failed sign-ins for this account: try again in "
            f"{self.retry_after} s (from a browser that signed in to it before, at once)"
        )


class AccountSignInLimiter:
    def __init__(self, settings: Settings, secret: bytes) -> None:
        self.items: list[RateLimitItem] = parse_many(settings.sign_in_account_limits)
        self.storage = _storage(settings)
        self.strategy = MovingWindowRateLimiter(self.storage)
        self.secret = secret

    def device_token(self, email: str) -> str:
        """The device cookie's value for an address (set after a successful sign-in)."""
        return hmac.new(self.secret, b"device:" + normalize_email(email).encode(), hashlib.sha256).hexdigest()

    def _known_device(self, email: str, cookie: str | None) -> bool:
        return cookie is not None and hmac.compare_digest(cookie.encode(), self.device_token(email).encode())

    def check(self, email: str, device_cookie: str | None) -> AccountLimited | None:
        """None when this attempt may go on; else how long to wait."""
        if self._known_device(email, device_cookie):
            return None
        key = _key(email)
        try:
            waits = [
                self.strategy.get_window_stats(item, NAMESPACE, key).reset_time
                for item in self.items
                if not self.strategy.test(item, NAMESPACE, key)
            ]
        except Exception as error:  # the store is down: do not turn that into a sign-in outage
            log.error("sign-in limit store unreachable, not limiting per account: %s", error)
            return None
        if not waits:
            return None
        return AccountLimited(max(1, math.ceil(max(waits) - time.time())))

    def failed(self, email: str) -> None:
        key = _key(email)
        try:
            for item in self.items:
                self.strategy.hit(item, NAMESPACE, key)
        except Exception as error:
            log.error("sign-in limit store unreachable, failure not counted: %s", error)


def _key(email: str) -> str:
    return hashlib.sha256(normalize_email(email).encode()).hexdigest()


def _storage(settings: Settings) -> Storage:
    uri = settings.rate_limit_storage_uri
    if uri.startswith("memory://"):
        return MemoryStorage()
    return RedisStorage(
        uri,
        key_prefix=settings.rate_limit_key_prefix,
        socket_timeout=STORE_TIMEOUT_SECONDS,
        socket_connect_timeout=STORE_TIMEOUT_SECONDS,
    )


def set_device_cookie(response: Response, limiter: AccountSignInLimiter, email: str, secure: bool) -> None:
    """Remember this browser for the account after a successful sign-in (HttpOnly, 90 days)."""
    response.set_cookie(
        DEVICE_COOKIE,
        limiter.device_token(email),
        max_age=DEVICE_COOKIE_DAYS * 24 * 3600,
        path="/",
        secure=secure,
        httponly=True,
        samesite="lax",
    )
