"""The read cache of the fleet and the alert list (api.read_cache).

A repeated read costs the caller's authentication only; every writer of what these routes show bumps
the organization's data version, so the next read after any write is computed afresh (each writer has
a test here that fails if it forgets); answers never cross organizations; the plan and the caller's
credentials are judged on every request; the cache stays within its memory bound.
"""

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import Engine, event, select, update
from sqlalchemy.orm import Session

from altaviz.accounts import service as accounts
from altaviz.accounts.models import Organization
from altaviz.accounts.roles import Role
from altaviz.accounts.scoping import OrgScope
from altaviz.alerts.models import AlertHistory
from altaviz.api.read_cache import ENTRY_OVERHEAD, ReadCache
from altaviz.billing.limits import apply_retention, apply_retention_everywhere
from altaviz.config import Settings
from altaviz.db.session import session_scope
from altaviz.pipeline.run import PipelineOptions, run_pipeline
from altaviz.server import create_app
from altaviz.simulator import SimulationConfig, simulate
from tests.api.world import SeededOrg, close_clients, key_client, member_client

# The longest max age allowed: long enough that only a new data version, never age, refreshes an answer.
LONG = 60.0
WAIT = 5.0  # DB_POOL_TIMEOUT's default


@pytest.fixture
def app(settings_factory: Callable[..., Settings]) -> Iterator[FastAPI]:
    application = create_app(settings_factory(read_cache_max_age_seconds=LONG))
    yield application
    close_clients()
    application.state.engine.dispose()


def data_version(app: FastAPI, organization_id: uuid.UUID) -> int:
    with session_scope(app.state.engine) as session:
        version = session.scalar(select(Organization.data_version).where(Organization.id == organization_id))
    assert version is not None
    return version


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements `engine` runs inside the block."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def out_of_band(app: FastAPI, alert_id: int, **values: Any) -> None:
    """Change an alert behind the service's back (no writer, so no new data version)."""
    with session_scope(app.state.engine) as session:
        session.execute(update(AlertHistory).where(AlertHistory.id == alert_id).values(**values))


def set_tier(app: FastAPI, org: SeededOrg, tier: str) -> None:
    with session_scope(app.state.engine) as session:
        session.execute(update(Organization).where(Organization.id == org.id).values(subscription_tier=tier))


def alert(client: TestClient, alert_id: int) -> dict[str, Any]:
    items = client.get("/api/alerts", params={"limit": 200}).json()["items"]
    return next(item for item in items if item["id"] == alert_id)


def health(client: TestClient, compressor: str) -> str:
    rows = client.get("/api/fleet").json()["items"]
    return str(next(row["health_status"] for row in rows if row["compressor_id"] == compressor))


# --- hits ---------------------------------------------------------------------------------------------


def test_a_repeated_read_costs_only_the_authentication(app: FastAPI, org_a: SeededOrg) -> None:
    viewer = key_client(app, org_a.api_keys[Role.VIEWER])
    listening = app.state.engine.dialect.name == "postgresql"  # accounts.principal_cache
    deadline = time.monotonic() + 20
    while listening and not app.state.principal_cache.enabled:
        assert time.monotonic() < deadline, "the principal cache's listener did not start"
        time.sleep(0.05)
    for path in ("/api/fleet", "/api/alerts"):
        first = viewer.get(path, params={"limit": 3})
        with statements(app.state.engine) as seen:
            again = viewer.get(path, params={"limit": 3})
        assert again.status_code == 200 and again.content == first.content
        if listening:  # the worker knows the caller already: no authentication query either
            assert seen == [], seen
        else:
            assert len(seen) == 1 and "api_keys" in seen[0], seen  # who is asking, and the data version
        other = viewer.get(path, params={"limit": 2})  # other parameters: another answer
        assert len(other.json()["items"]) == 2


def test_answers_stay_in_their_organization(app: FastAPI, org_a: SeededOrg, org_b: SeededOrg) -> None:
    # Same plan, same data version, same parameters: only the organization tells the answers apart.
    assert data_version(app, org_a.id) == data_version(app, org_b.id)
    alpha = key_client(app, org_a.api_keys[Role.VIEWER])
    bravo = key_client(app, org_b.api_keys[Role.VIEWER])
    for path in ("/api/fleet", "/api/alerts"):
        for _ in range(2):  # computed, then from the cache
            mine, theirs = alpha.get(path).text, bravo.get(path).text
            assert "Alpha" in mine and "Bravo" not in mine
            assert "Bravo" in theirs and "Alpha" not in theirs


