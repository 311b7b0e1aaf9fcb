"""inv setup-cicd and inv doctor against moto server, through the CLI: one role per AWS
environment, the CodeDeploy application and deployment group, hook functions checked."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import zipfile
from typing import Any

import boto3
import pytest

from tests.conftest import REPO, MotoServer, Project

REPO_SLUG = "acme/gamepulse"
ACCOUNT = "123456789012"
REGION = "ap-northeast-2"
OIDC_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
SUB = "token.actions.githubusercontent.com:sub"
LISTENER = (
    f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener/app/gp/0123456789abcdef/fedcba"
)
CODEDEPLOY_ROLE = "gamepulse-codedeploy"
# what production needs for setup-cicd to create its deployment group
LOAD_BALANCER = f"""service_role = "{CODEDEPLOY_ROLE}"
target_groups = ["gamepulse-blue", "gamepulse-green"]
prod_listener_arn = "{LISTENER}"
"""


def client(aws: MotoServer, name: str) -> Any:
    return boto3.client(name, endpoint_url=aws.endpoint, region_name=REGION)


def role(env: str) -> str:
    return f"gamepulse-{env}-deploy"


def policy_arn(env: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:policy/gamepulse-{env}-deploy"


def codedeploy_config(project: Project, extra: str) -> None:
    """Add keys to production's [target.codedeploy] table (TOML cannot open it twice)."""
    path = project.path / "deploy" / "environments" / "production.toml"
    anchor = 'deployment_config = "CodeDeployDefault.ECSCanary10Percent5Minutes"\n'
    text = path.read_text()
    assert anchor in text
    path.write_text(text.replace(anchor, anchor + extra))


def ecs_service(aws: MotoServer, env: str, controller: str = "CODE_DEPLOY") -> None:
    """The environment's service, as the infrastructure would have created it."""
    ecs = client(aws, "ecs")
    ecs.create_cluster(clusterName="gamepulse-cluster")
    arn = ecs.register_task_definition(
        family=f"gamepulse-{env}",
        containerDefinitions=[{"name": "gamepulse", "image": "busybox", "memory": 128}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster="gamepulse-cluster",
        serviceName=f"gamepulse-{env}",
        taskDefinition=arn,
        desiredCount=1,
        deploymentController={"type": controller},
    )


def setup(project: Project, aws: MotoServer, *args: str) -> Any:
    return project.inv("setup-cicd", "--repo", REPO_SLUG, *args, extra_env=aws.env())


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


def lambda_function(aws: MotoServer, name: str) -> None:
    iam = client(aws, "iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    arn = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=json.dumps(trust))[
        "Role"
    ]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as zf:
        zf.writestr("index.py", "def handler(event, context):\n    return None\n")
    client(aws, "lambda").create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=arn,
        Handler="index.handler",
        Code={"ZipFile": code.getvalue()},
    )


HOOKS = 'hooks = { AfterAllowTraffic = "gp-smoke", BeforeAllowTraffic = "gp-gate" }\n'


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


# -- doctor -------------------------------------------------------------------------------------


def make_environment(
    project: Project, aws: MotoServer, env: str, *, log_group: bool = True
) -> None:
    client(aws, "ecr").create_repository(repositoryName=project.repository)
    ecs_service(aws, env, "CODE_DEPLOY" if env == "production" else "ECS")
    if log_group:
        client(aws, "logs").create_log_group(logGroupName=f"/ecs/gamepulse-{env}")
    client(aws, "secretsmanager").create_secret(
        Name=f"gamepulse/{env}/db-password", SecretString="s3cret-db-password"
    )


def doctor(project: Project, aws: MotoServer, *args: str) -> Any:
    return project.inv("doctor", *args, extra_env=aws.env())


def checks_of(proc: Any) -> dict[str, dict[str, str]]:
    return {c["name"]: c for c in json.loads(proc.stdout)["checks"]}


def test_doctor_all_ok(project: Project, aws: MotoServer) -> None:
    make_environment(project, aws, "staging")
    assert setup(project, aws, "--environments", "staging").returncode == 0

    proc = doctor(project, aws, "--env", "staging", "--repo", REPO_SLUG, "--json")

    assert proc.returncode == 0, proc.stdout + proc.stderr
    checks = checks_of(proc)
    assert {n: c["status"] for n, c in checks.items()} == {
        "credentials": "OK",
        "role": "OK",
        "repository": "OK",
        "cluster": "OK",
        "service": "OK",
        "log group": "OK",
        "secrets": "OK",
        "alarms": "SKIP",
        "deployment group": "SKIP",
        "hooks": "SKIP",
    }
    assert checks["role"]["detail"] == (
        "gamepulse-staging-deploy trusts repo:acme/gamepulse:environment:staging"
    )
    assert checks["alarms"]["detail"] == "the target watches no alarms"
    # the Slack webhook is a GitHub secret: unset here, Slack is off, as a release would say
    assert checks["secrets"]["detail"] == (
        "1 readable: gamepulse:DB_PASSWORD; slack off here (SLACK_WEBHOOK_URL not set)"
    )
    assert "s3cret-db-password" not in proc.stdout + proc.stderr


