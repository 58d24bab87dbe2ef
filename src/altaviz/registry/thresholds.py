"""Alarm thresholds of an organization: defaults (SPEC §2) overridden per organization, per compressor
model and per compressor; the most specific value wins, field by field.

Every metric has four settings: `warning` and `critical` limits (critical may be absent: horsepower,
gas flow and pressure differential have no critical level by default, and an override may add one),
`on_delay` (consecutive violating readings before an alert opens) and `clear_count` (consecutive
normal readings before it returns to normal). An override row sets any of the four; a NULL field
inherits from the next wider scope: compressor > model > organization > defaults.

The contract the pipeline reads (issue 16):

- `effective_thresholds(session, organization_id)`: one row per registered (not archived) compressor
  and metric, with the values that apply to it;
- `thresholds_version(session, organization_id)`: a number that grows with every change of what
  `effective_thresholds` answers for the existing compressors (a scope's overrides set, a compressor
  moved to another model). `changed_compressors(session, organization_id, since)` says which
  compressors' values may have changed after version `since` (None: all of them).

A set is consistent when, for every metric, the warning limit comes before the critical one in the
metric's direction (below it for "high" metrics, above it for "low" ones) and both counts are at
least 1. Consistency is judged on the effective values of every scope a change reaches, so an
organization-wide change that would contradict a compressor's own override is refused too.

The API's request and response schemas (registry.schemas) are imported where they are made: a
pipeline run reads `effective_thresholds` and does not load them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from altaviz.accounts import data_version
from altaviz.accounts.auditing import audit_action
from altaviz.accounts.errors import Conflict, NotFound
from altaviz.accounts.principal import Principal
from altaviz.accounts.scoping import OrgScope, scoped
from altaviz.fleet.thresholds import (
    DEFAULT_CLEAR_COUNT,
    DEFAULT_ON_DELAY,
    DEFAULT_THRESHOLDS,
    METRIC_NAMES,
    THRESHOLDS_BY_METRIC,
)
from altaviz.monitoring.models import CompressorMetadata
from altaviz.registry.models import CompressorModel, ThresholdChange, ThresholdOverride

if TYPE_CHECKING:
    from altaviz.registry.schemas import ThresholdHistory, ThresholdsOut, ThresholdsPut

Direction = Literal["high", "low"]
Source = Literal["default", "organization", "model", "compressor"]
ScopeType = Literal["organization", "model", "compressor"]
FIELDS: tuple[str, ...] = ("warning", "critical", "on_delay", "clear_count")
MAX_COUNT = 1000  # readings; at one reading per 10 minutes about a week

# {metric: {field: value}} for the fields a scope sets
OverrideSet = dict[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class EffectiveThreshold:
    """What applies to one compressor and metric."""

    compressor_id: str
    metric: str
    warning: float
    critical: float | None
    on_delay: int
    clear_count: int
    direction: Direction


@dataclass(frozen=True, slots=True)
class ResolvedThreshold:
    """The values of one metric at a scope, and the scope each value comes from."""

    metric: str
    direction: Direction
    warning: float
    critical: float | None
    on_delay: int
    clear_count: int
    sources: dict[str, Source]

    def value(self, field: str) -> Any:
        return getattr(self, field)


def defaults() -> dict[str, ResolvedThreshold]:
    return {
        t.metric: ResolvedThreshold(
            t.metric,
            t.direction,
            float(t.warning),
            None if t.critical is None else float(t.critical),
            DEFAULT_ON_DELAY,
            DEFAULT_CLEAR_COUNT,
            dict.fromkeys(FIELDS, "default"),
        )
        for t in DEFAULT_THRESHOLDS
    }


def resolve(layers: Iterable[tuple[Source, OverrideSet]]) -> dict[str, ResolvedThreshold]:
    """Defaults with each layer's set fields laid over them, widest layer first."""
    values = {metric: dict(_as_dict(r)) for metric, r in defaults().items()}
    sources: dict[str, dict[str, Source]] = {metric: dict.fromkeys(FIELDS, "default") for metric in values}
    for source, overrides in layers:
        for metric, fields in overrides.items():
            if metric not in values:
                continue
            for field in FIELDS:
                if fields.get(field) is not None:
                    values[metric][field] = fields[field]
                    sources[metric][field] = source
    return {
        metric: ResolvedThreshold(
            metric,
            THRESHOLDS_BY_METRIC[metric].direction,
            float(v["warning"]),
            None if v["critical"] is None else float(v["critical"]),
            int(v["on_delay"]),
            int(v["clear_count"]),
            sources[metric],
        )
        for metric, v in values.items()
    }


