"""Regenerate the README's screenshots in docs/screenshots/ from a real service and Chromium.

    .venv/bin/python -m tests.e2e.screenshots            # writes docs/screenshots/*.png
    .venv/bin/python -m tests.e2e.screenshots --out /tmp/shots

Builds what a new Enterprise customer sees after loading the demo fleet, with the real commands, in a
temporary directory: `altaviz orgs create`, `altaviz simulate --organization`, `altaviz pipeline run`
into SQLite; an owner with an API key; one alert acknowledged. Then it serves that with the app
(Uvicorn in a thread, live refresh off so nothing moves) and photographs the main pages at 1280 px and
the fleet, a compressor and the alerts at 375 px, through Debian's /usr/bin/chromium (as the browser
tests do). Needs the dev dependencies (Playwright).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import Page, ViewportSize, sync_playwright

from altaviz.accounts import service as accounts
from altaviz.accounts.roles import Role
from altaviz.config import Settings
from altaviz.db import migrate
from altaviz.db.session import create_db_engine, session_scope
from altaviz.server import create_app

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
AUTH_SECRET = "screenshots-only-4c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d"
PASSWORD = "pumps and pipelines 2026"
OWNER = "nia@gulfgas.example"
SLUG = "gulf-gas"
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 375, "height": 812}
SHOTS = (  # (file name, path, viewport, whole page)
    ("fleet", "/dashboard", DESKTOP, True),
    ("compressor", "/dashboard/compressors/COMP-007", DESKTOP, True),
    ("alerts", "/dashboard/alerts?status=all", DESKTOP, False),
    ("data-quality", "/dashboard/data-quality", DESKTOP, False),
    ("settings", "/dashboard/settings", DESKTOP, False),
    ("pricing", "/pricing", DESKTOP, False),
    ("phone-fleet", "/dashboard", PHONE, False),
    ("phone-compressor", "/dashboard/compressors/COMP-007", PHONE, False),
    ("phone-alerts", "/dashboard/alerts", PHONE, False),
)


def _altaviz(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "altaviz", *args], env=env, check=True, capture_output=True)


def _load(data_dir: Path, url: str) -> None:
    env = {
        **os.environ,
        "ALTAVIZ_DATA_DIR": str(data_dir),
        "DATABASE_URL": url,
        "ALTAVIZ_ENV": "development",
        "AUTH_SECRET": AUTH_SECRET,
    }
    _altaviz(env, "orgs", "create", "Gulf Gas", "--slug", SLUG, "--tier", "enterprise")
    settings = Settings(database_url=url, data_dir=data_dir, auth_secret=AUTH_SECRET)
    engine = create_db_engine(url, settings)
    with session_scope(engine) as session:
        org = accounts.get_organization_by_slug(session, SLUG)
        accounts.create_user(session, org, email=OWNER, password=PASSWORD, role=Role.OWNER, name="Nia Owens")
    engine.dispose()
    _altaviz(env, "simulate", "--organization", SLUG)
    _altaviz(env, "pipeline", "run", "--organization", SLUG)


def _serve(data_dir: Path, url: str) -> tuple[uvicorn.Server, str]:
    settings = Settings(
        env="development",
        data_dir=data_dir,
        database_url=url,
        auth_secret=AUTH_SECRET,
        web_refresh_seconds=3600,
        workflow_scheduler_enabled=False,
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the service did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


def _settle(page: Page) -> None:
    page.wait_for_load_state("networkidle")
    page.wait_for_function("document.body.getAttribute('data-ready') === 'true' || !window.htmx")
    page.wait_for_timeout(600)  # the map's outline and the charts' first frame


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="altaviz-shots-") as tmp:
        data_dir = Path(tmp)
        url = f"sqlite:///{data_dir / 'altaviz.db'}"
        migrate.upgrade(url)
        _load(data_dir, url)
        server, base = _serve(data_dir, url)
        try:
            with sync_playwright() as driver:
                browser = driver.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
                )
                contexts = {}
                for name, path, viewport, whole in SHOTS:
                    key = viewport["width"]
                    if key not in contexts:
                        phone = viewport is PHONE
                        context = browser.new_context(viewport=viewport, is_mobile=phone, has_touch=phone)
                        answer = context.request.post(
                            f"{base}/api/auth/login",
                            data=json.dumps({"email": OWNER, "password": PASSWORD}),
                            headers={"Content-Type": "application/json"},
                        )
                        assert answer.ok, answer.text()
                        contexts[key] = context.new_page()
                        if not phone:
                            _prepare(contexts[key], base)
                    page = contexts[key]
                    page.goto(f"{base}{path}")
                    _settle(page)
                    target = args.out / f"{name}.png"
                    page.screenshot(path=str(target), full_page=whole)
                    print(f"{target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")
                browser.close()
        finally:
            server.should_exit = True


def _prepare(page: Page, base: str) -> None:
    """An API key, and one alert acknowledged, as an owner would have after a first morning."""
    page.goto(f"{base}/dashboard/alerts")
    _settle(page)
    token = page.locator('meta[name="csrf-token"]').get_attribute("content") or ""
    headers = {"X-CSRF-Token": token}
    page.request.post(
        f"{base}/api/api-keys",
        data=json.dumps({"name": "scada-export", "role": "viewer"}),
        headers={**headers, "Content-Type": "application/json"},
    )
    rows = page.locator("tr[data-alert-id]")
    if rows.count() > 1:
        alert_id = rows.nth(1).get_attribute("data-alert-id")
        page.request.post(f"{base}/dashboard/alerts/{alert_id}/acknowledge", headers=headers)


if __name__ == "__main__":
    main()
