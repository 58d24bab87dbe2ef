"""The container files, validated without a container runtime: compose.yaml parses and wires the services
as the README says, every variable it sets is a Settings field, the commands it runs exist, and the
Dockerfile installs the project the way the Makefile (and so CI) does."""

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from altaviz.cli import app
from altaviz.config import Settings

ROOT = Path(__file__).resolve().parents[2]
ALTAVIZ_SERVICES = ("migrate", "app", "pipeline", "pipeline-once")
# Extras the image leaves out of the Makefile's install: test tools, and Spark (it needs a JVM the image
# does not have; DuckDB is the default engine). Any other extra the Makefile installs, the image must too.
IMAGE_OMITS = {"dev", "spark"}
VENV = "/opt/venv"


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def services() -> dict[str, Any]:
    found = compose()["services"]
    assert isinstance(found, dict)
    return found


def settings_aliases() -> set[str]:
    names: set[str] = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        choices = getattr(alias, "choices", None)
        if choices is not None:
            names.update(str(choice) for choice in choices)
        elif isinstance(alias, str):
            names.add(alias)
    return names


def interpolate(value: str) -> str:
    """Compose's `${VAR:-default}` → default, `${VAR:?message}` → a value the test supplies."""
    required = {"AUTH_SECRET": "Zq81xT4mW9pL2vR7nB5cK0dH3sF6gJ8y-test-only"}

    def replace(match: re.Match[str]) -> str:
        name, operator, rest = match.group(1), match.group(2), match.group(3)
        if operator == ":-":
            return rest
        assert operator == ":?", f"${{{name}}} has no default and is not marked required (:?)"
        return required[name]

    return re.sub(r"\$\{(\w+)(:-|:\?)?([^}]*)\}", replace, value)


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions (continuations joined), grouped by stage."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    stages: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, argument = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), argument.strip()))
    return stages


def test_compose_has_the_app_its_stores_a_migration_step_and_the_pipeline_job() -> None:
    expected = {"postgres", "redis", "migrate", "app", "pipeline", "pipeline-once", "connector"}
    assert set(services()) == expected
    assert services()["postgres"]["image"].startswith("postgres:")
    assert services()["redis"]["image"].startswith("redis:")
    for name in ALTAVIZ_SERVICES:  # one image, built from this Dockerfile
        assert services()[name]["build"] == "." and services()[name]["image"].startswith("altaviz:")


def test_the_migration_runs_once_and_the_app_waits_for_it_to_succeed() -> None:
    migrate, app_service, pipeline = services()["migrate"], services()["app"], services()["pipeline"]
    assert migrate["command"] == ["altaviz", "db", "upgrade"] and migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert app_service["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"},
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    # The pipeline watcher is a service (issue 16): started by `docker compose up`, restarted, after
    # the migration, with a health check on its /metrics; a one-off run is the `pipeline-once` job.
    assert pipeline["command"] == ["altaviz", "pipeline", "watch"] and pipeline["restart"] == "unless-stopped"
    assert pipeline["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"},
        "postgres": {"condition": "service_healthy"},
    }
    assert "9108/metrics" in " ".join(pipeline["healthcheck"]["test"])
    assert "ports" not in pipeline  # the lag metrics name organizations: inside the compose network only
    once = services()["pipeline-once"]
    assert once["command"] == ["altaviz", "pipeline", "run"]
    assert once["profiles"] == ["pipeline"] and once["restart"] == "no"
    assert app_service["restart"] == "unless-stopped"
    # the field connector (issue 20): only with its profile, forwarding to the app, its buffer on a volume
    connector = services()["connector"]
    assert connector["command"][:3] == ["altaviz", "connect", "mqtt"]
    assert "--url=http://app:8000" in connector["command"] and "--buffer=/buffer" in connector["command"]
    assert connector["profiles"] == ["connector"] and "connector-buffer:/buffer" in connector["volumes"]


