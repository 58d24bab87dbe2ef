"""Organizations with a small fleet, members of every role and API keys, written straight to the
database (fast, deterministic) for the API tests.

Each organization's own rows carry its `marker` in names and texts, so a response that leaks another
organization's data is caught by searching the JSON for the other marker.
"""

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from altaviz.accounts import service
from altaviz.accounts.models import Invitation, Organization, User
from altaviz.accounts.passwords import hash_password
from altaviz.accounts.roles import Role
from altaviz.accounts.scoping import OrgScope
from altaviz.accounts.tokens import csrf_token, encode_session_cookie, sha256_hex
from altaviz.alerts.models import AlertHistory
from altaviz.db.session import session_scope
from altaviz.health.models import CompressorHealth, CompressorPrediction
from altaviz.monitoring.models import (
    SENSOR_STAT_COLUMNS,
    CompressorMetadata,
    CompressorState,
    DataQualityMetric,
    MaintenanceEvent,
    RecentReading,
    SensorReadingAgg,
    StationLocation,
)
from altaviz.pipeline.dashboard_state import RecentReadings, load_dashboard_state
from altaviz.registry.models import CompressorModel

PASSWORD = "correct horse battery staple"
AUTH_SECRET = "tests-only-9f2c1d7e4b8a6035e1d2c3b4a5f60718293a4b5c"
BASE_URL = "https://testserver"
HOURS = 48
COMPRESSORS = ("COMP-001", "COMP-002", "COMP-003")


@dataclass
class SeededOrg:
    id: uuid.UUID
    slug: str
    marker: str
    tier: str
    users: dict[Role, uuid.UUID] = field(default_factory=dict)
    emails: dict[Role, str] = field(default_factory=dict)
    api_keys: dict[Role, str] = field(default_factory=dict)
    api_key_ids: dict[Role, uuid.UUID] = field(default_factory=dict)
    invitation_id: uuid.UUID | None = None
    alert_ids: dict[str, int] = field(default_factory=dict)
    own_compressor: str = ""
    own_station: str = ""  # a station only this organization has (no compressors)
    model_id: uuid.UUID | None = None  # its registered compressor model (every compressor runs it)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    hour: datetime = field(default_factory=lambda: current_hour())  # the hour its data was seeded up to

    @property
    def scope(self) -> OrgScope:
        return OrgScope(self.id)

    @property
    def compressors(self) -> tuple[str, ...]:
        return (*COMPRESSORS, self.own_compressor)


def limiter_verdicts(statuses: list[int]) -> list[int]:
    """The rate limiter's verdicts on /api/health calls: 429 refused, 200 let through. Health itself
    answers 503 when its database probe misses its budget (under 1 s), which a test machine busy with
    other workers can make it do; the limiter let that call through, so it reads as 200 here."""
    return [200 if status == 503 else status for status in statuses]


@cache
def _password_hash() -> str:
    return hash_password(PASSWORD)  # once per run: argon2 is slow on purpose


def current_hour() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def hourly_values(compressor_index: int, hour_index: int) -> dict[str, float]:
    """Deterministic aggregates: each sensor's mean moves with compressor and hour."""
    values: dict[str, float] = {}
    for position, column in enumerate(SENSOR_STAT_COLUMNS):
        sensor = position // 4
        base = 10.0 * (sensor + 1) + compressor_index + 0.25 * hour_index
        stat = column.rsplit("_", 1)[1]
        values[column] = {"mean": base, "std": 0.5 + 0.01 * hour_index, "min": base - 1, "max": base + 1}[
            stat
        ]
    return values


