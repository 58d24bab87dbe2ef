"""Per-compressor health model and prognosis (issue 19 items 2, 3), run by the pipeline's health stage
(altaviz.pipeline.health).

`fleet_step` steps many compressors at once: their sorted raw readings in (NumPy arrays), hourly
health, driving sensors and projected threshold crossings out, plus an explicit state (stacked over the
compressors) to carry to the next incremental run; `health_step` is the same for one compressor. It is
a pure function so that it can run fed by DuckDB locally and inside Spark's mapInArrow over whole
compressors on a cluster.
"""

from altaviz.health.model import (
    RESET_EVENT_TYPES,
    SENSORS,
    HealthConfig,
    HealthOutput,
    HealthState,
    Limits,
    fleet_step,
    health_step,
)

__all__ = [
    "RESET_EVENT_TYPES",
    "SENSORS",
    "HealthConfig",
    "HealthOutput",
    "HealthState",
    "Limits",
    "fleet_step",
    "health_step",
]
