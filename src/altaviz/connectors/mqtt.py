"""MQTT connectors: Sparkplug B (decoded with pysparkplug) and plain JSON with a topic template.

Subscriptions are QoS 1 on a persistent session (a stable client id; MQTT 5 with a session expiry of a
week by default, or MQTT 3.1.1 with clean_session off). A message is acknowledged (PUBACK) only once
what it holds is committed to the on-disk buffer (buffer.py's group commit), so the broker keeps and
sends again what the connector had not stored when it stopped; with MQTT 5 the connector's Receive
Maximum lets the broker send that many unacknowledged messages ahead (with MQTT 3.1.1 the broker's own
limit applies: Mosquitto's max_inflight_messages, 20 by default). A handler never raises: a payload
that cannot be decoded is counted as malformed and logged with its topic; a device or metric the
mapping does not name is counted as unmapped.

Sparkplug B: NBIRTH/DBIRTH define the metric aliases (and carry current values, forwarded as readings);
NDATA/DDATA are decoded against them; NDEATH/DDEATH mark the node's devices (compressors) offline at
once, reported to Altaviz through POST /api/ingest/status (a DDEATH at its own timestamp, an NDEATH —
the broker's copy of the will the node left when it connected — at its arrival), and a DBIRTH of an
offline device reports it online. The `seq` of each edge node is checked (0-255, one step per
message) and a gap, or data from a node or device whose birth the connector has not seen, sends an
NCMD `Node Control/Rebirth`.
"""

from __future__ import annotations

import json
import logging
import math
import re
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple
from urllib.parse import urlparse

import paho.mqtt.client as paho
import pysparkplug as spb
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

# pysparkplug's public API (0.6.1) decodes a payload only into its own NBirth, DData, ... objects, a Metric
# object per metric (what data_lines and Aliases.of_payload avoid); the generated protobuf class it decodes
# with is importable only from its private _protobuf module. tests/connectors/test_fast_path.py checks
# data_lines against the library's own decoding, so a release that moves the class fails there.
from pysparkplug._protobuf import Payload as SparkplugPayload

from altaviz.connectors.buffer import Buffer, Received, digest
from altaviz.connectors.mapping import SAME_UNIT, Mapping

log = logging.getLogger("altaviz.connectors")

REBIRTH_METRIC = "Node Control/Rebirth"
REBIRTH_HOLDOFF_SECONDS = 5.0


@dataclass(frozen=True)
class BrokerOptions:
    url: str  # mqtt://host:1883 or mqtts://host:8883
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False
    client_id: str = "altaviz-connector"
    keepalive: int = 30
    mqtt_version: str = "5"  # or "3.1.1"
    receive_maximum: int = 10_000  # MQTT 5: unacknowledged messages the broker may send ahead
    session_expiry: int = 7 * 86_400  # MQTT 5: seconds the broker keeps the session while disconnected


PUBLISH = 0x30
PUBACK = 0x40
_PUBACK = struct.Struct("!BBH")
READ_SIZE = 256 * 1024  # bytes asked of the socket at a time
PACKETS_PER_READ = 2000  # packets handled before paho's loop looks at the socket and its writes again


@dataclass(slots=True)
class Message:
    """A received PUBLISH, what the handlers read of paho's MQTTMessage (which costs a lock to make)."""

    topic: str
    payload: bytes
    dup: bool
    qos: int
    retain: bool
    mid: int