# --- every writer bumps the data version --------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "body", "shows"),
    [
        ("acknowledge", None, {"acknowledged": True, "state": "active_acknowledged"}),
        ("shelve", {"minutes": 30, "reason": "valve swap"}, {"shelved": True, "state": "shelved"}),
        ("resolve", {"note": "bearing replaced"}, {"resolved": True, "state": "resolved"}),
    ],
)
def test_alert_actions_show_at_once(
    app: FastAPI, org_a: SeededOrg, action: str, body: dict[str, Any] | None, shows: dict[str, Any]
) -> None:
    operator = member_client(app, org_a.users[Role.OPERATOR])
    viewer = key_client(app, org_a.api_keys[Role.VIEWER])  # another caller, the same cached answers
    alert_id = org_a.alert_ids["critical"]
    assert alert(viewer, alert_id)["state"] == "active_unacknowledged"
    assert health(viewer, "COMP-001") == "critical"
    before = data_version(app, org_a.id)
    assert operator.post(f"/api/alerts/{alert_id}/{action}", json=body).status_code == 200
    assert data_version(app, org_a.id) == before + 1
    assert shows.items() <= alert(viewer, alert_id).items()
    if action == "resolve":  # its compressor's worst alert in alarm is now the warning
        assert health(viewer, "COMP-001") == "warning"


def test_unshelving_shows_at_once(app: FastAPI, org_a: SeededOrg) -> None:
    operator = member_client(app, org_a.users[Role.OPERATOR])
    alert_id = org_a.alert_ids["critical"]
    operator.post(f"/api/alerts/{alert_id}/shelve", json={"minutes": 30, "reason": "valve swap"})
    assert alert(operator, alert_id)["shelved"] is True
    before = data_version(app, org_a.id)
    assert operator.post(f"/api/alerts/{alert_id}/unshelve").status_code == 200
    assert data_version(app, org_a.id) == before + 1
    assert alert(operator, alert_id)["shelved"] is False


def test_a_workflow_run_shows_at_once(app: FastAPI, org_a: SeededOrg) -> None:
    admin = member_client(app, org_a.users[Role.ADMIN])
    warning = org_a.alert_ids["warning2"]  # active, unacknowledged for hours: due for escalation
    assert alert(admin, warning)["severity"] == "warning" and health(admin, "COMP-002") == "warning"
    before = data_version(app, org_a.id)
    response = admin.post("/api/workflows/run", params={"workflow": "escalation"})
    assert response.status_code == 200 and response.json()["results"][0]["resultCount"] >= 1, response.text
    assert data_version(app, org_a.id) == before + 1
    assert alert(admin, warning)["severity"] == "critical" and health(admin, "COMP-002") == "critical"


def test_a_workflow_run_that_changes_nothing_still_bumps(app: FastAPI, org_a: SeededOrg) -> None:
    admin = member_client(app, org_a.users[Role.ADMIN])
    before = data_version(app, org_a.id)
    response = admin.post("/api/workflows/run", params={"workflow": "staleness"})  # all data is fresh
    assert response.status_code == 200 and response.json()["results"][0]["resultCount"] == 0
    assert data_version(app, org_a.id) == before + 1


@pytest.mark.parametrize("everywhere", [False, True], ids=["one", "everywhere"])
def test_retention_shows_at_once(app: FastAPI, org_a: SeededOrg, org_b: SeededOrg, everywhere: bool) -> None:
    viewer = key_client(app, org_a.api_keys[Role.VIEWER])
    resolved = org_a.alert_ids["resolved"]
    assert alert(viewer, resolved)["resolved"] is True
    assert viewer.get("/api/fleet").json()["summary"]["last_reading_at"] is not None
    later = datetime.now(UTC) + timedelta(days=400)  # past the Enterprise plan's 365 days
    versions = {org.id: data_version(app, org.id) for org in (org_a, org_b)}
    with session_scope(app.state.engine) as session:
        apply_retention(session, org_a.id, later, dry_run=True)  # deletes nothing, bumps nothing
        apply_retention_everywhere(session, later, dry_run=True)
    assert {org.id: data_version(app, org.id) for org in (org_a, org_b)} == versions
    with session_scope(app.state.engine) as session:
        if everywhere:
            apply_retention_everywhere(session, later)
        else:
            apply_retention(session, org_a.id, later)
    assert data_version(app, org_a.id) == versions[org_a.id] + 1
    assert data_version(app, org_b.id) == versions[org_b.id] + everywhere
    listed = {item["id"] for item in viewer.get("/api/alerts", params={"limit": 200}).json()["items"]}
    assert resolved not in listed and org_a.alert_ids["critical"] in listed  # open alerts are kept
    assert viewer.get("/api/fleet").json()["summary"]["last_reading_at"] is None


