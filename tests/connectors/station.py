"""A simulated compressor station publishing over MQTT as an Ignition/Cirrus Link edge node does:
Sparkplug B (NBIRTH, a DBIRTH per unit with metric aliases, DDATA by alias, seq 0-255) in station units
(kPa, °C, m³/d, kW), and the readings it published, in Altaviz's units, for the test to compare."""

import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as paho
import pysparkplug as spb

from altaviz.connectors.mapping import CUBIC_FEET_PER_CUBIC_METRE, KPA_PER_PSI, WATTS_PER_HP

# metric name, alias, Altaviz sensor, from Altaviz's unit to the station's
METRICS: tuple[tuple[str, int, str, Any], ...] = (
    ("Compressor/Frame Vibration", 1, "vibration_mms", lambda v: v),
    ("Compressor/Stage 2/Discharge Temperature", 2, "discharge_temp_f", lambda v: (v - 32.0) * 5.0 / 9.0),
    ("Compressor/Stage 1/Suction Pressure", 3, "suction_pressure_psi", lambda v: v * KPA_PER_PSI),
    ("Compressor/Stage 2/Discharge Pressure", 4, "discharge_pressure_psi", lambda v: v * KPA_PER_PSI),
    ("Engine/Load", 5, "horsepower_consumption", lambda v: v * WATTS_PER_HP / 1000.0),
    ("Meter/Flow Rate", 6, "gas_flow_mcf", lambda v: v * 1000.0 / CUBIC_FEET_PER_CUBIC_METRE),
    ("Engine/Speed", 7, "", None),  # published, not mapped
)

MAPPING = """
[sparkplug]
group = "PERMIAN"
edge_node = "STATION-07"

[devices]
{devices}

[metrics."Compressor/Frame Vibration"]
sensor = "vibration_mms"
unit = "mm/s"
[metrics."Compressor/Stage 2/Discharge Temperature"]
sensor = "discharge_temp_f"
unit = "°C"
[metrics."Compressor/Stage 1/Suction Pressure"]
sensor = "suction_pressure_psi"
unit = "kPa"
[metrics."Compressor/Stage 2/Discharge Pressure"]
sensor = "discharge_pressure_psi"
unit = "kPa"
[metrics."Engine/Load"]
sensor = "horsepower_consumption"
unit = "kW"
[metrics."Meter/Flow Rate"]
sensor = "gas_flow_mcf"
unit = "m³/d"
"""


def mapping_text(compressors: list[str]) -> str:
    return MAPPING.format(devices="\n".join(f'"STATION-07/UNIT-{c}" = "{c}"' for c in compressors))


@dataclass
class Station:
    broker: str
    group: str = "PERMIAN"
    node: str = "STATION-07"
    seq: int = 0
    rebirth_requests: list[str] = field(default_factory=list)
    births: dict[str, bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        parsed = urlparse(self.broker)
        self.client = paho.Client(client_id=f"station-{self.node}", clean_session=True)
        death = spb.NDeath(
            timestamp=spb.get_current_timestamp(),
            bd_seq_metric=spb.Metric(
                timestamp=spb.get_current_timestamp(), name="bdSeq", datatype=spb.DataType.INT64, value=0
            ),
        )
        self.client.will_set(self.topic("NDEATH"), death.encode(include_dtypes=True), qos=1)
        self.client.on_message = self._command
        connected = threading.Event()
        self.client.on_connect = lambda *args: connected.set()
        self.client.connect(parsed.hostname or "", parsed.port or 1883)
        self.client.loop_start()
        assert connected.wait(10)
        self.client.subscribe(self.topic("NCMD"), qos=1)

    def topic(self, kind: str, device: str | None = None) -> str:
        return f"spBv1.0/{self.group}/{kind}/{self.node}" + (f"/{device}" if device else "")

    def _command(self, client: Any, userdata: Any, message: paho.MQTTMessage) -> None:
        command = spb.NCmd.decode(message.payload)
        for metric in command.metrics:
            if metric.name == "Node Control/Rebirth" and metric.value:
                self.rebirth_requests.append(message.topic)

    def next_seq(self) -> int:
        self.seq = (self.seq + 1) % 256
        return self.seq

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def nbirth(self) -> None:
        self.seq = 0
        now = spb.get_current_timestamp()
        metrics = (
            spb.Metric(timestamp=now, name="bdSeq", datatype=spb.DataType.INT64, value=0),
            spb.Metric(
                timestamp=now, name="Node Control/Rebirth", datatype=spb.DataType.BOOLEAN, value=False
            ),
        )
        self.publish(
            self.topic("NBIRTH"),
            spb.NBirth(timestamp=now, seq=0, metrics=metrics).encode(include_dtypes=True),
        )

    def dbirth(self, device: str) -> None:
        now = spb.get_current_timestamp()
        metrics = tuple(
            spb.Metric(timestamp=now, name=name, alias=alias, datatype=spb.DataType.DOUBLE, is_null=True)
            for name, alias, _, _ in METRICS
        )
        birth = spb.DBirth(timestamp=now, seq=self.next_seq(), metrics=metrics)
        self.publish(self.topic("DBIRTH", device), birth.encode(include_dtypes=True))

    def ddata(self, device: str, reading: dict[str, Any]) -> None:
        at = int(reading["timestamp"].timestamp() * 1000)
        metrics = []
        for _, alias, sensor, to_station in METRICS:
            value = 1200.0 if not sensor else reading.get(sensor)
            if value is None:
                continue
            metrics.append(
                spb.Metric(
                    timestamp=at,
                    name=None,
                    alias=alias,
                    datatype=spb.DataType.DOUBLE,
                    value=float(to_station(value) if to_station else value),
                )
            )
        payload = spb.DData(timestamp=at, seq=self.next_seq(), metrics=tuple(metrics))
        self.publish(self.topic("DDATA", device), payload.encode())

    def ddeath(self, device: str) -> None:
        payload = spb.DDeath(timestamp=spb.get_current_timestamp(), seq=self.next_seq())
        self.publish(self.topic("DDEATH", device), payload.encode())

    def raw(self, kind: str, device: str | None, payload: bytes) -> None:
        self.publish(self.topic(kind, device), payload)

    def die(self) -> None:
        """Drop the connection without a DISCONNECT: the broker publishes the NDEATH will."""
        self.client.loop_stop()
        self.client.socket().close()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
