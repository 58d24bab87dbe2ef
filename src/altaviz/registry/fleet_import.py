"""Fleet import: stations, compressor models and compressors from one CSV or Parquet file.

One row per compressor (or per station, with compressor_id left empty), with the columns of
`TEMPLATE_COLUMNS`. Each row is judged on its own, in file order, against the registry as the rows
before it left it: a row either applies whole (its station, model and compressor created or changed)
or is refused whole with its reason and the column at fault. A dry run answers exactly what the same
import would do (it runs it and rolls the transaction back), so what the page shows before "Import"
is what the import does.
"""

import csv
import io
import math
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from altaviz.accounts import audit, data_version
from altaviz.accounts.audit import AuditLog
from altaviz.accounts.principal import Principal
from altaviz.accounts.scoping import scoped
from altaviz.billing.limits import registered_compressor_count, registration_refusal
from altaviz.db.base import utcnow
from altaviz.fleet.identifiers import COMPRESSOR_ID_RULE, compressor_id_problem
from altaviz.monitoring.models import CompressorMetadata, StationLocation
from altaviz.registry import thresholds
from altaviz.registry.models import CompressorModel, model_display_name
from altaviz.registry.schemas import (
    IMPORT_COLUMNS,
    IMPORT_OPTIONAL_COLUMNS,
    FieldError,
    ImportChange,
    ImportCounts,
    ImportResult,
    ImportRow,
    station_id_problem,
)

MAX_IMPORT_ROWS = 10_000
TEMPLATE_COLUMNS: tuple[str, ...] = IMPORT_COLUMNS + IMPORT_OPTIONAL_COLUMNS
PARQUET_MAGIC = b"PAR1"
STATION_COLUMNS = {  # file column -> station_locations column
    "station_name": "station_name",
    "latitude": "latitude",
    "longitude": "longitude",
    "basin": "basin",
    "region": "region",
    "city": "city",
    "state": "state",
}
TEXT_LIMITS = {
    "station_name": 200,
    "basin": 100,
    "region": 100,
    "city": 100,
    "manufacturer": 100,
    "model": 100,
}

DESCRIPTION = f"""
Send the file as the body: `Content-Type: text/csv` (UTF-8, a header row) or
`application/vnd.apache.parquet`. Columns: {", ".join(f"`{c}`" for c in TEMPLATE_COLUMNS)}
(the last three optional; `GET /dashboard/settings/fleet/template.csv` is a template). One row per
compressor; a row without `compressor_id` registers or changes only its station. A row creates or
changes the station (`station_name`, `latitude`, `longitude` are needed to create one), the model
(`manufacturer`, `model`; `rated_hp` to create one) and the compressor (`install_date` and a model to
create one); an empty cell leaves a value as it is. Rows are judged one by one, in file order: each
applies whole or is refused whole, with the reason and the column at fault. With `dry_run=true` the
answer says row by row what would be created, changed or refused, and nothing changes. At most
{MAX_IMPORT_ROWS:,} rows per file; the plan's compressor limit applies as rows register compressors.
"""


def template_csv() -> str:
    """A CSV template with the columns and two example rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TEMPLATE_COLUMNS)
    writer.writerow(
        [
            "COMP-001",
            "STATION-A",
            "Eagle Ford Station A",
            "28.9144",
            "-98.5242",
            "Eagle Ford Shale",
            "Ajax",
            "DPC-360",
            "1340",
            "2021-03-15",
            "",
            "South Texas",
            "Karnes City",
            "TX",
        ]
    )
    writer.writerow(
        [
            "COMP-002",
            "STATION-A",
            "",
            "",
            "",
            "",
            "Ariel",
            "JGK/4",
            "1480",
            "2022-06-01",
            "spare unit",
            "",
            "",
            "",
        ]
    )
    return out.getvalue()


# --- reading the file --------------------------------------------------------------------------------


def parse(content: bytes, content_type: str | None) -> list[dict[str, str | None]]:
    """The file's rows as {column: text or None}; FieldError for a file that cannot be read at all."""
    media = (content_type or "").split(";")[0].strip().lower()
    if not content.strip():
        raise FieldError("body", "the file is empty: send a CSV or Parquet file with a header row")
    if "parquet" in media or content.startswith(PARQUET_MAGIC):
        rows = _parquet(content)
    elif media in ("", "text/csv", "text/plain", "application/csv", "application/octet-stream"):
        rows = _csv(content)
    else:
        raise FieldError(
            "body",
            f"unsupported Content-Type {media!r}: send text/csv or application/vnd.apache.parquet",
        )
    if len(rows) > MAX_IMPORT_ROWS:
        raise FieldError(
            "body", f"the file has {len(rows):,} rows; import at most {MAX_IMPORT_ROWS:,} per file (split it)"
        )
    if not rows:
        raise FieldError("body", "the file has a header but no rows")
    return rows