def test_a_pipeline_load_shows_at_once(app: FastAPI, db_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=db_url, pipeline_threads=2)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    simulate(SimulationConfig(start=start), settings.landing_dir)  # the demo fleet: it has alerts
    run_pipeline(settings, PipelineOptions())
    with session_scope(app.state.engine) as session:
        organization = accounts.get_organization_by_slug(session, settings.default_organization)
        _, key = accounts.create_api_key(
            session, OrgScope(organization.id), name="t", role=Role.VIEWER, created_by=None, expires_at=None
        )
        organization_id = organization.id
        alert_id = session.scalars(select(AlertHistory.id).order_by(AlertHistory.id)).first()
    assert alert_id is not None
    viewer = key_client(app, key)
    assert alert(viewer, alert_id)["resolved"] is False
    out_of_band(app, alert_id, resolved=True, resolved_by="lead@example.com", resolved_at=start)
    assert alert(viewer, alert_id)["resolved"] is False  # the cached answer: nothing bumped the version
    before = data_version(app, organization_id)
    # A run with nothing new loads nothing; a full recomputation loads again (people's resolutions
    # survive a load) and bumps the version.
    run_pipeline(settings, PipelineOptions(full=True))
    assert data_version(app, organization_id) == before + 1
    assert alert(viewer, alert_id)["resolved"] is True


# --- what is judged on every request --------------------------------------------------------------------


def test_a_plan_change_shows_at_once(app: FastAPI, org_a: SeededOrg) -> None:
    old = datetime.now(UTC) - timedelta(days=30)
    alert_id = org_a.alert_ids["resolved"]
    out_of_band(app, alert_id, alert_timestamp=old, raised_at=old, last_violation_at=old)
    viewer = member_client(app, org_a.users[Role.VIEWER])

    def listed() -> set[int]:
        return {item["id"] for item in viewer.get("/api/alerts").json()["items"]}

    assert alert_id in listed()  # Enterprise: 365 days of history
    with session_scope(app.state.engine) as session:  # as the billing webhook does; no data changed
        session.execute(
            update(Organization).where(Organization.id == org_a.id).values(subscription_tier="pro")
        )
    assert alert_id in listed()  # Pro: 90 days
    with session_scope(app.state.engine) as session:
        session.execute(
            update(Organization).where(Organization.id == org_a.id).values(subscription_tier="free")
        )
    assert alert_id not in listed()  # Free: 7 days, the very next request


def test_credentials_are_judged_on_every_request(app: FastAPI, org_a: SeededOrg) -> None:
    key = key_client(app, org_a.api_keys[Role.VIEWER])
    member = member_client(app, org_a.users[Role.VIEWER])
    for client in (key, member):
        assert client.get("/api/fleet").status_code == 200 and client.get("/api/alerts").status_code == 200
    admin = member_client(app, org_a.users[Role.ADMIN])
    assert admin.delete(f"/api/api-keys/{org_a.api_key_ids[Role.VIEWER]}").is_success
    assert admin.delete(f"/api/team/members/{org_a.users[Role.VIEWER]}").is_success
    for client in (key, member):
        assert client.get("/api/fleet").status_code == 401 and client.get("/api/alerts").status_code == 401


# --- the cache itself -----------------------------------------------------------------------------------


class Body(BaseModel):
    text: str


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def key(name: str) -> Any:
    return (uuid.UUID(int=0), 0, "pro", "test", (name,))


def test_answers_are_kept_for_the_max_age_and_computed_again_from_half_of_it() -> None:
    clock = Clock()
    cache = ReadCache(1_000, 2.0, WAIT, clock)
    computed: list[int] = []

    def compute() -> Body:
        computed.append(1)
        return Body(text=f"answer {len(computed)}")

    with Session() as db:
        for now, expected in ((0.0, 1), (1.0, 1), (1.5, 2), (2.5, 2), (4.6, 3)):
            clock.now = now  # 1.5: past half its age, computed again; 4.6: expired
            assert cache.answer(db, key("a"), compute).body == f'{{"text":"answer {expected}"}}'.encode()


def test_while_an_answer_is_computed_again_the_kept_one_is_served() -> None:
    clock = Clock()
    cache = ReadCache(1_000, 2.0, WAIT, clock)
    proceed, computing = threading.Event(), threading.Event()

    def slow() -> Body:
        computing.set()
        assert proceed.wait(10)
        return Body(text="new")

    with Session() as db:
        cache.answer(db, key("a"), lambda: Body(text="old"))
        clock.now = 1.5
        refresher = threading.Thread(target=lambda: cache.answer(Session(), key("a"), slow))
        refresher.start()
        assert computing.wait(10)
        assert cache.answer(db, key("a"), lambda: pytest.fail("computed twice")).body == b'{"text":"old"}'
        proceed.set()
        refresher.join(10)
        assert cache.answer(db, key("a"), lambda: pytest.fail("kept")).body == b'{"text":"new"}'


