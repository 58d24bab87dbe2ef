"""What the read API returns about the fleet: stations, compressors, readings, maintenance, quality."""

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# A compressor's state, worst first: the worst severity of its alerts in alarm; without one,
# "not_monitored" when the plan holds its readings back (more compressors than the plan covers),
# "stale" when its newest reading is older than the staleness window (WORKFLOW_STALENESS_HOURS) or
# it has none yet; otherwise "healthy". Only "healthy" counts as healthy.
HealthStatus = Literal["healthy", "not_monitored", "stale", "warning", "critical"]
HEALTH_BY_RANK: dict[int, HealthStatus] = {
    0: "healthy",
    1: "not_monitored",
    2: "stale",
    3: "warning",
    4: "critical",
}
RANK_BY_HEALTH: dict[str, int] = {name: rank for rank, name in HEALTH_BY_RANK.items()}


class _Row(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class LatestValues(_Row):
    """The newest hourly aggregate of a compressor, reduced to the values a fleet view shows."""

    agg_timestamp: datetime
    vibration_mean: float | None
    vibration_max: float | None
    discharge_temp_mean: float | None
    discharge_temp_max: float | None
    suction_pressure_mean: float | None
    discharge_pressure_mean: float | None
    horsepower_mean: float | None
    gas_flow_mean: float | None
    pressure_delta_mean: float | None
    discharge_temp_rate_of_change: float | None
    reading_count: int
    missing_readings: int


class FleetCompressor(_Row):
    compressor_id: str
    model: str
    horsepower: int
    station_id: str
    station_name: str
    latitude: float
    longitude: float
    health_status: HealthStatus = Field(
        description="Worst severity of the alerts in alarm now; else not_monitored (held back by the "
        "plan), stale (no reading within the staleness window) or healthy."
    )
    active_alert_count: int = Field(description="Unresolved alerts whose condition holds now.")
    last_reading_at: datetime | None = Field(description="Time of the newest reading (not of its hour).")
    offline_since: datetime | None = Field(
        None,
        description="Set while a field connector reported it offline (a Sparkplug death certificate) and "
        "no newer reading came: when it went offline (its state is then stale).",
    )
    offline_reason: str | None = Field(None, description="Why, as the connector said (while offline).")
    latest: LatestValues | None
    health_index: float | None = Field(
        None, description="Health 0–100 of the newest hour the health model judged (early warning)."
    )
    health_index_status: Literal["judged", "warmup", "stopped"] | None = Field(
        None,
        description="The health model's newest hour: judged; warmup (still learning the compressor); "
        "stopped (not running). Null: no health computed yet.",
    )


class FleetSummary(BaseModel):
    compressors: int
    online: int = Field(
        description="Compressors that reported within the staleness window and are not offline."
    )
    stations: int
    healthy: int
    warning: int
    critical: int
    stale: int = Field(0, description="Compressors without a reading within the staleness window.")
    not_monitored: int = Field(0, description="Compressors whose readings the plan holds back.")
    active_alerts: int
    health_percent: float | None = Field(description="Share of compressors that are healthy, in %.")
    last_reading_at: datetime | None


class FleetPage(BaseModel):
    summary: FleetSummary
    items: list[FleetCompressor]
    total: int = Field(description="Compressors matching the filters (all pages).")
    limit: int
    offset: int


class Station(_Row):
    station_id: str
    station_name: str
    latitude: float
    longitude: float
    region: str | None
    city: str | None
    state: str | None
    basin: str | None
    compressor_count: int
    active_alert_count: int
    health_status: HealthStatus = Field(description="Worst health of the station's compressors.")


class StationList(BaseModel):
    items: list[Station]
    total: int


class CompressorInfo(_Row):
    compressor_id: str
    model: str
    horsepower: int
    install_date: date
    station_id: str


class HourlyReading(_Row):
    """One aggregate row: per sensor mean/std/min/max over the window, and reading counts."""

    agg_timestamp: datetime = Field(description="Start of the window (UTC).")
    window_type: str
    vibration_mean: float | None
    vibration_std: float | None
    vibration_min: float | None
    vibration_max: float | None
    discharge_temp_mean: float | None
    discharge_temp_std: float | None
    discharge_temp_min: float | None
    discharge_temp_max: float | None
    suction_pressure_mean: float | None
    suction_pressure_std: float | None
    suction_pressure_min: float | None
    suction_pressure_max: float | None
    discharge_pressure_mean: float | None
    discharge_pressure_std: float | None
    discharge_pressure_min: float | None
    discharge_pressure_max: float | None
    horsepower_mean: float | None
    horsepower_std: float | None
    horsepower_min: float | None
    horsepower_max: float | None
    gas_flow_mean: float | None
    gas_flow_std: float | None
    gas_flow_min: float | None
    gas_flow_max: float | None
    pressure_delta_mean: float | None
    discharge_temp_rate_of_change: float | None
    reading_count: int
    expected_readings: int
    missing_readings: int
    violation_count: int


class CompressorDetail(BaseModel):
    compressor: CompressorInfo
    station: Station
    latest_reading: HourlyReading | None
    health_status: HealthStatus
    active_alert_count: int
    last_reading_at: datetime | None = Field(None, description="Time of the newest reading.")
    offline_since: datetime | None = Field(None, description="As in the fleet: offline since (else null).")
    offline_reason: str | None = None


class ReadingSeries(BaseModel):
    compressor_id: str
    window: str
    hours: int
    start: datetime = Field(description="Earliest time asked for (after the plan's history limit).")
    end: datetime
    history_days: int = Field(description="How far back the organization's plan reaches.")
    items: list[HourlyReading]


class LatestReading(HourlyReading):
    compressor_id: str
    station_id: str


class LatestReadingPage(BaseModel):
    items: list[LatestReading]
    total: int
    limit: int
    offset: int


class MaintenanceEventOut(_Row):
    id: int
    event_id: str
    compressor_id: str
    performed_at: datetime
    event_date: date
    event_type: str
    description: str | None
    downtime_hours: float | None
    severity: str | None
    cost_usd: float | None
    performed_by: str | None


class MaintenancePage(BaseModel):
    items: list[MaintenanceEventOut]
    total: int
    limit: int
    offset: int


class DataQualityMetricOut(_Row):
    id: int
    metric_timestamp: datetime
    scope: str = Field(description="'fleet' or the compressor id the check covers.")
    compressor_id: str | None
    metric_type: str
    metric_value: float | None
    pass_threshold: bool
    details: dict[str, Any] | None


class DataQualityPage(BaseModel):
    items: list[DataQualityMetricOut]
    total: int
    limit: int
    offset: int
