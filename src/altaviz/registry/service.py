"""The fleet registry of an organization: stations, compressor models and compressors.

Reads are for any member; writes are for admins and owners (the routers check), each audited in the
same transaction as the change, and each bumps the organization's data version so cached fleet
answers refresh.

Decisions (README, "Fleet registry"):
- Removing a compressor that has data (hourly aggregates, alerts or maintenance events) archives it:
  it leaves the fleet, the plan count and the pipeline's expectations, its data stays, and PATCH
  `archived=false` restores it (within the plan). A compressor without any data is deleted outright.
  Nothing in the API destroys a compressor's history.
- A station or model still referred to by a compressor (archived ones included) cannot be deleted
  (409 naming how many); move or remove those compressors first.
- Plan limits apply at registration and at restore (billing.limits.registration_refusal, the one
  source of the rule): the refusal is 403 `upgrade_required`, naming the plan and how to upgrade.
"""

import uuid
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from altaviz.accounts import data_version
from altaviz.accounts.auditing import audit_action
from altaviz.accounts.errors import Conflict, NotFound, UpgradeRequired
from altaviz.accounts.principal import Principal
from altaviz.accounts.scoping import OrgScope, scoped
from altaviz.alerts.models import AlertHistory
from altaviz.billing.limits import registered_compressor_count, registration_refusal
from altaviz.db.base import utcnow
from altaviz.monitoring.models import CompressorMetadata, MaintenanceEvent, SensorReadingAgg, StationLocation
from altaviz.registry import thresholds
from altaviz.registry.models import CompressorModel, ThresholdOverride, model_display_name
from altaviz.registry.schemas import (
    CompressorCreate,
    CompressorPage,
    CompressorRemoval,
    CompressorUpdate,
    FieldError,
    ModelCreate,
    ModelList,
    ModelUpdate,
    RegisteredCompressor,
    RegisteredModel,
    RegisteredStation,
    StationCreate,
    StationUpdate,
)

STATION_FIELDS = {"name": "station_name"}  # API field -> column, where they differ


# --- lookups -----------------------------------------------------------------------------------------


def _station(db: Session, scope: OrgScope, station_id: str) -> StationLocation:
    s = StationLocation
    row = db.scalar(scoped(select(s), scope, s).where(s.station_id == station_id))
    if row is None:
        raise NotFound(f"Station {station_id} not found")
    return row


def _model(db: Session, scope: OrgScope, model_id: uuid.UUID) -> CompressorModel:
    m = CompressorModel
    row = db.scalar(scoped(select(m), scope, m).where(m.id == model_id))
    if row is None:
        raise NotFound(f"Compressor model {model_id} not found")
    return row


def _compressor(db: Session, scope: OrgScope, compressor_id: str) -> CompressorMetadata:
    c = CompressorMetadata
    row = db.scalar(scoped(select(c), scope, c).where(c.compressor_id == compressor_id))
    if row is None:
        raise NotFound(f"Compressor {compressor_id} not found")
    return row


def _count_compressors(db: Session, scope: OrgScope, *conditions: Any) -> int:
    c = CompressorMetadata
    return int(db.scalar(scoped(select(func.count()).select_from(c), scope, c).where(*conditions)) or 0)


def _flush(db: Session, conflict: str) -> None:
    """Flush; a unique key taken meanwhile by a concurrent request is a 409, not a 500."""
    try:
        with db.begin_nested():
            db.flush()
    except IntegrityError:
        raise Conflict(conflict) from None


def _changed(db: Session, principal: Principal) -> None:
    data_version.bump(db, principal.organization.id)


# --- stations ----------------------------------------------------------------------------------------


def station_out(db: Session, scope: OrgScope, station: StationLocation) -> RegisteredStation:
    count = _count_compressors(db, scope, CompressorMetadata.station_id == station.station_id)
    return RegisteredStation(
        station_id=station.station_id,
        name=station.station_name,
        latitude=station.latitude,
        longitude=station.longitude,
        basin=station.basin,
        region=station.region,
        city=station.city,
        state=station.state,
        compressor_count=count,
        created_at=station.created_at,
    )


