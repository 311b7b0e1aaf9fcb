"""inv setup-cicd and inv doctor against moto server, through the CLI."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.conftest import MotoServer, Project

REPO_SLUG = "acme/gamepulse"
ACCOUNT = "123456789012"
OIDC_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
POLICY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/shipyard-github-actions"


def client(aws: MotoServer, name: str) -> Any:
    return boto3.client(name, endpoint_url=aws.endpoint, region_name="ap-northeast-2")


def setup(project: Project, aws: MotoServer, *args: str) -> Any:
    return project.inv("setup-cicd", "--repo", REPO_SLUG, *args, extra_env=aws.env())


def changes(proc: Any) -> dict[str, str]:
    assert proc.returncode == 0, proc.stderr
    return {c["resource"]: c["change"] for c in json.loads(proc.stdout)["changes"]}


def test_setup_creates_everything_then_changes_nothing(project: Project, aws: MotoServer) -> None:
    first = changes(setup(project, aws, "--json"))
    assert first == {
        "OIDC provider": "create",
        "role": "create",
        "policy": "create",
        "attachment": "create",
        "lock table": "create",
    }

    iam = client(aws, "iam")
    provider = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=OIDC_ARN)
    assert provider["ClientIDList"] == ["sts.amazonaws.com"]
    trust = iam.get_role(RoleName="shipyard-github-actions")["Role"]["AssumeRolePolicyDocument"]
    condition = trust["Statement"][0]["Condition"]["StringEquals"]
    assert condition["token.actions.githubusercontent.com:sub"] == [
        "repo:acme/gamepulse:environment:staging",
        "repo:acme/gamepulse:environment:production",
    ]
    attached = iam.list_attached_role_policies(RoleName="shipyard-github-actions")
    assert [p["PolicyArn"] for p in attached["AttachedPolicies"]] == [POLICY_ARN]
    version = iam.get_policy_version(PolicyArn=POLICY_ARN, VersionId="v1")["PolicyVersion"]
    doc = version["Document"]
    text = json.dumps(doc)
    assert f"arn:aws:ecr:ap-northeast-2:{ACCOUNT}:repository/{project.repository}" in text
    assert "{{" not in text
    table = client(aws, "dynamodb").describe_table(TableName="shipyard-locks")["Table"]
    assert table["KeySchema"] == [{"AttributeName": "lock_id", "KeyType": "HASH"}]

    second = setup(project, aws, "--json")
    assert set(changes(second).values()) == {"unchanged"}
    assert json.loads(second.stdout)["changed"] is False


def test_setup_updates_what_changed(project: Project, aws: MotoServer) -> None:
    assert setup(project, aws).returncode == 0
    policy_file = project.path / "deploy" / "iam" / "github-actions-policy.json"
    policy = json.loads(policy_file.read_text())
    policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] != "DeployNotifications"]
    policy_file.write_text(json.dumps(policy))

    proc = setup(project, aws, "--environments", "staging")

    assert proc.returncode == 0, proc.stderr
    rows = {
        line.split()[0] + " " + line.split()[1]: line
        for line in proc.stdout.splitlines()
        if line.startswith(("policy ", "trust "))
    }
    assert "update" in rows["policy shipyard-github-actions"]
    assert "update" in rows["trust policy"]
    iam = client(aws, "iam")
    default = iam.get_policy(PolicyArn=POLICY_ARN)["Policy"]["DefaultVersionId"]
    assert default == "v2"
    doc = iam.get_policy_version(PolicyArn=POLICY_ARN, VersionId=default)["PolicyVersion"][
        "Document"
    ]
    assert "sns:Publish" not in json.dumps(doc)
    trust = iam.get_role(RoleName="shipyard-github-actions")["Role"]["AssumeRolePolicyDocument"]
    subs = trust["Statement"][0]["Condition"]["StringEquals"][
        "token.actions.githubusercontent.com:sub"
    ]
    assert subs == ["repo:acme/gamepulse:environment:staging"]


def test_setup_dry_run_changes_nothing(project: Project, aws: MotoServer) -> None:
    proc = setup(project, aws, "--dry-run")

    assert proc.returncode == 0, proc.stderr
    assert "would create role" in proc.stdout
    assert "dry run: nothing was changed" in proc.stdout
    assert client(aws, "iam").list_roles()["Roles"] == []
    assert client(aws, "dynamodb").list_tables()["TableNames"] == []


def test_setup_rejects_a_bad_repository(project: Project, aws: MotoServer) -> None:
    proc = project.inv("setup-cicd", "--repo", "not a repo", extra_env=aws.env())
    assert proc.returncode == 2
    assert "--repo 'not a repo' is not owner/name" in proc.stderr


# -- doctor -------------------------------------------------------------------------------------


def make_staging(project: Project, aws: MotoServer, *, log_group: bool = True) -> None:
    client(aws, "ecr").create_repository(repositoryName=project.repository)
    ecs = client(aws, "ecs")
    ecs.create_cluster(clusterName="gamepulse-cluster")
    arn = ecs.register_task_definition(
        family="gamepulse-staging",
        containerDefinitions=[{"name": "gamepulse", "image": "busybox", "memory": 128}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster="gamepulse-cluster",
        serviceName="gamepulse-staging",
        taskDefinition=arn,
        desiredCount=1,
    )
    if log_group:
        client(aws, "logs").create_log_group(logGroupName="/ecs/gamepulse-staging")
    client(aws, "secretsmanager").create_secret(
        Name="gamepulse/staging/db-password", SecretString="s3cret-db-password"
    )


def doctor(project: Project, aws: MotoServer, *args: str) -> Any:
    return project.inv("doctor", *args, extra_env=aws.env())


def test_doctor_all_ok(project: Project, aws: MotoServer) -> None:
    make_staging(project, aws)
    assert setup(project, aws).returncode == 0

    proc = doctor(project, aws, "--env", "staging", "--repo", REPO_SLUG, "--json")

    assert proc.returncode == 0, proc.stdout + proc.stderr
    checks = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    assert [c["status"] for c in checks.values()] == ["OK"] * 7 + ["SKIP"]
    assert checks["role"]["detail"] == (
        "shipyard-github-actions trusts repo:acme/gamepulse:environment:staging"
    )
    assert checks["alarms"]["detail"] == "the target watches no alarms"
    assert checks["secrets"]["detail"] == "1 readable: gamepulse:DB_PASSWORD"
    assert "s3cret-db-password" not in proc.stdout + proc.stderr


def test_doctor_explains_an_oidc_trust_mismatch(project: Project, aws: MotoServer) -> None:
    make_staging(project, aws)
    assert setup(project, aws, "--environments", "production").returncode == 0

    proc = doctor(project, aws, "--env", "staging", "--repo", REPO_SLUG)

    assert proc.returncode == 1
    role_row = next(line for line in proc.stdout.splitlines() if line.startswith("role "))
    assert "NG" in role_row
    assert "OIDC trust mismatch" in proc.stdout
    assert "presents sub 'repo:acme/gamepulse:environment:staging'" in proc.stdout
    assert "environment:production" in proc.stdout
    assert "doctor: 1 check(s) NG: role" in proc.stderr


def test_doctor_names_what_is_missing(project: Project, aws: MotoServer) -> None:
    make_staging(project, aws, log_group=False)

    proc = doctor(project, aws, "--env", "production", "--repo", REPO_SLUG)

    assert proc.returncode == 1
    table = {line.split()[0]: line for line in proc.stdout.splitlines()[2:] if line.strip()}
    assert "NG" in table["role"]
    assert "run inv setup-cicd" in table["role"]
    assert "NG" in table["service"]
    assert "gamepulse-production" in table["service"]
    assert "NG" in table["alarms"]
    assert "gamepulse-production-5xx" in table["alarms"]
    assert "OK" in table["repository"]


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
