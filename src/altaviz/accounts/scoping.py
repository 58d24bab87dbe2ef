"""The one organization-scoping helper every tenant query goes through.

Services receive an OrgScope, built only from the authenticated principal (never from request
input), and apply it with `scoped`, which adds `model.organization_id = <scope>` for each tenant
table the statement touches. A statement that forgets a table it joins is the bug this makes
visible in review: every tenant model in a FROM clause appears in the `scoped(...)` call.
"""

import uuid
from dataclasses import dataclass
from typing import Any, Protocol, Self, TypeVar

from sqlalchemy import Uuid, bindparam


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


# Prepared form, for hot read paths: the statement is built once with a bound parameter standing
# for the organization, and `scope_params` supplies its value at execution. Same rule: every tenant
# table the statement touches is named in the `scoped_template(...)` call.
SCOPE_PARAM = "scope_organization_id"


def scoped_template(statement: S, *tables: Any) -> S:
    """`statement` restricted to the organization bound at execution (see scope_params)."""
    if not tables:
        raise ValueError("scoped_template() needs the tenant tables the statement reads or writes")
    for table in tables:
        columns = getattr(table, "c", None)
        column = getattr(columns, "organization_id", None) if columns is not None else None
        if column is None:
            column = getattr(table, "organization_id", None)
        if column is None:
            raise TypeError(f"{table!r} has no organization_id: it is not a tenant table")
        statement = statement.where(column == bindparam(SCOPE_PARAM, type_=Uuid()))
    return statement


def scope_params(scope: OrgScope, **params: Any) -> dict[str, Any]:
    return {SCOPE_PARAM: scope.organization_id, **params}


def org_matches(table: Any) -> Any:
    """`table.organization_id = <bound organization>`, for ON clauses of outer joins (templates)."""
    return table.c.organization_id == bindparam(SCOPE_PARAM, type_=Uuid())
