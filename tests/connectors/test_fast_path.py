"""The connector's own fast path against the libraries it stands in for: Sparkplug data decoded from the
library's protobuf class gives what pysparkplug's DData.decode gives (and refuses what it refuses), and
the MQTT client cuts PUBLISH packets out of a byte stream however it arrives, hands them over in order
and acknowledges them only after the buffer committed them, all in one write."""

import json
import math
import socket
import sqlite3
import struct
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pysparkplug as spb
import pytest
from pysparkplug._protobuf import Payload as SparkplugPayload

from altaviz.connectors.buffer import Buffer, Received
from altaviz.connectors.mapping import parse_mapping
from altaviz.connectors.mqtt import (
    PACKETS_PER_READ,
    AckAfterCommit,
    Aliases,
    Message,
    Sensors,
    data_lines,
)

DT = spb.DataType
NOW = 1_760_000_000_000
BIRTH_METRICS = [
    ("Stage 1/Suction Pressure", DT.DOUBLE),
    ("Vibration", DT.FLOAT),
    ("Run Hours", DT.UINT32),
    ("Offset", DT.INT16),
    ("Counter", DT.INT64),
    ("Running", DT.BOOLEAN),
    ("Mode", DT.STRING),
]


def birth() -> spb.DBirth:
    metrics = tuple(
        spb.Metric(timestamp=NOW, name=name, alias=k + 1, datatype=datatype, is_null=True)
        for k, (name, datatype) in enumerate(BIRTH_METRICS)
    )
    return spb.DBirth(timestamp=NOW, seq=1, metrics=metrics)


MAPPING = parse_mapping(
    {
        "metrics": {
            "Stage 1/Suction Pressure": {"sensor": "suction_pressure_psi", "unit": "kPa"},
            "Vibration": {"sensor": "vibration_mms", "unit": "in/s"},
            "Run Hours": {"sensor": "operating_hours"},
            "Offset": {"sensor": "discharge_temp_f", "unit": "degC"},
            "Counter": {"sensor": "gas_flow_mcf"},
            "Running": {"sensor": "horsepower_consumption"},
        }
    }
)


def by_library(payload: bytes, known: spb.DBirth) -> tuple[int, list[dict[str, Any]]]:
    """(seq, readings) as pysparkplug decodes the payload and the mapping reads each metric: one
    reading per timestamp, a metric without one at the payload's."""
    data = spb.DData.decode(payload, birth=known)
    rows: dict[int, dict[str, Any]] = {}
    for metric in data.metrics:
        if metric.is_null or metric.name is None:
            continue
        reading = MAPPING.reading(metric.name, metric.value)
        if reading is not None:
            at = metric.timestamp if metric.timestamp is not None else data.timestamp
            rows.setdefault(at, {"compressor_id": "C-1", "timestamp": at})[reading[0]] = reading[1]
    return data.seq, list(rows.values())


def ours(payload: bytes, known: spb.DBirth) -> tuple[int, list[dict[str, Any]], int]:
    sensors = Sensors(MAPPING)
    seq, lines, unmapped = data_lines(payload, Aliases.of(known), sensors.start("C-1"), sensors)
    return seq, [json.loads(line) for line in lines], unmapped


