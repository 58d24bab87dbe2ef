"""The ingest answer and the documented shape of a reading (OpenAPI)."""

from typing import Literal

from pydantic import BaseModel, Field


class Reading(BaseModel):
    """One reading as JSON (CSV and Parquet have the same columns)."""

    compressor_id: str = Field(description="A compressor registered in your organization's fleet.")
    timestamp: str | int = Field(
        description="RFC 3339 with an offset (2026-01-31T08:00:00Z) or epoch milliseconds."
    )
    vibration_mms: float | None = Field(None, description="Vibration, mm/s.")
    discharge_temp_f: float | None = Field(None, description="Discharge temperature, °F.")
    suction_pressure_psi: float | None = Field(None, description="Suction pressure, PSI.")
    discharge_pressure_psi: float | None = Field(None, description="Discharge pressure, PSI.")
    horsepower_consumption: float | None = Field(None, description="Horsepower, HP.")
    gas_flow_mcf: float | None = Field(None, description="Gas flow, Mcf/day.")
    operating_hours: float | None = Field(None, description="Optional: the compressor's hour meter.")


class ReadingBatch(BaseModel):
    readings: list[Reading]


class RefusedRow(BaseModel):
    row: int = Field(
        description="Position of the reading in the request, from 1 (a CSV's header not counted)."
    )
    compressor_id: str | None
    timestamp: str | None = Field(description="The timestamp as sent.")
    reason: str = Field(description="Why it was refused, and what to fix.")


class IngestAnswer(BaseModel):
    status: Literal["accepted", "partial", "refused"] = Field(
        description="accepted: every row stored; partial: some refused (listed in errors), the others "
        "stored; refused: nothing stored (answered with 422)."
    )
    dry_run: bool = Field(description="True when nothing was stored (?dry_run=true).")
    batch_id: str = Field(description="Names the landing file of this batch.")
    format: str
    rows: int = Field(description="Readings in the request.")
    accepted: int = Field(description="Readings stored (durable before this answer).")
    refused: int = Field(description="Readings refused; all are kept in the quarantine with their reason.")
    refused_rows: list[RefusedRow] = Field(description="The first 100 refused rows, by row number.")
    refused_rows_truncated: bool = Field(description="More rows were refused than refused_rows lists.")
    ignored_columns: list[str] = Field(description="Columns the request held that are not reading columns.")
    idempotency_key: str | None = Field(None, description="The Idempotency-Key the answer is kept under.")
