"""deploy/deploy.sh and deploy/rollback.sh without a cloud: fake `az`, `altaviz` and `docker` on PATH record
every call and answer from a small model of a Container Apps environment (each app's and the job's image,
the migration's outcome, which images fail their smoke check). Each test asserts the exact commands the
script issues, in order: what CI runs and what a person runs by hand are these same calls."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "deploy.sh"
ROLLBACK = ROOT / "deploy" / "rollback.sh"
REPO = "ghcr.io/acme/altaviz"
OLD = f"{REPO}:1111111"
NEW = f"{REPO}:2222222"
RG = "altaviz-staging"
FQDN = "altaviz-app.happyfield-1234.westeurope.azurecontainerapps.io"
URL = f"https://{FQDN}"
IMAGE_QUERY = "properties.template.containers[0].image"
REVISION_QUERY = "[properties.latestRevisionName, properties.latestReadyRevisionName]"

# One program plays az, altaviz and docker, by the name it is called under. Its state is a JSON file.
FAKE = r"""
import json, os, sys
from pathlib import Path

tool = sys.argv[1]
args = sys.argv[2:]
state_path = Path(os.environ["FAKE_STATE"])
state = json.loads(state_path.read_text())
state["calls"].append([tool, *args])


def opt(name):
    return args[args.index(name) + 1]


def done(out="", code=0):
    state_path.write_text(json.dumps(state))
    if out:
        print(out)
    sys.exit(code)


if tool == "az":
    group = args[:3] if args[:2] == ["containerapp", "job"] else args[:2]
    verb = args[len(group) - 1]
    if args[:4] == ["containerapp", "job", "execution", "show"]:
        done(state["migration"].pop(0))
    if opt("--resource-group") != state["resource_group"]:
        done("ResourceGroupNotFound", 3)
    name = opt("--name")
    if verb == "show" and opt("--query") == "properties.template.containers[0].image":
        done(state["images"][name])
    if verb == "show" and opt("--query") == "properties.configuration.ingress.fqdn":
        done(state["fqdn"])
    if verb == "show" and opt("--query").startswith("[properties.latestRevisionName"):
        revision = state["revisions"][name]
        ready = revision if state["ready"].pop(0) else "previous-revision"
        done(revision + "\n" + ready)  # az's tsv: a list's items one a line (azure-cli 2.91)
    if verb == "update":
        if len(group) == 2 and opt("--image") in state["unpullable"]:  # an app's new revision
            done("ERROR: image cannot be pulled", 1)
        state["images"][name] = opt("--image")
        state["revisions"][name] = name + "--" + opt("--image").rsplit(":", 1)[1]
        done()
    if verb == "start":
        done(name + "-exec1")
elif tool == "altaviz" and args[0] == "smoke":
    failing = state["images"][state["app"]] in state["failing"]
    done("FAIL health" if failing else "all 3 checks passed", 1 if failing else 0)
elif tool == "docker":
    if args[:2] == ["manifest", "inspect"]:
        done(code=0 if args[2] in state["registry"] else 1)
    if args[0] == "push":
        state["registry"].append(args[1])
    done()
