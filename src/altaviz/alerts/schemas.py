"""What the API returns about alert episodes, and what it accepts for alert actions."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from altaviz.accounts.schemas import Text

AlertStatusFilter = Literal["open", "active", "resolved", "all"]
Severity = Literal["info", "warning", "critical"]


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    compressor_id: str
    compressor_model: str
    station_id: str
    station_name: str
    condition: str = Field(description="What is alarmed: a threshold metric or data_staleness.")
    alert_type: str
    severity: str
    sensor_name: str | None
    alert_timestamp: datetime = Field(description="First violating reading of the episode.")
    raised_at: datetime
    last_violation_at: datetime
    returned_to_normal_at: datetime | None
    is_active: bool = Field(description="The condition holds now (not returned to normal).")
    sensor_value: float | None = Field(description="Peak value of the episode.")
    threshold_value: float | None
    message: str | None
    violation_count: int
    acknowledged: bool
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved: bool
    resolved_by: str | None
    resolved_at: datetime | None
    resolution_note: str | None
    shelved_until: datetime | None
    shelved_by: str | None
    shelve_reason: str | None
    escalated_at: datetime | None
    source: str


class AlertPage(BaseModel):
    items: list[AlertOut]
    total: int
    limit: int
    offset: int


class ResolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Text | None = Field(None, max_length=2000, description="What was found and done.")
