"""The mapping file of a field connector (TOML): which device is which compressor, which metric is which
sensor, in which unit it arrives. docs: README "Connect your SCADA"; example: examples/connector-mapping.toml.

    [sparkplug]                      # MQTT with Sparkplug B
    group = "PERMIAN"                # spBv1.0/<group>/+/<edge_node>/#
    edge_node = "+"                  # one edge node, or + for all of the group

    [json]                           # plain MQTT JSON (instead of, or as well as, [sparkplug])
    topic = "sites/{station}/{device}/telemetry"   # {device} names the device; other fields are free
    timestamp = "ts"                 # JSON path of the time (RFC 3339 or epoch ms/s); absent: arrival time

    [opcua]
    interval_ms = 1000               # monitored-item sampling interval
    reconnect_max_ms = 30000         # longest wait between reconnect attempts (back-off cap)

    [devices]                        # device (Sparkplug "EDGE/DEVICE", JSON {device}, OPC UA) -> id
    "STATION-07/C-101" = "COMP-0001"

    [metrics."Stage 1/Suction Pressure"]   # metric name (Sparkplug), JSON path ("data.p1") or OPC UA name
    sensor = "suction_pressure_psi"
    unit = "kPa"                     # converted to the sensor's unit (psi here)

    [opcua.nodes]                    # OPC UA only: node id -> "<device>|<metric>"
    "ns=2;s=C101.Suction" = "C-101|Stage 1/Suction Pressure"

A device not under [devices] is its own compressor id (the Sparkplug device id without its edge node) when
`devices_as_ids = true` (top level);
otherwise its messages are counted as unmapped. A metric not under [metrics] is counted as unmapped and left
out.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from altaviz.fleet.identifiers import compressor_id_problem

SENSORS = {
    "vibration_mms": "mm/s",
    "discharge_temp_f": "degF",
    "suction_pressure_psi": "psi",
    "discharge_pressure_psi": "psi",
    "horsepower_consumption": "hp",
    "gas_flow_mcf": "Mcf/d",
    "operating_hours": "h",
}

KPA_PER_PSI = 6.894757293168361
CUBIC_FEET_PER_CUBIC_METRE = 35.31466672148859
WATTS_PER_HP = 745.6998715822702

# unit -> (sensor unit, conversion to it)
UNITS: dict[str, tuple[str, Callable[[float], float]]] = {
    "mm/s": ("mm/s", lambda v: v),
    "in/s": ("mm/s", lambda v: v * 25.4),
    "degF": ("degF", lambda v: v),
    "°F": ("degF", lambda v: v),
    "degC": ("degF", lambda v: v * 9.0 / 5.0 + 32.0),
    "°C": ("degF", lambda v: v * 9.0 / 5.0 + 32.0),
    "K": ("degF", lambda v: (v - 273.15) * 9.0 / 5.0 + 32.0),
    "psi": ("psi", lambda v: v),
    "kPa": ("psi", lambda v: v / KPA_PER_PSI),
    "MPa": ("psi", lambda v: v * 1000.0 / KPA_PER_PSI),
    "bar": ("psi", lambda v: v * 100.0 / KPA_PER_PSI),
    "hp": ("hp", lambda v: v),
    "kW": ("hp", lambda v: v * 1000.0 / WATTS_PER_HP),
    "Mcf/d": ("Mcf/d", lambda v: v),
    "MMcf/d": ("Mcf/d", lambda v: v * 1000.0),
    "m3/d": ("Mcf/d", lambda v: v * CUBIC_FEET_PER_CUBIC_METRE / 1000.0),
    "m³/d": ("Mcf/d", lambda v: v * CUBIC_FEET_PER_CUBIC_METRE / 1000.0),
    "e3m3/d": ("Mcf/d", lambda v: v * CUBIC_FEET_PER_CUBIC_METRE),
    "h": ("h", lambda v: v),
}
SAME_UNIT = {unit for unit, (target, _) in UNITS.items() if unit == target} | {"°F"}  # no conversion


class MappingError(ValueError):
    """The mapping file is wrong; the message says where and what to fix."""


@dataclass(frozen=True)
class MetricMap:
    sensor: str
    unit: str
    convert: Callable[[float], float]


@dataclass(frozen=True)
class JsonMode:
    topic: str
    timestamp: str | None


@dataclass(frozen=True)
class Mapping:
    devices: dict[str, str]
    metrics: dict[str, MetricMap]
    devices_as_ids: bool = False
    sparkplug_group: str | None = None
    sparkplug_edge_node: str = "+"
    json: JsonMode | None = None
    opcua_nodes: dict[str, tuple[str, str]] = field(default_factory=dict)
    opcua_interval_ms: int = 1000
    opcua_reconnect_max_ms: int = 30_000

    def compressor(self, device: str) -> str | None:
        """The compressor id of a device, or None when the mapping does not know it."""
        known = self.devices.get(device)
        if known is not None:
            return known
        name = device.rsplit("/", 1)[-1]  # a Sparkplug device without its edge node
        if self.devices_as_ids and compressor_id_problem(name) is None:
            return name
        return None

    def reading(self, name: str, value: Any) -> tuple[str, float] | None:
        """(sensor, value in the sensor's unit) for a metric, None when unmapped or not a (finite) number:
        a NaN a controller sends for a failed sensor is no reading (nor valid JSON for the ingest API)."""
        metric = self.metrics.get(name)
        if metric is None or isinstance(value, bool) or not isinstance(value, int | float):
            return None
        converted = metric.convert(float(value))
        return (metric.sensor, converted) if math.isfinite(converted) else None


def load_mapping(path: Path) -> Mapping:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise MappingError(f"{path}: {error}") from error
    return parse_mapping(data, str(path))


def parse_mapping(data: dict[str, Any], where: str = "mapping") -> Mapping:
    devices = data.get("devices", {})
    if not isinstance(devices, dict) or not all(isinstance(v, str) for v in devices.values()):
        raise MappingError(f'{where}: [devices] maps device names to compressor ids ("EDGE/DEV" = "ID")')
    for device, compressor_id in devices.items():
        problem = compressor_id_problem(compressor_id)
        if problem:
            raise MappingError(f"{where}: [devices] {device!r}: {problem}")
    metrics: dict[str, MetricMap] = {}
    for name, spec in (data.get("metrics") or {}).items():
        if not isinstance(spec, dict) or "sensor" not in spec:
            raise MappingError(f'{where}: [metrics."{name}"] needs sensor = one of {", ".join(SENSORS)}')
        sensor = spec["sensor"]
        if sensor not in SENSORS:
            raise MappingError(
                f'{where}: [metrics."{name}"] sensor {sensor!r} is not one of {", ".join(SENSORS)}'
            )
        unit = spec.get("unit", SENSORS[sensor])
        if unit not in UNITS or UNITS[unit][0] != SENSORS[sensor]:
            choices = [u for u, (target, _) in UNITS.items() if target == SENSORS[sensor]]
            raise MappingError(
                f'{where}: [metrics."{name}"] unit {unit!r} cannot be read as {sensor}; '
                f"use one of {', '.join(choices)}"
            )
        metrics[name] = MetricMap(sensor, unit, UNITS[unit][1])
    if not metrics:
        raise MappingError(f"{where}: no [metrics.<name>] tables: nothing would be forwarded")
    sparkplug = data.get("sparkplug") or {}
    json_spec = data.get("json")
    json_mode = None
    if json_spec is not None:
        topic = json_spec.get("topic")
        if not isinstance(topic, str) or "{device}" not in topic:
            raise MappingError(f'{where}: [json] topic needs a {{device}} field, e.g. "site/{{device}}/data"')
        json_mode = JsonMode(topic, json_spec.get("timestamp"))
    opcua = data.get("opcua") or {}
    nodes: dict[str, tuple[str, str]] = {}
    for node_id, target in (opcua.get("nodes") or {}).items():
        device, bar, metric = str(target).partition("|")
        if not bar or metric not in metrics:
            raise MappingError(
                f'{where}: [opcua.nodes] "{node_id}" = "{target}": write "<device>|<metric>" with a metric '
                "named under [metrics]"
            )
        nodes[node_id] = (device, metric)
    reconnect_max_ms = int(opcua.get("reconnect_max_ms", 30_000))
    if reconnect_max_ms <= 0:
        raise MappingError(f"{where}: [opcua] reconnect_max_ms is a positive number of milliseconds")
    return Mapping(
        devices=dict(devices),
        metrics=metrics,
        devices_as_ids=bool(data.get("devices_as_ids", False)),
        sparkplug_group=sparkplug.get("group"),
        sparkplug_edge_node=sparkplug.get("edge_node", "+"),
        json=json_mode,
        opcua_nodes=nodes,
        opcua_interval_ms=int(opcua.get("interval_ms", 1000)),
        opcua_reconnect_max_ms=reconnect_max_ms,
    )
