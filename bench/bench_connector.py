"""Connector benchmark: readings per second through `altaviz connect mqtt` (Sparkplug B) into Altaviz.

A Mosquitto of the benchmark's own (Debian's /usr/sbin/mosquitto, a free port), the service as
`altaviz serve --workers 2` on a fresh SQLite database with 4,700 registered compressors and an ingest key
(bench_ingest.py's setup), and the connector as `altaviz connect mqtt` in a process of its own. A station
publishes an NBIRTH, a DBIRTH per compressor (aliases) and then one DDATA per reading (six metrics by
alias, QoS 1), as edge nodes do; the figure is readings per second of wall time from the first DDATA
published to the last reading answered by Altaviz (the connector's forwarded_total).

The reference, measured in the same script on the same readings: the ingest API's own rate for them,
sent as gzip NDJSON batches of the connector's batch size, one after the other from one client — what
the service takes when nothing stands in front of it. Target (issue 20): >= 20,000 readings/s.

    python bench/bench_connector.py                 # 47,000 readings (4,700 compressors x 10)
    python bench/bench_connector.py --slots 20
"""

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import paho.mqtt.client as paho
import pysparkplug as spb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ingest import COMPRESSORS, batch, setup, start_server

from altaviz.connectors.buffer import read_status
from altaviz.fleet.sensors import SENSORS
from altaviz.ingest.client import INGEST_PATH, ndjson_body

TARGET = 20_000
GROUP, NODE = "BENCH", "STATION-1"
MAPPING = "devices_as_ids = true\n[sparkplug]\ngroup = 'BENCH'\nedge_node = 'STATION-1'\n" + "".join(
    f'[metrics."{s.name}"]\nsensor = "{s.name}"\n' for s in SENSORS
)


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


def payloads(rows: list[dict[str, object]]) -> list[tuple[str, bytes]]:
    """(topic, DDATA payload) per reading, seq continuing after the births."""
    out = []
    seq = COMPRESSORS  # NBIRTH 0, DBIRTHs 1..4700
    for row in rows:
        seq = (seq + 1) % 256
        at = int(row["timestamp"].timestamp() * 1000)  # type: ignore[attr-defined]
        metrics = tuple(
            spb.Metric(
                timestamp=at, name=None, alias=i + 1, datatype=spb.DataType.DOUBLE, value=float(row[s.name])
            )  # type: ignore[arg-type]
            for i, s in enumerate(SENSORS)
        )
        topic = f"spBv1.0/{GROUP}/DDATA/{NODE}/{row['compressor_id']}"
        out.append((topic, spb.DData(timestamp=at, seq=seq, metrics=metrics).encode()))
    return out


def births(compressor_ids: list[str]) -> list[tuple[str, bytes]]:
    now = spb.get_current_timestamp()
    node = spb.NBirth(
        timestamp=now,
        seq=0,
        metrics=(spb.Metric(timestamp=now, name="bdSeq", datatype=spb.DataType.INT64, value=0),),
    )
    out = [(f"spBv1.0/{GROUP}/NBIRTH/{NODE}", node.encode(include_dtypes=True))]
    for k, compressor in enumerate(compressor_ids):
        metrics = tuple(
            spb.Metric(timestamp=now, name=s.name, alias=i + 1, datatype=spb.DataType.DOUBLE, is_null=True)
            for i, s in enumerate(SENSORS)
        )
        birth = spb.DBirth(timestamp=now, seq=(k + 1) % 256, metrics=metrics)
        out.append((f"spBv1.0/{GROUP}/DBIRTH/{NODE}/{compressor}", birth.encode(include_dtypes=True)))
    return out


def publish_all(port: int, messages: list[tuple[str, bytes]]) -> None:
    client = paho.Client(client_id=f"bench-station-{uuid.uuid4().hex[:6]}", clean_session=True)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(60)
    client.loop_stop()
    client.disconnect()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--slots", type=int, default=10, help="readings per compressor (4,700 compressors)")
    parser.add_argument("--batch-rows", type=int, default=20_000)
    args = parser.parse_args()
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
            server, base = start_server(url, data_dir, 2)
            running.append(server)
            mqtt_port = free_port()
            (root / "mosquitto.conf").write_text(
                f"listener {mqtt_port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
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
            connector = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "altaviz",
                    "connect",
                    "mqtt",
                    "--broker",
                    f"mqtt://127.0.0.1:{mqtt_port}",
                    "--url",
                    base,
                    "--api-key",
                    key,
                    "--mapping",
                    str(root / "mapping.toml"),
                    "--buffer",
                    str(root / "buffer"),
                    "--batch-rows",
                    str(args.batch_rows),
                    "--client-id",
                    "bench",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            running.append(connector)
            while not (root / "buffer" / "status.json").exists():
                time.sleep(0.1)
            time.sleep(1.0)
            publish_all(mqtt_port, births(compressor_ids))
            print("births published", flush=True)
            messages = payloads(rows)
            started = time.perf_counter()
            publish_all(mqtt_port, messages)
            published = time.perf_counter() - started
            print(f"published in {published:.1f} s", flush=True)
            while read_status(root / "buffer").get("forwarded_total", 0) < rows_count:
                if time.perf_counter() - started > 600:
                    raise RuntimeError(f"not all forwarded: {read_status(root / 'buffer')}")
                time.sleep(0.05)
            elapsed = time.perf_counter() - started
            status = read_status(root / "buffer")
            kill(connector)
            running.remove(connector)

            # reference: the same readings straight into the ingest API (new timestamps: one hour earlier)
            reference_rows = [
                {**r, "timestamp": int(r["timestamp"].timestamp() * 1000) - 3_600_000 * 24}
                for r in rows  # type: ignore[attr-defined]
            ]
            bodies = [
                ndjson_body(reference_rows[i : i + args.batch_rows])
                for i in range(0, len(reference_rows), args.batch_rows)
            ]
            accepted = 0
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
            direct = time.perf_counter() - started
            if accepted != rows_count:
                raise RuntimeError(f"the ingest API accepted {accepted} of {rows_count}")
        finally:
            for process in running:
                kill(process)

    rate = rows_count / elapsed
    reference = rows_count / direct
    print(
        f"readings: {rows_count:,} ({COMPRESSORS:,} compressors x {args.slots}), one DDATA each, "
        f"batch {args.batch_rows:,}"
    )
    print(f"published in {published:.1f} s ({rows_count / published:,.0f} messages/s into the broker)")
    print(
        f"through the connector: {elapsed:.1f} s = {rate:,.0f} readings/s "
        f"(target {TARGET:,}: {'met' if rate >= TARGET else 'NOT met'}); "
        f"malformed {status.get('malformed')}, refused {status.get('readings_refused')}"
    )
    print(f"reference, the ingest API directly: {direct:.1f} s = {reference:,.0f} readings/s")
    print(f"ratio connector / ingest API: {rate / reference:.2f}")


if __name__ == "__main__":
    main()
