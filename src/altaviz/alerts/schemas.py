"""What the API returns about alert episodes, and what it accepts for alert actions."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from altaviz.accounts.schemas import Text

AlertStatusFilter = Literal["open", "active", "resolved", "all"]
Severity = Literal["info", "warning", "critical"]
AlertState = Literal[
    "active_unacknowledged",
    "active_acknowledged",
    "returned_unacknowledged",
    "returned_acknowledged",
    "shelved",
    "resolved",
]


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    compressor_id: str
    compressor_model: str
    station_id: str
    station_name: str
    condition: str = Field(description="What is alarmed: a threshold metric or data_staleness.")
    alert_type: str = Field(
        description="threshold_warning, threshold_critical, staleness; anomaly (health index low) or "
        "prediction (a projected critical crossing): the early warnings."
    )
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
    shelved_until: datetime | None = Field(description="End of the current (or last) shelf.")
    shelved_by: str | None
    shelve_reason: str | None
    shelved_at: datetime | None
    escalated_at: datetime | None
    escalation_note: str | None
    source: str = Field(description="pipeline (threshold episodes) or workflow (data staleness).")
    related_alert_id: int | None = Field(
        None, description="The early warning (anomaly or prediction alert) this threshold alert followed."
    )
    related_alert_type: str | None = Field(None, description="That early warning's alert_type.")
    related_raised_at: datetime | None = Field(None, description="When that early warning was raised.")
    shelved: bool = Field(False, description="Shelved now: hidden from the active list, not escalated.")
    state: AlertState = Field(
        "active_unacknowledged",
        description="ISA-18.2 state: active or returned to normal, each (un)acknowledged; shelved; resolved.",
    )


class AlertPage(BaseModel):
    items: list[AlertOut]
    total: int
    limit: int
    offset: int


class ResolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Text | None = Field(None, max_length=2000, description="What was found and done.")


class ShelveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    minutes: int = Field(
        ge=1, le=7 * 24 * 60, description="How long to shelve the alert (1 minute to 7 days)."
    )
    reason: Text = Field(min_length=1, max_length=500, description="Why (for the shift log and the audit).")


class WorkflowRunRequest(BaseModel):
    """Body of POST /api/workflows/run (optional for a signed-in admin, who runs their own organization)."""

    model_config = ConfigDict(extra="ignore")

    organizationId: str | None = Field(
        None, description="The organization to run (required with the workflow key)."
    )


class WorkflowResultOut(BaseModel):
    workflow: str
    organizationId: str
    resultCount: int = Field(description="Alerts changed or created.")
    actionsCount: int = Field(description="The same as resultCount (the original system's name).")
    details: list[str]
    outcome: Literal["succeeded", "failed"]
    runId: str
    startedAt: datetime
    durationMs: float
    notificationsQueued: int


class WorkflowRunOut(BaseModel):
    success: bool
    workflow: str
    organizationId: str
    results: list[WorkflowResultOut]
    notificationsQueued: int


class WorkflowRunRecord(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    workflow: str
    trigger: str
    started_at: datetime
    duration_ms: float
    result_count: int
    outcome: str
    details: list[str] | None
    error: str | None


class WorkflowRunPage(BaseModel):
    items: list[WorkflowRunRecord]
    total: int
    limit: int
    offset: int