def _columns(names: list[str]) -> list[str]:
    columns = [name.strip().lower() for name in names]
    unknown = [c for c in columns if c not in TEMPLATE_COLUMNS]
    if unknown:
        raise FieldError(
            unknown[0], f"unknown column {unknown[0]!r}; the columns are {', '.join(TEMPLATE_COLUMNS)}"
        )
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise FieldError(duplicated[0], f"column {duplicated[0]!r} appears twice")
    if "station_id" not in columns:
        raise FieldError("station_id", "the file needs a station_id column (every row names its station)")
    return columns


def _csv(content: bytes) -> list[dict[str, str | None]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise FieldError(
            "body", f"the CSV is not UTF-8 text (byte {error.start}): save it as UTF-8"
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
        columns = _columns(header)
        rows = []
        for number, values in enumerate(reader, start=1):
            if not any(v.strip() for v in values):
                continue  # a blank line
            if len(values) > len(columns):
                raise FieldError(
                    "body", f"row {number} has {len(values)} cells but the header has {len(columns)}"
                )
            cells = values + [""] * (len(columns) - len(values))
            rows.append({c: (v.strip() or None) for c, v in zip(columns, cells, strict=True)})
    except csv.Error as error:
        raise FieldError("body", f"the CSV cannot be read: {error}") from None
    return rows


def _parquet(content: bytes) -> list[dict[str, str | None]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(content))
    except (pa.ArrowException, OSError) as error:
        raise FieldError("body", f"the Parquet file cannot be read: {error}") from None
    columns = _columns(table.column_names)
    rows = []
    for record in table.to_pylist():
        row: dict[str, str | None] = {}
        for name, column in zip(table.column_names, columns, strict=True):
            value = record[name]
            if value is None:
                row[column] = None
            elif isinstance(value, date):
                row[column] = value.isoformat()[:10]
            else:
                row[column] = str(value).strip() or None
        rows.append(row)
    return rows


# --- judging and applying rows -----------------------------------------------------------------------


class Refused(Exception):
    def __init__(self, field: str | None, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


@dataclass
class _Registry:
    """The organization's registry as earlier rows of the file left it."""

    stations: dict[str, StationLocation]
    models: dict[tuple[str, str], CompressorModel]
    compressors: dict[str, CompressorMetadata]
    registered: int
    max_compressors: int | None
    counts: dict[str, ImportCounts] = field(default_factory=dict)
    audits: list[dict[str, Any]] = field(default_factory=list)  # written at the end, in one statement


def _audit(
    reg: _Registry,
    principal: Principal,
    action: str,
    target_type: str,
    target_id: object,
    ip: str | None,
    details: dict[str, Any],
) -> None:
    """An audit row of the import (accounts.audit's columns and rules), kept until the end."""
    actor = audit.Actor.of(principal)
    reg.audits.append(
        {
            "organization_id": principal.organization.id,
            "actor_type": actor.type,
            "actor_id": actor.id,
            "actor_name": actor.name[:200],
            "action": action,
            "target_type": target_type,
            "target_id": str(target_id)[:255],
            "ip": audit.clean_ip(ip),
            "details": audit.redact(details),
            "created_at": utcnow(),
        }
    )


def _number(row: dict[str, str | None], column: str, low: float, high: float) -> float | None:
    text = row.get(column)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise Refused(column, f"{column} {text!r} is not a number") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise Refused(column, f"{column} {text} is outside {low:g}…{high:g}")
    return value


def _text(row: dict[str, str | None], column: str) -> str | None:
    value = row.get(column)
    if value is not None and len(value) > TEXT_LIMITS.get(column, 2000):
        raise Refused(column, f"{column} is longer than {TEXT_LIMITS.get(column, 2000)} characters")
    return value


def _station_plan(reg: _Registry, row: dict[str, str | None]) -> tuple[str, dict[str, Any] | None, bool]:
    """(station id, the station columns to set or None, whether it is new)."""
    station_id = row.get("station_id")
    if station_id is None:
        raise Refused("station_id", "station_id is empty")
    problem = station_id_problem(station_id)
    if problem is not None:
        raise Refused("station_id", f"{problem} (a station id is {COMPRESSOR_ID_RULE})")
    values: dict[str, Any] = {}
    for column in ("station_name", "basin", "region", "city"):
        if (text := _text(row, column)) is not None:
            values[column] = text
    if (state := row.get("state")) is not None:
        if len(state) != 2 or not state.isalpha():
            raise Refused("state", f"state {state!r} is not a two-letter code")
        values["state"] = state.upper()
    for column, low, high in (("latitude", -90.0, 90.0), ("longitude", -180.0, 180.0)):
        if (number := _number(row, column, low, high)) is not None:
            values[column] = number
    existing = reg.stations.get(station_id)
    if existing is None:
        missing = [c for c in ("station_name", "latitude", "longitude") if c not in values]
        if missing:
            raise Refused(
                missing[0],
                f"station {station_id} is not registered: give station_name, latitude and longitude to "
                f"register it ({', '.join(missing)} missing)",
            )
        return station_id, values, True
    changed = {c: v for c, v in values.items() if getattr(existing, c) != v}
    return station_id, changed or None, False


def _model_plan(
    reg: _Registry, row: dict[str, str | None]
) -> tuple[tuple[str, str] | None, dict[str, Any] | None, bool]:
    manufacturer, model = _text(row, "manufacturer"), _text(row, "model")
    rated = _number(row, "rated_hp", 1, 100_000)
    if manufacturer is None and model is None:
        if rated is not None:
            raise Refused("manufacturer", "rated_hp is given without manufacturer and model")
        return None, None, False
    if manufacturer is None or model is None:
        missing = "manufacturer" if manufacturer is None else "model"
        raise Refused(missing, f"{missing} is empty: a model is named by manufacturer and model")
    if rated is not None and rated != int(rated):
        raise Refused("rated_hp", f"rated_hp {row.get('rated_hp')} is not a whole number")
    key = (manufacturer, model)
    existing = reg.models.get(key)
    if existing is None:
        if rated is None:
            raise Refused(
                "rated_hp", f"model {model_display_name(*key)} is not registered: give its rated_hp"
            )
        return key, {"manufacturer": manufacturer, "model": model, "rated_hp": int(rated)}, True
    if rated is not None and existing.rated_hp != int(rated):
        return key, {"rated_hp": int(rated)}, False
    return key, None, False


def _compressor_plan(
    reg: _Registry, row: dict[str, str | None], station_id: str, model_key: tuple[str, str] | None
) -> tuple[str, dict[str, Any] | None, bool] | None:
    compressor_id = row.get("compressor_id")
    if compressor_id is None:
        if any(row.get(c) is not None for c in ("install_date", "notes")) or model_key is not None:
            raise Refused("compressor_id", "compressor_id is empty but the row has compressor columns")
        return None
    problem = compressor_id_problem(compressor_id)
    if problem is not None:
        raise Refused("compressor_id", f"{problem} (a compressor id is {COMPRESSOR_ID_RULE})")
    installed: date | None = None
    if (text := row.get("install_date")) is not None:
        try:
            installed = date.fromisoformat(text[:10] if len(text) > 10 and text[10] in "T " else text)
        except ValueError:
            raise Refused("install_date", f"install_date {text!r} is not a date (YYYY-MM-DD)") from None
    notes = row.get("notes")
    if notes is not None and len(notes) > 2000:
        raise Refused("notes", "notes are longer than 2000 characters")
    existing = reg.compressors.get(compressor_id)
    if existing is None:
        if model_key is None:
            raise Refused("model", f"compressor {compressor_id} is new: give its manufacturer and model")
        if installed is None:
            raise Refused("install_date", f"compressor {compressor_id} is new: give its install_date")
        if reg.max_compressors is not None and reg.registered >= reg.max_compressors:
            raise Refused("compressor_id", "")  # the reason is the plan's (filled in by the caller)
        values: dict[str, Any] = {"station_id": station_id, "install_date": installed, "notes": notes}
        return compressor_id, values, True
    if existing.archived_at is not None:
        raise Refused(
            "compressor_id",
            f"compressor {compressor_id} is archived: restore it (PATCH /api/compressors/{compressor_id} "
            "with archived=false) before importing it",
        )
    changed: dict[str, Any] = {}
    if existing.station_id != station_id:
        changed["station_id"] = station_id
    if installed is not None and existing.install_date != installed:
        changed["install_date"] = installed
    if notes is not None and existing.notes != notes:
        changed["notes"] = notes
    if model_key is not None:
        current = reg.models.get(model_key)
        if current is None or existing.model_id != current.id:
            changed["model_key"] = model_key
    return compressor_id, changed or None, False


def _count(reg: _Registry, entity: str, action: str) -> None:
    counts = reg.counts.setdefault(entity, ImportCounts())
    setattr(counts, action, getattr(counts, action) + 1)


def _apply_row(
    db: Session, principal: Principal, reg: _Registry, number: int, row: dict[str, str | None], ip: str | None
) -> list[ImportChange]:
    station_id, station_values, new_station = _station_plan(reg, row)
    model_key, model_values, new_model = _model_plan(reg, row)
    compressor = _compressor_plan(reg, row, station_id, model_key)
    organization_id = principal.organization.id
    via = {"via": "import", "row": number}
    changes: list[ImportChange] = []

    # station
    if new_station:
        assert station_values is not None
        station = StationLocation(organization_id=organization_id, station_id=station_id, **station_values)
        db.add(station)
        db.flush()  # before any compressor that refers to it (the ORM orders no inserts by foreign key)
        reg.stations[station_id] = station
        changes.append(ImportChange(entity="station", id=station_id, action="created"))
        _audit(
            reg,
            principal,
            "fleet.station.create",
            "station",
            station_id,
            ip,
            {**via, **station_values},
        )
    elif station_values:
        station = reg.stations[station_id]
        for column, value in station_values.items():
            setattr(station, column, value)
        changes.append(
            ImportChange(entity="station", id=station_id, action="changed", fields=sorted(station_values))
        )
        _audit(
            reg,
            principal,
            "fleet.station.update",
            "station",
            station_id,
            ip,
            {**via, "changes": sorted(station_values)},
        )
    elif compressor is None or row.get("station_name") is not None:
        changes.append(ImportChange(entity="station", id=station_id, action="unchanged"))

    # model
    model: CompressorModel | None = None
    if model_key is not None:
        if new_model:
            assert model_values is not None
            model = CompressorModel(id=uuid.uuid4(), organization_id=organization_id, **model_values)
            db.add(model)
            db.flush()  # likewise before its compressors
            reg.models[model_key] = model
            changes.append(ImportChange(entity="model", id=model.display_name, action="created"))
            _audit(
                reg,
                principal,
                "fleet.model.create",
                "compressor_model",
                model.id,
                ip,
                {**via, **model_values},
            )
        else:
            model = reg.models[model_key]
            if model_values:
                model.rated_hp = model_values["rated_hp"]
                for unit in reg.compressors.values():
                    if unit.model_id == model.id:
                        unit.horsepower = model.rated_hp
                changes.append(
                    ImportChange(entity="model", id=model.display_name, action="changed", fields=["rated_hp"])
                )
                _audit(
                    reg,
                    principal,
                    "fleet.model.update",
                    "compressor_model",
                    model.id,
                    ip,
                    {**via, "changes": {"rated_hp": model.rated_hp}},
                )
            else:
                changes.append(ImportChange(entity="model", id=model.display_name, action="unchanged"))

    # compressor
    if compressor is not None:
        compressor_id, values, new = compressor
        if new:
            assert values is not None and model is not None
            unit = CompressorMetadata(
                organization_id=organization_id,
                compressor_id=compressor_id,
                model_id=model.id,
                model=model.display_name,
                horsepower=model.rated_hp,
                **values,
            )
            db.add(unit)
            reg.compressors[compressor_id] = unit
            reg.registered += 1
            changes.append(ImportChange(entity="compressor", id=compressor_id, action="created"))
            _audit(
                reg,
                principal,
                "fleet.compressor.create",
                "compressor",
                compressor_id,
                ip,
                {**via, "station_id": station_id, "model": model.display_name},
            )
        elif values:
            unit = reg.compressors[compressor_id]
            fields = sorted(k if k != "model_key" else "model" for k in values)
            old_model = unit.model_id
            for column, value in values.items():
                if column == "model_key":
                    assert model is not None
                    unit.model_id, unit.model, unit.horsepower = model.id, model.display_name, model.rated_hp
                else:
                    setattr(unit, column, value)
            if unit.model_id != old_model:
                thresholds.record_change(
                    db,
                    organization_id,
                    scope_type="compressor",
                    scope_id=compressor_id,
                    kind="model_assignment",
                    before={"model_id": None if old_model is None else str(old_model)},
                    after={"model_id": str(unit.model_id)},
                    compressors=[compressor_id],
                    changed_by=principal.actor,
                )
            changes.append(
                ImportChange(entity="compressor", id=compressor_id, action="changed", fields=fields)
            )
            _audit(
                reg,
                principal,
                "fleet.compressor.update",
                "compressor",
                compressor_id,
                ip,
                {**via, "changes": fields},
            )
        else:
            changes.append(ImportChange(entity="compressor", id=compressor_id, action="unchanged"))
    return changes


def import_fleet(
    db: Session,
    principal: Principal,
    content: bytes,
    content_type: str | None,
    *,
    dry_run: bool,
    ip: str | None,
) -> ImportResult:
    """Judge and apply every row in the caller's write transaction; the caller commits unless dry_run."""
    rows = parse(content, content_type)
    scope = principal.scope
    organization_id = scope.organization_id
    s, m, c = StationLocation, CompressorModel, CompressorMetadata
    reg = _Registry(
        stations={row.station_id: row for row in db.scalars(scoped(select(s), scope, s))},
        models={(row.manufacturer, row.model): row for row in db.scalars(scoped(select(m), scope, m))},
        compressors={row.compressor_id: row for row in db.scalars(scoped(select(c), scope, c))},
        registered=registered_compressor_count(db, organization_id),
        max_compressors=principal.plan.max_compressors,
    )
    results: list[ImportRow] = []
    for number, row in enumerate(rows, start=1):
        try:
            changes = _apply_row(db, principal, reg, number, row, ip)
        except Refused as refusal:
            reason = refusal.reason or (
                registration_refusal(db, organization_id) or "the plan's compressor limit"
            )
            results.append(ImportRow(row=number, status="refused", reason=reason, field=refusal.field))
            continue
        for change in changes:
            _count(reg, change.entity, change.action)
        results.append(ImportRow(row=number, status="ok", changes=changes))
    accepted = sum(1 for r in results if r.status == "ok")
    result = ImportResult(
        dry_run=dry_run,
        committed=not dry_run,
        rows=len(rows),
        accepted=accepted,
        refused=len(rows) - accepted,
        stations=reg.counts.get("station", ImportCounts()),
        models=reg.counts.get("model", ImportCounts()),
        compressors=reg.counts.get("compressor", ImportCounts()),
        results=results,
    )
    if not dry_run:
        _audit(
            reg,
            principal,
            "fleet.import",
            "organization",
            organization_id,
            ip,
            {
                "rows": result.rows,
                "accepted": result.accepted,
                "refused": result.refused,
                "stations": result.stations.model_dump(),
                "models": result.models.model_dump(),
                "compressors": result.compressors.model_dump(),
            },
        )
    db.flush()  # the compressors' rows, in one unit of work (their stations and models are in already)
    if not dry_run:
        db.execute(insert(AuditLog), reg.audits)
        data_version.bump(db, organization_id)
    return result