def test_doctor_checks_the_deployment_group_and_the_hook_functions(
    project: Project, aws: MotoServer
) -> None:
    codedeploy_config(project, LOAD_BALANCER + HOOKS)
    make_environment(project, aws, "production")
    client(aws, "cloudwatch").put_metric_alarm(
        AlarmName="gamepulse-production-5xx",
        MetricName="HTTPCode_Target_5XX_Count",
        Namespace="AWS/ApplicationELB",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    lambda_function(aws, "gp-gate")
    assert setup(project, aws, "--environments", "production").returncode == 1  # gp-smoke

    proc = doctor(project, aws, "--env", "production", "--repo", REPO_SLUG, "--json")

    assert proc.returncode == 1
    checks = checks_of(proc)
    assert [n for n, c in checks.items() if c["status"] == "NG"] == ["hooks"]
    assert checks["deployment group"]["detail"] == (
        "gamepulse/gamepulse-production -> gamepulse-cluster/gamepulse-production"
    )
    assert checks["hooks"]["detail"] == (
        "production: CodeDeploy hook Lambda function gp-smoke (AfterAllowTraffic) does not "
        f"exist in {REGION}; create it, or remove the hook from target.codedeploy.hooks in "
        "deploy/environments/production.toml"
    )
    assert "doctor: 1 check(s) NG: hooks" in proc.stderr

    lambda_function(aws, "gp-smoke")
    proc = doctor(project, aws, "--env", "production", "--repo", REPO_SLUG, "--json")
    assert proc.returncode == 0, proc.stdout
    assert checks_of(proc)["hooks"]["detail"] == (
        "BeforeAllowTraffic gp-gate, AfterAllowTraffic gp-smoke"
    )


def test_doctor_explains_an_oidc_trust_mismatch(project: Project, aws: MotoServer) -> None:
    make_environment(project, aws, "staging")
    assert setup(project, aws, "--environments", "staging").returncode == 0
    iam = client(aws, "iam")
    trust = iam.get_role(RoleName=role("staging"))["Role"]["AssumeRolePolicyDocument"]
    trust["Statement"][0]["Condition"]["StringEquals"][SUB] = (
        f"repo:{REPO_SLUG}:environment:production"
    )
    iam.update_assume_role_policy(RoleName=role("staging"), PolicyDocument=json.dumps(trust))

    proc = doctor(project, aws, "--env", "staging", "--repo", REPO_SLUG)

    assert proc.returncode == 1
    role_row = next(line for line in proc.stdout.splitlines() if line.startswith("role "))
    assert "NG" in role_row
    assert "OIDC trust mismatch" in proc.stdout
    assert "presents sub 'repo:acme/gamepulse:environment:staging'" in proc.stdout
    assert "environment:production" in proc.stdout
    assert "doctor: 1 check(s) NG: role" in proc.stderr


def test_doctor_names_what_is_missing(project: Project, aws: MotoServer) -> None:
    make_environment(project, aws, "staging", log_group=False)

    proc = doctor(project, aws, "--env", "production", "--repo", REPO_SLUG, "--json")

    assert proc.returncode == 1
    checks = checks_of(proc)
    assert checks["role"]["status"] == "NG"
    assert "role gamepulse-production-deploy does not exist" in checks["role"]["detail"]
    assert "run inv setup-cicd --environments production" in checks["role"]["detail"]
    assert checks["service"]["status"] == "NG"
    assert "gamepulse-production" in checks["service"]["detail"]
    assert checks["alarms"]["status"] == "NG"
    assert "gamepulse-production-5xx" in checks["alarms"]["detail"]
    assert checks["repository"]["status"] == "OK"
    assert checks["deployment group"]["status"] == "NG"
    assert "CodeDeploy application gamepulse does not exist" in checks["deployment group"]["detail"]
    assert checks["hooks"] == {
        "name": "hooks",
        "status": "SKIP",
        "detail": "no hooks configured (target.codedeploy.hooks)",
    }


@pytest.mark.parametrize(
    ("sub", "operator", "ok"),
    [
        ("repo:acme/gamepulse:environment:staging", "StringEquals", True),
        ("repo:acme/gamepulse:*", "StringLike", True),
        ("repo:acme/gamepulse:ref:refs/heads/main", "StringEquals", False),
        ("repo:acme/other:environment:staging", "StringEquals", False),
    ],
)
def test_explain_trust(sub: str, operator: str, ok: bool) -> None:
    from shipyard.operations.doctor import explain_trust

    trust = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Principal": {"Federated": OIDC_ARN},
                "Condition": {
                    "StringEquals": {
                        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com"
                    },
                    operator: {"token.actions.githubusercontent.com:sub": sub},
                }
                if operator == "StringLike"
                else {
                    operator: {
                        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                        "token.actions.githubusercontent.com:sub": sub,
                    }
                },
            }
        ]
    }
    assert (explain_trust(trust, REPO_SLUG, "staging") is None) is ok
