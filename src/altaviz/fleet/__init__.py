"""Domain constants of a compressor fleet: stations, models, sensors and thresholds.

Data, not logic: every other package reads these, none of them is computed here.
"""

from altaviz.fleet.sensors import SENSOR_NAMES, SENSORS, Sensor
from altaviz.fleet.stations import COMPRESSOR_MODELS, STATIONS, CompressorModel, Station
from altaviz.fleet.thresholds import DEFAULT_THRESHOLDS, METRIC_NAMES, Threshold

__all__ = [
    "COMPRESSOR_MODELS",
    "DEFAULT_THRESHOLDS",
    "METRIC_NAMES",
    "SENSORS",
    "SENSOR_NAMES",
    "STATIONS",
    "CompressorModel",
    "Sensor",
    "Station",
    "Threshold",
]