def create_station(
    db: Session, principal: Principal, body: StationCreate, ip: str | None
) -> RegisteredStation:
    scope = principal.scope
    s = StationLocation
    if db.scalar(scoped(select(s.station_id), scope, s).where(s.station_id == body.station_id)) is not None:
        raise Conflict(f"Station {body.station_id} is already registered; change it with PATCH instead")
    station = StationLocation(
        organization_id=scope.organization_id,
        station_id=body.station_id,
        station_name=body.name,
        latitude=body.latitude,
        longitude=body.longitude,
        basin=body.basin,
        region=body.region,
        city=body.city,
        state=body.state,
    )
    db.add(station)
    _flush(db, f"Station {body.station_id} is already registered")
    audit_action(
        db,
        principal,
        "fleet.station.create",
        target_type="station",
        target_id=station.station_id,
        ip=ip,
        details=body.model_dump(mode="json"),
    )
    _changed(db, principal)
    return station_out(db, scope, station)


def update_station(
    db: Session, principal: Principal, station_id: str, body: StationUpdate, ip: str | None
) -> RegisteredStation:
    scope = principal.scope
    station = _station(db, scope, station_id)
    given = body.model_dump(exclude_unset=True)
    for required in ("name", "latitude", "longitude"):
        if required in given and given[required] is None:
            raise FieldError(required, "cannot be empty")
    changes = _apply(station, {STATION_FIELDS.get(k, k): v for k, v in given.items()})
    if changes:
        audit_action(
            db,
            principal,
            "fleet.station.update",
            target_type="station",
            target_id=station_id,
            ip=ip,
            details={"changes": changes},
        )
        _changed(db, principal)
    return station_out(db, scope, station)


def delete_station(db: Session, principal: Principal, station_id: str, ip: str | None) -> None:
    scope = principal.scope
    station = _station(db, scope, station_id)
    count = _count_compressors(db, scope, CompressorMetadata.station_id == station_id)
    if count:
        raise Conflict(
            f"Station {station_id} still has {count} compressor{'s' if count != 1 else ''} (archived ones "
            "included): move them to another station or remove them first"
        )
    db.delete(station)
    db.flush()
    audit_action(db, principal, "fleet.station.delete", target_type="station", target_id=station_id, ip=ip)
    _changed(db, principal)