def _as_dict(r: ResolvedThreshold) -> dict[str, Any]:
    return {field: r.value(field) for field in FIELDS}


def problems(resolved: ResolvedThreshold) -> list[tuple[str, str]]:
    """(field, sentence) for each inconsistency of one metric's values."""
    found: list[tuple[str, str]] = []
    t = THRESHOLDS_BY_METRIC[resolved.metric]
    if resolved.critical is not None:
        high = resolved.direction == "high"
        if not (resolved.warning < resolved.critical if high else resolved.warning > resolved.critical):
            side, order = ("high", "below") if high else ("low", "above")
            found.append(
                (
                    "warning",
                    f"{t.label} alarms on {side} values: the warning limit ({resolved.warning:g} {t.unit}) "
                    f"must be {order} the critical limit ({resolved.critical:g} {t.unit})",
                )
            )
    for field in ("on_delay", "clear_count"):
        count = resolved.value(field)
        if not 1 <= count <= MAX_COUNT:
            found.append((field, f"{field} must be a whole number of readings from 1 to {MAX_COUNT}"))
    return found


# --- reading the organization's overrides ---------------------------------------------------------


@dataclass(frozen=True)
class OrganizationThresholds:
    """Every override set of one organization, and its compressors' models (one read of each)."""

    organization: OverrideSet
    models: dict[str, OverrideSet]  # by model id (text)
    compressors: dict[str, OverrideSet]  # by compressor id
    model_of: dict[str, str | None]  # active compressor -> its model id (text), in id order

    def layers_for(self, scope_type: ScopeType, scope_id: str = "") -> list[tuple[Source, OverrideSet]]:
        layers: list[tuple[Source, OverrideSet]] = [("organization", self.organization)]
        if scope_type == "model":
            layers.append(("model", self.models.get(scope_id, {})))
        elif scope_type == "compressor":
            model = self.model_of.get(scope_id)
            if model is not None:
                layers.append(("model", self.models.get(model, {})))
            layers.append(("compressor", self.compressors.get(scope_id, {})))
        return layers

    def resolved(self, scope_type: ScopeType, scope_id: str = "") -> dict[str, ResolvedThreshold]:
        return resolve(self.layers_for(scope_type, scope_id))

    def set_at(self, scope_type: ScopeType, scope_id: str = "") -> OverrideSet:
        if scope_type == "organization":
            return self.organization
        return (self.models if scope_type == "model" else self.compressors).get(scope_id, {})

    def with_set(
        self, scope_type: ScopeType, scope_id: str, overrides: OverrideSet
    ) -> OrganizationThresholds:
        if scope_type == "organization":
            return OrganizationThresholds(overrides, self.models, self.compressors, self.model_of)
        if scope_type == "model":
            return OrganizationThresholds(
                self.organization, {**self.models, scope_id: overrides}, self.compressors, self.model_of
            )
        return OrganizationThresholds(
            self.organization, self.models, {**self.compressors, scope_id: overrides}, self.model_of
        )


def load(session: Session, organization_id: uuid.UUID) -> OrganizationThresholds:
    scope = OrgScope(organization_id)
    o = ThresholdOverride
    organization: OverrideSet = {}
    models: dict[str, OverrideSet] = {}
    compressors: dict[str, OverrideSet] = {}
    rows = session.execute(
        scoped(
            select(o.scope_type, o.scope_id, o.metric, o.warning, o.critical, o.on_delay, o.clear_count),
            scope,
            o,
        )
    )
    for row in rows:
        fields = {f: getattr(row, f) for f in FIELDS if getattr(row, f) is not None}
        if row.scope_type == "organization":
            target = organization
        elif row.scope_type == "model":
            target = models.setdefault(row.scope_id, {})
        else:
            target = compressors.setdefault(row.scope_id, {})
        target[row.metric] = fields
    c = CompressorMetadata
    model_of = {
        row.compressor_id: None if row.model_id is None else str(row.model_id)
        for row in session.execute(
            scoped(select(c.compressor_id, c.model_id), scope, c)
            .where(c.archived_at.is_(None))
            .order_by(c.compressor_id)
        )
    }
    return OrganizationThresholds(organization, models, compressors, model_of)


