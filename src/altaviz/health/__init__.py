"""Per-compressor health model and prognosis (issue 19 items 2, 3), run by the pipeline's health stage
(altaviz.pipeline.health).

`health_step` is one compressor's step: its sorted raw readings in (NumPy arrays), hourly health,
driving sensors and projected threshold crossings out, plus an explicit state to carry to the next
incremental run. It is a pure function so that it can run fed by DuckDB locally and inside Spark's
mapInArrow / applyInPandas per compressor on a cluster.
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