class AckAfterCommit(paho.Client):  # type: ignore[misc]
    """paho 1.6 (pysparkplug pins paho-mqtt<2, which alone has manual acknowledgement), made fit for a
    backlog of tens of thousands of small messages a second:

    - **Acknowledgement after the commit.** paho sends a QoS 1 message's PUBACK as soon as on_message
      returns; this client collects the packet ids of the messages a read handled and hands them to the
      buffer as one acknowledgement, sent (all the PUBACKs in one write) after the commit that holds
      those messages. An acknowledgement left over from a connection that has since dropped is not sent:
      the broker sends those messages again on the new one.
    - **Reading.** paho reads a packet with three `recv` calls (type, length, rest) and one `select` per
      packet, and builds an MQTT 5 Properties object and a lock per message; this client reads up to
      READ_SIZE bytes at a time into its own buffer, cuts the packets out of it and handles up to
      PACKETS_PER_READ of them per pass of paho's loop (then writes what waits and reads on without
      waiting on the socket, which may have nothing new while the buffer still holds packets). It
      decodes a QoS 0/1 PUBLISH itself (topic, packet id, properties skipped — the connectors use
      none — payload) into a `Message`; every other packet (CONNACK, SUBACK, PINGRESP, a QoS 2
      PUBLISH, ...) goes to paho's own handling.
    """

    def __init__(self, buffer: Buffer, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.buffer = buffer
        self.connection = 0
        self._received = bytearray()
        self._received_at = 0  # start of the first packet not yet handled
        self._acks: list[int] = []  # packet ids handled in this pass, acknowledged after their commit
        self._more_read = False  # a pass stopped at PACKETS_PER_READ: read on before waiting
        self.on_pass_end: Callable[[], None] | None = None  # after the messages of a read pass

    # --- acknowledgements -------------------------------------------------------------------------------

    def _send_puback(self, mid: int) -> int:
        self._acks.append(mid)
        return int(paho.MQTT_ERR_SUCCESS)

    def _hand_acks_to_buffer(self) -> None:
        if not self._acks:
            return
        mids, self._acks = self._acks, []
        connection = self.connection

        def acknowledge() -> None:
            if self.connection == connection:
                packet = b"".join([_PUBACK.pack(PUBACK, 2, mid) for mid in mids])
                self._packet_queue(PUBACK, packet, 0, 0)

        self.buffer.after_commit(acknowledge)

    # --- reading ----------------------------------------------------------------------------------------

    def reconnect(self) -> int:
        self._received = bytearray()
        self._received_at = 0
        self._acks = []
        self._more_read = False
        return int(super().reconnect())

    def _loop(self, timeout: float = 1.0) -> int:
        if self._more_read:  # whole packets may wait in our buffer, which paho's select cannot see
            rc = self.loop_read()
            if rc or self._sock is None:
                return rc
            if self._more_read:
                timeout = 0.0  # write the acknowledgements and pings waiting, then read on
        return int(super()._loop(timeout))

    def loop_read(self, max_packets: int = 1) -> int:
        if self._sock is None:
            return int(paho.MQTT_ERR_NO_CONN)
        self._more_read = False
        handled = 0
        try:
            for handled in range(PACKETS_PER_READ):  # noqa: B007 (the count is read after the loop)
                rc = self._packet_read()
                if rc == paho.MQTT_ERR_AGAIN:
                    return int(paho.MQTT_ERR_SUCCESS)
                if rc > 0:
                    return int(self._loop_rc_handle(rc))
                if self._sock is None:
                    return int(paho.MQTT_ERR_NO_CONN)
            self._more_read = True
            return int(paho.MQTT_ERR_SUCCESS)
        finally:
            if handled:  # (the keepalive's clock: once a pass, not a lock a message)
                with self._msgtime_mutex:
                    self._last_msg_in = paho.time_func()
            if self.on_pass_end is not None:
                self.on_pass_end()  # what the pass's messages hold goes to the buffer before their PUBACKs
            self._hand_acks_to_buffer()

    def _next_packet(self) -> tuple[int, bytes] | None:
        """(first byte, rest) of the next whole packet in the buffer, None if it is not all there."""
        data, start = self._received, self._received_at
        end = len(data)
        at = start + 1
        length, shift = 0, 0
        while True:
            if at >= end:
                return None
            byte = data[at]
            length |= (byte & 0x7F) << shift
            at += 1
            if not byte & 0x80:
                break
            shift += 7
            if shift > 21:
                raise ValueError("malformed remaining length")
        if end - at < length:
            return None
        body = bytes(data[at : at + length])
        self._received_at = at + length
        return data[start], body

    def _packet_read(self) -> int:
        while True:
            try:
                packet = self._next_packet()
            except ValueError:
                return int(paho.MQTT_ERR_PROTOCOL)
            if packet is not None:
                break
            if self._received_at:
                del self._received[: self._received_at]
                self._received_at = 0
            try:
                data = self._sock_recv(READ_SIZE)
            except BlockingIOError:
                return int(paho.MQTT_ERR_AGAIN)
            except ConnectionError as error:
                self._easy_log(paho.MQTT_LOG_ERR, "failed to receive on socket: %s", error)
                return int(paho.MQTT_ERR_CONN_LOST)
            if not data:
                return int(paho.MQTT_ERR_CONN_LOST)
            self._received += data
        command, body = packet
        qos = (command & 0x06) >> 1
        if command & 0xF0 == PUBLISH and qos < 2:
            return self._publish_received(command, qos, body)
        with self._msgtime_mutex:
            self._last_msg_in = paho.time_func()
        self._in_packet = {
            "command": command,
            "have_remaining": 1,
            "remaining_count": [],
            "remaining_mult": 1,
            "remaining_length": len(body),
            "packet": bytearray(body),
            "to_process": 0,
            "pos": 0,
        }
        try:
            return int(self._packet_handle())
        finally:
            self._in_packet = {
                "command": 0,
                "have_remaining": 0,
                "remaining_count": [],
                "remaining_mult": 1,
                "remaining_length": 0,
                "packet": bytearray(b""),
                "to_process": 0,
                "pos": 0,
            }

    def _publish_received(self, command: int, qos: int, body: bytes) -> int:
        topic_end = 2 + int.from_bytes(body[:2], "big")
        if topic_end > len(body):
            return int(paho.MQTT_ERR_PROTOCOL)
        topic = body[2:topic_end].decode("utf-8", "replace")
        at, mid = topic_end, 0
        if qos:
            mid = int.from_bytes(body[at : at + 2], "big")
            at += 2
        if self._protocol == paho.MQTTv5:  # the properties: their length, then skipped
            length, shift = 0, 0
            while True:
                if at >= len(body):
                    return int(paho.MQTT_ERR_PROTOCOL)
                byte = body[at]
                at += 1
                length |= (byte & 0x7F) << shift
                if not byte & 0x80:
                    break
                shift += 7
            at += length
        message = Message(topic, body[at:], bool(command & 0x08), qos, bool(command & 0x01), mid)
        if self.on_message is not None:
            self.on_message(self, self._userdata, message)
        if qos:
            self._send_puback(mid)
        return int(paho.MQTT_ERR_SUCCESS)


def mqtt_client(
    options: BrokerOptions, on_message: Callable[[Message], None], topics: list[str], buffer: Buffer
) -> AckAfterCommit:
    """A paho client with a persistent session that (re)subscribes `topics` on every connect."""
    parsed = urlparse(options.url)
    if parsed.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ValueError(f"broker URL {options.url!r}: use mqtt://HOST:PORT or mqtts://HOST:PORT")
    if options.mqtt_version not in ("5", "3.1.1"):
        raise ValueError("--mqtt-version is 5 or 3.1.1")
    v5 = options.mqtt_version == "5"
    if v5:
        client = AckAfterCommit(buffer, client_id=options.client_id, protocol=paho.MQTTv5)
    else:
        client = AckAfterCommit(buffer, client_id=options.client_id, clean_session=False)
    if options.username:
        client.username_pw_set(options.username, options.password)
    if parsed.scheme in ("mqtts", "ssl") or options.ca_file:
        client.tls_set(
            ca_certs=options.ca_file,
            certfile=options.cert_file,
            keyfile=options.key_file,
            cert_reqs=ssl.CERT_NONE if options.insecure else ssl.CERT_REQUIRED,
        )
        if options.insecure:
            client.tls_insecure_set(True)
    client.reconnect_delay_set(1, 30)

    def connected(c: AckAfterCommit, userdata: Any, flags: Any, rc: Any, properties: Any = None) -> None:
        code = int(getattr(rc, "value", rc))
        if code != 0:
            log.warning("broker refused the connection: %s", rc if v5 else paho.connack_string(rc))
            return
        c.connection += 1
        for topic in topics:
            c.subscribe(topic, qos=1)
        log.info("connected to %s, subscribed to %s", options.url, ", ".join(topics))

    client.on_connect = connected
    client.on_message = lambda c, userdata, message: on_message(message)
    default_port = 8883 if parsed.scheme in ("mqtts", "ssl") else 1883
    host, port = parsed.hostname or "localhost", parsed.port or default_port
    if v5:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = options.session_expiry
        properties.ReceiveMaximum = options.receive_maximum
        client.connect_async(host, port, options.keepalive, clean_start=False, properties=properties)
    else:
        client.connect_async(host, port, options.keepalive)
    return client


Metrics = Iterable[tuple[str | None, int | None, Any]]  # (name, timestamp or None, value) of non-null metrics
CONTROL_METRICS = ("Node Control/", "Device Control/", "bdSeq")
FLOATS = (int(spb.DataType.FLOAT), int(spb.DataType.DOUBLE))
FLOAT_FIELDS = ("double_value", "float_value")


class Sensors:
    """The mapping's metrics as what a reading's NDJSON line needs: metric name -> (`,"sensor":`, the
    conversion to the sensor's unit or None when it arrives in it), and a device's compressor id ->
    the line's start (`{"compressor_id":"...","timestamp":`). A line is then the start, the timestamp
    and the values' texts (`repr` of a float, as json.dumps writes it): no object per reading and no
    JSON encoder."""

    def __init__(self, mapping: Mapping) -> None:
        self.mapping = mapping
        self.by_name: dict[str, tuple[str, Callable[[float], float] | None]] = {
            name: (f',"{metric.sensor}":', None if metric.unit in SAME_UNIT else metric.convert)
            for name, metric in mapping.metrics.items()
        }
        self.starts: dict[str, str] = {}

    def start(self, compressor: str) -> str:
        start = self.starts.get(compressor)
        if start is None:
            start = self.starts[compressor] = '{"compressor_id":' + json.dumps(compressor) + ',"timestamp":'
        return start


def _value_text(convert: Callable[[float], float], value: Any) -> str | None:
    """A metric's value in the sensor's unit as JSON text, None when it is not a finite number: a NaN a
    controller sends for a failed sensor is no reading (nor valid JSON for the ingest API); a boolean
    or a string is not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    converted = convert(float(value))
    return repr(converted) if math.isfinite(converted) else None


def _lines(by_time: dict[int, dict[str, str]], start: str) -> list[str]:
    """The NDJSON line of each timestamp's row (sensor -> `,"sensor":value`)."""
    return [start + str(at) + "".join(row.values()) + "}" for at, row in by_time.items()]


def _metric_lines(start: str, metrics: Metrics, default_ms: int, sensors: Sensors) -> tuple[list[str], int]:
    """(NDJSON lines, metrics unmapped) of decoded metrics (a birth's): one line per timestamp."""
    by_time: dict[int, dict[str, str]] = {}
    unmapped = 0
    for name, timestamp, value in metrics:
        if name is None:
            continue
        target = sensors.by_name.get(name)
        if target is None:
            if not name.startswith(CONTROL_METRICS):
                unmapped += 1
            continue
        text = _value_text(target[1] or float, value)
        if text is None:
            continue
        at = timestamp if timestamp is not None else default_ms
        row = by_time.get(at)
        if row is None:
            row = by_time[at] = {}
        row[target[0]] = target[0] + text
    return _lines(by_time, start), unmapped


def _birth_metrics(birth: spb.NBirth | spb.DBirth) -> Metrics:
    return [(m.name, m.timestamp, m.value) for m in birth.metrics if not m.is_null]


@dataclass(frozen=True)
class Aliases:
    """What a birth certificate defines for the data after it: metric names by alias, datatypes by name."""

    names: dict[int, str]
    datatypes: dict[str, int]

    @classmethod
    def of(cls, birth: spb.NBirth | spb.DBirth) -> Aliases:
        names = {m.alias: str(m.name) for m in birth.metrics if m.alias is not None}
        return cls(names, {str(m.name): int(m.datatype) for m in birth.metrics})

    @classmethod
    def of_payload(cls, payload: bytes) -> Aliases:
        """From a birth payload kept in the buffer (decoded once already), without pysparkplug's objects:
        a restart with thousands of devices' births kept does not spend 60 µs on each."""
        decoded = SparkplugPayload.FromString(payload)
        names, datatypes = {}, {}
        for metric in decoded.metrics:
            if not metric.name or not metric.datatype:
                raise ValueError("a birth metric without a name or a datatype")
            if metric.HasField("alias"):
                names[int(metric.alias)] = str(metric.name)
            datatypes[str(metric.name)] = int(metric.datatype)
        return cls(names, datatypes)


def data_lines(payload: bytes, aliases: Aliases, start: str, sensors: Sensors) -> tuple[int, list[str], int]:
    """(seq, NDJSON lines, metrics unmapped) of an NDATA/DDATA payload. Decoded as pysparkplug's
    NData/DData.decode does (names from the birth's aliases, a missing datatype from the birth, values
    through the library's DataType decoders; a payload without timestamp or seq, an unknown alias or
    datatype raises) but straight from the library's generated protobuf class (the upb C backend),
    and mapped in the same pass: one line per timestamp the metrics carry (Sparkplug lets a payload
    hold several: a station's store-and-forward or a scan of several samples), a metric without one at
    the payload's."""
    decoded = SparkplugPayload.FromString(payload)
    if not decoded.HasField("timestamp"):
        raise ValueError("Sparkplug payload missing required timestamp field")
    if not decoded.HasField("seq"):
        raise ValueError("Sparkplug data payload missing its seq")
    default_ms = decoded.timestamp
    names, datatypes, by_name = aliases.names, aliases.datatypes, sensors.by_name
    by_time: dict[int, dict[str, str]] = {}
    unmapped = 0
    for metric in decoded.metrics:
        name = metric.name or names[metric.alias]
        datatype = metric.datatype or datatypes[name]
        if metric.is_null:
            continue
        field_name = metric.WhichOneof("value")
        if field_name is None:
            continue
        value = getattr(metric, field_name)
        if datatype not in FLOATS:
            value = spb.DataType(datatype).decode(value)
        target = by_name.get(name)
        if target is None:
            if not name.startswith(CONTROL_METRICS):
                unmapped += 1
            continue
        if field_name in FLOAT_FIELDS and datatype in FLOATS:  # nearly every metric: a float already
            if target[1] is not None:
                value = target[1](value)
            if not math.isfinite(value):
                continue
            text = repr(value)
        elif (number := _value_text(target[1] or float, value)) is not None:
            text = number
        else:
            continue
        at = metric.timestamp if metric.HasField("timestamp") else default_ms
        row = by_time.get(at)
        if row is None:
            row = by_time[at] = {}
        row[target[0]] = target[0] + text
    return int(decoded.seq), _lines(by_time, start), unmapped


Receive = Callable[[str, bytes, Received], None]  # (topic, payload, into): adds what the message holds


def handle_message(buffer: Buffer, message: Message, received: Receive, into: Received) -> None:
    """One message into `into`, what the read pass leaves for the next group commit (its PUBACK follows
    the commit). A message the broker sends again (DUP) that was committed already is skipped; one that
    cannot be decoded is counted as malformed and logged with its topic, and never stops the
    connector. `received` adds to `into` only once nothing can fail any more (a malformed message adds
    nothing)."""
    into.messages += 1
    message_digest = digest(message.topic, message.payload)
    if message.dup and buffer.seen(message_digest):
        buffer.stats.add(redeliveries_skipped=1)
        return
    into.digests.append(message_digest)
    try:
        received(message.topic, message.payload, into)
    except Exception as error:  # a bad payload must never stop the connector
        buffer.stats.add(malformed=1)
        buffer.stats.error(f"{message.topic}: {error.__class__.__name__}: {error}")
        log.warning("malformed message on %s: %s", message.topic, error)


class PassCollector:
    """What the messages of one read pass of the MQTT client hold, submitted to the buffer as one entry
    of the group commit when the pass ends (before the pass's acknowledgements): one lock and one
    count per pass instead of per message."""

    def __init__(self, buffer: Buffer, received: Receive) -> None:
        self.buffer = buffer
        self.received = received
        self.into = Received(messages=0)

    def handle(self, message: Message) -> None:
        handle_message(self.buffer, message, self.received, self.into)

    def pass_end(self) -> None:
        into = self.into
        if into.messages:
            self.into = Received(messages=0)
            self.buffer.stats.add(messages_in=into.messages)
            self.buffer.submit(into)


class Route(NamedTuple):
    """What a topic says, parsed once: the message type, edge node, device, the device's key in the
    mapping ("EDGE/DEVICE", or "EDGE" for the node's own metrics), its compressor id (None: unmapped)
    and the start of its readings' lines."""

    topic: spb.Topic
    kind: spb.MessageType
    node: str
    device: str | None
    key: str
    compressor: str | None
    start: str


class SparkplugConnector:
    """Host-application side of Sparkplug B for one group (and one edge node or all of them)."""

    def __init__(
        self,
        mapping: Mapping,
        buffer: Buffer,
        broker: BrokerOptions,
        group: str | None = None,
        edge_node: str | None = None,
    ) -> None:
        self.mapping = mapping
        self.sensors = Sensors(mapping)
        self.buffer = buffer
        self.stats = buffer.stats
        self.group = group or mapping.sparkplug_group
        if not self.group:
            raise ValueError("name the Sparkplug group: --group or [sparkplug] group in the mapping file")
        self.edge_node = edge_node or mapping.sparkplug_edge_node
        self.topic = f"spBv1.0/{self.group}/+/{self.edge_node}/#"
        self.node_births: dict[str, Aliases] = {}
        self.device_births: dict[tuple[str, str], Aliases] = {}
        self.routes: dict[str, Route] = {}  # parsed topics (one per device and message type)
        self.node_devices: dict[str, set[str]] = {}
        self.seq: dict[str, int] = {}
        self.rebirth_sent: dict[str, float] = {}
        self.lock = threading.Lock()
        for source, payload in buffer.births().items():
            node, _, device = source.partition("/")
            if device:
                self.device_births[(node, device)] = Aliases.of_payload(payload)
                self.node_devices.setdefault(node, set()).add(device)
            else:
                self.node_births[node] = Aliases.of_payload(payload)
        self.collector = PassCollector(buffer, self._received)
        self.client = mqtt_client(broker, self.collector.handle, [self.topic], buffer)
        self.client.on_pass_end = self.collector.pass_end
        self.out = Received()  # where the message being handled leaves its births and reports

    def start(self) -> None:
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    # --- messages ----------------------------------------------------------------------------------------

    def _received(self, topic: str, payload: bytes, into: Received) -> None:
        """Each branch of _handle decodes (and may raise) before it adds anything to `into`."""
        with self.lock:
            self.out = into
            into.lines += self._handle(topic, payload)

    def _route(self, text: str) -> Route:
        route = self.routes.get(text)
        if route is None:
            topic = spb.Topic.from_str(text)
            if not isinstance(topic.message_type, spb.MessageType):
                raise ValueError(f"not a Sparkplug message type: {topic.message_type}")
            node = str(topic.edge_node_id)
            device = None if topic.device_id is None else str(topic.device_id)
            key = node if device is None else f"{node}/{device}"
            compressor = self.mapping.compressor(key)
            start = self.sensors.start(compressor) if compressor is not None else ""
            route = Route(topic, topic.message_type, node, device, key, compressor, start)
            if len(self.routes) >= 100_000:
                self.routes.clear()
            self.routes[text] = route
        return route

    def _data(self, route: Route, payload: bytes, known: Aliases) -> list[str]:
        seq, lines, unmapped = data_lines(payload, known, route.start, self.sensors)
        self._check_sequence(route.topic, route.node, seq)
        if route.compressor is None:
            self.stats.add(unmapped=1)
            log.debug("unmapped device %s", route.key)
            return []
        if unmapped:
            self.stats.add(unmapped=unmapped)
        return lines

    def _birth_lines(self, route: Route, birth: spb.NBirth | spb.DBirth) -> list[str]:
        if route.compressor is None:
            self.stats.add(unmapped=1)
            log.debug("unmapped device %s", route.key)
            return []
        lines, unmapped = _metric_lines(route.start, _birth_metrics(birth), birth.timestamp, self.sensors)
        if unmapped:
            self.stats.add(unmapped=unmapped)
        return lines

    def _handle(self, topic_text: str, payload: bytes) -> list[str]:
        route = self._route(topic_text)
        topic, kind, node, device = route.topic, route.kind, route.node, route.device
        if kind == spb.MessageType.DDATA:  # first: nearly every message
            known = self.device_births.get((node, str(device)))
            if known is None:
                self._rebirth(topic, node, f"DDATA of {device} before its DBIRTH")
                self.stats.add(unmapped=1)
                return []
            return self._data(route, payload, known)
        if kind == spb.MessageType.NBIRTH:
            birth = spb.NBirth.decode(payload)
            self.node_births[node] = Aliases.of(birth)
            self.seq[node] = birth.seq
            self.out.births.append((node, payload))
            return self._birth_lines(route, birth)
        if kind == spb.MessageType.NDEATH:
            spb.NDeath.decode(payload)
            self.node_births.pop(node, None)
            self.seq.pop(node, None)
            self.out.births.append((node, None))
            for name in self.node_devices.get(node, set()):
                self.device_births.pop((node, name), None)
            # the NDEATH is the will the node left when it connected: its timestamp is that moment's
            devices = sorted(self.node_devices.get(node, set()))
            self._offline(node, devices, int(time.time() * 1000), f"NDEATH of {node}")
            return []
        if kind == spb.MessageType.DBIRTH:
            dbirth = spb.DBirth.decode(payload)
            self._check_sequence(topic, node, dbirth.seq)
            self.device_births[(node, str(device))] = Aliases.of(dbirth)
            self.out.births.append((f"{node}/{device}", payload))
            self.node_devices.setdefault(node, set()).add(str(device))
            self._online(node, str(device), dbirth.timestamp)
            return self._birth_lines(route, dbirth)
        if kind == spb.MessageType.DDEATH:
            ddeath = spb.DDeath.decode(payload)
            self._check_sequence(topic, node, ddeath.seq)
            at = ddeath.timestamp if ddeath.timestamp else int(time.time() * 1000)
            self._offline(node, [str(device)], at, f"DDEATH of {node}/{device}")
            return []
        if kind == spb.MessageType.NDATA:
            nbirth = self.node_births.get(node)
            if nbirth is None:
                self._rebirth(topic, node, "NDATA before NBIRTH")
                self.stats.add(unmapped=1)
                return []
            return self._data(route, payload, nbirth)
        return []  # NCMD/DCMD/STATE: not data

    def _check_sequence(self, topic: spb.Topic, node: str, seq: int) -> None:
        """Each message of an edge node carries the next seq (mod 256): a gap means lost messages,
        answered with a rebirth request (the data of this message is still used)."""
        last = self.seq.get(node)
        if last is None and node in self.node_births:
            pass  # births kept on disk from before a restart: the sequence restarts here
        elif last is None:
            self._rebirth(topic, node, "data before NBIRTH")
        elif seq != (last + 1) % 256:
            self._rebirth(topic, node, f"sequence gap: {last} then {seq}")
        self.seq[node] = seq

    def _rebirth(self, topic: spb.Topic, node: str, why: str) -> None:
        now = time.monotonic()
        if now - self.rebirth_sent.get(node, -1e9) < REBIRTH_HOLDOFF_SECONDS:
            return
        self.rebirth_sent[node] = now
        command = spb.NCmd(
            timestamp=spb.get_current_timestamp(),
            metrics=(
                spb.Metric(
                    timestamp=spb.get_current_timestamp(),
                    name=REBIRTH_METRIC,
                    datatype=spb.DataType.BOOLEAN,
                    value=True,
                ),
            ),
        )
        target = f"spBv1.0/{topic.group_id}/NCMD/{node}"
        self.client.publish(target, command.encode(include_dtypes=True), qos=0)
        self.stats.add(rebirth_requests=1)
        log.info("rebirth requested from %s (%s)", node, why)

    def _offline(self, node: str, devices: list[str], at_ms: int, reason: str) -> None:
        """The devices' compressors went offline at `at_ms`: in the counters, and reported to Altaviz."""
        compressors = [c for d in devices if (c := self.mapping.compressor(f"{node}/{d}")) is not None]
        if not compressors:
            return
        with self.stats.lock:
            for compressor in compressors:
                self.stats.offline[compressor] = at_ms / 1000
        self.out.statuses.append(
            {"compressor_ids": compressors, "state": "offline", "timestamp": at_ms, "reason": reason}
        )
        log.info("offline (%s): %s", reason, ", ".join(compressors))

    def _online(self, node: str, device: str, at_ms: int) -> None:
        """A birth of a device this connector saw die: reported online (a newer reading would clear
        the offline state in Altaviz too; the birth may come well before one)."""
        compressor = self.mapping.compressor(f"{node}/{device}")
        if compressor is None:
            return
        with self.stats.lock:
            was_offline = self.stats.offline.pop(compressor, None) is not None
        if was_offline:
            self.out.statuses.append(
                {
                    "compressor_ids": [compressor],
                    "state": "online",
                    "timestamp": at_ms,
                    "reason": f"DBIRTH of {node}/{device}",
                }
            )


def _path(document: Any, path: str) -> Any:
    value = document
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
        if value is None:
            return None
    return value


def _timestamp(value: Any) -> int | str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value * 1000) if value < 1e11 else int(value)  # seconds or milliseconds
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return value
    return None


