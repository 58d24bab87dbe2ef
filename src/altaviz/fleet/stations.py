"""The demo fleet's stations and the compressor models it runs (SPEC §1)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Station:
    station_id: str
    name: str
    latitude: float
    longitude: float
    region: str
    city: str
    state: str
    basin: str


@dataclass(frozen=True)
class CompressorModel:
    name: str
    rated_hp: int


STATIONS: tuple[Station, ...] = (
    Station(
        "STATION-A",
        "Eagle Ford Station A",
        28.9144,
        -98.5242,
        "South Texas",
        "Karnes City",
        "TX",
        "Eagle Ford Shale",
    ),
    Station(
        "STATION-B",
        "Permian Basin Station B",
        31.9973,
        -102.0779,
        "West Texas",
        "Midland",
        "TX",
        "Permian Basin",
    ),
    Station(
        "STATION-C",
        "Haynesville Station C",
        32.5007,
        -93.7465,
        "East Texas",
        "Carthage",
        "TX",
        "Haynesville Shale",
    ),
    Station(
        "STATION-D",
        "Barnett Shale Station D",
        32.7555,
        -97.3308,
        "North Texas",
        "Fort Worth",
        "TX",
        "Barnett Shale",
    ),
)

# Models cycle in this order over COMP-001, COMP-002, ...
COMPRESSOR_MODELS: tuple[CompressorModel, ...] = (
    CompressorModel("Ajax DPC-360", 1340),
    CompressorModel("Ariel JGK/4", 1480),
    CompressorModel("Caterpillar G3516", 1775),
    CompressorModel("Waukesha 7042GSI", 1340),
)
