"""inv setup-cicd against moto server, through the CLI: one role per AWS environment, the
CodeDeploy application and deployment group, hook functions checked; updates, dry run, bad
input and scripts/setup-cicd.sh."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from tests.conftest import REPO, MotoServer, Project
from tests.support.setup_cicd import (
    ACCOUNT,
    CODEDEPLOY_ROLE,
    HOOKS,
    LISTENER,
    LOAD_BALANCER,
    REGION,
    REPO_SLUG,
    SUB,
    client,
    codedeploy_config,
    ecs_service,
    lambda_function,
    role,
    setup,
)


def policy_arn(env: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:policy/gamepulse-{env}-deploy"


def changes(proc: Any, code: int = 0) -> dict[tuple[str, str], str]:
    assert proc.returncode == code, proc.stdout + proc.stderr
    return {
        (c["environment"], c["resource"]): c["change"] for c in json.loads(proc.stdout)["changes"]
    }


def test_setup_creates_a_role_per_environment_then_changes_nothing(
    project: Project, aws: MotoServer
) -> None:
    codedeploy_config(project, LOAD_BALANCER)
    ecs_service(aws, "production")

    proc = setup(project, aws, "--json")

    first = changes(proc)
    assert first == {
        ("", "OIDC provider"): "create",
        ("production", "role"): "create",
        ("production", "policy"): "create",
        ("production", "attachment"): "create",
        ("", "lock table"): "create",
        ("production", "CodeDeploy application"): "create",
        ("production", "deployment group"): "create",
        ("staging", "role"): "create",
        ("staging", "policy"): "create",
        ("staging", "attachment"): "create",
    }
    out = json.loads(proc.stdout)
    assert out["roles"] == {
        env: f"arn:aws:iam::{ACCOUNT}:role/{role(env)}" for env in ("production", "staging")
    }
    assert out["complete"] is True
    iam = client(aws, "iam")
    for env in ("staging", "production"):
        trust = iam.get_role(RoleName=role(env))["Role"]["AssumeRolePolicyDocument"]
        (statement,) = trust["Statement"]
        assert statement["Condition"]["StringEquals"][SUB] == f"repo:{REPO_SLUG}:environment:{env}"
        attached = iam.list_attached_role_policies(RoleName=role(env))["AttachedPolicies"]
        assert [p["PolicyArn"] for p in attached] == [policy_arn(env)]
        doc = iam.get_policy_version(PolicyArn=policy_arn(env), VersionId="v1")["PolicyVersion"]
        text = json.dumps(doc["Document"])
        assert f"service/gamepulse-cluster/gamepulse-{env}" in text
        assert f"secret:gamepulse/{env}/*" in text
        assert "{{" not in text
    group = client(aws, "codedeploy").get_deployment_group(
        applicationName="gamepulse", deploymentGroupName="gamepulse-production"
    )["deploymentGroupInfo"]
    assert group["ecsServices"] == [
        {"serviceName": "gamepulse-production", "clusterName": "gamepulse-cluster"}
    ]
    assert group["serviceRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{CODEDEPLOY_ROLE}"
    assert group["deploymentStyle"] == {
        "deploymentType": "BLUE_GREEN",
        "deploymentOption": "WITH_TRAFFIC_CONTROL",
    }
    (pair,) = group["loadBalancerInfo"]["targetGroupPairInfoList"]
    assert [t["name"] for t in pair["targetGroups"]] == ["gamepulse-blue", "gamepulse-green"]
    assert pair["prodTrafficRoute"] == {"listenerArns": [LISTENER]}
    table = client(aws, "dynamodb").describe_table(TableName="shipyard-locks")["Table"]
    assert table["KeySchema"] == [{"AttributeName": "lock_id", "KeyType": "HASH"}]

    second = setup(project, aws, "--json")

    assert set(changes(second).values()) == {"unchanged"}
    assert json.loads(second.stdout)["changed"] is False
    human = setup(project, aws)
    assert human.returncode == 0, human.stderr
    rows = [line.split() for line in human.stdout.splitlines()]
    group_row = "production deployment group gamepulse/gamepulse-production unchanged exists,"
    assert f"{group_row} gamepulse-cluster/gamepulse-production".split() in rows
    assert (
        f"staging: role arn:aws:iam::{ACCOUNT}:role/gamepulse-staging-deploy "
        "(the AWS_ROLE_ARN variable of GitHub environment staging)" in human.stdout
    )


def test_setup_names_the_deployment_group_settings_it_lacks(
    project: Project, aws: MotoServer
) -> None:
    missing = "production: deployment group gamepulse/gamepulse-production does not exist: to "
    dry = setup(project, aws, "--dry-run")
    assert dry.returncode == 0, dry.stderr  # the dry run shows it; the real run fails on it
    assert f"note: {missing}" in dry.stdout
    assert f"warning: {missing}" in dry.stderr

    proc = setup(project, aws, "--json")

    found = changes(proc, code=1)
    assert found[("production", "deployment group")] == "missing"
    assert found[("staging", "role")] == "create"  # everything else is still done
    assert json.loads(proc.stdout)["complete"] is False
    assert (
        "error: production: deployment group gamepulse/gamepulse-production does not exist: to "
        "let setup-cicd create it set target.codedeploy.service_role, "
        "target.codedeploy.target_groups, target.codedeploy.prod_listener_arn in "
        "deploy/environments/production.toml, or create it yourself"
    ) in proc.stderr
    assert client(aws, "codedeploy").list_applications()["applications"] == ["gamepulse"]


@pytest.mark.parametrize("controller", [None, "ECS"])
def test_setup_creates_a_deployment_group_only_for_a_codedeploy_service(
    project: Project, aws: MotoServer, controller: str | None
) -> None:
    codedeploy_config(project, LOAD_BALANCER)
    if controller:
        ecs_service(aws, "production", controller)

    proc = setup(project, aws, "--environments", "production")

    assert proc.returncode == 1
    why = (
        "the ECS service gamepulse-cluster/gamepulse-production does not exist yet; create it "
        "with deploymentController CODE_DEPLOY, then run inv setup-cicd again"
        if controller is None
        else "the ECS service gamepulse-cluster/gamepulse-production has deployment controller "
        "ECS; CodeDeploy needs CODE_DEPLOY, which is chosen when the service is created"
    )
    assert (
        f"error: production: deployment group gamepulse/gamepulse-production does not exist: {why}"
        in proc.stderr.splitlines()
    )
    groups = client(aws, "codedeploy").list_deployment_groups(applicationName="gamepulse")
    assert groups["deploymentGroups"] == []


def test_setup_names_a_hook_function_that_does_not_exist(project: Project, aws: MotoServer) -> None:
    codedeploy_config(project, LOAD_BALANCER + HOOKS)
    ecs_service(aws, "production")
    lambda_function(aws, "gp-gate")

    proc = setup(project, aws, "--environments", "production", "--json")

    assert proc.returncode == 1
    hooks = {
        c["name"]: (c["change"], c["detail"])
        for c in json.loads(proc.stdout)["changes"]
        if c["resource"] == "hook"
    }
    assert hooks == {
        "BeforeAllowTraffic": ("unchanged", "Lambda function gp-gate"),
        "AfterAllowTraffic": ("missing", "Lambda function gp-smoke"),
    }
    errors = [line for line in proc.stderr.splitlines() if "hook" in line]
    assert errors == [
        "error: production: CodeDeploy hook Lambda function gp-smoke (AfterAllowTraffic) does "
        f"not exist in {REGION}; create it, or remove the hook from target.codedeploy.hooks in "
        "deploy/environments/production.toml"
    ]
    roles = {r["RoleName"] for r in client(aws, "iam").list_roles()["Roles"]}
    assert role("production") in roles
    assert role("staging") not in roles  # --environments production

    lambda_function(aws, "gp-smoke")
    assert setup(project, aws, "--environments", "production").returncode == 0


def test_setup_updates_what_changed(project: Project, aws: MotoServer) -> None:
    codedeploy_config(project, LOAD_BALANCER)
    ecs_service(aws, "production")
    assert setup(project, aws).returncode == 0
    policy_file = project.path / "deploy" / "iam" / "github-actions-policy.json"
    policy = json.loads(policy_file.read_text())
    metrics = "DeployMetricsInShipyardsNamespaceOnly"
    policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] != metrics]
    policy_file.write_text(json.dumps(policy))
    iam = client(aws, "iam")
    loose = iam.get_role(RoleName=role("staging"))["Role"]["AssumeRolePolicyDocument"]
    loose["Statement"][0]["Condition"]["StringEquals"][SUB] = f"repo:{REPO_SLUG}:*"
    iam.update_assume_role_policy(RoleName=role("staging"), PolicyDocument=json.dumps(loose))

    found = changes(setup(project, aws, "--json"))

    assert found[("staging", "policy")] == "update"
    assert found[("production", "policy")] == "update"
    assert found[("staging", "trust policy")] == "update"
    assert ("production", "trust policy") not in found
    for env in ("staging", "production"):
        default = iam.get_policy(PolicyArn=policy_arn(env))["Policy"]["DefaultVersionId"]
        assert default == "v2"
        version = iam.get_policy_version(PolicyArn=policy_arn(env), VersionId=default)
        assert "cloudwatch:PutMetricData" not in json.dumps(version["PolicyVersion"]["Document"])
    trust = iam.get_role(RoleName=role("staging"))["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Condition"]["StringEquals"][SUB] == (
        f"repo:{REPO_SLUG}:environment:staging"
    )


def test_setup_dry_run_prints_the_calls_and_changes_nothing(
    project: Project, aws: MotoServer
) -> None:
    codedeploy_config(project, LOAD_BALANCER)
    ecs_service(aws, "production")

    proc = setup(project, aws, "--dry-run")

    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(
        "would create role" in line and "iam:CreateRole gamepulse-staging-deploy" in line
        for line in lines
    )
    assert any(
        "would create deployment group" in line
        and "codedeploy:CreateDeploymentGroup gamepulse/gamepulse-production" in line
        for line in lines
    )
    assert "dry run: nothing was changed" in proc.stdout
    assert client(aws, "iam").list_roles()["Roles"] == []
    assert client(aws, "dynamodb").list_tables()["TableNames"] == []
    assert client(aws, "codedeploy").list_applications()["applications"] == []


def test_setup_one_environment_and_bad_input(project: Project, aws: MotoServer) -> None:
    found = changes(setup(project, aws, "--environments", "staging", "--json"))
    assert {env for env, _ in found} == {"", "staging"}
    assert [r["RoleName"] for r in client(aws, "iam").list_roles()["Roles"]] == [role("staging")]

    proc = project.inv("setup-cicd", "--repo", "not a repo", extra_env=aws.env())
    assert proc.returncode == 2
    assert "--repo 'not a repo' is not owner/name" in proc.stderr
    proc = setup(project, aws, "--environments", "local")
    assert proc.returncode == 2
    assert "local deploys to this machine, not ECS" in proc.stderr
    proc = setup(project, aws, "--role-name", "shared-deploy")
    assert proc.returncode == 2
    assert "must contain {environment}" in proc.stderr


def test_the_setup_script_runs_setup_cicd(project: Project, aws: MotoServer) -> None:
    (project.path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "setup-cicd.sh", project.path / "scripts" / "setup-cicd.sh")

    proc = subprocess.run(
        ["bash", "scripts/setup-cicd.sh", "--repo", REPO_SLUG, "--environments", "staging"],
        cwd=project.path,
        env={**project.env, **aws.env()},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"staging: role arn:aws:iam::{ACCOUNT}:role/gamepulse-staging-deploy" in proc.stdout