done("fake " + tool + ": unexpected command " + " ".join(args), 64)
"""


class Cloud:
    """The fake tools, their state and the script runner."""

    def __init__(self, tmp_path: Path) -> None:
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        program = tmp_path / "fake.py"
        program.write_text(FAKE)
        for tool in ("az", "altaviz", "docker"):
            script = self.bin / tool
            script.write_text(f'#!/bin/sh\nexec {sys.executable} {program} {tool} "$@"\n')
            script.chmod(0o755)
        self.state_path = tmp_path / "state.json"
        self.state: dict[str, Any] = {
            "calls": [],
            "resource_group": RG,
            "app": "altaviz-app",
            "images": {"altaviz-app": OLD, "altaviz-pipeline": OLD, "altaviz-migrate": OLD},
            "revisions": {
                "altaviz-app": "altaviz-app--1111111",
                "altaviz-pipeline": "altaviz-pipeline--1111111",
            },
            "fqdn": FQDN,
            "migration": ["Running", "Succeeded"],
            "ready": [True] * 10,
            "failing": [],
            "unpullable": [],
            "registry": [],
        }

    def run(self, script: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        self.state_path.write_text(json.dumps(self.state))
        environment = {
            "PATH": f"{self.bin}:/usr/bin:/bin",
            "HOME": str(self.bin.parent),
            "FAKE_STATE": str(self.state_path),
            "DEPLOY_IMAGE": REPO,
            "DEPLOY_POLL_SECONDS": "0",
            **env,
        }
        done = subprocess.run(
            [str(script), *args], env=environment, capture_output=True, text=True, timeout=60, check=False
        )
        self.state = json.loads(self.state_path.read_text())
        return done

    @property
    def calls(self) -> list[list[str]]:
        return [list(call) for call in self.state["calls"]]


def az(*words: str, **options: str) -> list[str]:
    """An az command line as the script writes it: the words, then each --option value in order."""
    line = ["az", *words]
    for name, value in options.items():
        line += [f"--{name.replace('_', '-')}", value]
    return line


def show_image(name: str, job: bool = False) -> list[str]:
    kind = ("containerapp", "job") if job else ("containerapp",)
    return az(*kind, "show", name=name, resource_group=RG, query=IMAGE_QUERY, output="tsv")


def show_fqdn() -> list[str]:
    query = "properties.configuration.ingress.fqdn"
    return az("containerapp", "show", name="altaviz-app", resource_group=RG, query=query, output="tsv")


def update(name: str, image: str) -> list[list[str]]:
    """`az containerapp update` and the look that waits for the new revision to be ready."""
    return [
        az("containerapp", "update", name=name, resource_group=RG, image=image, output="none"),
        az("containerapp", "show", name=name, resource_group=RG, query=REVISION_QUERY, output="tsv"),
    ]


def update_job(image: str) -> list[str]:
    job = "altaviz-migrate"
    return az("containerapp", "job", "update", name=job, resource_group=RG, image=image, output="none")


def migration(statuses: int) -> list[list[str]]:
    job = "altaviz-migrate"
    start = az("containerapp", "job", "start", name=job, resource_group=RG, query="name", output="tsv")
    show = az(
        *("containerapp", "job", "execution", "show"),
        name=job,
        resource_group=RG,
        job_execution_name="altaviz-migrate-exec1",
        query="properties.status",
        output="tsv",
    )
    return [start] + [show] * statuses


READS = [
    show_image("altaviz-app"),
    show_image("altaviz-pipeline"),
    show_image("altaviz-migrate", job=True),
    show_fqdn(),
]
SMOKE = ["altaviz", "smoke", URL]


@pytest.fixture
def cloud(tmp_path: Path) -> Cloud:
    return Cloud(tmp_path)


def test_a_deploy_migrates_then_moves_the_app_and_the_watcher_then_smokes(cloud: Cloud) -> None:
    done = cloud.run(DEPLOY, "staging", "2222222")

    assert done.returncode == 0, done.stdout + done.stderr
    assert cloud.calls == [
        *READS,
        update_job(NEW),
        *migration(statuses=2),  # Running, then Succeeded
        *update("altaviz-app", NEW),
        *update("altaviz-pipeline", NEW),
        SMOKE,
    ]
    assert cloud.state["images"] == {"altaviz-app": NEW, "altaviz-pipeline": NEW, "altaviz-migrate": NEW}
    assert f"deployed {NEW} to staging" in done.stdout


def test_a_failed_smoke_rolls_back_to_the_images_that_ran_before(cloud: Cloud) -> None:
    cloud.state["failing"] = [NEW]
    cloud.state["images"]["altaviz-pipeline"] = f"{REPO}:0000000"  # each goes back to its own image

    done = cloud.run(DEPLOY, "staging", "2222222")

    assert done.returncode == 1
    assert cloud.calls == [
        *READS,
        update_job(NEW),
        *migration(statuses=2),
        *update("altaviz-app", NEW),
        *update("altaviz-pipeline", NEW),
        SMOKE,  # fails on the new image
        *update("altaviz-app", OLD),
        *update("altaviz-pipeline", f"{REPO}:0000000"),
        update_job(OLD),
        SMOKE,  # passes on the old one
    ]
    assert cloud.state["images"] == {
        "altaviz-app": OLD,
        "altaviz-pipeline": f"{REPO}:0000000",
        "altaviz-migrate": OLD,
    }
    assert f"rolled back: staging runs {OLD} again and its smoke passed" in done.stderr


def test_a_revision_that_never_becomes_ready_is_rolled_back_without_a_smoke(cloud: Cloud) -> None:
    cloud.state["ready"] = [False, False, True, True, True]  # the new app revision: 2 looks, then timeout

    done = cloud.run(DEPLOY, "staging", "2222222", DEPLOY_TIMEOUT_SECONDS="1", DEPLOY_POLL_SECONDS="1")

    assert done.returncode == 1
    app_update, look = update("altaviz-app", NEW)
    assert cloud.calls == [
        *READS,
        update_job(NEW),
        *migration(statuses=2),
        app_update,
        look,
        look,
        *update("altaviz-app", OLD),
        *update("altaviz-pipeline", OLD),
        update_job(OLD),
        SMOKE,
    ]
    assert "was not ready after 1s" in done.stderr


def test_an_image_the_app_cannot_pull_is_rolled_back(cloud: Cloud) -> None:
    cloud.state["unpullable"] = [NEW]

    done = cloud.run(DEPLOY, "staging", "2222222")

    assert done.returncode == 1
    app_update, _ = update("altaviz-app", NEW)
    assert cloud.calls == [
        *READS,
        update_job(NEW),
        *migration(statuses=2),
        app_update,  # refused: no revision to wait for
        *update("altaviz-app", OLD),
        *update("altaviz-pipeline", OLD),
        update_job(OLD),
        SMOKE,
    ]
    assert cloud.state["images"]["altaviz-app"] == OLD


def test_a_failed_migration_leaves_the_app_and_watcher_alone(cloud: Cloud) -> None:
    cloud.state["migration"] = ["Running", "Failed"]

    done = cloud.run(DEPLOY, "staging", "2222222")

    assert done.returncode == 1
    assert cloud.calls == [*READS, update_job(NEW), *migration(statuses=2), update_job(OLD)]
    assert "migration execution altaviz-migrate-exec1 ended Failed" in done.stderr
    assert "az containerapp job logs show --name altaviz-migrate" in done.stderr
    assert cloud.state["images"] == {"altaviz-app": OLD, "altaviz-pipeline": OLD, "altaviz-migrate": OLD}


def test_a_migration_that_does_not_end_in_time_fails_the_deploy(cloud: Cloud) -> None:
    cloud.state["migration"] = ["Running", "Running", "Running"]

    done = cloud.run(DEPLOY, "staging", "2222222", DEPLOY_TIMEOUT_SECONDS="2", DEPLOY_POLL_SECONDS="1")

    assert done.returncode == 1
    assert cloud.calls == [*READS, update_job(NEW), *migration(statuses=3), update_job(OLD)]
    assert "still Running after 2s" in done.stderr


def test_a_failed_redeploy_of_the_running_image_says_there_is_nothing_older(cloud: Cloud) -> None:
    cloud.state["images"] = {"altaviz-app": NEW, "altaviz-pipeline": NEW, "altaviz-migrate": NEW}
    cloud.state["failing"] = [NEW]

    done = cloud.run(DEPLOY, "staging", "2222222")

    assert done.returncode == 1
    assert cloud.calls[-1] == SMOKE  # no rollback to the same image
    assert "no earlier image to return to; run deploy/rollback.sh staging <an earlier tag>" in done.stderr


def test_a_manual_rollback_moves_everything_to_the_tag_then_smokes(cloud: Cloud) -> None:
    cloud.state["images"] = {"altaviz-app": NEW, "altaviz-pipeline": NEW, "altaviz-migrate": NEW}

    done = cloud.run(ROLLBACK, "staging", "1111111")

    assert done.returncode == 0, done.stdout + done.stderr
    assert cloud.calls == [
        show_fqdn(),
        show_image("altaviz-app"),
        *update("altaviz-app", OLD),
        *update("altaviz-pipeline", OLD),
        update_job(OLD),
        SMOKE,
    ]
    assert cloud.state["images"] == {"altaviz-app": OLD, "altaviz-pipeline": OLD, "altaviz-migrate": OLD}


def test_a_manual_rollback_fails_when_its_smoke_fails(cloud: Cloud) -> None:
    cloud.state["failing"] = [OLD]

    done = cloud.run(ROLLBACK, "staging", "1111111")

    assert done.returncode == 1
    assert cloud.calls[-1] == SMOKE


def test_production_names_and_addresses_come_from_the_settings(cloud: Cloud) -> None:
    cloud.state["resource_group"] = "ops-prod"
    cloud.state["app"] = "web"
    cloud.state["images"] = {"web": OLD, "watch": OLD, "mig": OLD}
    cloud.state["revisions"] = {"web": "web--1", "watch": "watch--1"}
    cloud.state["failing"] = []

    done = cloud.run(
        DEPLOY,
        "production",
        "2222222",
        DEPLOY_IMAGE="",
        AZURE_CONTAINER_REGISTRY="acmeregistry",
        DEPLOY_RESOURCE_GROUP="ops-prod",
        DEPLOY_APP="web",
        DEPLOY_WATCHER="watch",
        DEPLOY_MIGRATE_JOB="mig",
        DEPLOY_URL="https://ops.example.com",
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert cloud.state["images"] == {
        name: "acmeregistry.azurecr.io/altaviz:2222222" for name in ("web", "watch", "mig")
    }
    assert cloud.calls[-1] == ["altaviz", "smoke", "https://ops.example.com"]
    assert not [call for call in cloud.calls if "ingress" in " ".join(call)]  # DEPLOY_URL: no look-up


@pytest.mark.parametrize(
    "args",
    [
        ("dev", "2222222"),  # not an environment
        ("staging", "-rf"),  # not a tag
        ("staging", "a;b"),
        ("staging",),
        ("--rollback", "production"),
        ("--publish", "x" * 129),
    ],
)
def test_bad_arguments_exit_2_before_any_call(cloud: Cloud, args: tuple[str, ...]) -> None:
    done = cloud.run(DEPLOY, *args)

    assert done.returncode == 2
    assert cloud.calls == []


def test_without_an_image_repository_it_says_what_to_set(cloud: Cloud) -> None:
    done = cloud.run(DEPLOY, "staging", "2222222", DEPLOY_IMAGE="")

    assert done.returncode == 2
    assert "set DEPLOY_IMAGE" in done.stderr


def test_publish_builds_and_pushes_a_tag_once(cloud: Cloud) -> None:
    done = cloud.run(DEPLOY, "--publish", "2222222", DEPLOY_IMAGE="", GITHUB_REPOSITORY_OWNER="Acme")

    assert done.returncode == 0, done.stdout + done.stderr
    assert cloud.calls == [
        ["docker", "manifest", "inspect", NEW],
        [
            "docker",
            "build",
            "--pull",
            "--label",
            "org.opencontainers.image.revision=2222222",
            "--tag",
            NEW,
            ".",
        ],
        ["docker", "push", NEW],
    ]

    again = cloud.run(DEPLOY, "--publish", "2222222", DEPLOY_IMAGE="", GITHUB_REPOSITORY_OWNER="Acme")

    assert again.returncode == 0
    assert cloud.calls[3:] == [["docker", "manifest", "inspect", NEW]]  # already there: not rebuilt
    assert "already in the registry" in again.stdout


def test_the_scripts_pass_shellcheck() -> None:
    shellcheck = Path(sys.executable).parent / "shellcheck"
    done = subprocess.run(
        [str(shellcheck), str(DEPLOY), str(ROLLBACK)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout
    assert os.access(DEPLOY, os.X_OK) and os.access(ROLLBACK, os.X_OK)
