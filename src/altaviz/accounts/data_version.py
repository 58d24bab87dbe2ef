"""Each organization's data version: a counter that says "what the read API shows may have changed".

Every write that changes what the cached read routes show (the pipeline's database load, alert
actions, workflow runs, retention) calls `bump` in its own transaction, as the last statement before
the commit: readers then see the new data and the new version together, never one without the
other. Last, because the bump holds the organization's row until the commit; taken earlier, it would
hold up the organization's other writers for the whole transaction.

The version is read by the same query that authenticates the caller, so every worker process knows
at once that its cached answers of the organization are old (api.read_cache). A worker that keeps
principals (accounts.principal_cache, PostgreSQL) hears of the bump by the notification `bump` sends
in the same transaction and drops the organization's principals, so its next request reads the
version again. What is not data but changes answers (the plan) is part of the cache key.
"""

import uuid
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from altaviz.accounts import changes
from altaviz.accounts.models import Organization

_ORGANIZATIONS: Any = Organization.__table__
_BUMP = (
    update(_ORGANIZATIONS)
    .where(_ORGANIZATIONS.c.id == bindparam("bumped_organization"))
    # The organization's own settings did not change: keep its updated_at.
    .values(data_version=_ORGANIZATIONS.c.data_version + 1, updated_at=_ORGANIZATIONS.c.updated_at)
)


def bump(session: Session, organization_id: uuid.UUID) -> None:
    """Mark the organization's data changed, in the session's transaction (call it just before commit).

    Every service process hears of it when the transaction commits (accounts.changes): their cached
    principals of the organization, which carry the version, are dropped."""
    session.execute(_BUMP, {"bumped_organization": organization_id}, execution_options=changes.ACTIVITY)
    changes.notify(session, organization_id)
