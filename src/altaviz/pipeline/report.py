"""The run report: what went in, what came out, where the violations and alerts are."""

from dataclasses import dataclass, field
from typing import Any

from altaviz.pipeline.engine import DuckDBEngine, read_parquet
from altaviz.pipeline.stages import Tables


@dataclass
class RunSummary:
    bronze_rows: int
    silver_rows: int
    quarantined: dict[str, int]
    hourly_rows: int
    violating_readings: dict[str, int]
    alerts: dict[str, int]
    alerts_by_compressor: dict[str, int]
    quality: dict[str, bool]
    seconds: float = 0.0
    fingerprint: str | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)
    # readings of this run held back because the organization's plan covers fewer compressors
    plan_limited: dict[str, int] = field(default_factory=dict)
    # no new landing file and nothing to recompute or load: the run changed nothing
    nothing_new: bool = False

    @property
    def quarantined_rows(self) -> int:
        return sum(self.quarantined.values())

    @property
    def balanced(self) -> bool:
        return self.bronze_rows == self.silver_rows + self.quarantined_rows

    def as_counts(self) -> dict[str, Any]:
        return {
            "bronze_rows": self.bronze_rows,
            "silver_rows": self.silver_rows,
            "quarantined": self.quarantined,
            "hourly_rows": self.hourly_rows,
            "violating_readings": self.violating_readings,
            "alerts": self.alerts,
            "alerts_by_compressor": self.alerts_by_compressor,
            "quality": self.quality,
            "stage_seconds": self.stage_seconds,
        }

    def text(self) -> str:
        if self.nothing_new:
            return (
                f"nothing new: no new landing files since the last run, the lake and the database are "
                f"up to date ({self.bronze_rows:,} readings in bronze); {self.seconds:.1f} s"
            )
        reduction = 1 - self.hourly_rows / self.silver_rows if self.silver_rows else 0.0
        top = sorted(self.violating_readings.items(), key=lambda kv: (-kv[1], kv[0]))
        named = [(c, n) for c, n in top[:2] if n]
        others = sum(n for _, n in top[2:])
        parts = [f"{c}: {n:,}" for c, n in named] + ([f"others: {others:,}"] if others or named else [])
        total_violations = sum(self.violating_readings.values())
        alerts = self.alerts.get("total", 0)
        alert_detail = (
            f" ({self.alerts.get('critical', 0)} critical, {self.alerts.get('warning', 0)} warning; "
            f"{self.alerts.get('active', 0)} active)"
            if alerts
            else ""
        )
        by_reason = ", ".join(f"{reason} {n:,}" for reason, n in sorted(self.quarantined.items()))
        failed = [m for m, ok in self.quality.items() if not ok]
        quality = "quality checks passed" if not failed else f"quality checks failed: {', '.join(failed)}"
        return (
            f"{self.bronze_rows:,} readings → {self.hourly_rows:,} hourly aggregates "
            f"({reduction:.0%} reduction); "
            f"{total_violations:,} readings with threshold violations"
            + (f" ({', '.join(parts)})" if parts else "")
            + f" → {alerts:,} alerts{alert_detail}; "
            f"{self.quarantined_rows:,} quarantined"
            + (f" ({by_reason})" if by_reason else "")
            + f"; {quality}; {self.seconds:.1f} s"
        )


def _files(tables: Tables, table: str) -> str:
    return read_parquet(tables.files(table))


def summarize(engine: DuckDBEngine, tables: Tables) -> RunSummary:
    bronze = tables.lake.bronze_files()
    bronze_rows = engine.rows(f"SELECT COUNT(*) FROM {read_parquet(bronze)}")[0][0] if bronze else 0
    silver_rows = engine.rows(f"SELECT COUNT(*) FROM {_files(tables, 'silver/readings')}")[0][0]
    quarantined = dict(
        engine.rows(
            "SELECT split_part(reason, ':', 1), COUNT(*) "
            f"FROM {_files(tables, 'silver/quarantine')} "
            "GROUP BY 1"
        )
    )
    by_hourly = engine.rows(
        "SELECT compressor_id, COUNT(*), CAST(SUM(violation_count) AS BIGINT) "
        f"FROM {_files(tables, 'gold/hourly')} GROUP BY 1"
    )
    hourly_rows = sum(rows for _, rows, _ in by_hourly)
    violating = {compressor: violations for compressor, _, violations in by_hourly}
    alerts_file = _files(tables, "gold/alerts")
    total, critical, active = engine.rows(
        "SELECT COUNT(*), COUNT(*) FILTER (WHERE severity = 'critical'), COUNT(*) FILTER (WHERE is_active) "
        f"FROM {alerts_file}"
    )[0]
    by_compressor = dict(
        engine.rows(f"SELECT compressor_id, COUNT(*) FROM {alerts_file} GROUP BY 1 ORDER BY 1")
    )
    fleet = engine.records(f"SELECT * FROM {_files(tables, 'silver/quality')} WHERE scope = 'fleet'")
    quality = (
        {m: bool(fleet[0][f"{m}_passed"]) for m in ("freshness", "completeness", "consistency", "accuracy")}
        if fleet
        else {}
    )
    return RunSummary(
        bronze_rows=int(bronze_rows),
        silver_rows=int(silver_rows),
        quarantined={str(k): int(v) for k, v in quarantined.items()},
        hourly_rows=int(hourly_rows),
        violating_readings={str(k): int(v) for k, v in violating.items() if v},
        alerts={
            "total": int(total),
            "critical": int(critical),
            "warning": int(total - critical),
            "active": int(active),
        },
        alerts_by_compressor={str(k): int(v) for k, v in by_compressor.items()},
        quality=quality,
    )
