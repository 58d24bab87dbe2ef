"""`altaviz connect mqtt` (Sparkplug B) between a real Mosquitto and a real `altaviz serve`, fed by a
simulated station publishing the demo fleet (altaviz gateway's series, registered through the fleet
import): Altaviz stopped mid-stream and the connector killed and restarted lose and duplicate nothing;
malformed and unmapped messages are counted while the rest flows; death certificates mark compressors
offline; a sequence gap gets a rebirth request."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from altaviz.connectors.buffer import read_status
from altaviz.simulator.gateway import Gateway, GatewayConfig
from tests.connectors.conftest import Altaviz
from tests.connectors.station import Station, mapping_text
from tests.ingest.helpers import landed_rows
from tests.servers import stop

pytestmark = pytest.mark.timeout(300)

SENSORS = (
    "vibration_mms",
    "discharge_temp_f",
    "suction_pressure_psi",
    "discharge_pressure_psi",
    "horsepower_consumption",
    "gas_flow_mcf",
)


def demo_fleet(
    altaviz: Altaviz, tmp_path: Path, compressors: int, days: float
) -> tuple[list[str], list[dict[str, Any]]]:
    """Register the gateway's simulated fleet in Altaviz; its readings in time order."""
    gateway = Gateway(
        GatewayConfig(url=altaviz.url, compressors=compressors, days=days, interval_minutes=10),
        altaviz.admin_key,
        tmp_path / "gateway.json",
    )
    gateway.register()
    rows: list[dict[str, Any]] = []
    for _, table in gateway.history_batches():
        rows.extend(table.to_pylist())
    return list(gateway.fleet.ids), rows


@pytest.fixture
def connector(tmp_path: Path) -> Iterator[Callable[..., "subprocess.Popen[bytes]"]]:
    running: list[subprocess.Popen[bytes]] = []

    def start(broker: str, altaviz: Altaviz, mapping: Path, *extra: str) -> "subprocess.Popen[bytes]":
        command = [
            sys.executable, "-m", "altaviz", "connect", "mqtt", "--broker", broker, "--url", altaviz.url,
            "--api-key", altaviz.ingest_key, "--mapping", str(mapping), "--buffer", str(tmp_path / "buffer"),
            "--client-id", "altaviz-test-connector", "--batch-rows", "500", *extra,
        ]  # fmt: skip
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        running.append(process)
        return process

    yield start
    for process in running:
        stop(process)


def status(tmp_path: Path) -> dict[str, Any]:
    """The connector's counters through `altaviz connect status --json`."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "altaviz",
            "connect",
            "status",
            "--buffer",
            str(tmp_path / "buffer"),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(result.stdout))


def counters(tmp_path: Path) -> dict[str, Any]:
    """The same counters read in this process (what the command prints): a poll starts no Python."""
    return read_status(tmp_path / "buffer")


def wait_until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"not within {seconds} s: {what}")


def fleet_rows(altaviz: Altaviz) -> dict[str, dict[str, Any]]:
    answer = httpx.get(f"{altaviz.url}/api/fleet?limit=1000", headers={"x-api-key": altaviz.admin_key})
    answer.raise_for_status()
    return {row["compressor_id"]: row for row in answer.json()["items"]}


def offline_in_fleet(altaviz: Altaviz) -> set[str]:
    return {c for c, row in fleet_rows(altaviz).items() if row["offline_since"] is not None}


def demo_rows_after(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One reading per compressor, now (after the death certificates)."""
    last: dict[str, dict[str, Any]] = {}
    for row in rows:
        last[row["compressor_id"]] = row
    now = datetime.now(UTC).replace(microsecond=0)
    return [{**row, "timestamp": now} for row in last.values()]


def wait_subscribed(tmp_path: Path, process: "subprocess.Popen[bytes]") -> None:
    # the connector writes its status file once its forwarder runs; give the subscription a moment
    wait_until(lambda: (tmp_path / "buffer" / "status.json").exists(), 30, "connector started")
    assert process.poll() is None
    time.sleep(1.0)


# Long enough for several failed sends (back-off 0.5, 1, 2, 4 s ...) while the station streams on; the
# connector is killed before Altaviz is back, so a longer outage would only add waiting.
OUTAGE_SECONDS = 12.0
STREAMING_SECONDS = 8.0  # the middle third is published over the outage's first 8 s


