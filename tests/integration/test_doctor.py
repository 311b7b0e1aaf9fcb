"""inv doctor against moto server, through the CLI: every check of an environment set up by
inv setup-cicd (credentials, role and its OIDC trust, repository, cluster, service, log group,
secrets, alarms, deployment group, hooks), what is missing named, and explain_trust."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import MotoServer, Project
from tests.support.setup_cicd import (
    ACCOUNT,
    HOOKS,
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

OIDC_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"


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
