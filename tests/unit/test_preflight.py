"""Pre-flight (pure parts): the task definition rules, where a problem is attributed, the
shipped environments passing without Docker or AWS, and strict config values."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from shipyard.config import load_config
from shipyard.console import Console
from shipyard.context import Context
from shipyard.errors import ConfigError
from shipyard.preflight import check_environment, locate
from shipyard.taskdef_rules import CD, Problem, Ref, check, image_is_pinned
from tests.conftest import REPO, free_port


def _doc() -> dict[str, Any]:
    return {
        "family": "gamepulse-staging",
        "networkMode": "awsvpc",
        CD: [
            {
                "name": "app",
                "image": "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/app@sha256:" + "a" * 64,
                "portMappings": [{"containerPort": 8080}],
                "healthCheck": {"command": ["CMD", "true"], "interval": 5, "timeout": 2},
                "secrets": [{"name": "DB", "valueFrom": "/gamepulse/db"}],
                "dependsOn": [{"containerName": "side", "condition": "START"}],
            },
            {"name": "side", "image": "busybox:1.36@sha256:" + "b" * 64, "essential": False},
        ],
    }


def _problem(doc: dict[str, Any], *, ecs: bool = True) -> Problem:
    with pytest.raises(Problem) as caught:
        check(doc, app="app", ecs=ecs)
    return caught.value


def test_a_valid_definition_passes_for_ecs_and_locally() -> None:
    check(_doc(), app="app", ecs=True)
    local = _doc()
    local[CD][0]["secrets"] = [{"name": "DB", "valueFrom": "env:DB_PASSWORD"}]
    check(local, app="app", ecs=False)


def test_health_limits_are_ecs_ones_only_for_ecs() -> None:
    doc = _doc()
    doc[CD][0]["healthCheck"]["interval"] = 1
    check(doc, app="app", ecs=False)  # Docker takes 1 s
    problem = _problem(doc)
    assert problem.path == (CD, Ref(0, "app"), "healthCheck", "interval")
    assert "5..300" in problem.what


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("busybox:1.36", True),
        ("127.0.0.1:5000/app@sha256:" + "0" * 64, True),
        ("ghcr.io/org/app:v1.2.3", True),
        ("127.0.0.1:5000/app", False),
        ("busybox", False),
        ("Busybox:1", None),
        ("bad image:1", None),
    ],
)
def test_images_need_a_tag_or_digest(image: str, pinned: bool | None) -> None:
    assert image_is_pinned(image) is pinned


@pytest.mark.parametrize("ecs", [True, False])
def test_an_image_that_is_not_the_apps_is_pinned_by_digest(ecs: bool) -> None:
    doc = _doc()
    doc[CD][1]["image"] = "busybox:1.36"  # a tag its publisher can move
    problem = _problem(doc, ecs=ecs)
    assert problem.path == (CD, Ref(1, "side"), "image")
    assert "not pinned by digest" in problem.what
    assert "imagetools inspect" in (problem.hint or "")


def test_ecs_secrets_are_arns_or_parameter_names() -> None:
    doc = _doc()
    doc[CD][0]["secrets"][0]["valueFrom"] = "env:DB_PASSWORD"
    assert _problem(doc).path[-1] == "valueFrom"
    doc[CD][0]["secrets"][0]["valueFrom"] = (
        "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:db"
    )
    check(doc, app="app", ecs=True)


def test_awsvpc_host_ports_equal_the_container_port() -> None:
    doc = _doc()
    doc[CD][0]["portMappings"][0]["hostPort"] = 80
    assert _problem(doc).path == (CD, Ref(0, "app"), "portMappings", 0, "hostPort")


def test_healthy_dependencies_need_a_health_check() -> None:
    doc = _doc()
    doc[CD][0]["dependsOn"][0]["condition"] = "HEALTHY"
    assert "healthCheck" in _problem(doc).what


def test_a_problem_is_named_in_the_file_whose_value_the_rendering_kept() -> None:
    base = _doc()
    overlay = {CD: [{"name": "app", "healthCheck": {"interval": 1}}, {"image": "x:1"}]}
    sources = [("base.json", base), ("local.json", overlay)]
    path = (CD, Ref(0, "app"), "healthCheck", "interval")
    assert locate(sources, path) == ("local.json", "containerDefinitions[app].healthCheck.interval")
    timeout = (CD, Ref(0, "app"), "healthCheck", "timeout")
    assert locate(sources, timeout)[0] == "base.json"
    unnamed = (CD, Ref(2, None), "name")
    assert locate(sources, unnamed) == ("local.json", "containerDefinitions[1].name")
    twice = copy.deepcopy(base)
    twice[CD][1]["name"] = "app"
    dup = (CD, Ref(1, "app", duplicate=True), "name")
    assert locate([("base.json", twice), ("local.json", overlay)], dup) == (
        "base.json",
        "containerDefinitions[1].name",
    )


def _ctx(root: Path, env: str, **overrides: Any) -> Context:
    config = load_config(env, root=root, environ={}, overrides=overrides)
    return Context(config=config, root=root, console=Console(quiet=True), environ={})


@pytest.fixture
def root(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "deploy", tmp_path / "deploy")
    shutil.copytree(REPO / "app", tmp_path / "app")
    (tmp_path / "version.txt").write_text("0.1.0\n")
    return tmp_path


@pytest.mark.parametrize("env", ["local", "staging", "production"])
def test_the_shipped_environments_pass_without_docker_or_aws(
    root: Path, env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # any AWS call would fail: pre-flight must not make one (no STS for the account id)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "none")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "none")
    overrides = {"target.proxy_port": free_port()} if env == "local" else {}
    password = root / "password"
    password.write_text("preflight-test-password\n")  # resolved, so masked: not a word
    if env == "local":
        overrides["registry.password"] = {"file": str(password)}
    check_environment(_ctx(root, env, **overrides))
    assert not (root / ".shipyard").exists()


def test_a_service_overlay_is_checked_with_its_service(root: Path) -> None:
    (root / "deploy/taskdef/extra.json").write_text(
        json.dumps({CD: [{"name": "gamepulse", "stopTimeout": 500}]})
    )
    services = [{"name": "gamepulse-staging", "taskdef_overlay": "deploy/taskdef/extra.json"}]
    with pytest.raises(ConfigError) as caught:
        check_environment(_ctx(root, "staging", **{"target.services": services}))
    assert caught.value.message.startswith(
        "deploy/taskdef/extra.json: containerDefinitions[gamepulse].stopTimeout: "
    )


def test_numbers_are_taken_as_written(root: Path) -> None:
    toml = root / "deploy/environments/local.toml"
    text = toml.read_text()
    toml.write_text(text.replace("bake_seconds = 5 ", "bake_seconds = 5.5 "))
    assert load_config("local", root=root, environ={}).target.bake_seconds == 5.5
    toml.write_text(text)
    assert load_config("local", root=root, environ={}).target.bake_seconds == 5.0
    toml.write_text(text.replace("keep_releases = 3 ", 'keep_releases = "3" '))
    with pytest.raises(
        ConfigError, match=r"target\.keep_releases: input should be a valid integer"
    ):
        load_config("local", root=root, environ={})
