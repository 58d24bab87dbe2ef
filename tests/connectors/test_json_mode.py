"""`altaviz connect mqtt --mode json`: a topic template and JSON paths from the mapping file, units
converted, a payload that is not JSON counted as malformed, an unnamed device counted as unmapped."""

import json
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from altaviz.connectors.mapping import KPA_PER_PSI
from tests.connectors.conftest import Altaviz
from tests.connectors.test_sparkplug import counters, status, wait_subscribed, wait_until
from tests.ingest.helpers import landed_rows
from tests.servers import stop

pytestmark = pytest.mark.timeout(180)

MAPPING = """
[json]
topic = "sites/{station}/{device}/telemetry"
timestamp = "ts"

[devices]
"UNIT-1" = "COMP-001"
"UNIT-2" = "COMP-002"

[metrics."data.p1"]
sensor = "suction_pressure_psi"
unit = "kPa"
[metrics."data.t2"]
sensor = "discharge_temp_f"
unit = "°C"
[metrics."data.vib.0"]
sensor = "vibration_mms"
unit = "in/s"
"""


def test_json_topics_are_mapped_converted_and_forwarded(
    broker: str, altaviz: Altaviz, tmp_path: Path
) -> None:
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(MAPPING)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "altaviz",
            "connect",
            "mqtt",
            "--mode",
            "json",
            "--broker",
            broker,
            "--url",
            altaviz.url,
            "--api-key",
            altaviz.ingest_key,
            "--mapping",
            str(mapping),
            "--buffer",
            str(tmp_path / "buffer"),
            "--client-id",
            "json-test",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_subscribed(tmp_path, process)
        host, port = broker.removeprefix("mqtt://").split(":")
        client = paho.Client(client_id="json-station")
        client.connect(host, int(port))
        client.loop_start()
        now = int(time.time())
        for minutes, unit in ((30, "UNIT-1"), (20, "UNIT-2"), (10, "UNIT-1")):
            payload = {"ts": (now - 60 * minutes) * 1000, "data": {"p1": 420.0, "t2": 90.0, "vib": [0.1]}}
            client.publish(f"sites/ST-7/{unit}/telemetry", json.dumps(payload), qos=1).wait_for_publish(10)
        client.publish("sites/ST-7/UNIT-1/telemetry", b"{not json", qos=1).wait_for_publish(10)
        client.publish(
            "sites/ST-7/UNIT-9/telemetry", json.dumps({"ts": now, "data": {}}), qos=1
        ).wait_for_publish(10)
        wait_until(
            lambda: len(landed_rows(altaviz.data_dir, altaviz.org.slug)) >= 3, 60, "three readings landed"
        )
        rows = landed_rows(altaviz.data_dir, altaviz.org.slug)
        assert sorted(r["compressor_id"] for r in rows) == ["COMP-001", "COMP-001", "COMP-002"]
        for row in rows:
            assert row["suction_pressure_psi"] == pytest.approx(420.0 / KPA_PER_PSI)
            assert row["discharge_temp_f"] == pytest.approx(194.0)
            assert row["vibration_mms"] == pytest.approx(2.54)
            assert row["gas_flow_mcf"] is None
        # the status file is rewritten every second: wait for the one after the last message
        wait_until(lambda: counters(tmp_path).get("malformed") == 1, 10, "the malformed message counted")
        time.sleep(1.5)
        counted = status(tmp_path)
        assert counted["malformed"] == 1
        assert counted["unmapped"] == 1
        assert "sites/ST-7/UNIT-1/telemetry" in counted["last_error"]
        client.loop_stop()
        client.disconnect()
    finally:
        stop(process)
