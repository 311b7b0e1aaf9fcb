"""CodeDeploy hooks are optional and come from config only; the deployment group settings that
setup-cicd creates a group from are validated when the config is loaded."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from shipyard.adapters.codedeploy_setup import GroupSpec, group_request
from shipyard.config import validate
from shipyard.config.loader import load_config
from shipyard.config.targets import CodeDeployConfig
from shipyard.context import Context
from shipyard.errors import ConfigError
from shipyard.targets.ecs_bluegreen import EcsBlueGreenTarget
from tests.conftest import REPO

ACCOUNT = "123456789012"
LISTENER = f"arn:aws:elasticloadbalancing:ap-northeast-2:{ACCOUNT}:listener/app/gp/0123/4567"


def target(root: Path = REPO, **overrides: Any) -> EcsBlueGreenTarget:
    settings = {"aws.account_id": ACCOUNT, **overrides}
    config = load_config("production", root=root, overrides=settings, environ={})
    return EcsBlueGreenTarget(Context(config=config, root=root, environ={}))


def test_the_committed_appspec_template_names_no_hooks() -> None:
    bg = target()
    spec = bg.appspec(bg.cfg.services[0], "arn:td:8")
    assert "Hooks" not in spec
    assert spec["Resources"][0]["TargetService"]["Properties"]["PlatformVersion"] == "LATEST"


def test_configured_hooks_are_used_in_lifecycle_order() -> None:
    hooks = {"AfterAllowTraffic": "gp-smoke", "BeforeAllowTraffic": "gp-gate"}
    bg = target(**{"target.codedeploy.hooks": hooks})
    spec = bg.appspec(bg.cfg.services[0], "arn:td:8")
    assert spec["Hooks"] == [{"BeforeAllowTraffic": "gp-gate"}, {"AfterAllowTraffic": "gp-smoke"}]


def test_a_template_with_hooks_is_refused_with_the_config_to_write(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    shutil.copytree(REPO / "deploy", root / "deploy")
    appspec = root / "deploy" / "codedeploy" / "appspec.json"
    appspec.write_text(
        appspec.read_text().replace(
            "  ]\n}", '  ],\n  "Hooks": [{ "BeforeInstall": "{{project}}-check" }]\n}'
        )
    )
    bg = target(root)
    with pytest.raises(ConfigError) as err:
        bg.appspec(bg.cfg.services[0], "arn:td:8")
    assert err.value.one_line() == (
        "deploy/codedeploy/appspec.json: Hooks are not read from the AppSpec template (remove "
        "them there; to keep them set [target.codedeploy] hooks = { BeforeInstall = "
        '"gamepulse-check" } in deploy/environments/production.toml)'
    )


def codedeploy(**settings: Any) -> CodeDeployConfig:
    """A [target.codedeploy] table validated as a config file's is."""
    return validate.section(CodeDeployConfig, settings)


def test_codedeploy_settings_are_validated() -> None:
    base = {"application": "gamepulse", "deployment_group": "gamepulse-production"}
    with pytest.raises(ValidationError, match="not a Lambda function name or ARN"):
        codedeploy(**base, hooks={"BeforeInstall": "no spaces allowed"})
    arn = LISTENER.replace("listener/app/gp/0123/4567", "targetgroup/gp-blue/73e2d6bc24d8a067")
    cd = codedeploy(**base, target_groups=[arn, "gp-green"], prod_listener_arn=LISTENER)
    assert cd.target_groups == ["gp-blue", "gp-green"]
    with pytest.raises(ValidationError, match="must differ"):
        codedeploy(**base, target_groups=["gp-blue", "gp-blue"])
    with pytest.raises(ValidationError, match="at least 2"):
        codedeploy(**base, target_groups=["gp-blue"])
    with pytest.raises(ValidationError, match="prod_listener_arn"):
        codedeploy(**base, prod_listener_arn="arn:aws:elasticloadbalancing:x:listener/y")


def test_the_deployment_group_request_is_blue_green_with_rollback_and_alarms() -> None:
    spec = GroupSpec(
        application="gamepulse",
        name="gamepulse-production",
        cluster="gamepulse-cluster",
        service="gamepulse-production",
        service_role_arn=f"arn:aws:iam::{ACCOUNT}:role/gamepulse-codedeploy",
        target_groups=("gp-blue", "gp-green"),
        prod_listener_arn=LISTENER,
        test_listener_arn=LISTENER + "9",
        alarms=("gamepulse-production-5xx",),
    )
    request = group_request(spec)
    assert request["deploymentStyle"] == {
        "deploymentType": "BLUE_GREEN",
        "deploymentOption": "WITH_TRAFFIC_CONTROL",
    }
    assert request["loadBalancerInfo"] == {
        "targetGroupPairInfoList": [
            {
                "targetGroups": [{"name": "gp-blue"}, {"name": "gp-green"}],
                "prodTrafficRoute": {"listenerArns": [LISTENER]},
                "testTrafficRoute": {"listenerArns": [LISTENER + "9"]},
            }
        ]
    }
    assert request["autoRollbackConfiguration"] == {
        "enabled": True,
        "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"],
    }
    assert request["alarmConfiguration"] == {
        "enabled": True,
        "alarms": [{"name": "gamepulse-production-5xx"}],
    }
    terminate = request["blueGreenDeploymentConfiguration"][
        "terminateBlueInstancesOnDeploymentSuccess"
    ]
    assert terminate == {"action": "TERMINATE", "terminationWaitTimeInMinutes": 5}
