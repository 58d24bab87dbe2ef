"""`altaviz connect`: run a field connector (MQTT Sparkplug B, MQTT JSON, OPC UA) or show its counters.

The protocol libraries are imported only by the command that needs them (the `connectors` extra)."""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:  # the buffer (httpx) and the mapping load with the commands that use them
    from altaviz.connectors.buffer import Buffer

connect_app = typer.Typer(
    help="Field connectors: MQTT (Sparkplug B or JSON) and OPC UA into the ingest API.",
    no_args_is_help=True,
)

Url = Annotated[str, typer.Option("--url", envvar="ALTAVIZ_URL", help="Altaviz base URL.")]
ApiKey = Annotated[
    str, typer.Option("--api-key", envvar="ALTAVIZ_API_KEY", help="An ingest API key of the organization.")
]
MappingFile = Annotated[Path, typer.Option("--mapping", help="The mapping file (TOML).")]
BufferDir = Annotated[
    Path,
    typer.Option("--buffer", envvar="ALTAVIZ_CONNECTOR_BUFFER", help="Directory of the on-disk buffer."),
]
BatchRows = Annotated[int, typer.Option(help="Readings per request to Altaviz (at most 100,000).")]
MetricsPort = Annotated[int | None, typer.Option(help="Serve Prometheus /metrics on this port (0.0.0.0).")]


def _metrics_server(port: int | None, buffer: Buffer) -> None:
    if port is None:
        return
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.core import GaugeMetricFamily

    class Collector:
        def collect(self) -> Any:
            data = buffer.stats.snapshot()
            for name in (
                "messages_in",
                "readings_forwarded",
                "readings_refused",
                "batches_forwarded",
                "malformed",
                "unmapped",
                "rebirth_requests",
                "send_failures",
                "commits",
                "commit_failures",
                "redeliveries_skipped",
                "statuses_forwarded",
                "statuses_refused",
            ):
                family = GaugeMetricFamily(f"altaviz_connector_{name}", name.replace("_", " "))
                family.add_metric([], float(data[name]))
                yield family
            depth = GaugeMetricFamily("altaviz_connector_buffer_depth", "readings waiting on disk")
            depth.add_metric([], float(data["buffer_depth"]))
            yield depth
            offline = GaugeMetricFamily("altaviz_connector_offline_compressors", "death certificates")
            offline.add_metric([], float(len(data["offline"])))
            yield offline
            error = GaugeMetricFamily(
                "altaviz_connector_last_error_timestamp_seconds",
                "when the last error happened (its text: altaviz connect status)",
            )
            error.add_metric([], float(data["last_error_at"] or 0))
            yield error

    registry = CollectorRegistry()
    registry.register(Collector())
    start_http_server(port, registry=registry)


