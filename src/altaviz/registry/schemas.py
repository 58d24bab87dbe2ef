"""What the registry API accepts and answers: stations, compressor models, compressors, thresholds,
fleet imports."""

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from altaviz.fleet.identifiers import COMPRESSOR_ID_RULE, compressor_id_problem
from altaviz.fleet.thresholds import DEFAULT_THRESHOLDS


class FieldError(ValueError):
    """A body field the request cannot have, found by a service (the API answers 422 naming it)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# --- identifiers -------------------------------------------------------------------------------------


def _compressor_id(value: str) -> str:
    problem = compressor_id_problem(value)
    if problem is not None:
        raise ValueError(f"{problem} (a compressor id is {COMPRESSOR_ID_RULE})")
    return value


def station_id_problem(value: object) -> str | None:
    """Station ids follow the compressor id rule (same characters, same 64-character columns)."""
    problem = compressor_id_problem(value)
    return None if problem is None else problem.replace("compressor_id", "station_id")


def _station_id(value: str) -> str:
    problem = station_id_problem(value)
    if problem is not None:
        raise ValueError(f"{problem} (a station id is {COMPRESSOR_ID_RULE})")
    return value


CompressorId = Annotated[str, AfterValidator(_compressor_id)]
StationId = Annotated[str, AfterValidator(_station_id)]


def _one_line(value: str) -> str:
    # (a NUL would reach PostgreSQL, which refuses it in text: a 500 instead of this 422)
    if any(ord(char) < 0x20 or char == "\x7f" for char in value):
        raise ValueError("must be a single line without control characters")
    return value


def _text(value: str) -> str:
    if any((ord(char) < 0x20 and char not in "\t\n\r") or char == "\x7f" for char in value):
        raise ValueError("must not contain control characters (line breaks and tabs are allowed)")
    return value


Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(_one_line)
]
Text100 = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), AfterValidator(_one_line)
]
OptionalText100 = (
    Annotated[str, StringConstraints(strip_whitespace=True, max_length=100), AfterValidator(_one_line)] | None
)
State = (
    Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{2}$")] | None
)
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False, strict=True)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False, strict=True)]
RatedHp = Annotated[int, Field(ge=1, le=100_000, strict=True)]
Notes = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_text)] | None


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- stations ----------------------------------------------------------------------------------------


class StationCreate(_In):
    station_id: StationId = Field(description=f"Unique within the organization: {COMPRESSOR_ID_RULE}.")
    name: Name
    latitude: Latitude
    longitude: Longitude
    basin: OptionalText100 = None
    region: OptionalText100 = None
    city: OptionalText100 = None
    state: State = Field(None, description="Two-letter state or province code.")


class StationUpdate(_In):
    name: Name | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    basin: OptionalText100 = None
    region: OptionalText100 = None
    city: OptionalText100 = None
    state: State = None


class RegisteredStation(_Out):
    station_id: str
    name: str
    latitude: float
    longitude: float
    basin: str | None
    region: str | None
    city: str | None
    state: str | None
    compressor_count: int = Field(description="Compressors at the station, archived ones included.")
    created_at: datetime


# --- compressor models -------------------------------------------------------------------------------


class ModelCreate(_In):
    manufacturer: Text100
    model: Text100
    rated_hp: RatedHp


class ModelUpdate(_In):
    manufacturer: Text100 | None = None
    model: Text100 | None = None
    rated_hp: RatedHp | None = None


class RegisteredModel(_Out):
    id: uuid.UUID
    manufacturer: str
    model: str
    name: str = Field(description="Manufacturer and model, as the fleet pages show it.")
    rated_hp: int
    compressor_count: int
    created_at: datetime


class ModelList(BaseModel):
    items: list[RegisteredModel]
    total: int


# --- compressors -------------------------------------------------------------------------------------


class CompressorCreate(_In):
    compressor_id: CompressorId = Field(description=f"Unique within the organization: {COMPRESSOR_ID_RULE}.")
    station_id: StationId
    model_id: uuid.UUID = Field(description="A registered compressor model (GET /api/compressor-models).")
    install_date: date
    notes: Notes = None


class CompressorUpdate(_In):
    station_id: StationId | None = None
    model_id: uuid.UUID | None = None
    install_date: date | None = None
    notes: Notes = None
    archived: bool | None = Field(
        None, description="true archives the compressor (as DELETE does); false restores it."
    )


class RegisteredCompressor(_Out):
    compressor_id: str
    station_id: str
    station_name: str
    model_id: uuid.UUID | None
    model: str
    horsepower: int
    install_date: date
    notes: str | None
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime


class CompressorPage(BaseModel):
    items: list[RegisteredCompressor]
    total: int
    limit: int
    offset: int
    plan: str = Field(description="The organization's plan.")
    max_compressors: int | None = Field(description="How many compressors the plan covers (null: unlimited).")
    registered: int = Field(description="Compressors registered and not archived (what the plan counts).")


class CompressorRemoval(BaseModel):
    compressor_id: str
    outcome: Literal["archived", "deleted"] = Field(
        description="archived: it has data, which is kept (restore with PATCH archived=false); "
        "deleted: it had no data at all."
    )
    archived_at: datetime | None


# --- fleet import ------------------------------------------------------------------------------------

IMPORT_COLUMNS: tuple[str, ...] = (
    "compressor_id",
    "station_id",
    "station_name",
    "latitude",
    "longitude",
    "basin",
    "manufacturer",
    "model",
    "rated_hp",
    "install_date",
    "notes",
)
IMPORT_OPTIONAL_COLUMNS: tuple[str, ...] = ("region", "city", "state")

Action = Literal["created", "changed", "unchanged"]


class ImportChange(BaseModel):
    entity: Literal["station", "model", "compressor"]
    id: str
    action: Action
    fields: list[str] = Field(default_factory=list, description="The fields a change sets.")


class ImportRow(BaseModel):
    row: int = Field(description="Row number in the file: 1 is the first row after the header.")
    status: Literal["ok", "refused"]
    changes: list[ImportChange] = Field(default_factory=list)
    reason: str | None = None
    field: str | None = Field(None, description="The column at fault, when one is.")


class ImportCounts(BaseModel):
    created: int = 0
    changed: int = 0
    unchanged: int = 0


class ImportResult(BaseModel):
    dry_run: bool
    committed: bool = Field(description="True when the accepted rows were saved (never on a dry run).")
    rows: int
    accepted: int
    refused: int
    stations: ImportCounts
    models: ImportCounts
    compressors: ImportCounts
    results: list[ImportRow]


# --- thresholds --------------------------------------------------------------------------------------

MetricName = Literal[
    "vibration_mms",
    "discharge_temp_f",
    "discharge_pressure_psi",
    "suction_pressure_psi",
    "horsepower_consumption",
    "gas_flow_mcf",
    "pressure_differential",
    "temp_rate_of_change",
]
assert set(MetricName.__args__) == {t.metric for t in DEFAULT_THRESHOLDS}  # type: ignore[attr-defined]

Limit = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Count = Annotated[int, Field(strict=True, ge=1, le=1000)]


class MetricOverride(_In):
    """The fields a scope sets for one metric; a field left out (or null) inherits."""

    warning: Limit | None = None
    critical: Limit | None = None
    on_delay: Count | None = Field(None, description="Consecutive violating readings before an alert opens.")
    clear_count: Count | None = Field(None, description="Consecutive normal readings before it clears.")


class ThresholdsPut(_In):
    metrics: dict[MetricName, MetricOverride] = Field(
        description="The whole override set of the scope: a metric left out has no override there."
    )


SourceName = Literal["default", "organization", "model", "compressor"]


class EffectiveMetric(BaseModel):
    metric: str
    label: str
    unit: str
    direction: Literal["high", "low"]
    warning: float
    critical: float | None
    on_delay: int
    clear_count: int
    sources: dict[str, SourceName] = Field(description="Where each value comes from.")
    default: dict[str, float | int | None] = Field(description="The value of each field by default.")


class ThresholdsOut(BaseModel):
    scope: str = Field(description="organization, model:<id> or compressor:<id>.")
    scope_name: str
    version: int = Field(description="The organization's thresholds version (grows with every change).")
    overrides: dict[str, dict[str, float | int]] = Field(description="What this scope sets itself.")
    effective: list[EffectiveMetric]


class ThresholdChangeOut(_Out):
    version: int
    scope: str
    kind: str
    before: dict[str, object]
    after: dict[str, object]
    compressors: list[str] | None
    changed_by: str
    changed_at: datetime


class ThresholdHistory(BaseModel):
    items: list[ThresholdChangeOut]
    total: int
