"""The prediction warning on hand-built series: a crossing projected within the horizon only at the
day's high load (the projection is made at the current operating point) is warned once it has come
back on enough judged hours within `prediction_window_hours`, where "in a row" waited until the
limit was crossed."""

from collections.abc import Callable

import numpy as np

from altaviz.health import HealthConfig, HealthOutput, health_step
from altaviz.health.model import VIB

from .test_health_model import build, first_hour


def high_load(hours: np.ndarray) -> np.ndarray:
    """Nominal load, 20 % more for 4 hours every afternoon."""
    return 1 + 0.2 * ((hours % 24 >= 12) & (hours % 24 < 16))


def vibration_ramp(slope: float) -> Callable[[np.ndarray, np.ndarray], None]:
    """Vibration growing `slope` mm/s a day from day 6, moving with the load (+20 % at +20 % load)."""

    def change(hours: np.ndarray, values: np.ndarray) -> None:
        days = np.clip((hours - 6 * 24) / 24, 0, None)
        values[VIB] = (3.0 + slope * days) * (1 + 1.0 * (high_load(hours) - 1))

    return change


def predicted_from(out: HealthOutput) -> int | None:
    hours = out.hour[out.prediction]
    return int(hours[0]) if len(hours) else None


def test_a_crossing_projected_at_the_days_high_load_only_is_predicted_before_it_comes() -> None:
    for seed in range(3):
        times, values = build(days=16, seed=seed, load=high_load, change=vibration_ramp(0.5))
        crossing = first_hour(times, values[VIB] >= 8.0)  # critical, at a high-load afternoon
        out = health_step(times, values)
        in_a_row = health_step(times, values, config=HealthConfig(prediction_window_hours=0))
        predicted = predicted_from(out)
        assert predicted is not None and predicted <= crossing - 24 * 3600, seed
        # Four hours a day never make six in a row: "in a row" predicted it only once it was crossed.
        late = predicted_from(in_a_row)
        assert late is None or late > crossing - 24 * 3600, seed
        # the warning's own hour projects the crossing within the horizon (it is one of the hits)
        at = int(np.flatnonzero(out.hour == predicted)[0])
        assert out.eta_critical[VIB, at] <= 72
