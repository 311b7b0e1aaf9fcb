"""Bad input is refused before any work: each edit below goes through the real CLI and must
end with exit 2, one `error:` line naming the file and the key path, no traceback, and nothing
changed (version.txt, images, registry tags, containers, release history).

`inv release --env local --bump patch` is what a user runs, and the bump makes a version.txt
write visible; a few edits also go through `inv deploy` and the ECS environments' dry runs.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MotoServer, Project, free_port

pytestmark = [pytest.mark.docker, pytest.mark.registry]

BASE = "deploy/taskdef/base.json"
LOCAL = "deploy/taskdef/local.json"
STAGING = "deploy/taskdef/staging.json"
LOCAL_TOML = "deploy/environments/local.toml"
STAGING_TOML = "deploy/environments/staging.toml"
PRODUCTION_TOML = "deploy/environments/production.toml"
SHIPYARD_TOML = "deploy/shipyard.toml"
REGISTRY = "127.0.0.1:5000"

Edit = Callable[[Path], None]


# -- edits ------------------------------------------------------------------------------------
def json_edit(rel: str, change: Callable[[dict[str, Any]], None]) -> Edit:
    def apply(root: Path) -> None:
        path = root / rel
        doc = json.loads(path.read_text())
        change(doc)
        path.write_text(json.dumps(doc, indent=2) + "\n")

    return apply


def text_edit(rel: str, pattern: str, replacement: str) -> Edit:
    def apply(root: Path) -> None:
        path = root / rel
        text, count = re.subn(pattern, replacement, path.read_text(), count=1, flags=re.M)
        assert count == 1, f"{pattern!r} not in {rel}"
        path.write_text(text)

    return apply


def append(rel: str, toml: str) -> Edit:
    def apply(root: Path) -> None:
        path = root / rel
        path.write_text(path.read_text() + "\n" + toml + "\n")

    return apply


def write(rel: str, text: str) -> Edit:
    def apply(root: Path) -> None:
        (root / rel).write_text(text)

    return apply


def container(doc: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in doc["containerDefinitions"] if c["name"] == name)
    return found


def app(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    return lambda doc: change(container(doc, "gamepulse"))


def sidecar(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    return lambda doc: change(container(doc, "otel-collector"))


def set_in(*path: str | int, value: Any) -> Callable[[Any], None]:
    def change(node: Any) -> None:
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


@dataclass(frozen=True)
class Case:
    id: str
    edit: Edit
    file: str  # the file the error line must name
    key: str  # the key path (or location) it must name


LOCAL_CASES = [
    Case(
        "taskdef-container-unknown",
        append(LOCAL_TOML, '[taskdef]\ncontainer = "web"'),
        LOCAL_TOML,
        "taskdef.container",
    ),
    Case(
        "container-port-a-name",
        json_edit(BASE, app(set_in("portMappings", 0, "containerPort", value="http"))),
        BASE,
        "containerDefinitions[gamepulse].portMappings[0].containerPort",
    ),
    Case(
        "container-without-name",
        json_edit(LOCAL, lambda d: d["containerDefinitions"].append({"image": "busybox:1.36"})),
        LOCAL,
        "containerDefinitions[1].name",
    ),
    Case(
        "health-interval-negative",
        json_edit(LOCAL, app(set_in("healthCheck", "interval", value=-1))),
        LOCAL,
        "containerDefinitions[gamepulse].healthCheck.interval",
    ),
    Case(
        "sidecar-image-without-tag",
        json_edit(BASE, sidecar(set_in("image", value="public.ecr.aws/aws-otel-collector"))),
        BASE,
        "containerDefinitions[otel-collector].image",
    ),
    Case(
        "proxy-port-a-string",
        text_edit(LOCAL_TOML, r"^proxy_port = \d+", 'proxy_port = "8080"'),
        LOCAL_TOML,
        "target.proxy_port",
    ),
    Case(
        "proxy-bind-a-host-name",
        text_edit(LOCAL_TOML, r"^proxy_bind = .*$", 'proxy_bind = "localhost"'),
        LOCAL_TOML,
        "target.proxy_bind",
    ),
    Case(
        "container-name-twice",
        json_edit(BASE, sidecar(set_in("name", value="gamepulse"))),
        BASE,
        "containerDefinitions[1].name",
    ),
    Case(
        "host-port-out-of-range",
        json_edit(BASE, app(set_in("portMappings", 0, "hostPort", value=70000))),
        BASE,
        "containerDefinitions[gamepulse].portMappings[0].hostPort",
    ),
    Case(
        "health-command-empty",
        json_edit(LOCAL, app(set_in("healthCheck", "command", value=[]))),
        LOCAL,
        "containerDefinitions[gamepulse].healthCheck.command",
    ),
    Case(
        "health-timeout-a-string",
        json_edit(LOCAL, app(set_in("healthCheck", "timeout", value="2"))),
        LOCAL,
        "containerDefinitions[gamepulse].healthCheck.timeout",
    ),
    Case(
        "depends-on-no-such-container",
        json_edit(BASE, app(set_in("dependsOn", 0, "containerName", value="otel"))),
        BASE,
        "containerDefinitions[gamepulse].dependsOn[0].containerName",
    ),
    Case(
        "depends-on-unknown-condition",
        json_edit(BASE, app(set_in("dependsOn", 0, "condition", value="READY"))),
        BASE,
        "containerDefinitions[gamepulse].dependsOn[0].condition",
    ),
    Case(
        "depends-on-cycle",
        json_edit(
            BASE,
            sidecar(
                set_in("dependsOn", value=[{"containerName": "gamepulse", "condition": "START"}])
            ),
        ),
        BASE,
        "containerDefinitions[otel-collector].dependsOn",
    ),
    Case(
        "secret-reference-syntax",
        json_edit(LOCAL, app(set_in("secrets", 0, "valueFrom", value="vault:db-password"))),
        LOCAL,
        "containerDefinitions[gamepulse].secrets[0].valueFrom",
    ),
    Case(
        "secret-env-variable-unset",
        json_edit(LOCAL, app(set_in("secrets", 0, "valueFrom", value="env:SHIPYARD_NEVER_SET"))),
        LOCAL,
        "containerDefinitions[gamepulse].secrets[0].valueFrom",
    ),
    Case(
        "environment-value-a-number",
        json_edit(BASE, app(lambda c: c["environment"].append({"name": "PORT", "value": 8080}))),
        BASE,
        "containerDefinitions[gamepulse].environment[2].value",
    ),
    Case(
        "mount-of-undeclared-volume",
        json_edit(BASE, app(set_in("mountPoints", 0, "sourceVolume", value="cache"))),
        BASE,
        "containerDefinitions[gamepulse].mountPoints[0].sourceVolume",
    ),
    Case(
        "essential-a-string",
        json_edit(LOCAL, app(set_in("essential", value="yes"))),
        LOCAL,
        "containerDefinitions[gamepulse].essential",
    ),
    Case(
        "stop-timeout-a-string",
        json_edit(LOCAL, app(set_in("stopTimeout", value="2"))),
        LOCAL,
        "containerDefinitions[gamepulse].stopTimeout",
    ),
    Case(
        "port-protocol-unknown",
        json_edit(BASE, sidecar(set_in("portMappings", 0, "protocol", value="sctp"))),
        BASE,
        "containerDefinitions[otel-collector].portMappings[0].protocol",
    ),
    Case(
        "unknown-placeholder",
        json_edit(BASE, app(set_in("environment", 0, "value", value="{{cluster}}"))),
        BASE,
        "containerDefinitions[gamepulse].environment[0].value",
    ),
    Case(
        "container-definitions-not-a-list",
        json_edit(LOCAL, set_in("containerDefinitions", value={"name": "gamepulse"})),
        LOCAL,
        "containerDefinitions",
    ),
    Case("overlay-not-json", write(LOCAL, '{ "containerDefinitions": [\n'), LOCAL, "line 2"),
    Case(
        "overlay-file-missing",
        append(LOCAL_TOML, '[taskdef]\noverlay = "deploy/taskdef/nope.json"'),
        LOCAL_TOML,
        "taskdef.overlay",
    ),
    Case(
        "config-key-misspelt",
        text_edit(LOCAL_TOML, r"^proxy_port =", "proxy_prot ="),
        LOCAL_TOML,
        "target.proxy_prot",
    ),
    Case(
        "bake-seconds-a-string",
        text_edit(LOCAL_TOML, r"^bake_seconds = \d+", 'bake_seconds = "5"'),
        LOCAL_TOML,
        "target.bake_seconds",
    ),
    Case(
        "registry-tls-a-string",
        text_edit(LOCAL_TOML, r'^kind = "oci"', 'kind = "oci"\ntls = "false"'),
        LOCAL_TOML,
        "registry.tls",
    ),
    Case(
        "network-name-with-a-space",
        text_edit(LOCAL_TOML, r'^kind = "local"', 'kind = "local"\nnetwork = "my net"'),
        LOCAL_TOML,
        "target.network",
    ),
    Case(
        "registry-password-file-missing",
        text_edit(LOCAL_TOML, r"/var/lib/shipyard/registry/password", "/nonexistent/password"),
        LOCAL_TOML,
        "registry.password",
    ),
    Case(
        "build-context-missing",
        text_edit(SHIPYARD_TOML, r'^context = "app"', 'context = "application"'),
        SHIPYARD_TOML,
        "image.context",
    ),
    Case(
        "verify-url-without-scheme",
        text_edit(SHIPYARD_TOML, r"^\[verify\]", '[verify]\nurl = "localhost:8080"'),
        SHIPYARD_TOML,
        "verify.url",
    ),
]
BY_ID = {case.id: case for case in LOCAL_CASES}
DEPLOY_CASES = [
    BY_ID[name]
    for name in ("container-port-a-name", "health-interval-negative", "proxy-bind-a-host-name")
]
ECS_CASES = [
    (
        "staging",
        Case(
            "ecs-health-interval-below-ecs-limit",
            json_edit(
                STAGING,
                set_in(
                    "containerDefinitions",
                    value=[{"name": "gamepulse", "healthCheck": {"interval": 1}}],
                ),
            ),
            STAGING,
            "containerDefinitions[gamepulse].healthCheck.interval",
        ),
    ),
    (
        "staging",
        Case(
            "ecs-secret-a-local-file",
            json_edit(
                STAGING,
                set_in(
                    "containerDefinitions",
                    value=[
                        {
                            "name": "gamepulse",
                            "secrets": [{"name": "DB_PASSWORD", "valueFrom": "file:db-password"}],
                        }
                    ],
                ),
            ),
            STAGING,
            "containerDefinitions[gamepulse].secrets[0].valueFrom",
        ),
    ),
    (
        "staging",
        Case(
            "ecs-service-container-unknown",
            text_edit(
                STAGING_TOML,
                r"^services = .*$",
                'services = [{ name = "gamepulse-staging", container = "web" }]',
            ),
            STAGING_TOML,
            "target.services[0].container",
        ),
    ),
    (
        "production",
        Case(
            "bluegreen-port-not-mapped",
            text_edit(PRODUCTION_TOML, r"container_port = 8080", "container_port = 9090"),
            PRODUCTION_TOML,
            "target.services[0].container_port",
        ),
    ),
]


# -- what must not change ---------------------------------------------------------------------
@pytest.fixture
def bad(project: Project) -> Project:
    """The project with its own free proxy port, so no other nginx on 8080 gets in the way."""
    text_edit(LOCAL_TOML, r"^proxy_port = \d+", f"proxy_port = {free_port()}")(project.path)
    return project


def registry_tags(repository: str, password: str) -> list[str]:
    auth = base64.b64encode(f"shipyard:{password}".encode()).decode()
    request = urllib.request.Request(
        f"http://{REGISTRY}/v2/{repository}/tags/list", headers={"Authorization": f"Basic {auth}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return list(json.load(response).get("tags") or [])
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return []
        raise


def docker_lines(*argv: str) -> list[str]:
    out = subprocess.run(["docker", *argv], capture_output=True, text=True, check=True).stdout
    return out.split()


def assert_refused(
    project: Project,
    proc: subprocess.CompletedProcess[str],
    case: Case,
    *,
    version_before: bytes,
    password: str,
) -> None:
    shown = f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == 2, shown
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, shown
    assert case.file in errors[0], errors[0]
    assert case.key in errors[0], errors[0]
    assert "Traceback" not in proc.stderr + proc.stdout, shown
    assert (project.path / "version.txt").read_bytes() == version_before
    assert not (project.path / ".shipyard" / "local" / "history.json").exists()
    images = docker_lines("image", "ls", "--format", "{{.Repository}}")
    assert [i for i in images if i.rsplit("/", 1)[-1] == project.repository] == []
    names = docker_lines("ps", "-a", "--format", "{{.Names}}")
    assert [n for n in names if project.repository in n] == []
    assert registry_tags(project.repository, password) == []


def refused(
    project: Project, case: Case, password: str, *argv: str, env: dict[str, str] | None = None
) -> None:
    case.edit(project.path)
    before = (project.path / "version.txt").read_bytes()
    started = time.monotonic()
    proc = project.inv(*argv, timeout=60, extra_env=env)
    took = time.monotonic() - started
    assert_refused(project, proc, case, version_before=before, password=password)
    assert took < 10, f"refused only after {took:.1f}s: the check runs too late"


# -- the runs ---------------------------------------------------------------------------------
@pytest.mark.parametrize("case", LOCAL_CASES, ids=lambda c: c.id)
def test_release_refuses_bad_input_before_any_work(
    bad: Project, registry_password: str, case: Case
) -> None:
    refused(bad, case, registry_password, "release", "--env", "local", "--bump", "patch")


@pytest.mark.parametrize("case", DEPLOY_CASES, ids=lambda c: c.id)
def test_deploy_refuses_bad_input_before_any_work(
    bad: Project, registry_password: str, case: Case
) -> None:
    refused(bad, case, registry_password, "deploy", "--env", "local", "--version", "0.1.0")


@pytest.mark.parametrize(("env", "case"), ECS_CASES, ids=lambda c: getattr(c, "id", c))
def test_ecs_dry_runs_refuse_bad_input(
    bad: Project, registry_password: str, aws: MotoServer, env: str, case: Case
) -> None:
    argv = ("release", "--env", env, "--bump", "patch", "--dry-run")
    refused(bad, case, registry_password, *argv, env=aws.env())


def test_the_unedited_project_passes_the_checks(bad: Project) -> None:
    """The control: the edits above are what is refused, not the project as shipped."""
    proc = bad.inv("release", "--env", "local", "--bump", "patch", "--dry-run", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "error:" not in proc.stderr
