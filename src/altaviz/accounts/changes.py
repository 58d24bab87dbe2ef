"""Tell every service process that an organization's principals may have changed (PostgreSQL NOTIFY).

The service keeps authenticated principals for a few seconds (accounts.principal_cache). Whatever
changes what a principal is or sees sends a notification on CHANNEL with the organization's id (ALL
when the organization is not known), in the transaction that makes the change, so it is delivered when
that transaction commits and never when it rolls back:
- `data_version.bump` (the read cache's data version: a pipeline load, an alert action, ...);
- any change made through an ORM session to an API key, a user, a session or an organization: a flushed
  object (revocation, role, membership, plan, status) and an UPDATE or DELETE statement on their tables
  (signing out, signing out everywhere), except the last-use times (`ACTIVITY`), which change nothing a
  principal may do.
After the commit, the committing process drops its own cached principals at once (`on_commit`), before
its answer leaves: a member who revokes a key or is signed out sees it take effect on the next request.
On SQLite nothing is sent: the cache is off there (principal_cache).
"""

import uuid
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from altaviz.accounts.models import ApiKey, Organization, User, UserSession

CHANNEL = "altaviz_organization_changed"
ALL = "*"
# Execution option of a statement that changes no principal (last-use times), or that sends its own
# notification (the data version's bump).
ACTIVITY = {"altaviz_no_principal_change": True}
_TABLES = frozenset(model.__tablename__ for model in (ApiKey, Organization, User, UserSession))
_PENDING = "altaviz_changed_organizations"

# Called with the organization ids (or ALL) a commit of this process changed (weakly held: a cache
# that is gone, e.g. a test's application, is not kept alive by it).
_committed: list[weakref.WeakMethod[Callable[[set[str]], None]]] = []


def on_commit(callback: Callable[[set[str]], None]) -> None:
    """Run the bound method `callback` after each commit of this process that changed principals."""
    _committed[:] = [ref for ref in _committed if ref() is not None]
    _committed.append(weakref.WeakMethod(callback))


def notify(session: Session, organization_id: uuid.UUID | str) -> None:
    """Mark the organization changed in the session's transaction (sent when it commits)."""
    payload = str(organization_id)
    pending: set[str] = session.info.setdefault(_PENDING, set())
    if payload in pending:
        return
    pending.add(payload)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_notify(CHANNEL, payload)), execution_options=ACTIVITY)


def _organization_of(instance: Any) -> str | None:
    if isinstance(instance, Organization):
        return str(instance.id)
    if isinstance(instance, ApiKey | User):
        return str(instance.organization_id)
    if isinstance(instance, UserSession):
        return ALL  # a session knows its user, not its organization: rare enough to drop them all
    return None


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    changed = {_organization_of(instance) for instance in (*session.dirty, *session.deleted)}
    for organization in changed - {None}:
        assert organization is not None
        notify(session, organization)


@event.listens_for(Session, "do_orm_execute")
def _on_statement(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete) or state.execution_options.get("altaviz_no_principal_change"):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in _TABLES:
        notify(state.session, ALL)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    changed: set[str] | None = session.info.pop(_PENDING, None)
    if changed:
        for ref in list(_committed):
            callback = ref()
            if callback is not None:
                callback(changed)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
