"""One role per environment: deploy/iam/*.json rendered for staging and for production.

Each rendering is evaluated (Allow statements, IAM wildcard matching of resources, the
conditions the template uses) to show that one environment's role can do nothing to the
other's service, deployment group, secrets, lock item or logs, beyond reading what the other
runs (promote reads its source's service, cleanup what every environment runs). Placeholders
are filled in the parsed JSON, so a value with quotes cannot add a statement.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from shipyard.config.loader import load_config
from shipyard.context import Context
from shipyard.errors import UsageError
from shipyard.operations.setup_cicd import aws_environments
from shipyard.operations.setup_cicd_policy import PolicyVariables, render, variables_for
from tests.conftest import REPO

ACCOUNT = "123456789012"
REGION = "ap-northeast-2"
POLICY = "deploy/iam/github-actions-policy.json"
TRUST = "deploy/iam/trust-policy.json"
ARN = f"arn:aws:{{}}:{REGION}:{ACCOUNT}:{{}}"
# the only statements that may name every resource: these actions support no narrower one
EVERY_RESOURCE = {
    "EcrLogin",
    "EcsTaskDefinitions",
    "AlarmsAndMetrics",
    "DeployMetricsInShipyardsNamespaceOnly",  # no resource, but a namespace condition
    "Identity",
}
# reading what the other environment runs: promote (production reads staging's live image)
# and cleanup (staging keeps what production runs)
READ_THE_OTHER = {"ecs:DescribeServices"}


def variables(env: str, root: Path = REPO, **overrides: Any) -> PolicyVariables:
    settings = {"aws.account_id": ACCOUNT, "aws.region": REGION, **overrides}
    config = load_config(env, root=root, overrides=settings, environ={})
    ctx = Context(config=config, root=root, environ={})
    return variables_for(ctx, "acme/gamepulse", aws_environments(root, {}))


def policy_of(env: str, root: Path = REPO, **overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = render((root / POLICY).read_text(), variables(env, root, **overrides))
    return doc


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def allows(
    policy: dict[str, Any], action: str, resource: str, context: dict[str, list[str]] | None = None
) -> list[str]:
    """The Sids of the statements that allow `action` on `resource` with this request context.
    Statements on every resource ("*") are left out: their actions take no resource (a test
    below keeps them to EVERY_RESOURCE)."""
    sids = []
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        if action not in _as_list(statement["Action"]) or statement["Resource"] == "*":
            continue
        if not any(fnmatch.fnmatchcase(resource, r) for r in _as_list(statement["Resource"])):
            continue
        if _conditions_hold(statement.get("Condition", {}), context or {}):
            sids.append(statement["Sid"])
    return sids


def _conditions_hold(condition: dict[str, Any], context: dict[str, list[str]]) -> bool:
    for operator, tests in condition.items():
        assert operator in ("StringEquals", "ForAllValues:StringEquals"), operator
        for key, wanted in tests.items():
            given = context.get(key)
            if given is None:
                return False  # the test names every key a statement conditions on
            if not set(given) <= set(_as_list(wanted)):
                return False
    return True


def actions(policy: dict[str, Any]) -> set[str]:
    return {a for s in policy["Statement"] for a in _as_list(s["Action"])}


@pytest.fixture(scope="module")
def staging() -> dict[str, Any]:
    return policy_of("staging")


@pytest.fixture(scope="module")
def production() -> dict[str, Any]:
    return policy_of("production")


def service(env: str) -> str:
    return ARN.format("ecs", f"service/gamepulse-cluster/gamepulse-{env}")


def test_each_environment_deploys_its_own_service_and_only_reads_the_others(
    staging: dict[str, Any], production: dict[str, Any]
) -> None:
    for own, other, policy in (
        ("staging", "production", staging),
        ("production", "staging", production),
    ):
        assert allows(policy, "ecs:UpdateService", service(own)) == ["EcsServiceOfThisEnvironment"]
        assert allows(policy, "ecs:TagResource", service(own))
        on_other = {a for a in actions(policy) if allows(policy, a, service(other))}
        assert on_other == READ_THE_OTHER, (own, on_other)
        family = ARN.format("ecs", f"task-definition/gamepulse-{other}:7")
        assert not allows(policy, "ecs:TagResource", family)


def test_only_production_deploys_through_codedeploy_and_only_its_own_group(
    staging: dict[str, Any], production: dict[str, Any]
) -> None:
    assert not [a for a in actions(staging) if a.startswith("codedeploy:")]
    group = ARN.format("codedeploy", "deploymentgroup:gamepulse/gamepulse-production")
    config = ARN.format(
        "codedeploy", "deploymentconfig:CodeDeployDefault.ECSCanary10Percent5Minutes"
    )
    application = ARN.format("codedeploy", "application:gamepulse")
    for action in ("codedeploy:CreateDeployment", "codedeploy:GetDeployment"):
        assert allows(production, action, group), action
    assert allows(production, "codedeploy:CreateDeployment", config)
    assert allows(production, "codedeploy:GetDeploymentConfig", config)
    assert allows(production, "codedeploy:RegisterApplicationRevision", application)
    other_group = ARN.format("codedeploy", "deploymentgroup:gamepulse/gamepulse-staging")
    other_config = ARN.format("codedeploy", "deploymentconfig:CodeDeployDefault.ECSAllAtOnce")
    assert not {a for a in actions(production) if allows(production, a, other_group)}
    assert not allows(production, "codedeploy:GetDeploymentConfig", other_config)


@pytest.mark.parametrize(("own", "other"), [("staging", "production"), ("production", "staging")])
def test_secrets_logs_and_lock_item_are_the_environments_own(own: str, other: str) -> None:
    policy = policy_of(own)
    for env, expected in ((own, True), (other, False)):
        secret = ARN.format("secretsmanager", f"secret:gamepulse/{env}/db-password-AbCdEf")
        parameter = ARN.format("ssm", f"parameter/gamepulse/{env}/slack-token")
        logs = ARN.format("logs", f"log-group:/ecs/gamepulse-{env}:log-stream:gamepulse/x")
        assert bool(allows(policy, "secretsmanager:GetSecretValue", secret)) is expected
        assert bool(allows(policy, "ssm:GetParameter", parameter)) is expected
        assert bool(allows(policy, "logs:GetLogEvents", logs)) is expected
        table = ARN.format("dynamodb", "table/shipyard-locks")
        for action in ("dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:GetItem"):
            granted = allows(policy, action, table, {"dynamodb:LeadingKeys": [env]})
            assert bool(granted) is expected, (action, env)
    # the item statement's condition is the lock's own key: the environment's name
    (item,) = [s for s in policy["Statement"] if s["Sid"] == "DeployLockItemOfThisEnvironment"]
    assert item["Condition"] == {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [own]}}


def test_each_role_passes_only_its_own_environments_task_roles() -> None:
    for own, other in (("staging", "production"), ("production", "staging")):
        policy = policy_of(own)
        (statement,) = [s for s in policy["Statement"] if "iam:PassRole" in s["Action"]]
        assert statement["Action"] == ["iam:PassRole"]
        assert sorted(statement["Resource"]) == [
            f"arn:aws:iam::{ACCOUNT}:role/gamepulse-{own}-ecs-execution",
            f"arn:aws:iam::{ACCOUNT}:role/gamepulse-{own}-ecs-task",
        ]
        passed = {"iam:PassedToService": ["ecs-tasks.amazonaws.com"]}
        for kind in ("task", "execution"):
            mine = f"arn:aws:iam::{ACCOUNT}:role/gamepulse-{own}-ecs-{kind}"
            theirs = f"arn:aws:iam::{ACCOUNT}:role/gamepulse-{other}-ecs-{kind}"
            assert allows(policy, "iam:PassRole", mine, passed)
            assert not allows(policy, "iam:PassRole", theirs, passed)
            assert not allows(
                policy, "iam:PassRole", mine, {"iam:PassedToService": ["lambda.amazonaws.com"]}
            )


def test_staging_cannot_run_a_task_definition_that_reads_productions_secrets(
    staging: dict[str, Any],
) -> None:
    """The escalation a review found: register a definition whose `secrets` name production's
    database password, start it on staging's service, read it back from the logs. Each call it
    needs is refused to staging's role, or lands only on staging's own resources."""
    passed = {"iam:PassedToService": ["ecs-tasks.amazonaws.com"]}
    # the definition must carry an execution role that can read the secret: production's
    for kind in ("execution", "task"):
        role = f"arn:aws:iam::{ACCOUNT}:role/gamepulse-production-ecs-{kind}"
        assert not allows(staging, "iam:PassRole", role, passed)
    # starting it on production's service, or reading production's secret or logs directly
    assert not allows(staging, "ecs:UpdateService", service("production"))
    secret = ARN.format("secretsmanager", "secret:gamepulse/production/db-password-AbCdEf")
    assert not allows(staging, "secretsmanager:GetSecretValue", secret)
    logs = ARN.format("logs", "log-group:/ecs/gamepulse-production:log-stream:app/x")
    assert not allows(staging, "logs:GetLogEvents", logs)


@pytest.mark.parametrize("env", ["staging", "production"])
def test_no_statement_names_any_account_or_an_unfilled_placeholder(env: str) -> None:
    for path in (POLICY, TRUST):
        doc = render((REPO / path).read_text(), variables(env))
        assert "{{" not in json.dumps(doc)
        for statement in doc["Statement"]:
            arns = _as_list(statement.get("Resource", [])) + _as_list(
                statement.get("Principal", {}).get("Federated", [])
            )
            for arn in arns:
                if arn == "*":
                    assert statement["Sid"] in EVERY_RESOURCE, statement["Sid"]
                    continue
                parts = arn.split(":")
                assert parts[0] == "arn", arn
                assert re.fullmatch(r"\d{12}", parts[4]), f"{statement['Sid']}: {arn}"


def test_no_role_may_assume_another_unless_configured() -> None:
    assert "sts:AssumeRole" not in actions(policy_of("production"))
    deploy_role = f"arn:aws:iam::{ACCOUNT}:role/gamepulse-deployer"
    policy = policy_of("production", **{"aws.role_arn": deploy_role})
    (statement,) = [s for s in policy["Statement"] if "sts:AssumeRole" in s["Action"]]
    assert statement["Resource"] == [deploy_role]


def test_sns_only_on_the_configured_topic() -> None:
    assert "sns:Publish" not in actions(policy_of("staging"))
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:gamepulse-deploys"
    policy = policy_of("staging", **{"notify.sns.topic_arn": topic})
    assert allows(policy, "sns:Publish", topic)
    assert not allows(policy, "sns:Publish", f"arn:aws:sns:{REGION}:{ACCOUNT}:gamepulse-other")


@pytest.mark.parametrize("env", ["staging", "production"])
def test_each_trust_policy_trusts_its_own_github_environment_only(env: str) -> None:
    (statement,) = render((REPO / TRUST).read_text(), variables(env))["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"]["Federated"] == (
        f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
    )
    assert statement["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": f"repo:acme/gamepulse:environment:{env}",
        }
    }


def test_a_value_with_quotes_cannot_add_a_statement() -> None:
    honest = variables("production")
    injected = 'c", "Action": "iam:CreateUser", "Resource": "arn:aws:iam::1:user/x'
    template = (REPO / POLICY).read_text()
    policy = render(template, replace(honest, cluster=injected, project='p"}]}'))
    assert len(policy["Statement"]) == len(render(template, honest)["Statement"])
    assert "iam:CreateUser" not in actions(policy)
    (ecs,) = [s for s in policy["Statement"] if s["Sid"] == "EcsServiceOfThisEnvironment"]
    assert ecs["Resource"][0] == ARN.format("ecs", f"service/{injected}/gamepulse-production")
    # the serialised document says the same: the quotes are escaped inside one string
    assert json.loads(json.dumps(policy)) == policy


@pytest.mark.parametrize("value", ["gamepulse-*", "gamepulse-?", "${aws:username}", ""])
def test_a_value_that_would_widen_a_statement_is_refused(value: str) -> None:
    template = (REPO / POLICY).read_text()
    with pytest.raises(UsageError, match="wildcard or policy variable"):
        render(template, replace(variables("staging"), service=("gamepulse-staging", value)))


def test_a_several_valued_placeholder_makes_one_resource_per_value() -> None:
    two = replace(variables("staging"), service=("api", "worker"))
    policy = render((REPO / POLICY).read_text(), two)
    (ecs,) = [s for s in policy["Statement"] if s["Sid"] == "EcsServiceOfThisEnvironment"]
    assert ecs["Resource"][:2] == [
        ARN.format("ecs", "service/gamepulse-cluster/api"),
        ARN.format("ecs", "service/gamepulse-cluster/worker"),
    ]


def test_an_unknown_placeholder_is_refused() -> None:
    with pytest.raises(UsageError, match=r"unknown placeholder \{\{clusterr\}\}"):
        render('{"Statement": [{"Resource": "{{clusterr}}"}]}', variables("staging"))


@pytest.mark.parametrize("env", ["staging", "production"])
def test_metrics_go_only_to_shipyards_namespace(env: str) -> None:
    (statement,) = [
        s for s in policy_of(env)["Statement"] if "cloudwatch:PutMetricData" in s["Action"]
    ]
    assert statement["Action"] == ["cloudwatch:PutMetricData"]
    assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": "Shipyard"}}