def test_sparkplug_data_decodes_as_pysparkplug_decodes_it_and_the_mapping_reads_it() -> None:
    known = spb.DBirth.decode(birth().encode())
    values: list[Any] = [812.5, 2.25, 4_000_000_000, -1234, -(2**40), True, "LOAD"]
    metrics = [
        spb.Metric(timestamp=NOW + k % 2, name=None, alias=k + 1, datatype=datatype, value=value)
        for k, ((_, datatype), value) in enumerate(zip(BIRTH_METRICS, values, strict=True))
    ]
    # a metric by name with its own datatype and no timestamp, and a null one
    metrics.append(spb.Metric(timestamp=None, name="Run Hours", datatype=DT.UINT32, value=7))
    metrics.append(spb.Metric(timestamp=NOW, name=None, alias=1, datatype=DT.DOUBLE, is_null=True))
    payload = spb.DData(timestamp=NOW + 5, seq=9, metrics=tuple(metrics)).encode()
    seq, rows, unmapped = ours(payload, known)
    assert (seq, rows) == by_library(payload, known) and unmapped == 1  # "Mode"
    assert rows[0]["timestamp"] == NOW and rows[1]["timestamp"] == NOW + 1 and rows[2]["timestamp"] == NOW + 5
    assert rows[1]["discharge_temp_f"] == pytest.approx(-1234 * 9 / 5 + 32)
    assert rows[2]["operating_hours"] == 7.0 and "horsepower_consumption" not in rows[1]  # a boolean


def test_several_samples_in_one_payload_make_one_reading_each() -> None:
    """A station may put several scans in one DDATA (Sparkplug metrics carry their own timestamps)."""
    known = spb.DBirth.decode(birth().encode())
    metrics = tuple(
        spb.Metric(timestamp=NOW + 60_000 * s, name=None, alias=a, datatype=BIRTH_METRICS[a - 1][1], value=v)
        for s in range(10)
        for a, v in ((1, 700.0 + s), (2, 0.1 * s))
    )
    payload = spb.DData(timestamp=NOW, seq=3, metrics=metrics).encode()
    seq, rows, _ = ours(payload, known)
    assert (seq, rows) == by_library(payload, known)
    assert [r["timestamp"] for r in rows] == [NOW + 60_000 * s for s in range(10)]


@pytest.mark.parametrize(
    "payload",
    [
        # an alias the birth does not define
        spb.DData(
            timestamp=NOW,
            seq=1,
            metrics=(spb.Metric(timestamp=NOW, name=None, alias=99, datatype=DT.DOUBLE, value=1.0),),
        ).encode(),
        b"\xff\x00 not protobuf",
        b"",  # no timestamp
    ],
)
def test_what_pysparkplug_refuses_is_refused(payload: bytes) -> None:
    known = spb.DBirth.decode(birth().encode())
    with pytest.raises(Exception):  # noqa: B017 (whatever the library raises: counted as malformed)
        by_library(payload, known)
    with pytest.raises(Exception):  # noqa: B017
        ours(payload, known)


def publish_packet(topic: str, mid: int, payload: bytes, dup: bool = False, v5: bool = True) -> bytes:
    properties = b"\x03\x03\x00\x04json" if mid % 2 else b""  # a content type on every other one
    variable = struct.pack("!H", len(topic)) + topic.encode() + struct.pack("!H", mid)
    if v5:
        variable += bytes([len(properties)]) + properties
    body = variable + payload
    length, encoded = len(body), b""
    while True:
        byte, length = length % 128, length // 128
        encoded += bytes([byte | (0x80 if length else 0)])
        if not length:
            break
    return bytes([0x30 | 0x02 | (0x08 if dup else 0)]) + encoded + body


