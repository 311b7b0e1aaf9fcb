"""Pure parts of the ECS targets: task-definition rendering per environment, AppSpec and
configuration rules, ECR references, the diff's treatment of ECS defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shipyard.adapters.codedeploy import appspec, hook_order
from shipyard.adapters.ecs import family_of, parse_ecr_image, revision_of, short_arn
from shipyard.config import validate
from shipyard.config.targets import ECS_HOOKS, CodeDeployConfig
from shipyard.targets.ecs import without_defaults
from shipyard.taskdef import render
from tests.support.hypothesis_policy import PROPERTY

REPO = Path(__file__).resolve().parents[2]
IMAGE = "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/gamepulse@sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("env", "cpu", "memory"), [("staging", "512", "1024"), ("production", "1024", "2048")]
)
def test_environment_overlays_follow_the_gamepulse_plan(env: str, cpu: str, memory: str) -> None:
    doc = render(
        REPO,
        base="deploy/taskdef/base.json",
        overlays=[f"deploy/taskdef/{env}.json"],
        container="gamepulse",
        image=IMAGE,
        variables={
            "environment": env,
            "region": "ap-northeast-2",
            "account_id": "123456789012",
            "version": "1.0.0",
            "service": "gamepulse",
        },
    ).document
    assert (doc["cpu"], doc["memory"]) == (cpu, memory)
    app = next(c for c in doc["containerDefinitions"] if c["name"] == "gamepulse")
    assert app["image"] == IMAGE
    assert app["logConfiguration"]["options"]["awslogs-group"] == f"/ecs/gamepulse-{env}"
    assert app["secrets"][0]["valueFrom"].startswith("arn:aws:secretsmanager:")
    assert "healthCheck" in app
    assert app["mountPoints"][0]["sourceVolume"] == doc["volumes"][0]["name"]
    assert "efsVolumeConfiguration" in doc["volumes"][0]
    assert any(c["name"] == "otel-collector" for c in doc["containerDefinitions"])


def test_appspec_has_the_ecs_hooks_in_lifecycle_order() -> None:
    hooks = {"AfterAllowTraffic": "f5", "BeforeInstall": "f1", "BeforeAllowTraffic": "f4"}
    spec = appspec("arn:td:3", "gamepulse", 8080, hook_order(hooks, ECS_HOOKS))
    assert [next(iter(h)) for h in spec["Hooks"]] == [
        "BeforeInstall",
        "BeforeAllowTraffic",
        "AfterAllowTraffic",
    ]
    props = spec["Resources"][0]["TargetService"]["Properties"]
    assert props == {
        "TaskDefinition": "arn:td:3",
        "LoadBalancerInfo": {"ContainerName": "gamepulse", "ContainerPort": 8080},
    }


def test_codedeploy_config_rejects_ec2_hooks_and_unknown_ecs_configs() -> None:
    base = {"application": "a", "deployment_group": "g"}
    with pytest.raises(ValidationError, match="ApplicationStart"):
        validate.section(CodeDeployConfig, {**base, "hooks": {"ApplicationStart": "fn"}})
    with pytest.raises(ValidationError, match="not an ECS deployment config"):
        validate.section(
            CodeDeployConfig, {**base, "deployment_config": "CodeDeployDefault.AllAtOnce"}
        )
    short = validate.section(
        CodeDeployConfig, {**base, "deployment_config": "ECSLinear10PercentEvery1Minutes"}
    )
    assert short.deployment_config == "CodeDeployDefault.ECSLinear10PercentEvery1Minutes"


def test_ecr_references() -> None:
    assert parse_ecr_image(IMAGE) == ("123456789012", "gamepulse", "ap-northeast-2")
    assert parse_ecr_image("127.0.0.1:5000/team/app:1.0") == (None, "team/app", None)
    arn = "arn:aws:ecs:ap-northeast-2:123456789012:task-definition/gamepulse-staging:12"
    assert (family_of(arn), revision_of(arn), short_arn(arn)) == (
        "gamepulse-staging",
        12,
        "gamepulse-staging:12",
    )


@PROPERTY
@given(st.integers(min_value=1, max_value=65535), st.booleans())
def test_ecs_filled_defaults_are_not_changes(port: int, essential_given: bool) -> None:
    desired = {
        "containerDefinitions": [
            {
                "name": "app",
                "portMappings": [{"containerPort": port}],
                **({"essential": True} if essential_given else {}),
            }
        ]
    }
    live = {
        "containerDefinitions": [
            {
                "name": "app",
                "cpu": 0,
                "essential": True,
                "portMappings": [{"containerPort": port, "hostPort": port, "protocol": "tcp"}],
            }
        ]
    }
    assert without_defaults(live, desired) == {
        "containerDefinitions": [
            {
                "name": "app",
                **({"essential": True} if essential_given else {}),
                "portMappings": [{"containerPort": port}],
            }
        ]
    }
    live["containerDefinitions"][0]["cpu"] = 256  # a real value is kept
    assert without_defaults(live, desired)["containerDefinitions"][0]["cpu"] == 256
