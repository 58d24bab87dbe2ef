"""The six sensors every compressor reports, with healthy ranges and physical limits.

`baseline` is the range a healthy compressor's operating point is drawn from (SPEC §1).
`physical_min`/`physical_max` bound what the instrument can report at all: a value outside them
is not a degradation but a broken reading, and the silver layer quarantines it.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Sensor:
    name: str
    label: str
    unit: str
    baseline: tuple[float, float]
    physical_min: float
    physical_max: float


SENSORS: tuple[Sensor, ...] = (
    Sensor("vibration_mms", "Vibration", "mm/s", (1.5, 4.5), 0.0, 100.0),
    Sensor("discharge_temp_f", "Discharge temperature", "°F", (180.0, 220.0), -60.0, 700.0),
    Sensor("suction_pressure_psi", "Suction pressure", "PSI", (40.0, 80.0), 0.0, 1500.0),
    Sensor("discharge_pressure_psi", "Discharge pressure", "PSI", (900.0, 1200.0), 0.0, 5000.0),
    Sensor("horsepower_consumption", "Horsepower", "HP", (1200.0, 1600.0), 0.0, 10000.0),
    Sensor("gas_flow_mcf", "Gas flow", "Mcf/day", (8000.0, 12000.0), 0.0, 100000.0),
)

SENSOR_NAMES: tuple[str, ...] = tuple(s.name for s in SENSORS)
