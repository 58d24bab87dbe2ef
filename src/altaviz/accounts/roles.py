"""Roles of a member (or an API key) in its organization: owner > admin > operator > viewer."""

from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"
    OWNER = "owner"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: "Role") -> bool:
        return self.rank >= other.rank


_RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3, Role.OWNER: 4}

ROLES: tuple[str, ...] = tuple(role.value for role in Role)
# An API key acts for a machine: it may hold any role but owner (owning is for people).
API_KEY_ROLES: tuple[str, ...] = (Role.VIEWER.value, Role.OPERATOR.value, Role.ADMIN.value)
# The kind of key a field gateway holds: it may send readings (POST /api/ingest/readings) and nothing
# else; every other route, reads included, answers it 403. Not a Role: it is outside the ranking.
INGEST_KEY_ROLE = "ingest"
API_KEY_KINDS: tuple[str, ...] = (*API_KEY_ROLES, INGEST_KEY_ROLE)

WHAT_EACH_ROLE_MAY_DO = {
    Role.VIEWER: "read the fleet, alerts, maintenance and data quality",
    Role.OPERATOR: "also acknowledge and resolve alerts",
    Role.ADMIN: "also manage API keys, the team, billing and workflows",
    Role.OWNER: "also own the organization (rename it, appoint owners)",
}
