"""`altaviz connect opcua` against an asyncua server the test starts (a station's PLC exposing the demo
fleet's sensors as variables in kPa and °C): monitored-item changes arrive in Altaviz as one reading per
sample, converted; the server restarted on the same port, the connector reconnects by itself."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from altaviz.connectors.mapping import KPA_PER_PSI
from tests.connectors.conftest import Altaviz
from tests.connectors.test_sparkplug import counters, status, wait_subscribed, wait_until
from tests.ingest.helpers import landed_rows
from tests.servers import free_port, stop

pytestmark = pytest.mark.timeout(240)

UNITS = ("COMP-001", "COMP-002")


class Plc:
    """The PLC (tests/connectors/plc.py) in a process of its own: close() kills it like a power cut."""

    def __init__(self, port: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.connectors.plc", str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "ready"

    def write(self, values: dict[str, float], at: datetime) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"values": values, "at": at.isoformat()}) + "\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "ok"

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)


MAPPING = """
devices_as_ids = true  # the PLC names its units by their compressor ids

[opcua]
interval_ms = 200
reconnect_max_ms = 500  # retried every half second while the PLC restarts (30 s apart at most by default)

[metrics.suction]
sensor = "suction_pressure_psi"
unit = "kPa"
[metrics.temperature]
sensor = "discharge_temp_f"
unit = "°C"

[opcua.nodes]
{nodes}
"""


@pytest.fixture
def plc_port() -> Iterator[int]:
    yield free_port()


def test_monitored_items_arrive_as_readings_and_the_connector_reconnects(
    altaviz: Altaviz, tmp_path: Path, plc_port: int
) -> None:
    plc = Plc(plc_port)
    nodes = "\n".join(
        f'"ns=2;s={unit}.Suction" = "{unit}|suction"\n"ns=2;s={unit}.DischargeTemp" = "{unit}|temperature"'
        for unit in UNITS
    )
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(MAPPING.replace("{nodes}", nodes))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "altaviz",
            "connect",
            "opcua",
            "--endpoint",
            f"opc.tcp://127.0.0.1:{plc_port}/station/",
            "--url",
            altaviz.url,
            "--api-key",
            altaviz.ingest_key,
            "--mapping",
            str(mapping),
            "--buffer",
            str(tmp_path / "buffer"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    try:
        wait_subscribed(tmp_path, process)
        wait_until(lambda: counters(tmp_path).get("messages_in", 0) >= 4, 60, "the initial values")
        samples = 5
        for k in range(samples):
            at = start + timedelta(minutes=10 * k)
            values = {}
            for i, unit in enumerate(UNITS):
                values[f"{unit}.Suction"] = 400.0 + k + i
                values[f"{unit}.DischargeTemp"] = 90.0 + k
            plc.write(values, at)
            time.sleep(0.6)  # one publishing interval per sample
        wait_until(
            lambda: (
                sum(1 for r in landed_rows(altaviz.data_dir, altaviz.org.slug) if r["timestamp"] >= start)
                >= samples * len(UNITS)
            ),
            60,
            "every sample landed",
        )
        plc.close()  # the PLC restarts: the connector reconnects and re-subscribes by itself
        time.sleep(2.0)
        plc = Plc(plc_port)
        later = start + timedelta(minutes=10 * samples)
        time.sleep(0.5)

        def resent() -> bool:
            plc.write(
                {f"{u}.Suction": 500.0 for u in UNITS} | {f"{u}.DischargeTemp": 95.0 for u in UNITS}, later
            )
            return any(r["timestamp"] == later for r in landed_rows(altaviz.data_dir, altaviz.org.slug))

        wait_until(resent, 90, "a sample after the PLC restart")
    except AssertionError:
        print("STATUS", status(tmp_path))
        print("LANDED", landed_rows(altaviz.data_dir, altaviz.org.slug))
        print("REFUSED", landed_rows(altaviz.data_dir, altaviz.org.slug, "refused"))
        stop(process)
        assert process.stdout is not None
        print(process.stdout.read().decode()[-3000:])
        raise
    finally:
        stop(process)
        plc.close()
    rows = [r for r in landed_rows(altaviz.data_dir, altaviz.org.slug) if start <= r["timestamp"] < later]
    assert len(rows) == samples * len(UNITS)
    for row in rows:
        k = int((row["timestamp"] - start) / timedelta(minutes=10))
        i = UNITS.index(row["compressor_id"])
        assert row["suction_pressure_psi"] == pytest.approx((400.0 + k + i) / KPA_PER_PSI)
        assert row["discharge_temp_f"] == pytest.approx((90.0 + k) * 9 / 5 + 32)
