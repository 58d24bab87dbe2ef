"""Last-owner protection under concurrency (PostgreSQL): two owners demoting each other in overlapping
transactions never leave the organization without an owner."""

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from altaviz.accounts import team
from altaviz.accounts.errors import Conflict
from altaviz.accounts.models import Organization, User
from altaviz.accounts.principal import OrganizationInfo, Principal
from altaviz.accounts.roles import Role
from altaviz.accounts.scoping import OrgScope
from altaviz.db.session import create_db_engine, session_scope


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = create_db_engine(pg_url)
    yield engine
    engine.dispose()


def _owner(org: Organization, user: User) -> Principal:
    info = OrganizationInfo(org.id, org.name, org.slug, org.subscription_tier, org.subscription_status)
    return Principal(kind="session", role=Role.OWNER, organization=info, user_id=user.id, email=user.email)


def _waiting_on_a_lock(engine: Engine) -> int:
    with engine.connect() as connection:
        query = text(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return int(connection.execute(query).scalar_one())


def test_the_second_demotion_waits_and_is_refused(pg_engine: Engine) -> None:
    with session_scope(pg_engine) as db:
        org = Organization(name="Lock Gas", slug="lock-gas", subscription_tier="pro")
        db.add(org)
        db.flush()
        first = User(organization_id=org.id, email="a@lock.example", role="owner", is_active=True)
        second = User(organization_id=org.id, email="b@lock.example", role="owner", is_active=True)
        db.add_all([first, second])
        db.flush()
        as_first, as_second, scope = _owner(org, first), _owner(org, second), OrgScope(org.id)

    one = Session(pg_engine)
    team.change_role(one, scope, as_first, second.id, Role.ADMIN)  # decided, not committed yet
    outcome: list[str] = []

    def other_way() -> None:
        with Session(pg_engine) as two:
            try:
                team.change_role(two, scope, as_second, first.id, Role.ADMIN)
                two.commit()
                outcome.append("demoted")
            except Conflict:
                two.rollback()
                outcome.append("refused: last owner")

    thread = threading.Thread(target=other_way)
    thread.start()
    deadline = time.monotonic() + 30
    while thread.is_alive() and _waiting_on_a_lock(pg_engine) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    one.commit()
    one.close()
    thread.join(timeout=30)
    assert outcome == ["refused: last owner"]
    with session_scope(pg_engine) as db:
        roles = sorted(db.scalars(select(User.role).where(User.organization_id == scope.organization_id)))
    assert roles == ["admin", "owner"]
