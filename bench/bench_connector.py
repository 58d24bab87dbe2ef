"""Connector benchmark: readings per second through `altaviz connect mqtt` (Sparkplug B) into Altaviz,
against the ingest API's own rate in the same script, and the latency from publish to /api/fleet.

A Mosquitto of the benchmark's own (Debian's /usr/sbin/mosquitto, a free port), the service as
`altaviz serve --workers 2` on a fresh SQLite database with 4,700 registered compressors, an ingest key
and an admin key (bench_ingest.py's setup), and the connector as `altaviz connect mqtt` in a process of
its own (MQTT 5, group commit, batches of --batch-rows). With --edge-nodes N the fleet is split over N
edge nodes (STATION-1..N), each with a connector process of its own (`--edge-node`, its own client id
and buffer): the runbook's way past one process.

1. Reference: the readings straight into the ingest API, as gzip NDJSON batches of --batch-rows, one
   after the other from one client (what the service takes when nothing stands in front of it; the
   connector sends its batches as Parquet, which the service reads for less CPU).
2. Through the connector: a station publishes an NBIRTH and a DBIRTH per compressor while the connector
   runs, the connector is stopped (its MQTT 5 session stays), the station publishes the readings as
   DDATA, which the broker keeps for the session, and the connector starts again: the figure is
   readings per second from its start (Python's start-up included; the rate after it is printed too)
   to the last reading answered by Altaviz (forwarded_total), so it is the connector's rate and not
   the rate at which the bench's publisher, one Python paho client, can publish (printed too: a few
   thousand messages/s, below the connector's, so a live stream from it would measure the publisher).
   What the station publishes: one DDATA per device and scan with the six metrics by alias (doubles,
   each with its timestamp, QoS 1); --per-message N puts N scans of a device in one DDATA (Sparkplug
   metrics carry their own timestamps: store-and-forward, or a station reporting several samples at
   once); 1 (default) is one DDATA per reading. CPU seconds of the connector(s), Mosquitto and the
   service.
   Second reference: stock paho-mqtt 1.6 alone with a no-op callback (a PUBACK per message, its own
   MQTT 5 session, subscribed before the backlog was published, so the broker kept the same messages
   for it) drains the same backlog after the connector: the ceiling of one Python MQTT client on this
   machine at that moment, before any decoding, buffering or forwarding. Third: the connector's own
   MQTT client (AckAfterCommit) alone, the same way, each message an empty entry of the group commit
   (PUBACKs after it): what is left of the connector once decoding, mapping, storing and forwarding
   the readings are taken away.
3. Latency: `altaviz pipeline watch` (PIPELINE_WATCH_SECONDS=1) runs beside the service; once it has
   caught up, --samples times: one DDATA for one compressor stamped now, then /api/fleet polled (every
   100 ms, limit=1 at that compressor's offset) until its last_reading_at is that stamp. p50/p95 of
   publish-to-visible through broker, connector, ingest API, landing file, watcher pass and fleet read.

Target (issue 20): >= 20,000 readings/s through the connector.

    python bench/bench_connector.py                 # 47,000 readings (4,700 compressors x 10)
    python bench/bench_connector.py --slots 20 --samples 30
    python bench/bench_connector.py --slots 20 --samples 0 --edge-nodes 2 --per-message 10
"""

import argparse
import contextlib
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

import httpx
import paho.mqtt.client as paho
import pysparkplug as spb
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ingest import COMPRESSORS, TICKS, batch, server_cpu, service_env, setup, start_server
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from altaviz.accounts import service as accounts
from altaviz.accounts.models import Organization
from altaviz.accounts.roles import Role
from altaviz.accounts.scoping import OrgScope
from altaviz.connectors.buffer import Buffer, Received, read_status, request_body
from altaviz.connectors.mqtt import AckAfterCommit
from altaviz.fleet.sensors import SENSORS
from altaviz.ingest.client import INGEST_PATH, ndjson_body

TARGET = 20_000
GROUP = "BENCH"
MAPPING = "devices_as_ids = true\n[sparkplug]\ngroup = 'BENCH'\n" + "".join(
    f'[metrics."{s.name}"]\nsensor = "{s.name}"\n' for s in SENSORS
)


