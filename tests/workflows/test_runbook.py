"""The runbook's workflow command, exactly as written, against `altaviz serve` on PostgreSQL."""

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from altaviz.alerts.models import AlertHistory, WorkflowRun
from altaviz.db.session import session_scope
from tests.api.world import AUTH_SECRET
from tests.team.smtp import free_port
from tests.workflows.helpers import seed_fleet

KEY = "9c1f" * 16  # what `openssl rand -hex 32` gives
OLD_KEY = "4be0" * 16

# The command of docs/RUNBOOK.md, "Workflows not running", as written there (the original runbook's, with
# the URL quoted): only the host and the organization are filled in, so the runbook cannot drift.
RUNBOOK_FILE = Path(__file__).resolve().parents[2] / "docs" / "RUNBOOK.md"
_SHOWN = re.search(
    r"```bash\n(curl -X POST .*?/api/workflows/run.*?)\n```", RUNBOOK_FILE.read_text(), re.DOTALL
)
assert _SHOWN is not None, "docs/RUNBOOK.md no longer shows the workflow curl command"
RUNBOOK = (
    _SHOWN.group(1)
    .replace("{", "{{")
    .replace("}", "}}")
    .replace("https://<app-url>", "{base}")
    .replace("YOUR_ORG_UUID", "{organization}")
)


@pytest.fixture
def service(pg_url: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "ALTAVIZ_ENV": "test",
        "AUTH_SECRET": AUTH_SECRET,
        "DATABASE_URL": pg_url,
        "ALTAVIZ_DATA_DIR": str(tmp_path),
        "LOG_LEVEL": "WARNING",
        "WORKFLOW_API_KEY": KEY,
        "WORKFLOW_API_KEY_OLD": OLD_KEY,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "altaviz", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "altaviz serve did not start listening"
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def _curl(base: str, organization: str, key: str) -> tuple[dict[str, Any], int]:
    command = RUNBOOK.format(base=base, organization=organization) + ' -s -w "\\n%{http_code}"'
    done = subprocess.run(
        ["bash", "-c", command],
        env={**os.environ, "WORKFLOW_API_KEY": key},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    body, status = done.stdout.rsplit("\n", 1)
    return json.loads(body), int(status)


def test_the_runbook_curl_command_runs_all_workflows(service: str, pg_url: str) -> None:
    engine = create_engine(pg_url)
    try:
        organization = seed_fleet(engine, slug="runbook", registered=datetime.now(UTC) - timedelta(days=1))
        with session_scope(engine) as session:
            raised = datetime.now(UTC) - timedelta(hours=5)
            session.add(
                AlertHistory(
                    organization_id=organization,
                    compressor_id="COMP-002",
                    condition="vibration_mms",
                    alert_type="threshold_warning",
                    severity="warning",
                    alert_timestamp=raised - timedelta(minutes=10),
                    raised_at=raised,
                    last_violation_at=raised,
                    is_active=True,
                    violation_count=2,
                )
            )

        body, status = _curl(service, str(organization), KEY)
        assert status == 200, body
        assert body["success"] is True
        results = body["results"]
        assert isinstance(results, list)
        assert [(r["workflow"], r["resultCount"]) for r in results] == [
            ("escalation", 1),
            ("auto_resolve", 0),
            ("staleness", 3),  # registered a day ago, never reported
            ("cleanup", 0),
        ]

        body, status = _curl(service, str(organization), OLD_KEY)  # during a key rotation
        assert status == 200 and [r["resultCount"] for r in body["results"]] == [0, 0, 0, 0]

        body, status = _curl(service, str(organization), "0" * 64)
        assert status == 401 and body["error"] == "Invalid, expired or revoked API key"

        with session_scope(engine) as session:
            runs = session.scalars(
                select(WorkflowRun).where(WorkflowRun.organization_id == organization)
            ).all()
            assert len(runs) == 8 and {r.trigger for r in runs} == {"api"}
    finally:
        engine.dispose()