# --- the pipeline's contract ----------------------------------------------------------------------


def effective_thresholds(session: Session, organization_id: uuid.UUID) -> list[EffectiveThreshold]:
    """One row per registered (not archived) compressor and metric: the values that apply to it."""
    state = load(session, organization_id)
    rows: list[EffectiveThreshold] = []
    by_model: dict[str | None, dict[str, ResolvedThreshold]] = {}
    for compressor_id, model_id in state.model_of.items():
        own = state.compressors.get(compressor_id)
        if own:
            resolved = state.resolved("compressor", compressor_id)
        else:  # most compressors share their model's values: resolve each model once
            if model_id not in by_model:
                by_model[model_id] = (
                    state.resolved("model", model_id) if model_id else state.resolved("organization")
                )
            resolved = by_model[model_id]
        for metric in METRIC_NAMES:
            r = resolved[metric]
            rows.append(
                EffectiveThreshold(
                    compressor_id, metric, r.warning, r.critical, r.on_delay, r.clear_count, r.direction
                )
            )
    return rows


def thresholds_version(session: Session, organization_id: uuid.UUID) -> int:
    """The organization's thresholds version: 0 until the first change, then one more per change."""
    c = ThresholdChange
    value = session.scalar(scoped(select(func.max(c.version)), OrgScope(organization_id), c))
    return int(value or 0)


def changed_compressors(session: Session, organization_id: uuid.UUID, since: int) -> set[str] | None:
    """The compressors whose effective values may have changed after version `since` (None: all)."""
    c = ThresholdChange
    changed: set[str] = set()
    for (compressors,) in session.execute(
        scoped(select(c.compressors), OrgScope(organization_id), c).where(c.version > since)
    ):
        if compressors is None:
            return None
        changed.update(compressors)
    return changed


def record_change(
    session: Session,
    organization_id: uuid.UUID,
    *,
    scope_type: ScopeType,
    scope_id: str,
    kind: Literal["overrides", "model_assignment"],
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    compressors: list[str] | None,
    changed_by: str,
) -> ThresholdChange:
    """Number the change (the organization's next version) and keep it, in the caller's transaction.

    Two concurrent changes of one organization would take the same number: the unique key
    (organization_id, version) refuses the second, a Conflict (409: reload and retry).
    """
    version = thresholds_version(session, organization_id) + 1
    change = ThresholdChange(
        organization_id=organization_id,
        version=version,
        scope_type=scope_type,
        scope_id=scope_id,
        kind=kind,
        before=dict(before),
        after=dict(after),
        compressors=compressors,
        changed_by=changed_by[:200],
    )
    try:
        with session.begin_nested():
            session.add(change)
            session.flush()
    except IntegrityError:
        raise Conflict(
            "The thresholds were changed by someone else at the same moment: reload and retry"
        ) from None
    return change


# --- the API: read and replace a scope's set ------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A scope named in a request: the organization, one of its models or one of its compressors."""

    type: ScopeType
    id: str
    name: str

    @property
    def text(self) -> str:
        return "organization" if self.type == "organization" else f"{self.type}:{self.id}"


def parse_target(session: Session, scope: OrgScope, text: str) -> Target:
    """`organization`, `model:<id>` or `compressor:<id>`, checked against the organization's registry."""
    from altaviz.registry.schemas import FieldError

    kind, _, ident = text.strip().partition(":")
    if kind == "organization" and not ident:
        return Target("organization", "", "the organization")
    if kind == "model" and ident:
        try:
            model_id = uuid.UUID(ident)
        except ValueError:
            raise FieldError("scope", f"{ident!r} is not a model id (GET /api/compressor-models)") from None
        m = CompressorModel
        model = session.scalar(scoped(select(m), scope, m).where(m.id == model_id))
        if model is None:
            raise NotFound(f"Compressor model {ident} not found")
        return Target("model", str(model.id), f"model {model.display_name}")
    if kind == "compressor" and ident:
        c = CompressorMetadata
        found = session.scalar(scoped(select(c.compressor_id), scope, c).where(c.compressor_id == ident))
        if found is None:
            raise NotFound(f"Compressor {ident} not found")
        return Target("compressor", found, f"compressor {found}")
    raise FieldError("scope", "the scope is organization, model:<model id> or compressor:<compressor id>")