def _run(connector: Any, buffer: Buffer, metrics_port: int | None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _metrics_server(metrics_port, buffer)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threads = buffer.start()
    connector.start()
    while not stop.wait(1.0):
        pass
    connector.stop()
    buffer.stop()
    for thread in threads:
        thread.join(timeout=30)


def _mapping(path: Path) -> Any:
    from altaviz.connectors.mapping import MappingError, load_mapping

    try:
        return load_mapping(path)
    except MappingError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error


@connect_app.command()
def mqtt(
    broker: Annotated[str, typer.Option(help="mqtt://HOST:1883 or mqtts://HOST:8883 (TLS).")],
    url: Url,
    api_key: ApiKey,
    mapping: MappingFile,
    mode: Annotated[str, typer.Option(help="sparkplug (Sparkplug B) or json (topic template).")] = (
        "sparkplug"
    ),
    group: Annotated[str | None, typer.Option(help="Sparkplug group (else [sparkplug] group).")] = None,
    edge_node: Annotated[str | None, typer.Option(help="Sparkplug edge node, or + for all.")] = None,
    username: Annotated[str | None, typer.Option(envvar="MQTT_USERNAME")] = None,
    password: Annotated[str | None, typer.Option(envvar="MQTT_PASSWORD")] = None,
    ca_file: Annotated[str | None, typer.Option(help="CA certificates of the broker (enables TLS).")] = None,
    cert_file: Annotated[str | None, typer.Option(help="Client certificate (mutual TLS).")] = None,
    key_file: Annotated[str | None, typer.Option(help="Client certificate key.")] = None,
    tls_insecure: Annotated[bool, typer.Option(help="Do not verify the broker's certificate.")] = False,
    client_id: Annotated[
        str, typer.Option(help="MQTT client id (the broker keeps its session: keep it stable).")
    ] = "altaviz-connector",
    mqtt_version: Annotated[
        str, typer.Option(help="5, or 3.1.1 for a broker without MQTT 5 (its in-flight limit then applies).")
    ] = "5",
    receive_maximum: Annotated[
        int, typer.Option(help="MQTT 5: unacknowledged messages the broker may send ahead (1-65535).")
    ] = 10_000,
    buffer: BufferDir = Path("altaviz-connector"),
    batch_rows: BatchRows = 20_000,
    metrics_port: MetricsPort = None,
) -> None:
    """Subscribe to an MQTT broker and forward readings to Altaviz (buffered on disk)."""
    from altaviz.connectors.mqtt import BrokerOptions, JsonConnector, SparkplugConnector

    table = _mapping(mapping)
    options = BrokerOptions(
        broker,
        username,
        password,
        ca_file,
        cert_file,
        key_file,
        tls_insecure,
        client_id,
        mqtt_version=mqtt_version,
        receive_maximum=receive_maximum,
    )
    from altaviz.connectors.buffer import Buffer

    queue = Buffer(buffer, url, api_key, batch_rows=batch_rows)
    try:
        if mode == "sparkplug":
            connector: Any = SparkplugConnector(table, queue, options, group, edge_node)
        elif mode == "json":
            connector = JsonConnector(table, queue, options)
        else:
            raise ValueError("--mode is sparkplug or json")
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    _run(connector, queue, metrics_port)


@connect_app.command()
def opcua(
    endpoint: Annotated[str, typer.Option(help="opc.tcp://HOST:4840/...")],
    url: Url,
    api_key: ApiKey,
    mapping: MappingFile,
    username: Annotated[str | None, typer.Option(envvar="OPCUA_USERNAME")] = None,
    password: Annotated[str | None, typer.Option(envvar="OPCUA_PASSWORD")] = None,
    security: Annotated[
        str | None,
        typer.Option(help='Policy,mode,certificate,key: "Basic256Sha256,SignAndEncrypt,cert.pem,key.pem".'),
    ] = None,
    buffer: BufferDir = Path("altaviz-connector"),
    batch_rows: BatchRows = 20_000,
    metrics_port: MetricsPort = None,
) -> None:
    """Subscribe to the OPC UA nodes the mapping names and forward readings to Altaviz (buffered on disk)."""
    from altaviz.connectors.opcua import OpcUaConnector

    table = _mapping(mapping)
    from altaviz.connectors.buffer import Buffer

    queue = Buffer(buffer, url, api_key, batch_rows=batch_rows)
    try:
        connector = OpcUaConnector(
            table, queue, endpoint, username=username, password=password, security=security
        )
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    _run(connector, queue, metrics_port)


@connect_app.command()
def status(
    buffer: BufferDir = Path("altaviz-connector"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the counters as JSON.")] = False,
) -> None:
    """A connector's counters: messages in, readings forwarded, buffer depth, malformed, last error."""
    if not (buffer / "buffer.sqlite").exists():
        typer.echo(f"error: no connector buffer in {buffer} (--buffer names it)", err=True)
        raise typer.Exit(2)
    from altaviz.connectors.buffer import read_status

    data = read_status(buffer)
    if as_json:
        typer.echo(json.dumps(data, indent=1))
        return
    age = time.time() - data["written_at"] if "written_at" in data else None
    lines = [
        ("status written", f"{age:.0f} s ago" if age is not None else "never (not running yet?)"),
        ("messages in", data.get("messages_in", 0)),
        ("readings forwarded (this run)", data.get("readings_forwarded", 0)),
        ("readings forwarded (all runs)", data.get("forwarded_total", 0)),
        ("readings refused by Altaviz", data.get("readings_refused", 0)),
        ("buffer depth", data.get("buffer_depth", 0)),
        ("malformed", data.get("malformed", 0)),
        ("unmapped", data.get("unmapped", 0)),
        ("rebirth requests", data.get("rebirth_requests", 0)),
        ("offline compressors", ", ".join(sorted(data.get("offline", {}))) or "none"),
        ("offline/online reports sent", data.get("statuses_forwarded", 0)),
        ("offline/online reports waiting", data.get("statuses_waiting", 0)),
        ("offline/online reports refused", data.get("statuses_refused", 0)),
        ("buffer commits", data.get("commits", 0)),
        ("buffer commits failed (retried)", data.get("commit_failures", 0)),
        ("redeliveries skipped", data.get("redeliveries_skipped", 0)),
        ("last error", data.get("last_error") or "none"),
    ]
    for name, value in lines:
        typer.echo(f"{name:32} {value}")