class Trickle:
    """A non-blocking socket that has `data` to give, in pieces of the sizes given, one piece a recv."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self.data, self.sizes, self.at = data, sizes, 0
        self.sent: list[bytes] = []

    def recv(self, bufsize: int) -> bytes:
        if self.at >= len(self.data):
            raise BlockingIOError
        size = min(bufsize, self.sizes[self.at % len(self.sizes)] if self.sizes else bufsize)
        piece = self.data[self.at : self.at + size]
        self.at += len(piece)
        return piece

    def send(self, data: bytes) -> int:
        self.sent.append(bytes(data))
        return len(data)

    def close(self) -> None:
        pass


@pytest.mark.parametrize("sizes", [[1], [7, 1, 300], []])
@pytest.mark.parametrize("v5", [True, False])
def test_publish_packets_are_cut_from_any_stream_and_acknowledged_after_their_commit(
    tmp_path: Path, sizes: list[int], v5: bool
) -> None:
    buffer = Buffer(tmp_path, "http://altaviz.invalid", "key")
    protocol = paho.MQTTv5 if v5 else paho.MQTTv311
    client = AckAfterCommit(buffer, client_id="test", protocol=protocol)
    received: list[Message] = []
    client.on_message = lambda c, userdata, message: received.append(message)
    sent = [
        (f"spBv1.0/G/DDATA/N/C-{k}", k + 1, bytes([k % 256]) * (k * 37 % 400), k == 3) for k in range(200)
    ]
    stream = b"".join(publish_packet(t, mid, p, dup, v5) for t, mid, p, dup in sent)
    sock = Trickle(stream, sizes)
    client._sock = sock
    client._sockpairW = None
    while sock.at < len(stream):
        assert client.loop_read() == paho.MQTT_ERR_SUCCESS
    assert client.loop_read() == paho.MQTT_ERR_SUCCESS  # nothing more: not an error
    assert [(m.topic, m.mid, m.payload, m.dup) for m in received] == sent
    assert all(m.qos == 1 and not m.retain for m in received)
    assert sock.sent == [] and list(client._out_packet) == []  # no PUBACK before the commit
    assert buffer.commit_pending()
    # written at once (no loop thread here), all 200 in one write, in order
    assert sock.sent == [b"".join(struct.pack("!BBH", 0x40, 2, mid) for _, mid, _, _ in sent)]


def test_an_acknowledgement_of_a_dropped_connection_is_not_sent(tmp_path: Path) -> None:
    buffer = Buffer(tmp_path, "http://altaviz.invalid", "key")
    client = AckAfterCommit(buffer, client_id="test", protocol=paho.MQTTv5)
    client.on_message = lambda c, userdata, message: None
    client._sock = sock = Trickle(publish_packet("a/b", 1, b"x"), [])
    client._sockpairW = None
    client.loop_read()
    client.connection += 1  # reconnected before the commit: the broker sends the message again
    buffer.commit_pending()
    assert sock.sent == [] and list(client._out_packet) == []


def test_after_a_failed_commit_the_acknowledgement_waits_for_the_next_commit_on_the_same_connection(
    tmp_path: Path,
) -> None:
    """A commit the buffer file refuses acknowledges nothing; the next one that succeeds sends the
    PUBACK on the connection the message came on, without a reconnect (after which the broker would
    send the message again)."""
    buffer = Buffer(tmp_path, "http://altaviz.invalid", "key")
    client = AckAfterCommit(buffer, client_id="test", protocol=paho.MQTTv5)
    client.on_message = lambda c, userdata, message: buffer.submit(Received(rows=[{"compressor_id": "C-1"}]))
    client._sock = sock = Trickle(publish_packet("a/b", 7, b"x"), [])
    client._sockpairW = None
    client.loop_read()
    refuse = sqlite3.connect(tmp_path / "buffer.sqlite")
    refuse.execute("CREATE TRIGGER refuse BEFORE INSERT ON readings BEGIN SELECT RAISE(ABORT, 'full'); END")
    refuse.commit()
    with pytest.raises(sqlite3.IntegrityError, match="full"):
        buffer.commit_pending()
    assert sock.sent == [] and buffer.depth() == 0
    refuse.execute("DROP TRIGGER refuse")
    refuse.commit()
    refuse.close()
    assert buffer.commit_pending()
    assert sock.sent == [struct.pack("!BBH", 0x40, 2, 7)] and buffer.depth() == 1


def test_packets_left_in_the_buffer_are_handled_without_waiting_for_the_socket(
    tmp_path: Path,
) -> None:
    """More packets than one pass handles arrive at once: the next pass of the loop handles the rest
    although the socket has nothing new (paho's select would wait for its timeout, or for ever)."""
    buffer = Buffer(tmp_path, "http://altaviz.invalid", "key")
    client = AckAfterCommit(buffer, client_id="test", protocol=paho.MQTTv5)
    received: list[Message] = []
    client.on_message = lambda c, userdata, message: received.append(message)
    count = PACKETS_PER_READ + 500
    ours, broker = socket.socketpair()
    try:
        ours.setblocking(False)
        broker.sendall(b"".join(publish_packet(f"t/{k}", k % 65535 + 1, b"p") for k in range(count)))
        client._sock = ours
        client._sockpairR = client._sockpairW = None
        assert client._loop(timeout=0.5) == paho.MQTT_ERR_SUCCESS
        assert len(received) == PACKETS_PER_READ
        assert client._loop(timeout=0.5) == paho.MQTT_ERR_SUCCESS
        assert [m.topic for m in received] == [f"t/{k}" for k in range(count)]
    finally:
        client._sock = None
        ours.close()
        broker.close()


def test_a_value_that_is_not_a_finite_number_is_no_reading() -> None:
    """A NaN (a failed sensor, as some controllers send it), an infinity, a boolean or a string is left
    out; the other metrics of the message still make the row."""
    mapping = parse_mapping(
        {
            "metrics": {
                "Suction": {"sensor": "suction_pressure_psi", "unit": "kPa"},
                "Vibration": {"sensor": "vibration_mms"},
            }
        }
    )
    assert mapping.reading("Suction", 689.4757293168361) == pytest.approx(("suction_pressure_psi", 100.0))
    assert mapping.reading("Suction", 7) == pytest.approx(("suction_pressure_psi", 7 / 6.894757293168361))
    for value in (math.nan, math.inf, -math.inf, True, "12", None):
        assert mapping.reading("Vibration", value) is None
    known = spb.DBirth.decode(
        spb.DBirth(
            timestamp=NOW,
            seq=1,
            metrics=tuple(
                spb.Metric(timestamp=NOW, name=name, alias=k + 1, datatype=DT.DOUBLE, is_null=True)
                for k, name in enumerate(("Vibration", "Suction"))
            ),
        ).encode()
    )
    sensors = Sensors(mapping)
    for bad in (math.nan, math.inf, -math.inf):
        metrics = (
            spb.Metric(timestamp=None, name=None, alias=1, datatype=DT.DOUBLE, value=bad),
            spb.Metric(timestamp=None, name=None, alias=2, datatype=DT.DOUBLE, value=689.5),
        )
        payload = spb.DData(timestamp=NOW, seq=2, metrics=metrics).encode()
        _, lines, _ = data_lines(payload, Aliases.of(known), sensors.start("C-1"), sensors)
        assert [json.loads(line) for line in lines] == [
            {"compressor_id": "C-1", "timestamp": NOW, "suction_pressure_psi": pytest.approx(100.0, 1e-3)}
        ]


def test_a_float_metric_carrying_another_kind_of_value_is_read_as_pysparkplug_reads_it() -> None:
    """A birth says DOUBLE/FLOAT but the data carries a boolean, a string or an integer field: the fast
    path for floats does not take it; the value is judged as the library decodes it."""
    known = spb.DBirth.decode(birth().encode())
    payload = SparkplugPayload(timestamp=NOW, seq=4)
    payload.metrics.add(alias=1, timestamp=NOW, boolean_value=True)
    payload.metrics.add(alias=2, timestamp=NOW, string_value="2.5")
    payload.metrics.add(alias=1, timestamp=NOW + 1, long_value=700)
    payload.metrics.add(alias=2, timestamp=NOW + 1, float_value=0.5)
    encoded = payload.SerializeToString()
    seq, rows, _ = ours(encoded, known)
    assert (seq, rows) == by_library(encoded, known)
    assert rows == [
        {
            "compressor_id": "C-1",
            "timestamp": NOW + 1,
            "suction_pressure_psi": pytest.approx(700 / 6.894757293168361),
            "vibration_mms": 12.7,
        }
    ]