def _out(state: OrganizationThresholds, target: Target, version: int) -> ThresholdsOut:
    from altaviz.registry.schemas import EffectiveMetric, ThresholdsOut

    resolved = state.resolved(target.type, target.id)
    base = defaults()
    effective = []
    for metric in METRIC_NAMES:
        r, t, d = resolved[metric], THRESHOLDS_BY_METRIC[metric], base[metric]
        effective.append(
            EffectiveMetric(
                metric=metric,
                label=t.label,
                unit=t.unit,
                direction=r.direction,
                warning=r.warning,
                critical=r.critical,
                on_delay=r.on_delay,
                clear_count=r.clear_count,
                sources=dict(r.sources),
                default={field: d.value(field) for field in FIELDS},
            )
        )
    return ThresholdsOut(
        scope=target.text,
        scope_name=target.name,
        version=version,
        overrides=state.set_at(target.type, target.id),
        effective=effective,
    )


def load_target(session: Session, organization_id: uuid.UUID, target: Target) -> OrganizationThresholds:
    """The organization's overrides, with the target compressor's model known even when it is archived."""
    state = load(session, organization_id)
    if target.type == "compressor" and target.id not in state.model_of:
        c = CompressorMetadata
        model_id = session.scalar(
            scoped(select(c.model_id), OrgScope(organization_id), c).where(c.compressor_id == target.id)
        )
        model_of = {**state.model_of, target.id: None if model_id is None else str(model_id)}
        state = OrganizationThresholds(state.organization, state.models, state.compressors, model_of)
    return state


def get_thresholds(session: Session, scope: OrgScope, scope_text: str) -> ThresholdsOut:
    target = parse_target(session, scope, scope_text)
    state = load_target(session, scope.organization_id, target)
    return _out(state, target, thresholds_version(session, scope.organization_id))


def _clean(body: ThresholdsPut) -> OverrideSet:
    cleaned: OverrideSet = {}
    for metric, override in body.metrics.items():
        fields = {f: v for f, v in override.model_dump().items() if v is not None}
        if fields:
            cleaned[metric] = fields
    return cleaned


def _reached(state: OrganizationThresholds, target: Target) -> list[tuple[ScopeType, str]]:
    """The scopes whose effective values follow the target's set."""
    if target.type == "compressor":
        return [("compressor", target.id)]
    reached: list[tuple[ScopeType, str]] = []
    if target.type == "organization":
        reached.append(("organization", ""))
        models = sorted(set(state.models) | {m for m in state.model_of.values() if m is not None})
        reached.extend(("model", m) for m in models)
    else:
        reached.append(("model", target.id))
    reached.extend(
        ("compressor", c)
        for c, model in state.model_of.items()
        if target.type == "organization" or model == target.id
    )
    return reached


def _check(state: OrganizationThresholds, target: Target, proposed: OverrideSet) -> None:
    """Refuse (FieldError naming metrics.<metric>.<field>) a set leaving a reached scope inconsistent."""
    from altaviz.registry.schemas import FieldError

    for scope_type, scope_id in _reached(state, target):
        for metric, resolved in state.resolved(scope_type, scope_id).items():
            for field, message in problems(resolved):
                named = field
                if field == "warning" and "warning" not in proposed.get(metric, {}):
                    named = "critical" if "critical" in proposed.get(metric, {}) else "warning"
                where = ""
                if (scope_type, scope_id) != (target.type, target.id):
                    where = f" (for {scope_type} {scope_id}, which sets its own values)"
                raise FieldError(f"metrics.{metric}.{named}", message + where)


def _effective_by_compressor(state: OrganizationThresholds) -> dict[str, dict[str, ResolvedThreshold]]:
    by_model: dict[str | None, dict[str, ResolvedThreshold]] = {}
    result = {}
    for compressor_id, model_id in state.model_of.items():
        if state.compressors.get(compressor_id):
            result[compressor_id] = state.resolved("compressor", compressor_id)
            continue
        if model_id not in by_model:
            by_model[model_id] = (
                state.resolved("model", model_id) if model_id else state.resolved("organization")
            )
        result[compressor_id] = by_model[model_id]
    return result


def _values(resolved: dict[str, ResolvedThreshold]) -> list[tuple[Any, ...]]:
    return [(m, r.warning, r.critical, r.on_delay, r.clear_count) for m, r in sorted(resolved.items())]