def node_of(compressor_ids: list[str], nodes: int) -> dict[str, str]:
    """The edge node each compressor's device belongs to: the fleet split evenly, STATION-1..N."""
    return {c: f"STATION-{k * nodes // len(compressor_ids) + 1}" for k, c in enumerate(compressor_ids)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_port(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port}")


def kill(process: "subprocess.Popen[bytes]") -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(30)


def payloads(
    rows: list[dict[str, object]],
    compressor_ids: list[str],
    nodes: int,
    per_message: int,
    seqs: dict[str, int],
) -> list[tuple[str, bytes]]:
    """(topic, DDATA payload): each compressor's readings in time order, `per_message` of them in one
    DDATA (all six metrics by alias, each with its reading's timestamp; 1: one DDATA per reading, as a
    station publishing each scan at once does), each edge node's seq continuing after its births."""
    by_compressor: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        by_compressor.setdefault(str(row["compressor_id"]), []).append(row)
    groups = [
        (compressor, readings[k : k + per_message])
        for compressor, readings in by_compressor.items()
        for k in range(0, len(readings), per_message)
    ]
    groups.sort(key=lambda g: (g[1][0]["timestamp"], g[0]))
    nodes_of = node_of(compressor_ids, nodes)
    out = []
    for compressor, readings in groups:
        node = nodes_of[compressor]
        seqs[node] = (seqs[node] + 1) % 256
        metrics = []
        for row in readings:
            at = int(row["timestamp"].timestamp() * 1000)  # type: ignore[attr-defined]
            metrics += [
                spb.Metric(
                    timestamp=at,
                    name=None,
                    alias=i + 1,
                    datatype=spb.DataType.DOUBLE,
                    value=float(row[s.name]),  # type: ignore[arg-type]
                )
                for i, s in enumerate(SENSORS)
            ]
        first = int(readings[0]["timestamp"].timestamp() * 1000)  # type: ignore[attr-defined]
        topic = f"spBv1.0/{GROUP}/DDATA/{node}/{compressor}"
        out.append((topic, spb.DData(timestamp=first, seq=seqs[node], metrics=tuple(metrics)).encode()))
    return out


def births(compressor_ids: list[str], nodes: int) -> tuple[list[tuple[str, bytes]], dict[str, int]]:
    """An NBIRTH per edge node and a DBIRTH per compressor; each node's last seq."""
    now = spb.get_current_timestamp()
    out, seqs = [], {}
    for n in range(1, nodes + 1):
        node = spb.NBirth(
            timestamp=now,
            seq=0,
            metrics=(spb.Metric(timestamp=now, name="bdSeq", datatype=spb.DataType.INT64, value=0),),
        )
        out.append((f"spBv1.0/{GROUP}/NBIRTH/STATION-{n}", node.encode(include_dtypes=True)))
        seqs[f"STATION-{n}"] = 0
    nodes_of = node_of(compressor_ids, nodes)
    for compressor in compressor_ids:
        node_id = nodes_of[compressor]
        seqs[node_id] = (seqs[node_id] + 1) % 256
        metrics = tuple(
            spb.Metric(timestamp=now, name=s.name, alias=i + 1, datatype=spb.DataType.DOUBLE, is_null=True)
            for i, s in enumerate(SENSORS)
        )
        birth = spb.DBirth(timestamp=now, seq=seqs[node_id], metrics=metrics)
        out.append((f"spBv1.0/{GROUP}/DBIRTH/{node_id}/{compressor}", birth.encode(include_dtypes=True)))
    return out, seqs


def publish_all(port: int, messages: list[tuple[str, bytes]]) -> None:
    client = paho.Client(client_id=f"bench-station-{uuid.uuid4().hex[:6]}", clean_session=True)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    for at in range(0, len(messages), 30_000):  # (paho's packet ids wrap at 65,535)
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages[at : at + 30_000]]
        for info in infos:
            info.wait_for_publish(60)
    client.loop_stop()
    client.disconnect()


def mqtt_session(port: int, buffer: Buffer | None = None) -> paho.Client:
    """A client on a persistent MQTT 5 session of its own, subscribed to the station's topics like the
    connector (QoS 1, Receive Maximum 10,000): stock paho-mqtt 1.6 (a PUBACK per message, as it comes),
    or with a buffer the connector's own client (AckAfterCommit: PUBACKs after the buffer's commit)."""
    if buffer is None:
        client = paho.Client(client_id="bench-paho-alone", protocol=paho.MQTTv5)
    else:
        client = AckAfterCommit(buffer, client_id="bench-client-alone", protocol=paho.MQTTv5)
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 3600
    properties.ReceiveMaximum = 10_000
    client.on_connect = lambda c, *args: c.subscribe(f"spBv1.0/{GROUP}/#", qos=1)
    client.connect("127.0.0.1", port, 30, clean_start=False, properties=properties)
    return client


