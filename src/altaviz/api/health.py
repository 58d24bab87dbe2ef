"""GET /api/health: is the service able to serve? Answers within a second whatever the database does.

The database probe (SELECT 1 through the service's pool) runs in a small thread pool of its own, so
hung requests cannot starve it, and it is single-flight: while one probe is running, other health
calls wait on the same one instead of piling up threads against a hung database. A probe that has
been running longer than STALE_PROBE_SECONDS is abandoned, so health recovers once the database
does, even if a connection attempt is still stuck.

A database that answers a connection with an error of its own (every connection slot taken, starting
up or shutting down, a rejected login) is `refused`, not hung: it answers. The health answer reports it
as degraded; the hang check (`DatabaseHangMiddleware`) leaves waiting requests alone then, since
cutting connections that work would not help a database short of them.
"""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import Engine, text

router = APIRouter(tags=["health"])

STALE_PROBE_SECONDS = 5.0
PROBE_THREADS = 4

Verdict = Literal["ok", "refused", "error", "timeout"]


class Health(BaseModel):
    status: Literal["healthy", "degraded"]
    checks: dict[str, Verdict] = Field(
        description="One entry per dependency: database (`refused`: the server answered the connection "
        "with an error, e.g. every connection slot taken; `error`: no server answered; `timeout`: no "
        "answer in time)."
    )
    timestamp: datetime


class HealthProbe:
    def __init__(self, engine: Engine, timeout_seconds: float) -> None:
        self.engine = engine
        self.timeout = timeout_seconds
        self.executor: ThreadPoolExecutor | None = None
        self._inflight: asyncio.Future[None] | None = None
        self._started = 0.0

    def _probe(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    async def database(self) -> Verdict:
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        if self._inflight is None or self._inflight.done() or now - self._started > STALE_PROBE_SECONDS:
            if self.executor is None:
                self.executor = ThreadPoolExecutor(PROBE_THREADS, thread_name_prefix="health-probe")
            self._inflight = loop.run_in_executor(self.executor, self._probe)
            self._started = now
        try:
            await asyncio.wait_for(asyncio.shield(self._inflight), self.timeout)
        except TimeoutError:
            return "timeout"
        except Exception as error:
            return "refused" if _server_answered(error) else "error"
        return "ok"

    def close(self) -> None:
        executor, self.executor, self._inflight = self.executor, None, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


def _server_answered(error: BaseException) -> bool:
    """Whether the database server itself sent this error, as against no server answering (a closed
    port, a reset, an unreachable host). A query's error carries its SQLSTATE; a refused connection
    start does not (libpq keeps only the text), so it is told by the server's severity in the message,
    `FATAL:`, which libpq's own connection errors never carry (with a server whose `lc_messages` is not
    English the word may differ, and such a refusal counts as no answer, as before)."""
    original = getattr(error, "orig", error)  # SQLAlchemy wraps the driver's error
    return bool(getattr(original, "sqlstate", None)) or "FATAL:" in str(original)


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "A check failed: the service is degraded."}},
    summary="Service health (no authentication; counts toward the rate limit)",
)
async def health(request: Request) -> JSONResponse:
    probe: HealthProbe = request.app.state.health
    checks = {"database": await probe.database()}
    healthy = all(value == "ok" for value in checks.values())
    body = Health(
        status="healthy" if healthy else "degraded", checks=checks, timestamp=datetime.now(UTC)
    ).model_dump(mode="json")
    return JSONResponse(body, status_code=200 if healthy else 503)
