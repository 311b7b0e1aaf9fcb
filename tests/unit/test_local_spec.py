"""Task definition -> Docker containers (pure)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipyard.config.base import SecretRef
from shipyard.errors import ConfigError
from shipyard.taskdef import render
from shipyard.taskdef_local import dependency_order, health_command, secret_ref, to_local
from tests.support.hypothesis_policy import PROPERTY

REPO = Path(__file__).resolve().parents[2]


def _rendered() -> dict[str, Any]:
    return render(
        REPO,
        base="deploy/taskdef/base.json",
        overlays=["deploy/taskdef/local.json"],
        container="gamepulse",
        image="127.0.0.1:5000/gamepulse@sha256:abc",
        variables={
            "environment": "local",
            "region": "ap-northeast-2",
            "account_id": "000000000000",
            "version": "",
            "service": "s",
        },
    ).document


def test_the_local_overlay_maps_onto_docker() -> None:
    task = to_local(_rendered(), stack="gp-local")
    assert [c.name for c in task.containers] == ["otel-collector", "gamepulse"]  # dependsOn order
    app = task.container("gamepulse")
    assert app.image == "127.0.0.1:5000/gamepulse@sha256:abc"
    assert app.essential
    assert not task.container("otel-collector").essential
    assert app.ports == (8080,)
    assert app.health is not None
    assert app.health.command == "/bin/wget -q -O /dev/null http://127.0.0.1:8080/health"
    assert (
        app.health.interval,
        app.health.timeout,
        app.health.retries,
        app.health.start_period,
    ) == (1, 2, 2, 1)
    assert app.secrets == (("DB_PASSWORD", SecretRef(file=".shipyard/local/secrets/db-password")),)
    assert ("ENVIRONMENT", "local") in app.environment
    assert app.depends_on == (("otel-collector", "START"),)
    assert app.mounts[0].volume == "gp-local-gamepulse-data"
    assert app.init
    assert app.stop_timeout == 2
    # what Docker cannot honour is named, never dropped silently
    for field in (
        "cpu",
        "memory",
        "executionRoleArn",
        "taskRoleArn",
        "containerDefinitions[gamepulse].logConfiguration",
        "containerDefinitions[otel-collector].logConfiguration",
    ):
        assert field in task.ignored
    assert any("efsVolumeConfiguration" in s for s in task.substituted)
    assert any("awsvpc" in s for s in task.substituted)


def test_base_secrets_manager_reference_is_kept_as_such() -> None:
    base = json.loads((REPO / "deploy/taskdef/base.json").read_text())
    base = json.loads(
        json.dumps(base)
        .replace("{{region}}", "r")
        .replace("{{account_id}}", "1")
        .replace("{{environment}}", "e")
    )
    task = to_local(base, stack="s")
    ((name, ref),) = task.container("gamepulse").secrets
    assert name == "DB_PASSWORD"
    assert ref.secretsmanager
    assert ref.secretsmanager.startswith("arn:aws:secretsmanager:")


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("env:DB", "env"),
        ("file:x/y", "file"),
        ("/gp/db", "ssm"),
        ("arn:aws:ssm:r:1:parameter/gp", "ssm"),
        ("arn:aws:secretsmanager:r:1:secret:gp", "secretsmanager"),
    ],
)
def test_secret_references(value: str, kind: str) -> None:
    assert getattr(secret_ref(value, where="w"), kind)


def test_a_plain_value_is_not_a_secret_reference() -> None:
    with pytest.raises(ConfigError, match="not a secret reference"):
        secret_ref("hunter2", where="containerDefinitions[a].secrets[X]")


def test_health_command_forms() -> None:
    assert (
        health_command(["CMD-SHELL", "curl -f localhost || exit 1"], where="w")
        == "curl -f localhost || exit 1"
    )
    assert health_command(["CMD", "/bin/sh", "-c", "a b"], where="w") == "/bin/sh -c 'a b'"


def test_dependency_cycles_and_unknown_names_are_config_errors() -> None:
    a = {"name": "a", "dependsOn": [{"containerName": "b", "condition": "START"}]}
    b = {"name": "b", "dependsOn": [{"containerName": "a", "condition": "START"}]}
    with pytest.raises(ConfigError, match="cycle"):
        dependency_order([a, b])
    with pytest.raises(ConfigError, match="not a container"):
        dependency_order([{"name": "a", "dependsOn": [{"containerName": "zz"}]}])


@PROPERTY
@given(st.data())
def test_dependency_order_puts_dependencies_first(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 7))
    containers = []
    for i in range(n):
        deps = data.draw(st.lists(st.integers(0, i - 1), unique=True, max_size=i)) if i else []
        containers.append(
            {"name": f"c{i}", "dependsOn": [{"containerName": f"c{d}"} for d in deps]}
        )
    shuffled = data.draw(st.permutations(containers))
    order = [c["name"] for c in dependency_order(list(shuffled))]
    assert sorted(order) == sorted(c["name"] for c in containers)
    for c in containers:
        for dep in c["dependsOn"]:
            assert order.index(dep["containerName"]) < order.index(c["name"])
