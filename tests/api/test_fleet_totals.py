"""The fleet answer ranks the fleet once: its totals come with the page (window aggregates) instead of
a second statement. The answer must be byte for byte the one of the two-statement formulation (the
page, then fleet_summary), whatever the plan, the staleness, the sort and the page."""

from datetime import timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.orm import Session

from altaviz.accounts.plans import Plan, plan_for
from altaviz.accounts.scoping import OrgScope
from altaviz.db.base import utcnow
from altaviz.db.session import session_scope
from altaviz.monitoring import service
from altaviz.monitoring.models import CompressorMetadata
from altaviz.monitoring.schemas import FleetPage
from tests.api.world import SeededOrg


def _two_statements(
    session: Session, scope: OrgScope, plan: Plan, sort: str, limit: int, offset: int, now: object
) -> FleetPage:
    """The fleet answer as it was computed before: the page, then the totals on their own."""
    params = service._state_params(scope, plan, now, limit=limit, offset=offset)  # type: ignore[arg-type]
    statement = service._fleet_page(False, False, sort == "health", service._limited(plan))
    rows = session.connection().execute(statement, params).all()
    summary = service.fleet_summary(session, scope, now, plan=plan)  # type: ignore[arg-type]
    return FleetPage.model_validate(
        {
            "summary": summary,
            "items": [service._fleet_row(row) for row in rows],
            "total": summary.compressors,
            "limit": limit,
            "offset": offset,
        }
    )


@pytest.mark.parametrize("tier", ["enterprise", "free"])
def test_fleet_answer_is_the_two_statement_answer(app: FastAPI, org_a: SeededOrg, tier: str) -> None:
    plan = plan_for(tier)
    with session_scope(app.state.engine) as session:  # one compressor archived: out of page and totals
        session.execute(
            update(CompressorMetadata)
            .where(
                CompressorMetadata.organization_id == org_a.id, CompressorMetadata.compressor_id == "COMP-003"
            )
            .values(archived_at=utcnow())
        )
    later = utcnow() + timedelta(days=30)  # every compressor's newest reading is stale by then
    checked = 0
    for now in (utcnow(), later):
        for sort in ("compressor", "health"):
            for limit, offset in ((100, 0), (1, 1), (2, 2), (10, 50)):
                with session_scope(app.state.engine) as session:
                    answer = service.fleet(
                        session, org_a.scope, sort=sort, limit=limit, offset=offset, plan=plan, now=now
                    )
                    before = _two_statements(session, org_a.scope, plan, sort, limit, offset, now)
                assert answer.__pydantic_serializer__.to_json(
                    answer
                ) == before.__pydantic_serializer__.to_json(before)
                checked += 1
                if now is later:  # staleness decided at read time, from the newest reading's time
                    assert (answer.summary.healthy, answer.summary.online) == (0, 0)
                    # the one without alerts: stale, unless the Free plan holds it back (2 covered)
                    assert answer.summary.stale == (0 if tier == "free" else 1)
    assert checked == 16
