"""`altaviz ingest FILE --organization SLUG`: the API's row checks, without its per-request limits."""

import gzip
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine

from altaviz.config import normalize_database_url
from tests.api.world import AUTH_SECRET, seed_organization
from tests.ingest.helpers import as_csv, landed, landed_rows, reading


def run(db_url: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ALTAVIZ_ENV": "test",
        "AUTH_SECRET": AUTH_SECRET,
        "DATABASE_URL": db_url,
        "ALTAVIZ_DATA_DIR": str(data_dir),
    }
    return subprocess.run(
        [sys.executable, "-m", "altaviz", "ingest", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_cli_lands_a_file_bigger_than_one_request_with_the_same_checks(
    sqlite_url: str, tmp_path: Path
) -> None:
    engine = create_engine(normalize_database_url(sqlite_url))
    org = seed_organization(engine, "alpha", "Alpha")
    engine.dispose()
    rows = [reading(f"COMP-00{1 + i % 3}", minutes_ago=1 + i / 100) for i in range(120_000)]
    rows[5] = reading("UNKNOWN-1")
    source = tmp_path / "readings.csv.gz"
    source.write_bytes(gzip.compress(as_csv(rows)))

    checked = run(sqlite_url, tmp_path, str(source), "--organization", org.slug, "--dry-run")
    assert checked.returncode == 0, checked.stderr
    assert "120,000 readings: would store 119,999, refused 1" in checked.stdout
    assert "row 6: unknown compressor: UNKNOWN-1" in checked.stdout
    assert not landed(tmp_path, org.slug)

    done = run(sqlite_url, tmp_path, str(source), "--organization", org.slug)
    assert done.returncode == 0, done.stderr
    assert len(landed_rows(tmp_path, org.slug)) == 119_999
    assert landed_rows(tmp_path, org.slug, "refused")[0]["source"] == "cli:readings.csv.gz"

    nowhere = run(sqlite_url, tmp_path, str(source), "--organization", "no-such-org")
    assert nowhere.returncode == 1 and "no organization with the slug 'no-such-org'" in nowhere.stderr
    other = tmp_path / "readings.xlsx"
    other.write_bytes(b"x")
    assert run(sqlite_url, tmp_path, str(other), "--organization", org.slug).returncode == 2
