"""`altaviz demo --no-serve`: the fleet is loaded, a demo owner login is printed once, and the AUTH_SECRET
the demo generated is kept in the data directory and signs the service's sessions."""

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from altaviz.config import Settings
from altaviz.server import create_app


def test_demo_prints_a_working_owner_login(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "AUTH_SECRET")}
    env.update({"ALTAVIZ_DATA_DIR": str(tmp_path), "ALTAVIZ_ENV": "development", "COLUMNS": "200"})
    done = subprocess.run(
        [sys.executable, "-m", "altaviz", "demo", "--no-serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    login = re.search(r"demo login: (\S+) / (\S+)", done.stdout)
    assert login is not None, done.stdout
    email, password = login.groups()
    assert "http://127.0.0.1:8000/" in done.stdout
    secret = tmp_path / "auth_secret"
    assert secret.is_file() and stat.S_IMODE(secret.stat().st_mode) == 0o600

    app = create_app(Settings(env="development", data_dir=tmp_path))
    with TestClient(app, base_url="http://testserver") as client:
        assert client.post("/api/auth/login", json={"email": email, "password": "not it"}).status_code == 401
        signed_in = client.post("/api/auth/login", json={"email": email, "password": password})
        assert signed_in.status_code == 200 and signed_in.json()["role"] == "owner"
        assert signed_in.json()["organization"]["slug"] == "altaviz-demo"
        fleet = client.get("/api/fleet").json()
        assert fleet["summary"]["compressors"] == 10 and fleet["summary"]["stations"] == 4
        unhealthy = {row["compressor_id"] for row in fleet["items"] if row["health_status"] != "healthy"}
        assert unhealthy <= {"COMP-003", "COMP-007"} and "COMP-007" in unhealthy
        readings = client.get("/api/compressors/COMP-007/readings", params={"hours": 168}).json()
        assert len(readings["items"]) >= 160
    app.state.engine.dispose()