@pytest.mark.slow
def test_every_reading_arrives_once_through_an_altaviz_outage_and_a_connector_restart(
    broker: str, altaviz: Altaviz, tmp_path: Path, connector: Callable[..., "subprocess.Popen[bytes]"]
) -> None:
    ids, rows = demo_fleet(altaviz, tmp_path, compressors=6, days=0.5)  # 6 x 72 readings
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(mapping_text(ids))
    process = connector(broker, altaviz, mapping)
    wait_subscribed(tmp_path, process)

    station = Station(broker)
    station.nbirth()
    for compressor in ids:
        station.dbirth(f"UNIT-{compressor}")
    third = len(rows) // 3
    for row in rows[:third]:
        station.ddata(f"UNIT-{row['compressor_id']}", row)
    altaviz.stop()  # Altaviz unreachable for 12 s: the connector buffers, the station streams on
    outage = time.monotonic()
    middle = rows[third : 2 * third]
    for k, row in enumerate(middle):  # spread over the outage's first seconds
        time.sleep(max(0.0, outage + STREAMING_SECONDS * k / len(middle) - time.monotonic()))
        station.ddata(f"UNIT-{row['compressor_id']}", row)
    wait_until(
        lambda: counters(tmp_path).get("messages_in", 0) >= 1 + len(ids) + 2 * third, 60, "messages in"
    )
    during = status(tmp_path)
    assert during["buffer_depth"] > 0 and during["send_failures"] > 0 and during["last_error"]
    os.killpg(process.pid, signal.SIGKILL)  # the connector dies too, its buffer on disk
    process.wait(timeout=30)
    for row in rows[2 * third :]:  # published while no connector runs: the broker keeps its session
        station.ddata(f"UNIT-{row['compressor_id']}", row)
    time.sleep(max(0.0, outage + OUTAGE_SECONDS - time.monotonic()))
    altaviz.start()
    connector(broker, altaviz, mapping)
    wait_until(
        lambda: len(landed_rows(altaviz.data_dir, altaviz.org.slug)) >= len(rows), 120, "every reading landed"
    )
    time.sleep(2.0)  # anything more would be a duplicate
    landed = landed_rows(altaviz.data_dir, altaviz.org.slug)
    keys = [(r["compressor_id"], r["timestamp"]) for r in landed]
    assert len(keys) == len(set(keys)) == len(rows)
    assert set(keys) == {(r["compressor_id"], r["timestamp"]) for r in rows}
    assert landed_rows(altaviz.data_dir, altaviz.org.slug, "refused") == []
    sent = {(r["compressor_id"], r["timestamp"]): r for r in rows}
    for row in landed:  # converted back from kPa, °C, kW, m³/d
        for sensor in SENSORS:
            assert row[sensor] == pytest.approx(
                sent[(row["compressor_id"], row["timestamp"])][sensor], rel=1e-9
            )
    final = status(tmp_path)
    assert final["buffer_depth"] == 0
    assert final["forwarded_total"] == len(rows)
    station.close()


def test_malformed_and_unmapped_are_counted_while_the_rest_flows_and_deaths_mark_offline(
    broker: str, altaviz: Altaviz, tmp_path: Path, connector: Callable[..., "subprocess.Popen[bytes]"]
) -> None:
    ids, rows = demo_fleet(altaviz, tmp_path, compressors=3, days=0.25)
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(mapping_text(ids))
    process = connector(broker, altaviz, mapping)
    wait_subscribed(tmp_path, process)
    station = Station(broker)
    station.nbirth()
    for compressor in [*ids, "UNKNOWN-9"]:
        station.dbirth(f"UNIT-{compressor}")
    half = len(rows) // 2
    for row in rows[:half]:
        station.ddata(f"UNIT-{row['compressor_id']}", row)
    station.raw("DDATA", f"UNIT-{ids[0]}", b"\x0a\xff not protobuf")  # malformed
    station.ddata("UNIT-UNKNOWN-9", rows[0])  # a device the mapping does not name
    station.seq = (station.seq + 5) % 256  # five messages lost: a gap
    for row in rows[half:]:
        station.ddata(f"UNIT-{row['compressor_id']}", row)
    wait_until(
        lambda: len(landed_rows(altaviz.data_dir, altaviz.org.slug)) >= len(rows), 60, "the rest landed"
    )
    assert len(landed_rows(altaviz.data_dir, altaviz.org.slug)) == len(rows)
    # the status file is rewritten every second: wait for the one after the last message
    # the unknown device's DBIRTH and DDATA, and Engine/Speed (unmapped metric) in every DDATA
    wait_until(
        lambda: counters(tmp_path).get("malformed") == 1 and counters(tmp_path)["unmapped"] >= 2 + len(rows),
        10,
        "the malformed and the unmapped messages counted",
    )
    counted = status(tmp_path)
    assert counted["malformed"] == 1
    assert "DDATA" in counted["last_error"]
    assert counted["unmapped"] >= 2 + len(rows)
    wait_until(lambda: len(station.rebirth_requests) == 1, 5, "a rebirth request after the gap")

    station.ddeath(f"UNIT-{ids[0]}")
    wait_until(lambda: ids[0] in counters(tmp_path)["offline"], 5, "DDEATH marks its compressor offline")
    wait_until(lambda: offline_in_fleet(altaviz) == {ids[0]}, 5, "the DDEATH reaches /api/fleet")
    station.die()  # the broker sends the node's NDEATH (its will)
    wait_until(lambda: set(ids) <= set(counters(tmp_path)["offline"]), 5, "NDEATH marks every unit offline")
    wait_until(lambda: offline_in_fleet(altaviz) == set(ids), 5, "the NDEATH reaches /api/fleet")
    fleet = fleet_rows(altaviz)
    assert all(fleet[c]["health_status"] != "healthy" for c in ids)
    assert all(
        fleet[c]["offline_reason"] in ("NDEATH of STATION-07", f"DDEATH of STATION-07/UNIT-{c}") for c in ids
    )

    # the node comes back: births, then data; the fleet shows the units online again
    back = Station(broker)
    back.nbirth()
    for compressor in ids:
        back.dbirth(f"UNIT-{compressor}")
    wait_until(lambda: offline_in_fleet(altaviz) == set(), 5, "the DBIRTHs reach /api/fleet")
    later = demo_rows_after(rows)
    for row in later:
        back.ddata(f"UNIT-{row['compressor_id']}", row)
    wait_until(
        lambda: len(landed_rows(altaviz.data_dir, altaviz.org.slug)) >= len(rows) + len(later),
        30,
        "the data after the rebirth landed",
    )
    assert offline_in_fleet(altaviz) == set()
    # the status file is the forwarder's snapshot, written about once a second
    wait_until(
        lambda: counters(tmp_path)["offline"] == {}, 5, "the births clear the connector's offline list"
    )
    assert status(tmp_path)["statuses_forwarded"] >= 2 + len(ids)
    assert process.poll() is None
    back.close()
