"""docs/RUNBOOK.md cannot drift from the code: every `altaviz` command it shows that can run on one machine
is run here, in the order shown, on SQLite and PostgreSQL, and the SQL it tells operators to run works."""

import os
import re
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, text

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "RUNBOOK.md"
# Commands that serve, reach a deployment or judge production settings run in their own tests:
# `altaviz smoke` (tests/ops/test_smoke.py), `altaviz check-config` (tests/ops/test_check_config.py), the
# workflow curl as docs/RUNBOOK.md writes it (tests/workflows/test_runbook.py), `altaviz serve` (tests/api).
ELSEWHERE = ("altaviz serve", "altaviz smoke", "altaviz check-config")
POSTGRES_ONLY = ("pg_stat_activity",)


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", RUNBOOK.read_text(), flags=re.DOTALL)


def runbook_commands() -> list[str]:
    commands = []
    for block in blocks("bash"):
        for line in block.splitlines():
            command = line.split("  #")[0].strip()
            command = re.sub(r"^DATABASE_URL=\S+ ", "", command)
            if command.startswith("altaviz ") and not command.startswith(ELSEWHERE):
                commands.append(command)
    return commands


def test_the_runbook_shows_the_commands_operators_need() -> None:
    shown = " | ".join(runbook_commands())
    for needed in (
        "altaviz db upgrade",
        "altaviz db downgrade",
        "altaviz db current",
        "altaviz pipeline run",
    ):
        assert needed in shown
    for flag in ("--skip-bronze", "--skip-silver", "--skip-gold", "--skip-db"):
        assert flag in shown
    assert any(b.strip().startswith("altaviz smoke") for b in blocks("bash"))


def test_every_local_runbook_command_runs(tmp_path: Path, empty_db_url: str) -> None:
    env = {
        **os.environ,
        "ALTAVIZ_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": empty_db_url,
        "ALTAVIZ_ENV": "development",
    }
    outputs = {}
    for command in runbook_commands():
        args = command.split()[1:]
        done = subprocess.run(
            [sys.executable, "-m", "altaviz", *args], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"{command}: {done.stdout}\n{done.stderr}"
        outputs[command] = done.stdout + done.stderr

    section = re.search(r"### Expected output.*?```\n(.*?)```", RUNBOOK.read_text(), flags=re.DOTALL)
    expected = section.group(1) if section else ""
    first_run = outputs["altaviz pipeline run"]
    documented = re.search(r"([\d,]+) readings → ([\d,]+) hourly aggregates", expected)
    assert documented is not None, "the runbook's expected output block is missing"
    produced = re.search(r"([\d,]+) readings → ([\d,]+) hourly aggregates", " ".join(first_run.split()))
    assert produced is not None, first_run
    assert produced.group(1) == documented.group(1)
    # The runbook gives both hourly counts: series starting off the clock hour, and on it (1,680).
    assert produced.group(2) in (documented.group(2), "1,680") and "1,680 hourly" in RUNBOOK.read_text()

    engine = create_engine(empty_db_url)
    try:
        with engine.connect() as connection:
            for block in blocks("sql"):
                for statement in filter(None, (s.strip() for s in block.split(";"))):
                    lines = [ln for ln in statement.splitlines() if not ln.strip().startswith("--")]
                    sql = "\n".join(lines).strip()
                    if not sql or (
                        engine.dialect.name != "postgresql" and any(p in sql for p in POSTGRES_ONLY)
                    ):
                        continue
                    connection.execute(text(sql)).all()
    finally:
        engine.dispose()
