"""The README's two commands (issue 18 item 18): `make demo` installs only the runtime dependencies,
`make test` everything, and the README names every service the tests need."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _dry_run(tmp_path: Path, target: str) -> str:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    done = subprocess.run(["make", "-n", target], cwd=tmp_path, capture_output=True, text=True, check=True)
    return done.stdout


def test_make_demo_installs_only_the_runtime_dependencies(tmp_path: Path) -> None:
    commands = _dry_run(tmp_path, "demo")
    installs = [
        line for line in commands.splitlines() if "pip install" in line and "--upgrade pip" not in line
    ]
    assert installs == [".venv/bin/pip install --quiet --no-compile -e ."]
    assert "[dev" not in commands and "spark" not in commands


def test_make_test_installs_everything(tmp_path: Path) -> None:
    commands = _dry_run(tmp_path, "test")
    assert ".venv/bin/pip install --quiet -e '.[dev,spark,connectors]'" in commands


def test_the_readme_names_every_test_prerequisite() -> None:
    readme = (ROOT / "README.md").read_text()
    two_commands = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    for needed in ("PostgreSQL", "Redis", "Chromium", "Mosquitto"):
        assert needed in two_commands
