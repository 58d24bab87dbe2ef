"""Default alarm thresholds (SPEC §2).

`direction` says which side is bad: "high" alarms at value >= limit, "low" at value <= limit.
`start_transient`: a start itself takes the metric past its limit for a while (flow and suction
pressure come up from their stopped values, the discharge temperature climbs back at tens of °F an
hour), so it is not judged while the unit settles after a start (pipeline/sql/gold_readings.sql,
alert_events.sql); a limit a start does not cross (high vibration, temperature, pressure) is judged at
once, since crossing it during a start is a fault.
Which side is bad, and what a start does, is physics and stays in code; the numbers are data and reach
the SQL as a table.
"""

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Threshold:
    metric: str
    label: str
    unit: str
    direction: Literal["high", "low"]
    normal_low: float | None
    normal_high: float | None
    warning: float
    critical: float | None
    start_transient: bool = False


DEFAULT_THRESHOLDS: tuple[Threshold, ...] = (
    Threshold("vibration_mms", "Vibration", "mm/s", "high", 1.5, 4.5, 6.0, 8.0),
    Threshold("discharge_temp_f", "Discharge temperature", "°F", "high", 180, 220, 240, 260),
    Threshold("discharge_pressure_psi", "Discharge pressure", "PSI", "high", 900, 1200, 1300, 1400),
    Threshold("suction_pressure_psi", "Suction pressure", "PSI", "low", 40, 80, 30, 20, start_transient=True),
    Threshold("horsepower_consumption", "Horsepower", "HP", "high", 1200, 1600, 1800, None),
    Threshold("gas_flow_mcf", "Gas flow", "Mcf/day", "low", 8000, 12000, 6000, None, start_transient=True),
    Threshold("pressure_differential", "Pressure differential", "PSI", "high", 800, 1150, 1250, None),
    Threshold(
        "temp_rate_of_change",
        "Temperature rate of change",
        "°F/h",
        "high",
        None,
        None,
        20,
        40,
        start_transient=True,
    ),
)

METRIC_NAMES: tuple[str, ...] = tuple(t.metric for t in DEFAULT_THRESHOLDS)

# Alert rules (SPEC §2): an alert opens after this many consecutive violating readings (on-delay)
# and returns to normal after this many consecutive normal ones. Organizations may override both
# per metric, model and compressor (altaviz.registry.thresholds).
DEFAULT_ON_DELAY = 2
DEFAULT_CLEAR_COUNT = 3

THRESHOLDS_BY_METRIC: dict[str, Threshold] = {t.metric: t for t in DEFAULT_THRESHOLDS}
