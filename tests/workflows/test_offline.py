"""Staleness and a connector's death certificate: an offline compressor is stale at once (one alert,
not a second one three hours later), and its alert stays open until it reports again."""

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from altaviz.alerts.models import STALENESS_CONDITION
from altaviz.monitoring.connectivity import CompressorConnectivity
from altaviz.monitoring.models import CompressorState
from tests.workflows.helpers import T0, Fleet

LAST = T0 + timedelta(minutes=50)  # the newest reading: 12:50
DEATH = T0 + timedelta(minutes=55)  # the edge node's NDEATH: 12:55


def _reported_until_last(fleet: Fleet) -> None:
    for compressor in ("COMP-001", "COMP-002", "COMP-003"):
        fleet.add_readings(compressor, T0 - timedelta(hours=5), T0)
        fleet.add_freshness(compressor, LAST, LAST + timedelta(minutes=5))
        _newest_reading(fleet, compressor, LAST)


def _newest_reading(fleet: Fleet, compressor: str, moment: datetime) -> None:
    """compressor_state.last_reading_at, as the pipeline's load keeps it."""
    with Session(fleet.engine) as session, session.begin():
        session.merge(
            CompressorState(
                organization_id=fleet.organization_id, compressor_id=compressor, last_reading_at=moment
            )
        )


def _report(fleet: Fleet, compressor: str, state: str, moment: datetime) -> None:
    with Session(fleet.engine) as session, session.begin():
        session.merge(
            CompressorConnectivity(
                organization_id=fleet.organization_id,
                compressor_id=compressor,
                state=state,
                changed_at=moment,
                reason="NDEATH of STATION-07" if state == "offline" else "NBIRTH",
                source="api:station connector",
            )
        )


def test_an_offline_compressor_gets_its_staleness_alert_at_once_and_only_one(fleet: Fleet) -> None:
    _reported_until_last(fleet)
    _report(fleet, "COMP-002", "offline", DEATH)
    fleet.clock.set(DEATH + timedelta(minutes=5))  # 15 minutes after the newest reading, not 3 hours
    assert fleet.run("staleness") == {"staleness": 1}
    [alert] = fleet.alerts(condition=STALENESS_CONDITION)
    assert alert.compressor_id == "COMP-002" and alert.is_active and not alert.resolved
    assert alert.alert_timestamp == LAST
    assert alert.message == (
        "Offline: COMP-002 stopped reporting at 2026-03-02 12:55 UTC (NDEATH of STATION-07); "
        "newest reading at 2026-03-02 12:50 UTC"
    )
    # its newest reading is recent, but it is offline: the alert is not resolved as "data returned"
    fleet.clock.advance(minutes=15)
    assert fleet.run("staleness") == {"staleness": 0}
    # three hours on, the others go stale too; COMP-002 keeps its one alert
    fleet.clock.set(LAST + timedelta(hours=3))
    assert fleet.run("staleness") == {"staleness": 2}
    alerts = fleet.alerts(condition=STALENESS_CONDITION, compressor_id="COMP-002")
    assert len(alerts) == 1 and not alerts[0].resolved


def test_back_online_with_a_newer_reading_resolves_it(fleet: Fleet) -> None:
    _reported_until_last(fleet)
    _report(fleet, "COMP-001", "offline", DEATH)
    fleet.clock.set(DEATH + timedelta(minutes=1))
    assert fleet.run("staleness") == {"staleness": 1}
    back = T0 + timedelta(hours=1, minutes=10)
    _report(fleet, "COMP-001", "online", back)  # the rebirth
    fleet.add_readings("COMP-001", T0 + timedelta(hours=1), T0 + timedelta(hours=1))
    fleet.add_freshness("COMP-001", back, back + timedelta(minutes=2))
    _newest_reading(fleet, "COMP-001", back)
    fleet.clock.set(back + timedelta(minutes=5))
    assert fleet.run("staleness") == {"staleness": 1}
    [alert] = fleet.alerts(condition=STALENESS_CONDITION, compressor_id="COMP-001")
    assert alert.resolved and alert.resolution_note is not None and "Data returned" in alert.resolution_note


def test_a_reading_newer_than_the_death_certificate_clears_it_without_a_birth(fleet: Fleet) -> None:
    _reported_until_last(fleet)
    _report(fleet, "COMP-003", "offline", DEATH)
    _newest_reading(fleet, "COMP-003", DEATH + timedelta(minutes=10))  # data came back
    fleet.clock.set(DEATH + timedelta(minutes=15))
    assert fleet.run("staleness") == {"staleness": 0}