def _apply(row: Any, values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Set the values that differ; returns {column: {"from": old, "to": new}} for the audit log."""
    changes: dict[str, dict[str, Any]] = {}
    for column, value in values.items():
        old = getattr(row, column)
        if old != value:
            setattr(row, column, value)
            changes[column] = {"from": _json(old), "to": _json(value)}
    return changes


def _json(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


# --- compressor models -------------------------------------------------------------------------------


def _model_out(model: CompressorModel, count: int) -> RegisteredModel:
    return RegisteredModel(
        id=model.id,
        manufacturer=model.manufacturer,
        model=model.model,
        name=model.display_name,
        rated_hp=model.rated_hp,
        compressor_count=count,
        created_at=model.created_at,
    )


def list_models(db: Session, scope: OrgScope) -> ModelList:
    m, c = CompressorModel, CompressorMetadata
    grouped = scoped(select(c.model_id, func.count()), scope, c).where(c.model_id.is_not(None))
    counts = {row[0]: int(row[1]) for row in db.execute(grouped.group_by(c.model_id))}
    models = db.scalars(scoped(select(m), scope, m).order_by(m.manufacturer, m.model)).all()
    items = [_model_out(model, int(counts.get(model.id, 0))) for model in models]
    return ModelList(items=items, total=len(items))


def create_model(db: Session, principal: Principal, body: ModelCreate, ip: str | None) -> RegisteredModel:
    scope = principal.scope
    m = CompressorModel
    taken = scoped(select(m.id), scope, m).where(m.manufacturer == body.manufacturer, m.model == body.model)
    if db.scalar(taken) is not None:
        raise Conflict(f"Model {model_display_name(body.manufacturer, body.model)} is already registered")
    model = CompressorModel(
        organization_id=scope.organization_id,
        manufacturer=body.manufacturer,
        model=body.model,
        rated_hp=body.rated_hp,
    )
    db.add(model)
    _flush(db, f"Model {model_display_name(body.manufacturer, body.model)} is already registered")
    audit_action(
        db,
        principal,
        "fleet.model.create",
        target_type="compressor_model",
        target_id=model.id,
        ip=ip,
        details=body.model_dump(mode="json"),
    )
    _changed(db, principal)
    return _model_out(model, 0)


def update_model(
    db: Session, principal: Principal, model_id: uuid.UUID, body: ModelUpdate, ip: str | None
) -> RegisteredModel:
    scope = principal.scope
    model = _model(db, scope, model_id)
    given = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    changes = _apply(model, given)
    if changes:
        _flush(db, f"Model {model.display_name} is already registered")
        # compressors carry their model's name and rated HP (what the fleet pages and the pipeline read)
        c = CompressorMetadata
        for compressor in db.scalars(scoped(select(c), scope, c).where(c.model_id == model.id)):
            compressor.model = model.display_name
            compressor.horsepower = model.rated_hp
        audit_action(
            db,
            principal,
            "fleet.model.update",
            target_type="compressor_model",
            target_id=model.id,
            ip=ip,
            details={"changes": changes},
        )
        _changed(db, principal)
    count = _count_compressors(db, scope, CompressorMetadata.model_id == model.id)
    return _model_out(model, count)


def delete_model(db: Session, principal: Principal, model_id: uuid.UUID, ip: str | None) -> None:
    scope = principal.scope
    model = _model(db, scope, model_id)
    count = _count_compressors(db, scope, CompressorMetadata.model_id == model.id)
    if count:
        raise Conflict(
            f"Model {model.display_name} is used by {count} compressor{'s' if count != 1 else ''} (archived "
            "ones included): give them another model first"
        )
    o = ThresholdOverride
    overrides = scoped(select(o), scope, o).where(o.scope_type == "model", o.scope_id == str(model.id))
    if db.scalar(overrides.limit(1)) is not None:
        before = thresholds.load(db, scope.organization_id).set_at("model", str(model.id))
        db.execute(scoped(delete(o), scope, o).where(o.scope_type == "model", o.scope_id == str(model.id)))
        thresholds.record_change(
            db,
            scope.organization_id,
            scope_type="model",
            scope_id=str(model.id),
            kind="overrides",
            before=before,
            after={},
            compressors=[],  # no compressor has the model
            changed_by=principal.actor,
        )
    db.delete(model)
    db.flush()
    audit_action(
        db,
        principal,
        "fleet.model.delete",
        target_type="compressor_model",
        target_id=model_id,
        ip=ip,
        details={"name": model.display_name},
    )
    _changed(db, principal)


# --- compressors -------------------------------------------------------------------------------------


def _compressor_out(compressor: CompressorMetadata, station_name: str) -> RegisteredCompressor:
    return RegisteredCompressor(
        compressor_id=compressor.compressor_id,
        station_id=compressor.station_id,
        station_name=station_name,
        model_id=compressor.model_id,
        model=compressor.model,
        horsepower=compressor.horsepower,
        install_date=compressor.install_date,
        notes=compressor.notes,
        archived_at=compressor.archived_at,
        created_at=compressor.created_at,
        updated_at=compressor.updated_at,
    )


def list_compressors(
    db: Session,
    principal: Principal,
    *,
    archived: str = "false",
    station: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> CompressorPage:
    """Registered compressors in id order; `archived`: false (the fleet), true (the archive) or all."""
    scope = principal.scope
    c, s = CompressorMetadata, StationLocation
    query = scoped(
        select(c, s.station_name).join(
            s, (s.organization_id == c.organization_id) & (s.station_id == c.station_id)
        ),
        scope,
        c,
        s,
    )
    if archived == "false":
        query = query.where(c.archived_at.is_(None))
    elif archived == "true":
        query = query.where(c.archived_at.is_not(None))
    if station is not None:
        query = query.where(c.station_id == station)
    total = int(db.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = db.execute(query.order_by(c.compressor_id).limit(limit).offset(offset)).all()
    plan = principal.plan
    return CompressorPage(
        items=[_compressor_out(row[0], row[1]) for row in rows],
        total=total,
        limit=limit,
        offset=offset,
        plan=plan.name,
        max_compressors=plan.max_compressors,
        registered=registered_compressor_count(db, scope.organization_id),
    )


def _plan_check(db: Session, principal: Principal) -> None:
    refusal = registration_refusal(db, principal.organization.id)
    if refusal is not None:
        raise UpgradeRequired(refusal, principal.plan.tier)


def create_compressor(
    db: Session, principal: Principal, body: CompressorCreate, ip: str | None
) -> RegisteredCompressor:
    scope = principal.scope
    c = CompressorMetadata
    existing = db.scalar(scoped(select(c), scope, c).where(c.compressor_id == body.compressor_id))
    if existing is not None:
        if existing.archived_at is not None:
            raise Conflict(
                f"Compressor {body.compressor_id} is archived: restore it (PATCH "
                f"/api/compressors/{body.compressor_id} with archived=false) instead of registering it again"
            )
        raise Conflict(f"Compressor {body.compressor_id} is already registered; change it with PATCH instead")
    station = _station(db, scope, body.station_id)
    model = _model(db, scope, body.model_id)
    _plan_check(db, principal)
    compressor = CompressorMetadata(
        organization_id=scope.organization_id,
        compressor_id=body.compressor_id,
        station_id=station.station_id,
        model_id=model.id,
        model=model.display_name,
        horsepower=model.rated_hp,
        install_date=body.install_date,
        notes=body.notes,
    )
    db.add(compressor)
    _flush(db, f"Compressor {body.compressor_id} is already registered")
    audit_action(
        db,
        principal,
        "fleet.compressor.create",
        target_type="compressor",
        target_id=compressor.compressor_id,
        ip=ip,
        details=body.model_dump(mode="json"),
    )
    _changed(db, principal)
    return _compressor_out(compressor, station.station_name)


def update_compressor(
    db: Session, principal: Principal, compressor_id: str, body: CompressorUpdate, ip: str | None
) -> RegisteredCompressor:
    scope = principal.scope
    compressor = _compressor(db, scope, compressor_id)
    given = body.model_dump(exclude_unset=True)
    for required in ("station_id", "model_id", "install_date"):
        if required in given and given[required] is None:
            raise FieldError(required, "cannot be empty")
    archived = given.pop("archived", None)
    values: dict[str, Any] = {}
    if "station_id" in given:
        values["station_id"] = _station(db, scope, given["station_id"]).station_id
    old_model = compressor.model_id
    if "model_id" in given:
        model = _model(db, scope, given["model_id"])
        values.update(model_id=model.id, model=model.display_name, horsepower=model.rated_hp)
    for field in ("install_date", "notes"):
        if field in given:
            values[field] = given[field]
    action = "fleet.compressor.update"
    if archived is True and compressor.archived_at is None:
        values["archived_at"] = utcnow()
        action = "fleet.compressor.archive"
    elif archived is False and compressor.archived_at is not None:
        _plan_check(db, principal)
        values["archived_at"] = None
        action = "fleet.compressor.restore"
    changes = _apply(compressor, values)
    if changes:
        db.flush()
        if compressor.model_id != old_model and compressor.archived_at is None:
            thresholds.record_change(
                db,
                scope.organization_id,
                scope_type="compressor",
                scope_id=compressor_id,
                kind="model_assignment",
                before={"model_id": _json(old_model)},
                after={"model_id": _json(compressor.model_id)},
                compressors=[compressor_id],
                changed_by=principal.actor,
            )
        audit_action(
            db,
            principal,
            action,
            target_type="compressor",
            target_id=compressor_id,
            ip=ip,
            details={"changes": changes},
        )
        _changed(db, principal)
    return _compressor_out(compressor, _station(db, scope, compressor.station_id).station_name)


def has_data(db: Session, scope: OrgScope, compressor_id: str) -> bool:
    for model in (SensorReadingAgg, AlertHistory, MaintenanceEvent):
        query = scoped(select(model.compressor_id), scope, model).where(model.compressor_id == compressor_id)
        if db.scalar(query.limit(1)) is not None:
            return True
    return False


def remove_compressor(
    db: Session, principal: Principal, compressor_id: str, ip: str | None
) -> CompressorRemoval:
    """Archive a compressor that has data; delete one that never had any."""
    scope = principal.scope
    compressor = _compressor(db, scope, compressor_id)
    if has_data(db, scope, compressor_id):
        if compressor.archived_at is None:
            compressor.archived_at = utcnow()
            db.flush()
            audit_action(
                db,
                principal,
                "fleet.compressor.archive",
                target_type="compressor",
                target_id=compressor_id,
                ip=ip,
                details={"reason": "removed; its data is kept"},
            )
            _changed(db, principal)
        return CompressorRemoval(
            compressor_id=compressor_id, outcome="archived", archived_at=compressor.archived_at
        )
    o = ThresholdOverride
    db.execute(scoped(delete(o), scope, o).where(o.scope_type == "compressor", o.scope_id == compressor_id))
    db.delete(compressor)
    db.flush()
    audit_action(
        db, principal, "fleet.compressor.delete", target_type="compressor", target_id=compressor_id, ip=ip
    )
    _changed(db, principal)
    return CompressorRemoval(compressor_id=compressor_id, outcome="deleted", archived_at=None)