def test_the_stores_have_health_checks_the_app_gets_the_images() -> None:
    assert "pg_isready" in " ".join(services()["postgres"]["healthcheck"]["test"])
    assert services()["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert "healthcheck" not in services()["app"]  # the image's HEALTHCHECK applies (checked below)


@pytest.mark.parametrize("service", ALTAVIZ_SERVICES)
def test_every_variable_compose_sets_is_a_setting_and_validates(service: str) -> None:
    environment = services()[service]["environment"]
    assert isinstance(environment, dict)
    unknown = set(environment) - settings_aliases()
    assert not unknown, f"{service} sets variables no Settings field reads: {sorted(unknown)}"
    values = {name: interpolate(str(value)) for name, value in environment.items()}
    settings = Settings.model_validate(values)
    assert settings.env == "production" and settings.sqlalchemy_url.startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in settings.sqlalchemy_url
    assert settings.rate_limit_storage_uri == "redis://redis:6379/0"  # shared by workers and instances
    assert "${AUTH_SECRET:?" in environment["AUTH_SECRET"]  # required, never a default


@pytest.mark.parametrize("service", ALTAVIZ_SERVICES)
def test_the_commands_compose_runs_exist(service: str) -> None:
    command = services()[service]["command"]
    assert command[0] == "altaviz"
    result = CliRunner().invoke(app, [*command[1:], "--help"])
    assert result.exit_code == 0, result.output


def test_the_image_is_multi_stage_non_root_with_a_health_check() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2
    assert re.fullmatch(r"\S+ AS builder", stages[0][0][1], flags=re.IGNORECASE)
    runtime = stages[-1]
    instructions = dict(runtime)  # the last of each kind in the final stage
    assert any(kind == "COPY" and arg.startswith(f"--from=builder {VENV}") for kind, arg in runtime)
    user = instructions["USER"].split(":")[0]
    assert user not in ("root", "0") and user
    healthcheck = instructions["HEALTHCHECK"]
    assert "--interval=" in healthcheck and "/api/health" in healthcheck
    probe = json.loads(healthcheck.split(" CMD ", 1)[1])  # exec form, run by the image's python
    assert probe[:2] == ["python", "-c"]
    compile(probe[2], "HEALTHCHECK", "exec")
    assert instructions["CMD"] == '["altaviz", "serve"]'
    # No demo data or database in the image: only the venv comes from the builder, nothing from the tree.
    assert not [arg for kind, arg in runtime if kind in ("COPY", "ADD") and not arg.startswith("--from=")]
    assert "demo" not in " ".join(arg for kind, arg in runtime if kind in ("RUN", "CMD", "ENTRYPOINT"))


def makefile_install() -> list[str]:
    """The commands of the Makefile's install recipes (the venv, then $(STAMP)), the variables expanded
    for the image."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    recipe = []
    for target in ("$(BIN)/python:", "$(STAMP):"):
        start = next(i for i, line in enumerate(lines) if line.startswith(target))
        for line in lines[start + 1 :]:
            if not line.startswith("\t"):
                break
            recipe.append(line.strip())
    python = re.search(r"^PYTHON \?= (\S+)$", "\n".join(lines), flags=re.MULTILINE)
    assert python is not None
    expanded = []
    for command in recipe:
        if command.startswith("touch "):
            continue  # make's stamp file
        command = command.replace("$(PYTHON)", python.group(1)).replace("$(VENV)", VENV)
        expanded.append(command.replace("$(BIN)/", f"{VENV}/bin/"))
    return expanded


def image_install_of(makefile_command: str) -> str:
    """The Makefile's install, as the image does it: not editable, without the omitted extras."""
    words = shlex.split(makefile_command)
    if "install" not in words or not any(word.startswith(".") for word in words):
        return makefile_command
    out = []
    for word in words:
        if word == "-e":
            continue
        match = re.fullmatch(r"\.\[(.*)\]", word)
        if match:
            extras = [extra for extra in match.group(1).split(",") if extra not in IMAGE_OMITS]
            word = f".[{','.join(extras)}]" if extras else "."
        out.append(word)
    return " ".join(out)


def test_the_image_installs_the_project_as_the_makefile_does() -> None:
    builder_runs = [arg for kind, arg in dockerfile_stages()[0] if kind == "RUN"]
    expected = [image_install_of(command) for command in makefile_install()]
    assert builder_runs == expected
    assert any("pip install --quiet ." in command for command in builder_runs)


def test_the_build_context_is_only_what_the_install_needs() -> None:
    ignore = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert ignore[0] == "*"
    assert {line for line in ignore if line.startswith("!")} == {"!pyproject.toml", "!README.md", "!src/"}
    copied = [arg for kind, arg in dockerfile_stages()[0] if kind == "COPY"]
    assert copied == ["pyproject.toml README.md ./", "src ./src"]
