"""`altaviz pipeline watch`: incremental passes whenever data is waiting, one watcher at a time.

The watcher looks at each organization's landing zone: a landing file is waiting until it is in the
organization's bronze *and* processed by silver (a file of an organization whose last pass failed stays
waiting, so its lag keeps growing). When something waits, or an organization's alarm limits changed
(altaviz.registry), it runs one pipeline run over every organization (run.py: one pass for all that
have new data). A pass starts at most every PIPELINE_WATCH_SECONDS, measured start to start: after a
pass longer than that the next one starts at once if data waits, and while idle the watcher looks at
the landing zone every LOOK_SECONDS (the database, for the lease and alarm limits, once per interval
and before every pass), so data arriving after a quiet spell waits at most LOOK_SECONDS rather than a
whole interval. The worst wait for a file is thus max(interval, pass) (it landed just after a pass
started), and a reading reaches the database within max(interval, pass) + pass.

- One instance at a time: a lease row in the database (job_locks, renewed once per interval and before
  every pass, held for three intervals); with --skip-db the lake's own lock (one run at a time per
  lake) is the only guard.
- A failing organization is logged and counted, and the next tick tries it again; the others flow.
- A database outage (or any error outside the run) is logged and retried with exponential back-off,
  up to BACKOFF_MAX; the watcher never exits on its own.
- Killed at any moment (even SIGKILL mid-pass), it leaves the lake as the last committed pass left it
  (every pass commits with one manifest rename) and the next pass completes the work.

Metrics (prometheus-client's default registry, served on PIPELINE_WATCH_METRICS_PORT at ALTAVIZ_HOST
to the callers the web service's /metrics lets in: METRICS_TOKEN, METRICS_ALLOW, TRUSTED_PROXIES; and
pushed to METRICS_PUSHGATEWAY_URL after each run like `pipeline run`):
  altaviz_pipeline_waiting_seconds{organization}   age of the organization's oldest waiting file (0: none)
  altaviz_pipeline_waiting_files{organization}     landing files waiting
  altaviz_pipeline_organization_failures_total{organization}
  altaviz_pipeline_files_set_aside_total{organization}   landing files moved to quarantine/, unreadable
  altaviz_pipeline_watch_ticks_total{outcome}      idle, ran, partial, failed, standby, busy, error
  altaviz_pipeline_watch_lease_held                1 while this watcher holds the lease
The log says the same per organization at every tick where something waits.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Gauge

from altaviz.config import Settings
from altaviz.pipeline.lake import Lake, LakeError
from altaviz.pipeline.landing import landing_organizations, reading_files, refused_files

if TYPE_CHECKING:
    import uvicorn
    from starlette.applications import Starlette

log = logging.getLogger("altaviz.pipeline.watch")

BACKOFF_MAX = 300.0  # seconds between attempts while the database (or anything outside a run) fails
# How often an idle watcher looks at the landing zones (a directory listing and the lake's manifest;
# the database is asked once per interval). Never more often than the interval itself.
LOOK_SECONDS = 1.0

WAITING_SECONDS = Gauge(
    "altaviz_pipeline_waiting_seconds",
    "Age of the organization's oldest landing file not yet processed (0: nothing waits).",
    ["organization"],
)
WAITING_FILES = Gauge(
    "altaviz_pipeline_waiting_files", "Landing files of the organization not yet processed.", ["organization"]
)
ORGANIZATION_FAILURES = Counter(
    "altaviz_pipeline_organization_failures_total",
    "Runs in which the organization failed (a bad landing file, a failed step or load).",
    ["organization"],
)
FILES_SET_ASIDE = Counter(
    "altaviz_pipeline_files_set_aside_total",
    "Landing files of the organization that could not be ingested, moved to landing/<org>/quarantine/.",
    ["organization"],
)
TICKS = Counter(
    "altaviz_pipeline_watch_ticks_total",
    "Watcher ticks by outcome: idle, ran, partial (some organizations failed), failed, standby (another "
    "watcher holds the lease), busy (another run holds the lake), error (retried with back-off).",
    ["outcome"],
)
LEASE_HELD = Gauge("altaviz_pipeline_watch_lease_held", "1 while this watcher holds the lease.")


@dataclass(frozen=True)
class Waiting:
    files: int
    oldest: float  # epoch seconds (modification time) of the oldest waiting file


def waiting_data(settings: Settings) -> dict[str, Waiting]:
    """Per organization with a landing zone, the landing files not yet processed (none: left out).

    A file is processed when the digest the last run recorded for it (same path, size and time) names
    a bronze file of its organization that the organization's silver has processed.
    """
    lake = Lake(settings.lake_dir)
    try:
        known: dict[str, list[Any]] = json.loads((lake.root / "landing-digests.json").read_text())
    except (OSError, ValueError):
        known = {}
    organizations = lake.read_manifest().organizations
    found: dict[str, Waiting] = {}
    for slug, roots in landing_organizations(settings.landing_dir, settings.default_organization).items():
        state = organizations.get(slug)
        processed = set(state.processed_bronze) if state is not None else set()
        files = 0
        oldest: float | None = None
        for path in reading_files(roots) + refused_files(roots):
            try:
                status = path.stat()
            except OSError:
                continue  # gone since listed
            entry = known.get(str(path))
            if (
                entry is not None
                and entry[:2] == [status.st_size, status.st_mtime_ns]
                and f"{entry[2]}.parquet" in processed
            ):
                continue
            files += 1
            oldest = status.st_mtime if oldest is None else min(oldest, status.st_mtime)
        if oldest is not None:
            found[slug] = Waiting(files, oldest)
    return found


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Watcher:
    def __init__(
        self,
        settings: Settings,
        skip_db: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.skip_db = skip_db
        self.sleep = sleep
        self.clock = clock
        self.holder = instance_name()
        self.interval = float(settings.pipeline_watch_seconds)
        self.ttl = timedelta(seconds=max(3 * self.interval, 60.0))
        self.stopping = threading.Event()
        self.engine: Any = None
        self.versions: dict[str, int] | None = None
        self.reported: set[str] = set()
        self.look = min(LOOK_SECONDS, self.interval)
        self.asked_database: float | None = None  # when the lease was last renewed and limits read

    def run(self, ticks: int | None = None) -> None:
        """Look until stopped (or `ticks` looks): a pass starts at most every interval (start to start),
        an idle look is followed by another after LOOK_SECONDS; errors back off, never end the loop."""
        backoff = self.interval
        done = 0
        try:
            while not self.stopping.is_set() and (ticks is None or done < ticks):
                started = self.clock()
                done += 1
                try:
                    outcome = self.tick()
                    backoff = self.interval
                except Exception as exc:  # the database is down, the disk is full...: wait and retry
                    TICKS.labels("error").inc()
                    log.error("watch: %s; retrying in %.0f s", _first_line(exc), backoff)
                    self._wait(backoff)
                    backoff = min(backoff * 2, BACKOFF_MAX)
                    continue
                if ticks is None or done < ticks:
                    self._wait(self.next_look(outcome, started) - self.clock())
        finally:
            self.close()

    def next_look(self, outcome: str, started: float) -> float:
        """When to look again after a look that began at `started` and ended with `outcome`.

        After a pass (or an attempt: busy, failed), a whole interval from its start, so passes start at
        most every interval and back to back only when one lasts longer; on standby, an interval; idle,
        LOOK_SECONDS: data landing now is taken as soon as the interval since the last pass allows."""
        if outcome == "idle":
            return started + self.look
        return started + self.interval

    def stop(self) -> None:
        self.stopping.set()

    def _wait(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self.sleep is time.sleep:
            self.stopping.wait(seconds)  # a stop (SIGTERM) ends the wait at once
        else:
            self.sleep(seconds)

    def close(self) -> None:
        if self.engine is not None:
            from altaviz.pipeline import database

            try:
                database.release_lease(self.engine, self.holder)
            except Exception as exc:  # the database is gone: the lease runs out by itself
                log.warning("watch: could not release the lease: %s", _first_line(exc))
            self.engine.dispose()
            self.engine = None
        self.asked_database = None
        LEASE_HELD.set(0)

    def tick(self) -> str:
        """One look: run the pipeline when data waits or alarm limits changed. Returns the outcome."""
        changed_limits = False
        waiting = self._measure()
        # The database (the lease, the alarm limits) once per interval, and before every pass: a pass
        # starts with the lease renewed for its whole time-to-live.
        if not self.skip_db and (
            waiting or self.asked_database is None or self.clock() - self.asked_database >= self.interval
        ):
            from altaviz.pipeline import database

            if self.engine is None:
                self.engine = database.open_database(self.settings)
            if not database.acquire_lease(self.engine, self.holder, self.ttl):
                LEASE_HELD.set(0)
                self.asked_database = None
                TICKS.labels("standby").inc()
                log.info("watch: another watcher holds the lease; standing by")
                return "standby"
            LEASE_HELD.set(1)
            self.asked_database = self.clock()
            versions = database.threshold_versions(self.engine)
            changed_limits = self.versions is not None and versions != self.versions
            self.versions = versions
        if not waiting and not changed_limits:
            TICKS.labels("idle").inc()
            return "idle"
        outcome = self._run()
        self._measure()
        TICKS.labels(outcome).inc()
        return outcome

    def _measure(self) -> dict[str, Waiting]:
        waiting = waiting_data(self.settings)
        now = self.clock()
        for slug in self.reported - set(waiting):
            WAITING_SECONDS.labels(slug).set(0)
            WAITING_FILES.labels(slug).set(0)
        for slug, w in sorted(waiting.items()):
            lag = max(0.0, now - w.oldest)
            WAITING_SECONDS.labels(slug).set(lag)
            WAITING_FILES.labels(slug).set(w.files)
            log.info("watch: %s has %d landing files waiting, the oldest for %.0f s", slug, w.files, lag)
        self.reported = set(waiting) | self.reported
        return waiting

    def _run(self) -> str:
        from altaviz.pipeline.run import PipelineError, PipelineOptions, run_pipeline

        started = self.clock()
        try:
            result = run_pipeline(self.settings, PipelineOptions(skip_db=self.skip_db))
        except LakeError as exc:
            if "another pipeline run" in str(exc):
                log.info("watch: %s; next tick", exc)
                return "busy"
            raise
        except PipelineError as exc:
            if exc.result is None:
                raise
            result = exc.result
        seconds = self.clock() - started
        for slug, outcome in sorted(result.organizations.items()):
            for aside in outcome.set_aside:
                FILES_SET_ASIDE.labels(slug).inc()
                log.warning("watch: %s: %s", slug, aside)
            if outcome.error is not None:
                ORGANIZATION_FAILURES.labels(slug).inc()
                log.error("watch: %s failed: %s", slug, outcome.error)
            elif not outcome.nothing_new:
                log.info("watch: %s: %s", slug, ", ".join(outcome.work))
        failed = len(result.failed)
        stages = ", ".join(f"{name} {spent:.1f} s" for name, spent in result.stage_seconds.items())
        log.info(
            "watch: run of %d organizations in %.1f s, %d failed (%s)",
            len(result.organizations),
            seconds,
            failed,
            stages or "no stage ran",
        )
        if not failed:
            return "ran"
        return "failed" if failed == len(result.organizations) else "partial"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def metrics_app(settings: Settings) -> Starlette:
    """The watcher's /metrics, guarded exactly as the web service's (observability.metrics): open to
    `Authorization: Bearer <METRICS_TOKEN>` from anywhere, else only to addresses in METRICS_ALLOW
    (default loopback); a request carrying a proxy's client-address header (X-Forwarded-For,
    X-Real-IP, Forwarded, ...) needs the token unless TRUSTED_PROXIES is set, and X-Forwarded-For is
    believed only from TRUSTED_PROXIES (the service's ProxyHeadersMiddleware)."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.routing import Route
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    from altaviz.observability.metrics import METRICS_PATH, metrics_endpoint

    app = Starlette(
        routes=[Route(METRICS_PATH, metrics_endpoint, methods=["GET"])],
        middleware=[Middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))],
    )
    app.state.settings = settings
    return app


