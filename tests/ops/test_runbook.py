"""docs/RUNBOOK.md cannot drift from the code: every `altaviz` command it shows that can run on one machine
is run here, in the order shown, on SQLite and PostgreSQL, and the SQL it tells operators to run works; its
delivery commands (git push, gh, az, deploy/) match the workflows and run against a fake cloud."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.deploy.test_deploy_script import Cloud
from tests.deploy.test_workflows import workflow

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


# The delivery commands (Deploy and Rollback): each `git push`, `gh`, `az` and deploy/ script line it shows is
# checked against the workflows, and the scripts run against the fake cloud of tests/deploy/.
DELIVERY_PROGRAMS = ("git", "gh", "az")


def delivery_commands() -> list[tuple[dict[str, str], list[str]]]:
    commands = []
    for block in blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line.split("  #")[0])
            assignments = {}
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
                name, _, value = words.pop(0).partition("=")
                assignments[name] = value
            if words and (words[0] in DELIVERY_PROGRAMS or words[0].startswith("deploy/")):
                commands.append((assignments, words))
    return commands


def test_every_delivery_command_the_runbook_shows_works(tmp_path: Path) -> None:
    root = RUNBOOK.parents[1]
    script = (root / "deploy" / "deploy.sh").read_text()
    resources = set(re.findall(r"DEPLOY_(?:APP|WATCHER|MIGRATE_JOB):-([\w-]+)", script))
    shown = delivery_commands()
    assert {" ".join(words[:3]) for _, words in shown} >= {
        "git push origin",
        "gh workflow run",
        "deploy/deploy.sh staging 3f2c1e07",
        "deploy/rollback.sh staging 3f2c1e07",
    }
    for number, (assignments, words) in enumerate(shown):
        command = " ".join(words)
        if words[0] == "git":  # a push the deploy workflow acts on
            assert words[:3] == ["git", "push", "origin"] and len(words) == 4, command
            assert words[3] in workflow("deploy.yml")["on"]["push"]["branches"], command
        elif words[0] == "gh":  # a manual workflow run, with exactly its required inputs
            assert words[:3] == ["gh", "workflow", "run"], command
            inputs = workflow(words[3])["on"]["workflow_dispatch"]["inputs"]
            given = dict(value.split("=", 1) for flag, value in zip(words[4::2], words[5::2], strict=True))
            assert set(words[4::2]) == {"-f"}
            assert set(given) == {name for name, spec in inputs.items() if spec.get("required")}, command
            for name, value in given.items():
                assert value in inputs[name].get("options", [value]), command
        elif words[0] == "az":  # az login, or a look at the resources the script deploys
            if words[1:] == ["login"]:
                continue
            options = {word: words[i + 1] for i, word in enumerate(words[:-1]) if word.startswith("--")}
            assert words[1] == "containerapp" and options["--name"] in resources, command
            assert re.fullmatch(r"altaviz-(staging|production)", options["--resource-group"]), command
        else:  # deploy/deploy.sh or deploy/rollback.sh, run as shown against the fake cloud
            (tmp_path / str(number)).mkdir()
            cloud = Cloud(tmp_path / str(number))
            done = cloud.run(root / words[0], *words[1:], **{"DEPLOY_IMAGE": "", **assignments})
            assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
            assert cloud.calls[-1][:2] == ["altaviz", "smoke"]