def client_alone(port: int, count: int, buffer: Buffer | None = None) -> tuple[float, float]:
    """(seconds, CPU seconds) for a client with a no-op callback to receive `count` messages its
    session kept: what one Python MQTT client takes in on this machine before anything is done with a
    message. With a buffer: the connector's client, each message an empty group-commit entry."""
    received = [0]
    done = threading.Event()

    def on_message(client: paho.Client, userdata: object, message: object) -> None:
        if buffer is not None:
            buffer.submit(Received())
        received[0] += 1
        if received[0] >= count:
            done.set()

    cpu = time.process_time()  # the main thread waits: this process's CPU is the client's
    started = time.perf_counter()
    committer = None
    if buffer is not None:
        committer = threading.Thread(target=buffer.run_commits, daemon=True)
        committer.start()
    client = mqtt_session(port, buffer)
    client.on_message = on_message
    client.loop_start()
    if not done.wait(900):
        raise RuntimeError(f"the client alone received {received[0]} of {count}")
    elapsed, used = time.perf_counter() - started, time.process_time() - cpu
    client.disconnect()
    client.loop_stop()
    if buffer is not None and committer is not None:
        buffer.stop()
        committer.join(30)
    return elapsed, used


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of one process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def admin_key(url: str) -> str:
    engine = create_engine(url)
    with Session(engine) as session, session.begin():
        org = session.execute(select(Organization)).scalar_one()
        _, key = accounts.create_api_key(
            session, OrgScope(org.id), name="bench reader", role=Role.ADMIN, created_by=None, expires_at=None
        )
    engine.dispose()
    return key


def start_connector(
    mqtt_port: int, base: str, key: str, root: Path, batch_rows: int, node: int
) -> "subprocess.Popen[bytes]":
    """The connector of edge node STATION-<node> (its own client id and buffer directory)."""
    command = [
        sys.executable, "-m", "altaviz", "connect", "mqtt", "--broker", f"mqtt://127.0.0.1:{mqtt_port}",
        "--url", base, "--api-key", key, "--mapping", str(root / "mapping.toml"),
        "--buffer", str(root / f"buffer-{node}"), "--batch-rows", str(batch_rows),
        "--client-id", f"bench-{node}", "--edge-node", f"STATION-{node}",
    ]  # fmt: skip
    return subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def wait_started(root: Path, since: float, nodes: int) -> None:
    for node in range(1, nodes + 1):
        status = root / f"buffer-{node}" / "status.json"
        while not (status.exists() and status.stat().st_mtime > since):
            time.sleep(0.05)


def reference_rate(
    base: str, key: str, rows: list[dict[str, object]], batch_rows: int, server_pid: int, days: int, fmt: str
) -> tuple[float, float]:
    """(seconds, service CPU seconds) for the rows straight into the ingest API (`days` earlier), as gzip
    NDJSON or as the Parquet body the connector sends (built before the clock starts)."""
    shifted = [
        {**r, "timestamp": int(r["timestamp"].timestamp() * 1000) - 3_600_000 * 24 * days}  # type: ignore[attr-defined]
        for r in rows
    ]
    if fmt == "ndjson":
        bodies = [ndjson_body(shifted[i : i + batch_rows]) for i in range(0, len(shifted), batch_rows)]
    else:
        bodies = [
            request_body(ndjson_body(shifted[i : i + batch_rows], compress=False)[0])
            for i in range(0, len(shifted), batch_rows)
        ]
    accepted = 0
    cpu = server_cpu(server_pid)
    started = time.perf_counter()
    with httpx.Client(timeout=300) as client:
        for body, headers in bodies:
            answer = client.post(
                base + INGEST_PATH,
                content=body,
                headers={**headers, "x-api-key": key, "Idempotency-Key": uuid.uuid4().hex},
            )
            answer.raise_for_status()
            accepted += int(json.loads(answer.text)["accepted"])
    elapsed = time.perf_counter() - started
    if accepted != len(rows):
        raise RuntimeError(f"the ingest API accepted {accepted} of {len(rows)}")
    return elapsed, server_cpu(server_pid) - cpu