def seed_organization(engine: Engine, slug: str, marker: str, tier: str = "enterprise") -> SeededOrg:
    hour = current_hour()
    with session_scope(engine) as session:
        org = Organization(name=f"{marker} Gas", slug=slug, subscription_tier=tier, max_compressors=None)
        session.add(org)
        session.flush()
        seeded = SeededOrg(
            id=org.id, slug=slug, marker=marker, tier=tier, own_compressor=f"{marker.upper()}-9", hour=hour
        )
        for station in ("STATION-A", "STATION-B"):
            session.add(
                StationLocation(
                    organization_id=org.id,
                    station_id=station,
                    station_name=f"{marker} {station}",
                    latitude=30.0,
                    longitude=-97.0,
                    region=f"{marker} region",
                    city="Austin",
                    state="TX",
                    basin="Permian Basin",
                )
            )
        seeded.own_station = f"{marker.upper()}-ST"
        session.add(
            StationLocation(
                organization_id=org.id,
                station_id=seeded.own_station,
                station_name=f"{marker} own station",
                latitude=31.0,
                longitude=-100.0,
                basin=f"{marker} basin",
            )
        )
        model = CompressorModel(
            organization_id=org.id, manufacturer=f"{marker} Ajax", model="DPC-360", rated_hp=1340
        )
        session.add(model)
        session.flush()
        seeded.model_id = model.id
        placement = {"COMP-001": "STATION-A", "COMP-002": "STATION-A", "COMP-003": "STATION-B"}
        placement[seeded.own_compressor] = "STATION-B"
        for index, (compressor, station) in enumerate(placement.items()):
            session.add(
                CompressorMetadata(
                    organization_id=org.id,
                    compressor_id=compressor,
                    station_id=station,
                    model=f"{marker} Ajax DPC-360",
                    model_id=model.id,
                    horsepower=1340 + index,
                    install_date=date(2022, 1, 1),
                )
            )
            session.flush()
            for h in range(HOURS):
                session.add(
                    SensorReadingAgg(
                        organization_id=org.id,
                        compressor_id=compressor,
                        agg_timestamp=hour - timedelta(hours=HOURS - 1 - h),
                        window_type="1hr",
                        **hourly_values(index, h),
                        pressure_delta_mean=900.0 + h,
                        discharge_temp_rate_of_change=1.0,
                        reading_count=6,
                        expected_readings=6,
                        missing_readings=0,
                        violation_count=0,
                    )
                )
        alerts = {
            "critical": ("COMP-001", "vibration_mms", "critical", True, False),
            "warning": ("COMP-001", "discharge_temp_f", "warning", True, False),
            "warning2": ("COMP-002", "vibration_mms", "warning", True, False),
            "returned": ("COMP-003", "vibration_mms", "warning", False, False),
            "resolved": ("COMP-003", "discharge_temp_f", "critical", False, True),
        }
        for offset, (key, (compressor, condition, severity, active, resolved)) in enumerate(alerts.items()):
            started = hour - timedelta(hours=10 - offset)
            alert = AlertHistory(
                organization_id=org.id,
                compressor_id=compressor,
                condition=condition,
                alert_type=f"threshold_{severity}",
                severity=severity,
                sensor_name=condition,
                alert_timestamp=started,
                raised_at=started + timedelta(minutes=10),
                last_violation_at=started + timedelta(hours=1),
                returned_to_normal_at=None if active else started + timedelta(hours=2),
                is_active=active,
                sensor_value=9.0,
                threshold_value=8.0,
                message=f"{marker} {condition} alert",
                violation_count=6,
                resolved=resolved,
                resolved_by="someone" if resolved else None,
                resolved_at=started + timedelta(hours=3) if resolved else None,
                source="pipeline",
            )
            session.add(alert)
            session.flush()
            seeded.alert_ids[key] = alert.id
        for n, kind in enumerate(("scheduled", "failure")):
            session.add(
                MaintenanceEvent(
                    organization_id=org.id,
                    event_id=f"{marker}-EV-{n}",
                    compressor_id="COMP-001",
                    performed_at=hour - timedelta(days=n + 1),
                    event_date=(hour - timedelta(days=n + 1)).date(),
                    event_type=kind,
                    description=f"{marker} maintenance {n}",
                    performed_by=f"{marker} crew",
                )
            )
        quality_scopes: tuple[tuple[str, str | None], ...] = (("fleet", None), ("COMP-001", "COMP-001"))
        for scope_name, quality_compressor in quality_scopes:
            for metric in ("freshness", "completeness", "consistency", "accuracy"):
                session.add(
                    DataQualityMetric(
                        organization_id=org.id,
                        input_fingerprint=f"{marker}-fp",
                        metric_timestamp=hour - timedelta(hours=1),
                        scope=scope_name,
                        compressor_id=quality_compressor,
                        metric_type=metric,
                        metric_value=0.99,
                        pass_threshold=True,
                        details={"marker": marker},
                    )
                )
        # The dashboard state the pipeline's load keeps: each compressor's newest reading (at the top
        # of the current hour) and its state row from the hourly aggregates.
        session.flush()
        for compressor in placement:
            session.add(
                RecentReading(
                    organization_id=org.id,
                    compressor_id=compressor,
                    timestamp=hour,
                    vibration_mms=2.0,
                    pressure_differential=900.0,
                    status="healthy",
                )
            )
        session.flush()
        load_dashboard_state(session, org.id, RecentReadings([], None))
        seed_health(session, org.id, tuple(placement), hour)
        for role in Role:
            email = f"{role.value}@{slug}.example.com"
            user = User(
                organization_id=org.id,
                email=email,
                name=f"{marker} {role.value.title()}",
                password_hash=_password_hash(),
                role=role.value,
                is_active=True,
            )
            session.add(user)
            session.flush()
            seeded.users[role] = user.id
            seeded.emails[role] = email
        for role in (Role.VIEWER, Role.OPERATOR, Role.ADMIN):
            record, key = service.create_api_key(
                session,
                seeded.scope,
                name=f"{marker} {role.value} key",
                role=role,
                created_by=seeded.users[Role.ADMIN],
                expires_at=None,
            )
            seeded.api_keys[role] = key
            seeded.api_key_ids[role] = record.id
        invitation = Invitation(
            organization_id=org.id,
            email=f"pending@{slug}.example.com",
            role=Role.OPERATOR.value,
            token_hash=sha256_hex(f"{slug}-invitation-token"),
            invited_by=seeded.users[Role.ADMIN],
            expires_at=hour + timedelta(days=7),
        )
        session.add(invitation)
        session.flush()
        seeded.invitation_id = invitation.id
    return seeded