def test_the_least_recently_used_answers_go_first_beyond_the_memory_bound() -> None:
    answer = Body(text="x" * 20)  # 31 bytes of JSON, charged 31 + ENTRY_OVERHEAD
    charge = 31 + ENTRY_OVERHEAD
    cache = ReadCache(3 * charge + 10, LONG, WAIT)
    with Session() as db:
        for name in ("a", "b", "c"):
            cache.answer(db, key(name), lambda: answer)
        assert (len(cache), cache.size) == (3, 3 * charge)
        cache.answer(db, key("a"), lambda: pytest.fail("a is kept"))  # a is now the most recent
        cache.answer(db, key("d"), lambda: answer)  # over the bound: b goes
        assert (len(cache), cache.size) == (3, 3 * charge)
        cache.answer(db, key("a"), lambda: pytest.fail("a is kept"))
        cache.answer(db, key("b"), lambda: answer)  # computed again
        big = Body(text="y" * 4 * charge)
        assert cache.answer(db, key("big"), lambda: big).body == big.model_dump_json().encode()
        assert cache.size <= 3 * charge + 10  # an answer larger than the bound is served, not kept


@pytest.mark.parametrize(("max_bytes", "max_age"), [(0, LONG), (1_000, 0)])
def test_off_when_either_bound_is_zero(max_bytes: int, max_age: float) -> None:
    cache = ReadCache(max_bytes, max_age, WAIT)
    computed: list[int] = []

    def compute() -> Body:
        computed.append(1)
        return Body(text="a")

    with Session() as db:
        for _ in range(2):
            cache.answer(db, key("a"), compute)
    assert len(computed) == 2 and len(cache) == 0


# The first request's computation signals `computing`, then waits for `proceed`.
computing, proceed = threading.Event(), threading.Event()


@pytest.fixture(autouse=True)
def _fresh_events() -> None:
    computing.clear()
    proceed.clear()


def _concurrently(cache: ReadCache, leader: Callable[[], Body], follower: Callable[[], Body]) -> list[bytes]:
    """Five requests for one missing answer: the first computes it with `leader`, the other four
    arrive while it does (and compute with `follower` if they must)."""
    answers: list[bytes] = []

    def request(compute: Callable[[], Body]) -> None:
        with Session() as db:
            try:
                answers.append(bytes(cache.answer(db, key("a"), compute).body))
            except LookupError as error:
                answers.append(str(error).encode())

    threads = [threading.Thread(target=request, args=(leader,))]
    threads[0].start()
    assert computing.wait(10)
    threads += [threading.Thread(target=request, args=(follower,)) for _ in range(4)]
    for thread in threads[1:]:
        thread.start()
    time.sleep(0.2)  # let the four reach the cache
    proceed.set()
    for thread in threads:
        thread.join(10)
    return answers


def _leading(answer: Body | None) -> Callable[[], Body]:
    def compute() -> Body:
        computing.set()
        assert proceed.wait(10)
        if answer is None:
            raise LookupError("the database is in trouble")
        return answer

    return compute


def test_concurrent_requests_for_a_missing_answer_compute_it_once() -> None:
    cache = ReadCache(10_000, LONG, WAIT)
    answers = _concurrently(cache, _leading(Body(text="once")), lambda: pytest.fail("computed twice"))
    assert answers == [b'{"text":"once"}'] * 5


def test_when_the_computation_fails_the_waiting_requests_compute_their_own() -> None:
    cache = ReadCache(10_000, LONG, WAIT)
    answers = _concurrently(cache, _leading(None), lambda: Body(text="own"))
    assert sorted(answers) == [b"the database is in trouble"] + [b'{"text":"own"}'] * 4


def test_requests_wait_for_another_computation_no_longer_than_the_pool_timeout() -> None:
    cache = ReadCache(10_000, LONG, 0.01)
    answers = _concurrently(cache, _leading(Body(text="slow")), lambda: Body(text="own"))
    assert sorted(answers) == [b'{"text":"own"}'] * 4 + [b'{"text":"slow"}']


def test_a_failed_computation_is_not_kept() -> None:
    cache = ReadCache(10_000, LONG, WAIT)

    def fail() -> Body:
        raise LookupError("no such thing")

    with Session() as db:
        with pytest.raises(LookupError):
            cache.answer(db, key("a"), fail)
        assert cache.answer(db, key("a"), lambda: Body(text="then")).body == b'{"text":"then"}'
