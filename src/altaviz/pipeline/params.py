"""The parameters the SQL transforms read, as rows of small tables (never string formatting)."""

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from altaviz.config import Settings
from altaviz.fleet import DEFAULT_THRESHOLDS, SENSORS, Threshold
from altaviz.fleet.identifiers import COMPRESSOR_ID_PATTERN

# The compressor id rule (altaviz.fleet.identifiers) anchored for DuckDB's and Spark's regex engines
# alike: RE2 and Java both read \z as the very end of the text ($ lets a trailing newline through in Java).
ID_REGEX = r"^(?:" + COMPRESSOR_ID_PATTERN + r")\z"
# A reading may be stamped up to this long after the moment it was loaded (clock skew at the edge).
FUTURE_TOLERANCE_SECONDS = 300
# Incremental runs recompute this far behind the newest reading of each compressor (the longest
# rolling window); a reading older than that, arriving after newer ones, is quarantined as late.
LATE_SECONDS = 24 * 3600
# A value this far from both neighbours, in the same direction, is flagged as a spike.
SPIKE_RATIO = 0.10
# The smoothed temperature rate needs this many readings in each of the two hours it compares.
RATE_MIN_READINGS = 3
# Alert on-delay and clear-delay in readings (SPEC §2).
OPEN_READINGS = 2
CLEAR_READINGS = 3
# A reading clears an alert only once it is back past the warning limit by this share of the limit
# (ISA-18.2 alarm deadband). Above the 3 % sensor noise, so a value hovering at the limit cannot chatter.
DEADBAND_RATIO = 0.05
# operating_hours (optional) is a running-hours counter: never negative, and no compressor has run
# this long (57 years without a stop); a value outside is a broken counter, quarantined.
OPERATING_HOURS_MAX = 500_000.0
# Completeness counts a compressor's expected readings at its own interval (the median spacing of its
# good readings) once it has this many spacings in the input; before, at PIPELINE_INTERVAL_MINUTES.
MIN_INTERVAL_SPACINGS = 6
# Pass levels of the data-quality checks.
COMPLETENESS_PASS = 0.95
CONSISTENCY_PASS = 0.99
ACCURACY_PASS = 0.95


def params_row(settings: Settings) -> dict[str, Any]:
    row: dict[str, Any] = {
        "interval_seconds": settings.reading_interval_minutes * 60,
        "min_interval_spacings": MIN_INTERVAL_SPACINGS,
        "compressor_id_regex": ID_REGEX,
        "future_tolerance_seconds": FUTURE_TOLERANCE_SECONDS,
        "max_age_seconds": settings.max_reading_age_days * 86400,
        "late_seconds": LATE_SECONDS,
        "spike_ratio": SPIKE_RATIO,
        "rate_min_readings": RATE_MIN_READINGS,
        "open_readings": OPEN_READINGS,
        "clear_readings": CLEAR_READINGS,
        "deadband_ratio": DEADBAND_RATIO,
        "stopped_share": settings.alert_stopped_share,
        "settle_seconds": settings.alert_settle_minutes * 60,
        "freshness_sla_minutes": settings.freshness_sla_minutes,
        "completeness_pass": COMPLETENESS_PASS,
        "consistency_pass": CONSISTENCY_PASS,
        "accuracy_pass": ACCURACY_PASS,
    }
    for sensor in SENSORS:
        row[f"{sensor.name}_min"] = sensor.physical_min
        row[f"{sensor.name}_max"] = sensor.physical_max
    row["operating_hours_min"] = 0.0
    row["operating_hours_max"] = OPERATING_HOURS_MAX
    return row


def threshold_rows(thresholds: tuple[Threshold, ...] = DEFAULT_THRESHOLDS) -> list[dict[str, Any]]:
    """The default limits per metric (SPEC §2), with the default on-delay and clear counts, and whether a
    start takes the metric past its limit (not judged while the unit settles)."""
    return [
        {
            "metric": t.metric,
            "direction": t.direction,
            "warning": float(t.warning),
            "critical": None if t.critical is None else float(t.critical),
            "on_delay": OPEN_READINGS,
            "clear_count": CLEAR_READINGS,
            "start_transient": t.start_transient,
        }
        for t in thresholds
    ]


THRESHOLD_FIELDS = ("warning", "critical", "on_delay", "clear_count")
# OrganizationState.thresholds: the key under which the defaults' digest is kept
DEFAULTS_KEY = "*"


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def threshold_overrides(
    organization: str, effective: Iterable[Any]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """An organization's effective limits (rows with compressor_id, metric and THRESHOLD_FIELDS, as
    altaviz.registry.thresholds.effective_thresholds answers) as the pipeline's override rows: only the
    compressors whose values differ from the defaults. Also returns what OrganizationState.thresholds
    keeps: a digest per overridden compressor and one of the defaults."""
    defaults = {row["metric"]: row for row in threshold_rows()}
    by_compressor: dict[str, list[dict[str, Any]]] = {}
    for t in effective:
        row = {"organization": organization, "compressor_id": t.compressor_id, "metric": t.metric}
        row.update({f: getattr(t, f) for f in THRESHOLD_FIELDS})
        row["warning"] = float(row["warning"])
        row["critical"] = None if row["critical"] is None else float(row["critical"])
        by_compressor.setdefault(t.compressor_id, []).append(row)
    rows: list[dict[str, Any]] = []
    digests = {DEFAULTS_KEY: _digest(list(defaults.values()))}
    for compressor, own in by_compressor.items():
        if any(any(r[f] != defaults[r["metric"]][f] for f in THRESHOLD_FIELDS) for r in own):
            rows.extend(own)
            digests[compressor] = _digest(
                sorted((r["metric"], [r[f] for f in THRESHOLD_FIELDS]) for r in own)
            )
    return rows, digests


def changed_compressors(before: dict[str, str], after: dict[str, str]) -> set[str] | None:
    """Compressors whose limits differ between two OrganizationState.thresholds (None: all of them)."""
    if before.get(DEFAULTS_KEY) != after.get(DEFAULTS_KEY):
        return None
    keys = (set(before) | set(after)) - {DEFAULTS_KEY}
    return {k for k in keys if before.get(k) != after.get(k)}


# An incremental run's alert look-back reads this many times the longest count in force of each
# compressor's readings (room for readings where a metric is missing), and of those only what every
# metric's series needs (incremental.IncrementalRun._bind_alert_context).
ALERT_READINGS_ROOM = 4


def longest_alert_count(overrides: list[dict[str, Any]]) -> int:
    """The longest on-delay or clear count in force: how many readings of a metric's series before an
    incremental run's zone decide its alert episodes."""
    counts = [OPEN_READINGS, CLEAR_READINGS] + [
        int(r[f]) for r in overrides for f in ("on_delay", "clear_count") if r[f] is not None
    ]
    return max(counts)
