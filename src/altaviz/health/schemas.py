"""What the API returns about early warning: a compressor's health trend and the fleet's projected
threshold crossings (issue 19)."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

HourStatus = Literal["warmup", "stopped", "judged"]
Level = Literal["warning", "critical"]


class Driver(BaseModel):
    sensor: str = Field(description="The sensor, e.g. vibration_mms.")
    score: float = Field(description="How far it is from the compressor's own model (signed; 5 = unusual).")


class HealthPoint(BaseModel):
    hour: datetime = Field(description="Start of the data hour (UTC).")
    health_index: float | None = Field(
        description="0 (failing) to 100 (as healthy as it learned); null unless judged."
    )
    status: HourStatus = Field(
        description="judged; warmup (the model is still learning the compressor); stopped (not running, "
        "settling after a start, or no data)."
    )
    drivers: list[Driver] = Field(description="The sensors pulling the health down, largest |score| first.")


class Prediction(BaseModel):
    metric: str = Field(description="The threshold metric, e.g. vibration_mms.")
    label: str = Field(description="The metric in words, e.g. Vibration.")
    unit: str
    level: Level = Field(description="Which threshold the metric is projected to reach.")
    threshold_value: float = Field(description="That threshold (the compressor's effective value).")
    hours: float = Field(description="Projected hours from computed_at to the crossing.")
    hours_low: float = Field(description="Lower end of the 80 % range, in hours.")
    hours_high: float | None = Field(
        description="Upper end of the 80 % range, in hours; null: no upper bound (the trend may stall)."
    )
    projected_at: datetime = Field(description="When the crossing is projected (computed_at + hours).")
    computed_at: datetime = Field(description="The data hour the projection was made from.")


class CompressorHealthOut(BaseModel):
    compressor_id: str
    hours: int
    start: datetime = Field(description="Earliest hour asked for (after the plan's history limit).")
    end: datetime
    history_days: int = Field(description="How far back the organization's plan reaches.")
    current: HealthPoint | None = Field(description="The newest hour the model produced (null: none yet).")
    items: list[HealthPoint] = Field(description="The hours between start and end, oldest first.")
    predictions: list[Prediction] | None = Field(
        description="Projected threshold crossings now, soonest first ([]: no trend); null when the "
        "plan does not include predictions (see predictions_note)."
    )
    predictions_note: str | None = Field(None, description="Why predictions are null.")


class PredictedCompressor(Prediction):
    compressor_id: str
    station_id: str
    station_name: str


class PredictionPage(BaseModel):
    horizon_hours: int = Field(description="Only crossings projected within this many hours.")
    items: list[PredictedCompressor] = Field(description="Soonest first.")
    total: int = Field(description="Crossings within the horizon (all pages).")
    limit: int
    offset: int
