"""The one organization-scoping helper every tenant query goes through.

Services receive an OrgScope, built only from the authenticated principal (never from request
input), and apply it with `scoped`, which adds `model.organization_id = <scope>` for each tenant
table the statement touches. A statement that forgets a table it joins is the bug this makes
visible in review: every tenant model in a FROM clause appears in the `scoped(...)` call.
"""

import uuid
from dataclasses import dataclass
from typing import Any, Protocol, Self, TypeVar


@dataclass(frozen=True, slots=True)
class OrgScope:
    organization_id: uuid.UUID


class _Filterable(Protocol):
    def where(self, *whereclause: Any) -> Self: ...


S = TypeVar("S", bound=_Filterable)


def scoped(statement: S, scope: OrgScope, *models: Any) -> S:
    """`statement` restricted to the scope's organization for each tenant model (or alias) given."""
    if not models:
        raise ValueError("scoped() needs the tenant tables the statement reads or writes")
    for model in models:
        column = getattr(model, "organization_id", None)
        if column is None:
            raise TypeError(f"{model!r} has no organization_id: it is not a tenant table")
        statement = statement.where(column == scope.organization_id)
    return statement