# Projected crossings each organization has (compressor index in its placement, metric, level,
# threshold, hours, range): COMP-001's vibration soonest, its own compressor's temperature next, and
# COMP-002's flow beyond a week (outside the default horizon).
PREDICTIONS = (
    (0, "vibration_mms", "warning", 6.0, 5.0, 3.0, 8.0),
    (0, "vibration_mms", "critical", 8.0, 31.0, 22.0, 45.0),
    (3, "discharge_temp_f", "warning", 240.0, 20.0, 12.0, 33.0),
    (1, "gas_flow_mcf", "warning", 6000.0, 300.0, 200.0, 500.0),
)


def health_index(compressor_index: int, hour_index: int) -> float | None:
    """COMP-001 declines from 100 to 53 over the hours; the others stay near 95; None while learning."""
    if hour_index < 6:
        return None
    if compressor_index == 0:
        return round(100.0 - 1.0 * (hour_index - 6), 1)
    return 95.0 - compressor_index


def seed_health(
    session: Session, organization_id: uuid.UUID, compressors: tuple[str, ...], hour: datetime
) -> None:
    """What the pipeline's health step loads: an hourly health index per compressor (the first 6
    hours learning), the newest on the state row, and projected threshold crossings."""
    for index, compressor in enumerate(compressors):
        for h in range(HOURS):
            value = health_index(index, h)
            drivers = [
                {"sensor": "vibration_mms", "score": 4.0 + 0.2 * h},
                {"sensor": "discharge_temp_f", "score": -2.5},
            ]
            session.add(
                CompressorHealth(
                    organization_id=organization_id,
                    compressor_id=compressor,
                    hour=hour - timedelta(hours=HOURS - 1 - h),
                    health_index=value,
                    status="warmup" if value is None else "judged",
                    drivers=json.dumps(drivers if index == 0 else []),
                )
            )
        session.execute(
            update(CompressorState)
            .where(
                CompressorState.organization_id == organization_id,
                CompressorState.compressor_id == compressor,
            )
            .values(health_index=health_index(index, HOURS - 1), health_status="judged")
        )
    for index, metric, level, threshold, hours, low, high in PREDICTIONS:
        session.add(
            projection(
                organization_id, compressors[index], hour, metric, level, threshold, (hours, low, high)
            )
        )


def projection(
    organization_id: uuid.UUID,
    compressor_id: str,
    hour: datetime,
    metric: str,
    level: str,
    threshold: float,
    hours: tuple[float, float, float | None],
) -> CompressorPrediction:
    """A projected crossing made at data hour `hour`: (hours, low, high) to `threshold`."""
    central, low, high = hours
    return CompressorPrediction(
        organization_id=organization_id,
        compressor_id=compressor_id,
        metric=metric,
        level=level,
        threshold_value=threshold,
        hours=central,
        hours_low=low,
        hours_high=high,
        projected_at=hour + timedelta(hours=central),
        computed_at=hour,
    )


def session_cookie_for(app: FastAPI, user_id: uuid.UUID) -> tuple[str, str, str]:
    """Sign a member in without the password round trip: (cookie name, cookie value, CSRF token)."""
    config = app.state.auth
    with session_scope(app.state.engine) as session:
        user = session.get(User, user_id)
        assert user is not None
        record, token = service.start_session(session, user, config.session_lifetime)
        cookie = encode_session_cookie(config.secret, token, user.id, record.created_at, record.expires_at)
    return config.session_cookie, cookie, csrf_token(config.secret, token)


# All clients of a test share one event loop (one blocking portal, entered once with the first client
# and left by the `close_clients` fixture at the end of every test), as requests to one worker do.
# Clients on separate loops would share the app's asyncio state (the in-memory rate limiter's locks)
# across loops, which can leave a request waiting forever.
_open_clients: list[TestClient] = []
_anchors: dict[int, TestClient] = {}


def open_client(app: FastAPI, headers: dict[str, str] | None = None) -> TestClient:
    client = TestClient(app, base_url=BASE_URL, headers=headers)
    anchor = _anchors.get(id(app))
    if anchor is None:
        client.__enter__()
        _anchors[id(app)] = client
    else:
        client.portal = anchor.portal
    _open_clients.append(client)
    return client


def close_clients() -> None:
    anchors = {id(client) for client in _anchors.values()}
    while _open_clients:
        client = _open_clients.pop()
        if id(client) in anchors:
            client.__exit__(None, None, None)
        else:
            client.portal = None
    _anchors.clear()


def member_client(app: FastAPI, user_id: uuid.UUID) -> TestClient:
    """A client signed in as the member, sending the CSRF header on every request."""
    name, value, csrf = session_cookie_for(app, user_id)
    return open_client(app, {"Cookie": f"{name}={value}", "X-CSRF-Token": csrf})


def key_client(app: FastAPI, key: str) -> TestClient:
    return open_client(app, {"x-api-key": key})


def anonymous_client(app: FastAPI) -> TestClient:
    return open_client(app)
