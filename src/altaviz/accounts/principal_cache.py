"""Authenticated principals kept in each worker process, so a hot read needs no database round trip.

Resolving a principal costs a query per request (the key or session joined to its organization, for
role, plan and data version): on the cached fleet read that query was most of the request's cost. A
principal is kept here under a hash of the credential it was resolved from:
- for at most AUTH_CACHE_SECONDS (5 by default), never past the key's or session's expiry;
- dropped in every worker when its organization changes (accounts.changes): a listening connection per
  worker receives PostgreSQL's notifications, sent in the transaction of the change and delivered at
  its commit, so a revoked key, a removed or demoted member, a plan change and every new data version
  (the read cache's key) take effect within milliseconds; the committing process drops its own before
  it answers;
- only while that connection listens: without it (SQLite, or the connection lost, until it is back and
  the cache emptied) nothing is kept and every request is authenticated by the database, as before.
The bound: a change that bypasses the service's code (SQL typed into the database by hand) shows within
AUTH_CACHE_SECONDS. A key thus never carries more than its creator's current membership for longer than
the notification takes, or AUTH_CACHE_SECONDS for such a manual change.
"""

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import Engine

from altaviz.accounts import changes
from altaviz.accounts.principal import Principal

log = logging.getLogger(__name__)
MAX_ENTRIES = 10_000
RECONNECT_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)


@dataclass(slots=True)
class _Entry:
    principal: Principal
    until: float  # monotonic time after which it is resolved again


class PrincipalCache:
    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl_seconds
        self.clock = clock
        self.listening = False  # set by the listener while its connection listens
        self._entries: dict[str, _Entry] = {}
        self._generation = 0  # counts drops: a lookup that began before one must not store its result
        self._lock = threading.Lock()
        changes.on_commit(self.drop)

    @property
    def enabled(self) -> bool:
        return self.listening and self.ttl > 0

    def generation(self) -> int:
        return self._generation

    def get(self, credential: str) -> Principal | None:
        if not self.enabled:
            return None
        entry = self._entries.get(credential)
        if entry is None or entry.until <= self.clock():
            return None
        return entry.principal

    def put(self, credential: str, principal: Principal, generation: int) -> None:
        """Keep `principal`, resolved from the database since `generation()` returned `generation`."""
        if not self.enabled:
            return
        until = self.clock() + self.ttl
        expires = principal.session_expires_at or principal.api_key_expires_at
        if expires is not None:
            until = min(until, self.clock() + (expires - datetime.now(UTC)).total_seconds())
        with self._lock:
            if generation != self._generation:
                return
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[credential] = _Entry(principal, until)

    def touched(self, credential: str, principal: Principal, moment: datetime) -> None:
        """The principal's last use was written: keep that, so it is not written on every request."""
        with self._lock:
            entry = self._entries.get(credential)
            if entry is not None and entry.principal is principal:
                entry.principal = replace(principal, last_activity_at=moment)

    def drop(self, organizations: set[str]) -> None:
        """Forget the principals of these organizations (changes.ALL: every one)."""
        with self._lock:
            self._generation += 1
            if changes.ALL in organizations:
                self._entries.clear()
                return
            ids = {uuid.UUID(o) for o in organizations}
            for credential in [c for c, e in self._entries.items() if e.principal.organization.id in ids]:
                del self._entries[credential]

    def _listening(self, on: bool) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()
            self.listening = on


class ChangeListener:
    """A thread holding one PostgreSQL connection that LISTENs on changes.CHANNEL for `cache`."""

    def __init__(self, engine: Engine, cache: PrincipalCache) -> None:
        self.engine = engine
        self.cache = cache
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start listening (again: an app's lifespan may run more than once, a thread only once)."""
        if self.engine.dialect.name != "postgresql" or self.cache.ttl <= 0:
            return
        self.stop()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(self._stop,), name="altaviz-principal-listener", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                self._listen(stop)
                failures = 0
            except Exception as error:
                self.cache._listening(False)
                wait = RECONNECT_SECONDS[min(failures, len(RECONNECT_SECONDS) - 1)]
                failures += 1
                log.warning(
                    "principal cache off: listening for changes failed (%s); retry in %.0f s", error, wait
                )
                stop.wait(wait)
        self.cache._listening(False)

    def _listen(self, stop: threading.Event) -> None:
        # A connection of its own, outside the pool: reconnecting while the database is unreachable
        # must not take a pool slot from the requests (nor be cut with them).
        args, kwargs = self.engine.dialect.create_connect_args(self.engine.url)
        connection = self.engine.dialect.loaded_dbapi.connect(*args, **{**kwargs, "connect_timeout": 5})
        try:
            connection.autocommit = True
            connection.execute(f"LISTEN {changes.CHANNEL}")
            self.cache._listening(True)
            while not stop.is_set():
                for notification in connection.notifies(timeout=1.0):
                    self.cache.drop({notification.payload})
                if connection.closed or connection.broken:
                    raise ConnectionError("the listening connection closed")
        finally:
            self.cache._listening(False)
            connection.close()
