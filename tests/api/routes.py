"""Every route of the API with the least role that may call it and a valid request for it.

test_route_table_is_complete fails when a route is added without an entry here: each new route
must say who may call it, so the 401 sweep, the role matrix and the cross-organization sweep
cover it automatically.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from altaviz.accounts.roles import Role
from tests.api.world import SeededOrg

PUBLIC = None
A_READING = {
    "compressor_id": "COMP-001",
    "timestamp": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
    "vibration_mms": 3.0,
    "discharge_temp_f": 200.0,
    "suction_pressure_psi": 60.0,
    "discharge_pressure_psi": 1000.0,
    "horsepower_consumption": 1400.0,
    "gas_flow_mcf": 9000.0,
}
NO_SUCH_CHANNEL = "0b0e7a52-2a7f-4c1e-9d43-5d6f2f3f6a11"  # tests/alerts covers channels of both organizations


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    min_role: Role | None
    params: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    members_only: bool = False  # API keys may not call it, whatever their role
    # Statuses >= 500 that are a correct answer in the test setup (e.g. 503 "billing is not configured").
    tolerated: tuple[int, ...] = ()

    def url(self, org: SeededOrg, foreign: SeededOrg | None = None) -> str:
        """The path with ids of `org`'s objects, or of `foreign`'s when given (an id `org` lacks)."""
        target = foreign or org
        return (
            self.path.replace("{compressor_id}", target.own_compressor if foreign else "COMP-001")
            .replace("{alert_id}", str(target.alert_ids["critical"]))
            .replace("{key_id}", str(target.api_key_ids[Role.VIEWER]))
            .replace("{user_id}", str(target.users[Role.VIEWER]))
            .replace("{invitation_id}", str(target.invitation_id))
            .replace("{channel_id}", NO_SUCH_CHANNEL)
            .replace("{station_id}", target.own_station if foreign else "STATION-A")
            .replace("{model_id}", str(target.model_id))
        )

    def json(self, org: SeededOrg, foreign: SeededOrg | None = None) -> dict[str, Any] | None:
        """The body with ids of `org`'s objects, or of `foreign`'s when given (e.g. its model)."""
        if self.body is None:
            return None
        target = foreign or org
        return {
            key: str(target.model_id) if value == "{model_id}" else value for key, value in self.body.items()
        }

    @property
    def has_object(self) -> bool:
        """The path or the body names an object of the organization."""
        return "{" in self.path or "{model_id}" in (self.body or {}).values()


ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/health", PUBLIC),
    Route("POST", "/api/auth/signup", PUBLIC, body={"email": "x@y.com", "password": ""}),
    Route("POST", "/api/auth/login", PUBLIC, body={"email": "nobody@example.com", "password": "x"}),
    Route("POST", "/api/auth/logout", PUBLIC),
    Route("GET", "/api/auth/session", Role.VIEWER),
    Route(
        "POST",
        "/api/auth/password",
        Role.VIEWER,
        body={"current_password": "wrong password", "new_password": "a new pass phrase 42"},
        members_only=True,
    ),
    Route("GET", "/api/organization", Role.VIEWER),
    Route("PATCH", "/api/organization", Role.OWNER, body={"name": "Renamed Gas"}),
    Route("GET", "/api/api-keys", Role.ADMIN, members_only=True),
    Route("POST", "/api/api-keys", Role.ADMIN, body={"name": "cron", "role": "viewer"}, members_only=True),
    Route("DELETE", "/api/api-keys/{key_id}", Role.ADMIN, members_only=True),
    Route("GET", "/api/fleet", Role.VIEWER),
    Route("GET", "/api/stations", Role.VIEWER),
    Route("GET", "/api/readings/latest", Role.VIEWER),
    Route("GET", "/api/compressors/{compressor_id}", Role.VIEWER),
    Route("GET", "/api/compressors/{compressor_id}/readings", Role.VIEWER, params={"window": "4hr"}),
    Route("GET", "/api/compressors/{compressor_id}/health", Role.VIEWER, params={"hours": 48}),
    Route("GET", "/api/predictions", Role.VIEWER),
    Route("GET", "/api/alerts", Role.VIEWER),
    Route("GET", "/api/alerts/{alert_id}", Role.VIEWER),
    Route("POST", "/api/alerts/{alert_id}/acknowledge", Role.OPERATOR),
    Route("POST", "/api/alerts/{alert_id}/resolve", Role.OPERATOR, body={"note": "checked"}),
    Route(
        "POST", "/api/alerts/{alert_id}/shelve", Role.OPERATOR, body={"minutes": 60, "reason": "sensor check"}
    ),
    Route("POST", "/api/alerts/{alert_id}/unshelve", Role.OPERATOR),
    Route("POST", "/api/workflows/run", Role.ADMIN, params={"workflow": "all"}, body={}),
    Route("GET", "/api/workflows/runs", Role.VIEWER),
    Route("GET", "/api/notifications/channels", Role.ADMIN),
    Route(
        "POST",
        "/api/notifications/channels",
        Role.ADMIN,
        body={"kind": "email", "name": "control room", "target": "ops@example.com"},
    ),
    Route("DELETE", "/api/notifications/channels/{channel_id}", Role.ADMIN),
    Route("GET", "/api/notifications/messages", Role.ADMIN),
    Route("GET", "/api/maintenance", Role.VIEWER),
    Route("GET", "/api/data-quality", Role.VIEWER),
    Route("GET", "/api/team/members", Role.VIEWER),
    Route("PATCH", "/api/team/members/{user_id}", Role.ADMIN, body={"role": "operator"}, members_only=True),
    Route("DELETE", "/api/team/members/{user_id}", Role.ADMIN, members_only=True),
    Route("GET", "/api/team/invitations", Role.ADMIN),
    Route(
        "POST",
        "/api/team/invitations",
        Role.ADMIN,
        body={"email": "invitee@example.com", "role": "viewer"},
        members_only=True,
    ),
    Route("DELETE", "/api/team/invitations/{invitation_id}", Role.ADMIN, members_only=True),
    Route("POST", "/api/auth/invitations/preview", PUBLIC, body={"token": "not-a-real-token"}),
    Route(
        "POST",
        "/api/auth/invitations/accept",
        PUBLIC,
        body={"token": "not-a-real-token", "password": "a long pass phrase 42"},
    ),
    Route("GET", "/api/billing", Role.ADMIN),
    Route(
        "POST", "/api/billing/checkout", Role.ADMIN, body={"plan": "pro"}, members_only=True, tolerated=(503,)
    ),
    Route("POST", "/api/billing/portal", Role.ADMIN, members_only=True, tolerated=(503,)),
    Route("POST", "/api/stripe/webhooks", PUBLIC, body={"id": "evt_x"}),
    Route("GET", "/api/audit", Role.ADMIN),
    Route("GET", "/api/export/aggregates", Role.VIEWER),
    Route("GET", "/api/export/alerts", Role.VIEWER, params={"format": "parquet"}),
    # fleet registry and thresholds (issue 16)
    Route(
        "POST",
        "/api/stations",
        Role.ADMIN,
        body={"station_id": "SWEEP-ST", "name": "Sweep", "latitude": 30.5, "longitude": -97.5},
    ),
    Route("PATCH", "/api/stations/{station_id}", Role.ADMIN, body={"basin": "Sweep basin"}),
    Route("DELETE", "/api/stations/{station_id}", Role.ADMIN),
    Route("GET", "/api/compressor-models", Role.VIEWER),
    Route(
        "POST",
        "/api/compressor-models",
        Role.ADMIN,
        body={"manufacturer": "Sweep", "model": "S-1", "rated_hp": 1000},
    ),
    Route("PATCH", "/api/compressor-models/{model_id}", Role.ADMIN, body={"rated_hp": 1350}),
    Route("DELETE", "/api/compressor-models/{model_id}", Role.ADMIN),
    Route("GET", "/api/compressors", Role.VIEWER, params={"archived": "all"}),
    Route(
        "POST",
        "/api/compressors",
        Role.ADMIN,
        body={
            "compressor_id": "SWEEP-1",
            "station_id": "STATION-A",
            "model_id": "{model_id}",
            "install_date": "2024-01-01",
        },
    ),
    Route("PATCH", "/api/compressors/{compressor_id}", Role.ADMIN, body={"notes": "checked by the sweep"}),
    Route("DELETE", "/api/compressors/{compressor_id}", Role.ADMIN),
    Route("POST", "/api/fleet/import", Role.ADMIN, params={"dry_run": "true"}),
    Route("GET", "/api/thresholds", Role.VIEWER, params={"scope": "compressor:COMP-001"}),
    Route("PUT", "/api/thresholds", Role.ADMIN, body={"metrics": {"vibration_mms": {"warning": 5.5}}}),
    Route("GET", "/api/thresholds/history", Role.VIEWER),
    # Admins and ingest keys (tests/ingest checks that an ingest key can call this route only).
    Route("POST", "/api/ingest/readings", Role.ADMIN, body={"readings": [A_READING]}),
    Route(
        "POST",
        "/api/ingest/status",
        Role.ADMIN,
        body={"compressor_ids": ["COMP-001"], "state": "online", "timestamp": A_READING["timestamp"]},
    ),
)
PROTECTED = tuple(route for route in ROUTES if route.min_role is not None)