def put_thresholds(
    session: Session, principal: Principal, scope_text: str, body: ThresholdsPut, ip: str | None
) -> ThresholdsOut:
    """Replace the scope's override set (a metric left out has none there), audited and versioned."""
    scope = principal.scope
    organization_id = scope.organization_id
    target = parse_target(session, scope, scope_text)
    state = load_target(session, organization_id, target)
    before = state.set_at(target.type, target.id)
    proposed = _clean(body)
    after_state = state.with_set(target.type, target.id, proposed)
    _check(after_state, target, proposed)
    version = thresholds_version(session, organization_id)
    if proposed == before:
        return _out(state, target, version)
    old_values = _effective_by_compressor(state)
    new_values = _effective_by_compressor(after_state)
    affected = sorted(c for c in new_values if _values(new_values[c]) != _values(old_values[c]))

    o = ThresholdOverride
    session.execute(scoped(delete(o), scope, o).where(o.scope_type == target.type, o.scope_id == target.id))
    for metric, fields in sorted(proposed.items()):
        session.add(
            ThresholdOverride(
                organization_id=organization_id,
                scope_type=target.type,
                scope_id=target.id,
                metric=metric,
                **fields,
            )
        )
    try:
        with session.begin_nested():
            change = record_change(
                session,
                organization_id,
                scope_type=target.type,
                scope_id=target.id,
                kind="overrides",
                before=before,
                after=proposed,
                compressors=affected,
                changed_by=principal.actor,
            )
    except IntegrityError:
        raise Conflict(
            "The thresholds were changed by someone else at the same moment: reload and retry"
        ) from None
    audit_action(
        session,
        principal,
        "thresholds.update",
        target_type="thresholds",
        target_id=target.text,
        ip=ip,
        details={
            "version": change.version,
            "before": before,
            "after": proposed,
            "compressors_affected": len(affected),
        },
    )
    data_version.bump(session, organization_id)
    return _out(after_state, target, change.version)


def history(session: Session, scope: OrgScope, limit: int = 50, offset: int = 0) -> ThresholdHistory:
    from altaviz.registry.schemas import ThresholdChangeOut, ThresholdHistory

    c = ThresholdChange
    total = int(session.scalar(scoped(select(func.count()).select_from(c), scope, c)) or 0)
    rows = session.scalars(scoped(select(c), scope, c).order_by(c.version.desc()).limit(limit).offset(offset))
    items = [
        ThresholdChangeOut(
            version=row.version,
            scope="organization" if row.scope_type == "organization" else f"{row.scope_type}:{row.scope_id}",
            kind=row.kind,
            before=row.before,
            after=row.after,
            compressors=row.compressors,
            changed_by=row.changed_by,
            changed_at=row.changed_at,
        )
        for row in rows
    ]
    return ThresholdHistory(items=items, total=total)


# --- what the pages show for one compressor -------------------------------------------------------


def for_compressor(session: Session, scope: OrgScope, compressor_id: str) -> dict[str, ResolvedThreshold]:
    """The effective values of one compressor (archived or not), read with a few small queries."""
    o, c = ThresholdOverride, CompressorMetadata
    model_id = session.scalar(scoped(select(c.model_id), scope, c).where(c.compressor_id == compressor_id))
    model_key = None if model_id is None else str(model_id)
    wanted = (o.scope_type == "organization") | (
        (o.scope_type == "compressor") & (o.scope_id == compressor_id)
    )
    if model_key is not None:
        wanted = wanted | ((o.scope_type == "model") & (o.scope_id == model_key))
    sets: dict[str, OverrideSet] = {"organization": {}, "model": {}, "compressor": {}}
    for row in session.scalars(scoped(select(o), scope, o).where(wanted)):
        sets[row.scope_type][row.metric] = {f: getattr(row, f) for f in FIELDS if getattr(row, f) is not None}
    return resolve(
        [("organization", sets["organization"]), ("model", sets["model"]), ("compressor", sets["compressor"])]
    )


def inherited(session: Session, scope: OrgScope, target: Target) -> dict[str, ResolvedThreshold]:
    """What the target would have without its own set: the values a blank field falls back to."""
    state = load_target(session, scope.organization_id, target)
    return state.with_set(target.type, target.id, {}).resolved(target.type, target.id)