def fleet_row(client: httpx.Client, base: str, key: str, offset: int) -> dict[str, object]:
    answer = client.get(
        f"{base}/api/fleet", params={"limit": 1, "offset": offset}, headers={"x-api-key": key}
    )
    answer.raise_for_status()
    return dict(answer.json()["items"][0])


def latencies(
    mqtt_port: int,
    base: str,
    key: str,
    compressor_ids: list[str],
    samples: int,
    seqs: dict[str, int],
    nodes: int,
    data_dir: Path,
) -> tuple[list[float], list[float]]:
    """Seconds from publishing one DDATA (stamped now) to its landing file written by the ingest API
    (what the connector and the service add; the landing directory polled every 10 ms), and to its time
    as last_reading_at in /api/fleet (the watcher's pass and the fleet read added)."""

    def landed() -> int:
        return len(list(data_dir.glob("landing/*/readings/*.parquet")))

    client = paho.Client(client_id=f"bench-station-{uuid.uuid4().hex[:6]}", clean_session=True)
    client.connect("127.0.0.1", mqtt_port)
    client.loop_start()
    out, landing = [], []
    nodes_of = node_of(compressor_ids, nodes)
    with httpx.Client(timeout=30) as http:
        for k in range(samples):
            offset = (k * 997) % len(compressor_ids)
            compressor = compressor_ids[offset]
            at = int(time.time() * 1000)
            node = nodes_of[compressor]
            seqs[node] = (seqs[node] + 1) % 256
            metrics = tuple(
                spb.Metric(
                    timestamp=at,
                    name=None,
                    alias=i + 1,
                    datatype=spb.DataType.DOUBLE,
                    value=float(s.baseline[0]),
                )
                for i, s in enumerate(SENSORS)
            )
            payload = spb.DData(timestamp=at, seq=seqs[node], metrics=metrics).encode()
            files = landed()
            started = time.perf_counter()
            client.publish(f"spBv1.0/{GROUP}/DDATA/{node}/{compressor}", payload, qos=1).wait_for_publish(30)
            while landed() == files:
                if time.perf_counter() - started > 300:
                    raise RuntimeError(f"{compressor}: not landed within 300 s")
                time.sleep(0.01)
            landing.append(time.perf_counter() - started)
            while True:
                row = fleet_row(http, base, key, offset)
                seen = row["last_reading_at"]
                if seen and datetime.fromisoformat(str(seen).replace("Z", "+00:00")).timestamp() * 1000 >= at:
                    break
                if time.perf_counter() - started > 300:
                    raise RuntimeError(f"{compressor}: not on /api/fleet within 300 s")
                time.sleep(0.1)
            out.append(time.perf_counter() - started)
    client.loop_stop()
    client.disconnect()
    return landing, out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--slots", type=int, default=10, help="readings per compressor (4,700 compressors)")
    parser.add_argument("--batch-rows", type=int, default=20_000)
    parser.add_argument("--samples", type=int, default=20, help="publish-to-fleet latency samples (0: none)")
    parser.add_argument(
        "--per-message",
        type=int,
        default=1,
        help="readings (timestamps) per DDATA (1: one DDATA per reading)",
    )
    parser.add_argument(
        "--edge-nodes", type=int, default=1, help="edge nodes the fleet is split over, one connector each"
    )
    args = parser.parse_args()
    nodes = args.edge_nodes
    rows_count = COMPRESSORS * args.slots
    table = batch(60, rows_count)
    table = table.sort_by([("timestamp", "ascending"), ("compressor_id", "ascending")])
    rows = table.to_pylist()
    compressor_ids = sorted({str(r["compressor_id"]) for r in rows})

    with tempfile.TemporaryDirectory(prefix="altaviz-bench-connector-") as tmp:
        root = Path(tmp)
        running: list[subprocess.Popen[bytes]] = []
        try:
            data_dir = root / "data"
            data_dir.mkdir()
            url, key = setup(data_dir)
            os.environ["RATE_LIMIT_PER_MINUTE"] = "1000000"  # the latency phase polls /api/fleet
            reader = admin_key(url)
            server, base = start_server(url, data_dir, 2)
            running.append(server)
            mqtt_port = free_port()
            (root / "mosquitto.conf").write_text(
                f"listener {mqtt_port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
                "max_inflight_messages 0\n"  # README: the broker's in-flight limit bounds a commit
            )
            broker = subprocess.Popen(
                ["/usr/sbin/mosquitto", "-c", str(root / "mosquitto.conf")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            running.append(broker)
            wait_port(mqtt_port)
            (root / "mapping.toml").write_text(MAPPING)

            # 1. the reference
            direct, direct_cpu = reference_rate(base, key, rows, args.batch_rows, server.pid, 1, "ndjson")
            as_parquet, parquet_cpu = reference_rate(
                base, key, rows, args.batch_rows, server.pid, 2, "parquet"
            )
            print(f"references done: {direct:.1f} s, {as_parquet:.1f} s", flush=True)

            # 2. through the connector, from a backlog the broker keeps for its session
            mark = time.time()
            connectors = [
                start_connector(mqtt_port, base, key, root, args.batch_rows, n) for n in range(1, nodes + 1)
            ]
            running += connectors
            wait_started(root, mark, nodes)
            time.sleep(1.0)  # subscribed
            birth_messages, seqs = births(compressor_ids, nodes)
            publish_all(mqtt_port, birth_messages)
            time.sleep(1.0)
            for connector in connectors:
                connector.send_signal(signal.SIGTERM)
                connector.wait(60)
                running.remove(connector)
            # the reference clients' sessions, subscribed now: the broker keeps the backlog for them too
            alone_buffer = Buffer(root / "alone", "http://127.0.0.1:9", "unused")
            for subscriber in (mqtt_session(mqtt_port), mqtt_session(mqtt_port, alone_buffer)):
                subscriber.loop_start()
                time.sleep(1.0)
                subscriber.disconnect()
                subscriber.loop_stop()
            messages = payloads(rows, compressor_ids, nodes, args.per_message, seqs)
            started = time.perf_counter()
            publish_all(mqtt_port, messages)
            published = time.perf_counter() - started
            print(f"published in {published:.1f} s", flush=True)
            cpu_before = server_cpu(server.pid)
            broker_before = process_cpu(broker.pid)
            mark = time.time()
            started = time.perf_counter()
            connectors = [
                start_connector(mqtt_port, base, key, root, args.batch_rows, n) for n in range(1, nodes + 1)
            ]
            running += connectors
            wait_started(root, mark, nodes)
            startup = time.perf_counter() - started
            startup_cpu = sum(process_cpu(c.pid) for c in connectors)

            def forwarded() -> int:
                return sum(
                    read_status(root / f"buffer-{n}").get("forwarded_total", 0) for n in range(1, nodes + 1)
                )

            while forwarded() < rows_count:
                if time.perf_counter() - started > 900:
                    raise RuntimeError(f"not all forwarded: {forwarded()} of {rows_count}")
                time.sleep(0.02)
            elapsed = time.perf_counter() - started
            connector_cpu = sum(process_cpu(c.pid) for c in connectors)
            service_cpu = server_cpu(server.pid) - cpu_before
            broker_cpu = process_cpu(broker.pid) - broker_before
            time.sleep(1.2)
            statuses = [read_status(root / f"buffer-{n}") for n in range(1, nodes + 1)]
            status = {
                k: sum(int(st.get(k) or 0) for st in statuses)
                for k in ("commits", "malformed", "readings_refused")
            }
            rate = rows_count / elapsed
            reference = rows_count / direct
            print(
                f"readings: {rows_count:,} ({COMPRESSORS:,} compressors x {args.slots}) in {len(messages):,} "
                f"DDATA of {args.per_message} reading(s) (six metrics each, their own timestamps), "
                f"{nodes} edge node(s) with a connector process each, batch {args.batch_rows:,}"
            )
            print(
                f"one Python publisher (paho) put them into the broker in {published:.1f} s "
                f"({len(messages) / published:,.0f} messages/s, {rows_count / published:,.0f} readings/s)"
            )
            print(
                f"through the connector (from its start, {startup:.1f} s of it starting up, to the last "
                f"reading answered): {elapsed:.1f} s = {rate:,.0f} readings/s (target {TARGET:,}: "
                f"{'met' if rate >= TARGET else 'NOT met'}); {status.get('commits')} commits, "
                f"malformed {status.get('malformed')}, refused {status.get('readings_refused')}"
            )
            print(f"  after start-up: {rows_count / (elapsed - startup):,.0f} readings/s")
            per_message = (connector_cpu - startup_cpu) / rows_count * 1e6  # per reading
            everything = per_message + (service_cpu + broker_cpu) / rows_count * 1e6
            print(
                f"  CPU: connector {connector_cpu:.1f} s ({startup_cpu:.1f} s of it starting up: "
                f"{per_message:.1f} µs per reading after), service {service_cpu:.1f} s, "
                f"Mosquitto {broker_cpu:.1f} s"
            )
            print(
                f"  what that CPU allows on an idle machine (estimate, not a measurement): a connector "
                f"process is bound by one core (the GIL) -> {1e6 / per_message:,.0f} readings/s per "
                f"process; connector(s), service and broker on 2 cores -> {2e6 / everything:,.0f}/s"
            )
            print(
                f"reference, the ingest API directly: {direct:.1f} s = {reference:,.0f} readings/s; "
                f"service CPU {direct_cpu:.1f} s"
            )
            print(
                f"reference, the ingest API directly with the connector's Parquet bodies: {as_parquet:.1f} "
                f"s = {rows_count / as_parquet:,.0f} readings/s; service CPU {parquet_cpu:.1f} s"
            )
            print(
                f"ratio connector / ingest API: {rate / reference:.2f} (NDJSON), "
                f"{rate * as_parquet / rows_count:.2f} (Parquet)",
                flush=True,
            )
            count = len(messages)
            alone, alone_cpu = client_alone(mqtt_port, count)
            ours, ours_cpu = client_alone(mqtt_port, count, alone_buffer)
            print(
                f"reference, stock paho-mqtt alone (one process, no-op callback, same backlog and broker): "
                f"{alone:.1f} s = {count / alone:,.0f} messages/s, "
                f"{alone_cpu / count * 1e6:.0f} µs CPU per message "
                f"(the connector: {connector_cpu / count * 1e6:.0f} µs); "
                f"ratio connector / paho alone (messages/s): {alone / elapsed:.2f}"
            )
            print(
                f"reference, the connector's MQTT client alone (no-op callback, empty group commits): "
                f"{ours:.1f} s = {count / ours:,.0f} messages/s, "
                f"{ours_cpu / count * 1e6:.0f} µs CPU per message; "
                f"ratio connector / its client alone (messages/s): {ours / elapsed:.2f}"
            )
            print(f"load average now: {os.getloadavg()[0]:.1f} (2 cores)", flush=True)

            if not args.samples:
                return
            # 3. latency, with the pipeline watcher
            env = {
                **service_env(url, data_dir),
                "PIPELINE_WATCH_SECONDS": "1",
                "PIPELINE_WATCH_METRICS_PORT": str(free_port()),
            }
            watcher = subprocess.Popen(
                [sys.executable, "-m", "altaviz", "pipeline", "watch"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            running.append(watcher)
            newest = max(r["timestamp"] for r in rows)
            caught_up = time.perf_counter()
            with httpx.Client(timeout=60) as http:
                while True:
                    row = fleet_row(http, base, reader, len(compressor_ids) - 1)
                    seen = row["last_reading_at"]
                    if seen and datetime.fromisoformat(str(seen).replace("Z", "+00:00")) >= newest:
                        break
                    if time.perf_counter() - caught_up > 1800:
                        raise RuntimeError("the watcher did not catch up within 30 minutes")
                    time.sleep(1.0)
            print(f"watcher caught up in {time.perf_counter() - caught_up:.0f} s", flush=True)
            landing, waits = latencies(
                mqtt_port, base, reader, compressor_ids, args.samples, seqs, nodes, data_dir
            )
        finally:
            for process in running:
                kill(process)

    for what, seconds in (
        ("publish -> landed by the ingest API (broker, connector, service)", landing),
        ("publish -> visible in /api/fleet (pipeline watcher, PIPELINE_WATCH_SECONDS=1)", waits),
    ):
        seconds.sort()
        p95 = seconds[min(len(seconds) - 1, math.ceil(0.95 * len(seconds)) - 1)]
        print(
            f"{what}, {len(seconds)} samples: p50 {statistics.median(seconds):.2f} s, p95 {p95:.2f} s, "
            f"max {seconds[-1]:.2f} s"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (2 cores)")


if __name__ == "__main__":
    main()
