"""The README's two commands (issue 18 item 18): `make demo` installs only the runtime dependencies,
`make test` everything, and the README names every service the tests need."""

import os
import re
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
    # run by `make test`, make would pass its flags down and print "Entering directory" lines
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", target],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return done.stdout


def test_make_demo_installs_only_the_runtime_dependencies(tmp_path: Path) -> None:
    commands = _dry_run(tmp_path, "demo").splitlines()
    # a virtualenv of its own, built from scratch: nothing the tests installed can end up in it
    assert commands[:2] == ["rm -rf .venv-demo", "python3 -m venv .venv-demo"]
    installs = [line for line in commands if "pip install" in line]
    assert installs == [".venv-demo/bin/pip install --quiet --no-compile -e ."]
    # pip and setuptools leave once the install is done, before the demo runs
    uninstall = commands.index(".venv-demo/bin/python -m pip uninstall --quiet --yes pip setuptools")
    assert commands.index(installs[0]) < uninstall < commands.index(".venv-demo/bin/altaviz demo")
    assert not [line for line in commands if line.startswith(".venv/")]


def test_make_demo_size_measures_the_venv_make_demo_builds(tmp_path: Path) -> None:
    demo, size = _dry_run(tmp_path, "demo").splitlines(), _dry_run(tmp_path, "demo-size").splitlines()
    assert size[: len(demo) - 1] == demo[:-1]  # the same recipe, up to running the demo
    assert size[len(demo) - 1] == "du -sh .venv-demo"


def test_make_test_installs_everything(tmp_path: Path) -> None:
    commands = _dry_run(tmp_path, "test")
    assert ".venv/bin/pip install --quiet -e '.[dev,spark,connectors,server]'" in commands
    assert "-n auto" in commands.split(".venv/bin/pytest", 1)[1].splitlines()[0]  # every core


def test_the_readme_names_every_test_prerequisite() -> None:
    readme = (ROOT / "README.md").read_text()
    two_commands = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    for needed in ("PostgreSQL", "Redis", "Chromium", "Mosquitto"):
        assert needed in two_commands


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a real install: minutes on a busy machine
def test_the_demo_venv_is_at_most_400_mb_and_holds_only_what_the_demo_runs(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    for name in ("Makefile", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(
        ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    done = subprocess.run(["make", "demo-size"], cwd=tmp_path, capture_output=True, text=True, timeout=1700)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^\S+\t\.venv-demo$", done.stdout, flags=re.MULTILINE), done.stdout
    venv = tmp_path / ".venv-demo"
    megabytes = subprocess.run(["du", "-sm", str(venv)], capture_output=True, text=True, check=True)
    assert int(megabytes.stdout.split()[0]) <= 400, done.stdout
    # No installer, no test tools or extras; the HTTP parser the service's protocol class builds on is there.
    probe = (
        "import importlib.util, sys\n"
        "extra = [m for m in ('pip', 'setuptools', 'uvloop', 'watchfiles', 'websockets', 'yaml', 'pyspark',"
        " 'pytest', 'paho') if importlib.util.find_spec(m)]\n"
        "from altaviz.api.http_protocol import JsonErrorHttpProtocol\n"
        "print(extra, JsonErrorHttpProtocol.__name__)\n"
    )
    ran = subprocess.run([venv / "bin" / "python", "-c", probe], capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == "[] JsonErrorHttpToolsProtocol"
    assert (venv / "bin" / "altaviz").is_file()
