"""Answers of the hot read routes (fleet, alert list), kept per organization and data version.

A cached answer is the JSON body a route computed, kept under (organization, its data version, its
plan, route, parameters). The caller is always authenticated first, by the query that also reads the
organization's data version (or from the worker's principal cache, which drops the organization's
principals when its data version changes: accounts.principal_cache); every write that changes what
these routes show bumps that version in its own transaction (accounts.data_version). So an answer
computed before a write is never served after it, in any worker process. Time alone changes some
answers too (a shelf running out, the fleet's online window, the plan's history window): an answer
is served for at most READ_CACHE_MAX_AGE seconds after it was computed (one in steady demand is
computed again before).

Each worker process keeps its own cache, bounded by READ_CACHE_MAX_BYTES of answers (the least
recently used go first). Concurrent requests for an answer not in the cache compute it once: the
others wait for that answer without holding a database connection, for at most DB_POOL_TIMEOUT, and
compute their own if it does not come (a failed computation, or a database in trouble).
"""

import math
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from altaviz.accounts.dependencies import Caller, release
from altaviz.accounts.principal import Principal
from altaviz.config import Settings

Key = tuple[uuid.UUID, int, str, str, tuple[Hashable, ...]]
# Bytes charged for an answer besides its body (its key and bookkeeping), so that many small answers
# stay within READ_CACHE_MAX_BYTES too.
ENTRY_OVERHEAD = 512


@dataclass(slots=True)
class _Entry:
    body: bytes
    computed_at: float


@dataclass(slots=True)
class _Flight:
    """One computation of a missing answer, which concurrent requests for it wait on."""

    done: threading.Event = field(default_factory=threading.Event)
    body: bytes | None = None


class ReadCache:
    def __init__(
        self,
        max_bytes: int,
        max_age_seconds: float,
        wait_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_bytes = max_bytes
        self.max_age = max_age_seconds
        self.wait = wait_seconds
        self.enabled = max_bytes > 0 and max_age_seconds > 0
        self.clock = clock
        self.size = 0  # bytes charged for the answers kept (see ENTRY_OVERHEAD)
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()
        self._flights: dict[Key, _Flight] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> "ReadCache":
        # Waiting for another request's computation is bounded like waiting for a connection.
        return cls(
            settings.read_cache_max_bytes,
            settings.read_cache_max_age_seconds,
            settings.db_pool_timeout_seconds,
        )

    def answer(self, db: Session, key: Key, compute: Callable[[], BaseModel]) -> Response:
        """The JSON answer for `key`: kept, or computed by `compute` (with `db`, then released)."""
        if not self.enabled:
            return _json(_computed(db, compute))
        with self._lock:
            body, flight, leader = self._lookup(key)
        if leader:
            assert flight is not None
            return _json(self._compute(db, key, flight, compute))
        if body is not None:
            release(db)
            return _json(body)
        assert flight is not None
        release(db)  # wait without a connection; computing again takes one from the pool
        if flight.done.wait(self.wait) and flight.body is not None:
            return _json(flight.body)
        # That computation failed or is taking long (the database may be in trouble): compute this
        # request's own answer, as if there were no cache, rather than queue behind another.
        started = self.clock()
        body = _computed(db, compute)
        self._store(key, body, started)
        return _json(body)

    def _lookup(self, key: Key) -> tuple[bytes | None, _Flight | None, bool]:
        """(kept answer, computation to wait for or to run, whether this request runs it).

        A kept answer past half its max age is computed again by the one request that sees it
        first, while the others are still served the kept one: under steady load a hot answer is
        replaced before it expires, instead of every request waiting for it once per max age.
        """
        entry = self._entries.get(key)
        age = self.clock() - entry.computed_at if entry is not None else math.inf
        flight = self._flights.get(key)
        if age <= self.max_age:
            assert entry is not None
            self._entries.move_to_end(key)
            if flight is not None or age <= self.max_age / 2:
                return entry.body, None, False
        elif flight is not None:
            return None, flight, False
        flight = self._flights[key] = _Flight()
        return None, flight, True

    def _compute(self, db: Session, key: Key, flight: _Flight, compute: Callable[[], BaseModel]) -> bytes:
        started = self.clock()
        try:
            flight.body = _computed(db, compute)
            self._store(key, flight.body, started)
            return flight.body
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()

    def _store(self, key: Key, body: bytes, computed_at: float) -> None:
        if _charge(body) > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.size -= _charge(old.body)
            self._entries[key] = _Entry(body, computed_at)
            self.size += _charge(body)
            while self.size > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self.size -= _charge(evicted.body)

    def __len__(self) -> int:
        return len(self._entries)


def cache_key(principal: Principal, route: str, *params: Hashable) -> Key:
    """Everything an answer depends on besides the time: whose data, which version of it, the plan
    (it gates what is shown), the route and its parameters (as validated)."""
    organization = principal.organization
    return (organization.id, organization.data_version, organization.tier, route, params)


def cached_answer(who: Caller, db: Session, key: Key, compute: Callable[[], BaseModel]) -> Response:
    """For a read route: the answer from the service's read cache (computed when missing)."""
    cache: ReadCache = who.request.app.state.read_cache
    return cache.answer(db, key, compute)


def _charge(body: bytes) -> int:
    return len(body) + ENTRY_OVERHEAD


def _computed(db: Session, compute: Callable[[], BaseModel]) -> bytes:
    model = compute()
    release(db)  # the connection goes back to the pool before the answer is serialised
    return model.__pydantic_serializer__.to_json(model)


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")
