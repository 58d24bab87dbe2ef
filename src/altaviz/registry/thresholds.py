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
"""

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from altaviz.accounts.scoping import OrgScope, scoped
from altaviz.fleet.thresholds import (
    DEFAULT_CLEAR_COUNT,
    DEFAULT_ON_DELAY,
    DEFAULT_THRESHOLDS,
    METRIC_NAMES,
    THRESHOLDS_BY_METRIC,
)
from altaviz.monitoring.models import CompressorMetadata
from altaviz.registry.models import ThresholdChange, ThresholdOverride

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
    ) -> "OrganizationThresholds":
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
    (organization_id, version) refuses the second, which the caller answers with 409.
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
    session.add(change)
    session.flush()
    return change