STARTUP_SECONDS = 10.0


def serve_metrics(settings: Settings) -> uvicorn.Server | None:
    """Serve the watcher's /metrics on PIPELINE_WATCH_METRICS_PORT (0: none) at ALTAVIZ_HOST, in a
    background thread, guarded as the web service's (metrics_app). Returns the Uvicorn server (its
    `should_exit` stops it), or None; raises PortUnavailable when the port cannot be listened on."""
    port = settings.pipeline_watch_metrics_port
    if not port:
        return None
    import uvicorn

    from altaviz.ops.ports import PortUnavailable, check_port

    try:
        check_port(settings.server_host, port)
    except PortUnavailable as exc:  # worded for `altaviz serve`: name the watcher's setting instead
        reason = str(exc).replace("--port N or ALTAVIZ_PORT", "PIPELINE_WATCH_METRICS_PORT (0: none)")
        raise PortUnavailable(f"the watcher's metrics: {reason.replace('--host or ', '')}") from None
    server = uvicorn.Server(
        uvicorn.Config(
            metrics_app(settings),
            host=settings.server_host,
            port=port,
            # metrics_app applies TRUSTED_PROXIES itself; Uvicorn's own default would trust 127.0.0.1.
            proxy_headers=False,
            server_header=False,
            lifespan="off",
            access_log=False,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, name="watch-metrics", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise PortUnavailable(
                f"the watcher's metrics could not be served on {settings.server_host}:{port}"
            )
        time.sleep(0.02)
    log.info("watch: metrics at http://%s:%d/metrics", settings.server_host, port)
    return server
