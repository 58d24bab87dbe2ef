"""The GitHub Actions workflows, read as data: what triggers them, what each job may do, and that they run
the README's test command and the deploy scripts (tests/deploy/test_deploy_script.py tests those) the way
docs/RUNBOOK.md says. actionlint and zizmor check the rest (`make lint-workflows`)."""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
NAMES = ("ci.yml", "deploy.yml", "rollback.yml")
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def workflow(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load((WORKFLOWS / name).read_text())
    assert isinstance(loaded, dict)
    if True in loaded:  # YAML 1.1 reads the key `on` as true
        loaded["on"] = loaded.pop(True)
    return loaded


def jobs(name: str) -> dict[str, dict[str, Any]]:
    found = workflow(name)["jobs"]
    assert isinstance(found, dict)
    return found


def steps(name: str, job: str) -> list[dict[str, Any]]:
    found = jobs(name)[job]["steps"]
    assert isinstance(found, list)
    return found


def runs(name: str, job: str) -> str:
    return "\n".join(step["run"] for step in steps(name, job) if "run" in step)


def uses(name: str, job: str) -> list[str]:
    return [step["uses"].split("@")[0] for step in steps(name, job) if "uses" in step]


def test_the_workflows_are_these_three() -> None:
    assert sorted(path.name for path in WORKFLOWS.iterdir()) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_nothing_is_granted_by_default_and_each_job_says_what_it_needs(name: str) -> None:
    assert workflow(name)["permissions"] == {}
    for job_name, job in jobs(name).items():
        permissions = job["permissions"]
        assert permissions.get("contents") == "read", job_name
        assert set(permissions.values()) <= {"read", "write"}
        # An OIDC token only where azure/login exchanges it; package writes only where ghcr.io is pushed to.
        logs_in_to_azure = "uses" not in job and "azure/login" in uses(name, job_name)
        assert (permissions.get("id-token") == "write") == logs_in_to_azure, job_name
        pushes_to_ghcr = "steps" in job and "docker login ghcr.io" in runs(name, job_name)
        assert (permissions.get("packages") == "write") == pushes_to_ghcr, job_name


@pytest.mark.parametrize("name", NAMES)
def test_every_action_is_pinned_by_commit_and_says_its_version(name: str) -> None:
    lines = (WORKFLOWS / name).read_text().splitlines()
    references = [line.split("uses:", 1)[1].strip() for line in lines if re.match(r"^\s*(- )?uses:", line)]
    assert references
    for reference in references:
        target, _, comment = reference.partition(" # ")
        if target.startswith("./"):
            continue  # this repository's own workflow, at this run's commit
        assert PINNED.match(target), reference
        assert re.match(r"v\d+\.\d+\.\d+$", comment), f"{reference}: no version comment"


@pytest.mark.parametrize("name", NAMES)
def test_no_expression_is_pasted_into_a_script_and_no_secret_is_used(name: str) -> None:
    for job_name, job in jobs(name).items():
        for step in job.get("steps", []):
            assert "${{" not in step.get("run", ""), f"{job_name}: pass values through env:"
    assert "secrets." not in (WORKFLOWS / name).read_text()  # OIDC and the run's own token only


def test_ci_runs_on_every_push_and_pull_request_and_is_what_deploy_calls_first() -> None:
    on = workflow("ci.yml")["on"]
    assert set(on) == {"push", "pull_request", "workflow_call"}
    # Pushes to staging and main run it through deploy.yml; every other push runs it directly.
    assert on["push"] == {"branches-ignore": ["staging", "main"]}
    assert on["pull_request"] is None
    ci_job = jobs("deploy.yml")["ci"]
    assert ci_job["uses"] == "./.github/workflows/ci.yml"
    assert set(workflow("deploy.yml")["on"]["push"]["branches"]) == set(on["push"]["branches-ignore"])


def test_ci_runs_make_test_against_postgresql_and_redis_service_containers() -> None:
    test = jobs("ci.yml")["test"]
    assert set(test["services"]) == {"postgres", "redis"}
    assert test["services"]["postgres"]["image"].startswith("postgres:")
    assert test["services"]["redis"]["image"].startswith("redis:")
    assert "pg_isready" in test["services"]["postgres"]["options"]
    assert test["env"]["ALTAVIZ_TEST_POSTGRES_URL"].startswith("postgresql+psycopg://postgres@postgres:5432/")
    assert test["env"]["ALTAVIZ_TEST_REDIS_URL"] == "redis://redis:6379/0"
    commands = runs("ci.yml", "test")
    assert commands.splitlines()[-1] == "make test"  # the README's test command, as .ci/run runs it
    assert "apt-get install" in commands and "chromium" in commands  # /usr/bin/chromium, as .ci/run
    assert (
        "chromium" in (ROOT / ".ci" / "run").read_text() and "make test" in (ROOT / ".ci" / "run").read_text()
    )


def test_ci_caches_the_virtualenv_by_the_hash_of_pyproject() -> None:
    cache = next(
        step for step in steps("ci.yml", "test") if step.get("uses", "").startswith("actions/cache@")
    )
    assert cache["with"]["path"] == ".venv"
    assert "hashFiles('pyproject.toml')" in cache["with"]["key"]
    keep = next(
        step for step in steps("ci.yml", "test") if step.get("if") == "steps.venv.outputs.cache-hit == 'true'"
    )
    assert keep["run"] == "touch .venv/.installed"  # the Makefile's stamp: a restored venv is not reinstalled
    assert cache["id"] == "venv"


def test_ci_builds_the_image_and_fails_on_known_vulnerabilities() -> None:
    assert "docker build" in runs("ci.yml", "image")
    scan = next(step for step in steps("ci.yml", "image") if "trivy-action" in step.get("uses", ""))
    assert scan["with"]["scan-type"] == "image" and scan["with"]["exit-code"] == "1"
    assert re.fullmatch(r"v\d+\.\d+\.\d+", scan["with"]["version"])  # Trivy itself pinned too
    makefile = (ROOT / "Makefile").read_text()  # the dependencies: make test's audit step (pip-audit)
    assert re.search(r"^test:.*\baudit\b", makefile, flags=re.MULTILINE) and "pip-audit" in makefile


def test_the_makefile_runs_the_workflow_linters_in_make_test() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test:.*\blint-workflows\b", makefile, flags=re.MULTILINE)
    recipe = makefile.split("\nlint-workflows:", 1)[1].split("\n\n", 1)[0]
    assert "actionlint" in recipe and "zizmor --offline" in recipe and "shellcheck deploy/" in recipe


def test_deploy_publishes_once_then_runs_the_deploy_script_in_the_branchs_environment() -> None:
    deploy_jobs = jobs("deploy.yml")
    for publish in ("publish-ghcr", "publish-acr"):
        assert deploy_jobs[publish]["needs"] == "ci"
        assert 'deploy/deploy.sh --publish "$TAG"' in runs("deploy.yml", publish)
        step = next(s for s in steps("deploy.yml", publish) if "--publish" in s.get("run", ""))
        assert step["env"]["TAG"] == "${{ github.sha }}"
    assert deploy_jobs["publish-ghcr"]["if"] == "vars.AZURE_CONTAINER_REGISTRY == ''"
    assert deploy_jobs["publish-acr"]["if"] == "vars.AZURE_CONTAINER_REGISTRY != ''"

    deploy = deploy_jobs["deploy"]
    assert deploy["needs"] == ["publish-ghcr", "publish-acr"]
    environment = "${{ github.ref_name == 'main' && 'production' || 'staging' }}"
    assert deploy["environment"] == environment  # production waits for its required reviewers
    assert deploy["concurrency"] == {"group": f"deploy-{environment}", "cancel-in-progress": False}
    step = next(s for s in steps("deploy.yml", "deploy") if "deploy/deploy.sh" in s.get("run", ""))
    assert step["run"].splitlines()[-1] == 'deploy/deploy.sh "$ENVIRONMENT" "$TAG"'
    assert step["env"]["ENVIRONMENT"] == environment and step["env"]["TAG"] == "${{ github.sha }}"


def test_rollback_is_a_manual_run_with_the_environment_and_tag_as_inputs() -> None:
    on = workflow("rollback.yml")["on"]
    assert set(on) == {"workflow_dispatch"}
    inputs = on["workflow_dispatch"]["inputs"]
    assert inputs["environment"]["options"] == ["staging", "production"]
    assert inputs["tag"]["required"] is True and inputs["tag"]["type"] == "string"
    rollback = jobs("rollback.yml")["rollback"]
    assert rollback["environment"] == "${{ inputs.environment }}"
    assert rollback["concurrency"]["group"] == "deploy-${{ inputs.environment }}"  # the deploys' group
    step = next(s for s in steps("rollback.yml", "rollback") if "deploy/rollback.sh" in s.get("run", ""))
    assert step["run"].splitlines()[-1] == 'deploy/rollback.sh "$ENVIRONMENT" "$TAG"'
    assert step["env"]["TAG"] == "${{ inputs.tag }}"


@pytest.mark.parametrize(("name", "job"), [("deploy.yml", "deploy"), ("rollback.yml", "rollback")])
def test_the_settings_passed_to_the_script_are_the_ones_it_reads(name: str, job: str) -> None:
    script = (ROOT / "deploy" / "deploy.sh").read_text()
    read = set(re.findall(r"\$\{(DEPLOY_[A-Z_]+|AZURE_CONTAINER_REGISTRY):-", script))
    step = next(s for s in steps(name, job) if "deploy/" in s.get("run", ""))
    passed = {key for key in step["env"] if key.startswith(("DEPLOY_", "AZURE_"))}
    # The waits keep the script's defaults; DEPLOY_IMAGE is derived from the registry variables.
    assert passed == read - {"DEPLOY_IMAGE", "DEPLOY_POLL_SECONDS", "DEPLOY_TIMEOUT_SECONDS"}
    for key in passed:
        assert step["env"][key] == "${{ vars." + key + " }}"
        assert f"#   {key}" in script or key == "AZURE_CONTAINER_REGISTRY"  # documented in its header
    login = next(s for s in steps(name, job) if s.get("uses", "").startswith("azure/login@"))
    assert login["with"] == {
        "client-id": "${{ vars.AZURE_CLIENT_ID }}",
        "tenant-id": "${{ vars.AZURE_TENANT_ID }}",
        "subscription-id": "${{ vars.AZURE_SUBSCRIPTION_ID }}",
    }
