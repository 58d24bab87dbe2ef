"""A real service on a free port (Uvicorn in a thread, SQLite in a temporary data directory) and a
headless Chromium driven by Playwright.

Playwright cannot download its own browser here: it drives Debian's /usr/bin/chromium (CI installs
it). Screenshots go to artifacts/screenshots/ (gitignored); with ALTAVIZ_UPDATE_DOCS_SCREENSHOTS=1
the fleet and compressor pages are also written to docs/screenshots/.
"""

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from altaviz.config import Settings
from altaviz.db import migrate
from altaviz.db.session import create_db_engine
from altaviz.server import create_app
from tests.api.world import SeededOrg, seed_organization

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "screenshots"
DOCS = ROOT / "docs" / "screenshots"
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
