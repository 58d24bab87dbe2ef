"""A real service on a free port (Uvicorn in a thread, SQLite in a temporary data directory) and a
headless Chromium driven by Playwright.

Playwright cannot download its own browser here: it drives Debian's /usr/bin/chromium (CI installs
it). Screenshots go to artifacts/screenshots/ (gitignored); with ALTAVIZ_UPDATE_DOCS_SCREENSHOTS=1
the fleet and compressor pages are also written to docs/screenshots/.
"""

import json
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, Playwright, ViewportSize, sync_playwright
from sqlalchemy import delete, select, update

from altaviz.accounts import data_version
from altaviz.alerts.models import AlertHistory
from altaviz.config import Settings
from altaviz.db import migrate
from altaviz.db.session import create_db_engine, session_scope
from altaviz.fleet.thresholds import THRESHOLDS_BY_METRIC
from altaviz.health.models import CompressorHealth, CompressorPrediction
from altaviz.monitoring.models import CompressorState
from altaviz.server import create_app
from tests.api.world import SeededOrg, projection, seed_organization

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "screenshots"
DOCS = ROOT / "docs" / "screenshots"
PHONE: ViewportSize = {"width": 375, "height": 812}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
AUTH_SECRET = "e2e-tests-only-5b0d7c9e1f2a3b4c5d6e7f8091a2b3c4d5e6f708"


@dataclass
class LiveServer:
    url: str
    settings: Settings
    data_dir: Path

    def env(self) -> dict[str, str]:
        """The environment for `altaviz` commands against this server's database and data directory."""
        return {
            **os.environ,
            "ALTAVIZ_DATA_DIR": str(self.data_dir),
            "DATABASE_URL": str(self.settings.database_url),
            "ALTAVIZ_ENV": "development",
            "AUTH_SECRET": AUTH_SECRET,
        }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("e2e")
    url = f"sqlite:///{data_dir / 'altaviz.db'}"
    migrate.upgrade(url)
    settings = Settings(
        env="development",
        data_dir=data_dir,
        database_url=url,
        auth_secret=AUTH_SECRET,
        rate_limit_per_minute=100_000,
        rate_limit_auth_per_minute=100_000,
        web_refresh_seconds=1,
    )
    app = create_app(settings)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the service did not start")
        time.sleep(0.05)
    yield LiveServer(f"http://127.0.0.1:{port}", settings, data_dir)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)", pytrace=False)
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
    yield browser
    browser.close()


def save_screenshot(page: object, name: str, docs: bool = False) -> Path:
    """A full-page PNG under artifacts/screenshots (and docs/screenshots when asked and enabled)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)  # type: ignore[attr-defined]
    if docs and os.environ.get("ALTAVIZ_UPDATE_DOCS_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, DOCS / f"{name}.png")
    return target


def sign_in(page: Page, server: LiveServer, email: str, password: str) -> None:
    """Sign in through the login page, as a person does, and wait for the dashboard."""
    page.goto(f"{server.url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}/dashboard")


def seed_org(server: LiveServer, slug: str, name: str) -> SeededOrg:
    """An organization with a member of every role (tests.api.world) in the server's database."""
    engine = create_db_engine(str(server.settings.database_url), server.settings)
    try:
        return seed_organization(engine, slug, name)
    finally:
        engine.dispose()


def add_early_warning(
    server: LiveServer, organization_id: uuid.UUID, compressor_id: str, metric: str
) -> None:
    """What the pipeline's health step loads for a compressor degrading now, replacing what it wrote:
    48 hourly health rows (learning for the first 12, then falling from 96 towards 40, `metric`
    driving), `metric` projected to its default warning (9 h, 6–14 h) and critical (31 h, 22–45 h)
    thresholds, and the state row's newest index."""
    limits = THRESHOLDS_BY_METRIC[metric]
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    engine = create_db_engine(str(server.settings.database_url), server.settings)
    try:
        with session_scope(engine) as session:
            mine = {"organization_id": organization_id, "compressor_id": compressor_id}
            for table in (CompressorHealth, CompressorPrediction):
                session.execute(delete(table).filter_by(**mine))
            for h in range(48):
                index = None if h < 12 else round(96 - 1.6 * (h - 12), 1)
                drivers = [{"sensor": metric, "score": round(3 + 0.4 * h, 1)}] if index is not None else []
                session.add(
                    CompressorHealth(
                        **mine,
                        hour=hour - timedelta(hours=47 - h),
                        health_index=index,
                        status="warmup" if index is None else "judged",
                        drivers=json.dumps(drivers),
                    )
                )
            for level, threshold, hours, low, high in (
                ("warning", limits.warning, 9.0, 6.0, 14.0),
                ("critical", limits.critical, 31.0, 22.0, 45.0),
            ):
                assert threshold is not None
                session.add(
                    projection(
                        organization_id, compressor_id, hour, metric, level, threshold, (hours, low, high)
                    )
                )
            session.execute(
                update(CompressorState)
                .filter_by(**mine)
                .values(health_index=96 - 1.6 * 35, health_status="judged")
            )
            data_version.bump(session, organization_id)
    finally:
        engine.dispose()


def link_early_warning(server: LiveServer, organization_id: uuid.UUID, compressor_id: str) -> tuple[int, int]:
    """An anomaly alert (returned to normal) raised 36 hours before the compressor's first threshold
    alert, which is made to follow it, as the pipeline links them: (early warning id, threshold id)."""
    engine = create_db_engine(str(server.settings.database_url), server.settings)
    try:
        with session_scope(engine) as session:
            follow = session.scalars(
                select(AlertHistory)
                .filter_by(organization_id=organization_id, compressor_id=compressor_id)
                .where(AlertHistory.alert_type.like("threshold%"))
                .order_by(AlertHistory.raised_at)
            ).first()
            assert follow is not None, f"{compressor_id} has no threshold alert to link"
            early = AlertHistory(
                organization_id=organization_id,
                compressor_id=compressor_id,
                condition="health_index",
                alert_type="anomaly",
                severity="warning",
                alert_timestamp=follow.raised_at - timedelta(hours=37),
                raised_at=follow.raised_at - timedelta(hours=36),
                last_violation_at=follow.raised_at - timedelta(hours=1),
                returned_to_normal_at=follow.raised_at,
                is_active=False,
                sensor_value=38.0,
                threshold_value=50.0,
                message=f"Health index of {compressor_id} below 50 for 12 hours (vibration driving)",
                source="pipeline",
            )
            session.add(early)
            session.flush()
            follow.related_alert_id = early.id
            data_version.bump(session, organization_id)
            return early.id, follow.id
    finally:
        engine.dispose()