class JsonConnector:
    """Plain MQTT JSON: the device from the topic template, values from JSON paths."""

    def __init__(self, mapping: Mapping, buffer: Buffer, broker: BrokerOptions) -> None:
        if mapping.json is None:
            raise ValueError("the mapping file has no [json] table (topic template, timestamp path)")
        self.mapping = mapping
        self.template = mapping.json.topic
        self.buffer = buffer
        self.stats = buffer.stats
        pattern = ""
        for literal, name in re.findall(r"([^{]*)(?:\{(\w+)\})?", self.template):
            pattern += re.escape(literal) + (f"(?P<{name}>[^/]+)" if name else "")
        self.regex = re.compile(pattern)
        subscription = re.sub(r"\{\w+\}", "+", self.template)
        self.collector = PassCollector(
            buffer, lambda topic, payload, into: into.rows.extend(self.rows(topic, payload))
        )
        self.client = mqtt_client(broker, self.collector.handle, [subscription], buffer)
        self.client.on_pass_end = self.collector.pass_end

    def start(self) -> None:
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _received(self, topic: str, payload: bytes, into: Received) -> None:
        into.rows += self.rows(topic, payload)

    def rows(self, topic: str, payload: bytes) -> list[dict[str, Any]]:
        match = self.regex.fullmatch(topic)
        if match is None:
            self.stats.add(unmapped=1)
            return []
        compressor = self.mapping.compressor(match.group("device"))
        if compressor is None:
            self.stats.add(unmapped=1)
            return []
        document = json.loads(payload)
        documents = document if isinstance(document, list) else [document]
        assert self.mapping.json is not None
        rows = []
        for item in documents:
            if not isinstance(item, dict):
                raise ValueError("a JSON object (or an array of objects) is expected")
            at: int | str | None
            if self.mapping.json.timestamp:
                at = _timestamp(_path(item, self.mapping.json.timestamp))
                if at is None:
                    raise ValueError(f"no valid timestamp at {self.mapping.json.timestamp!r}")
            else:
                at = int(time.time() * 1000)
            row: dict[str, Any] = {"compressor_id": compressor, "timestamp": at}
            for name in self.mapping.metrics:
                reading = self.mapping.reading(name, _path(item, name))
                if reading is not None:
                    row[reading[0]] = reading[1]
            if len(row) == 2:
                self.stats.add(unmapped=1)
                continue
            rows.append(row)
        return rows
