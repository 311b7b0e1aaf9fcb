"""CodeDeploy set-up for ECS blue/green: the application, its deployment group, and the ECS
service the group deploys.

Admin-time: inv setup-cicd creates them and inv doctor reads them with an administrator's
credentials. None of these calls is made in CI, so the CI policy grants none of them (the
deploy itself is adapters/codedeploy.py).
"""

from __future__ import annotations

from typing import Any

from shipyard.adapters.aws import AwsClients, error_code, translate_errors
from shipyard.records import record

ROLLBACK_EVENTS = ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]
MISSING_GROUP = ("ApplicationDoesNotExistException", "DeploymentGroupDoesNotExistException")


@record
class GroupSpec:
    """What an ECS blue/green deployment group is made of."""

    application: str
    name: str
    cluster: str
    service: str
    service_role_arn: str
    target_groups: tuple[str, str]  # blue, green (names)
    prod_listener_arn: str
    test_listener_arn: str | None = None
    deployment_config: str = "CodeDeployDefault.ECSAllAtOnce"
    termination_wait_minutes: int = 5
    alarms: tuple[str, ...] = ()


def application(aws: AwsClients, name: str) -> dict[str, Any] | None:
    """The application, or None when it does not exist."""
    import botocore.exceptions as bx

    with translate_errors(f"codedeploy:GetApplication {name}"):
        try:
            answer = aws.client("codedeploy").get_application(applicationName=name)
        except bx.ClientError as exc:
            if error_code(exc) != "ApplicationDoesNotExistException":
                raise
            return None
    return dict(answer["application"])


def create_application(aws: AwsClients, name: str) -> None:
    with translate_errors(f"codedeploy:CreateApplication {name}"):
        aws.client("codedeploy").create_application(
            applicationName=name,
            computePlatform="ECS",
            tags=[{"Key": "managed-by", "Value": "shipyard"}],
        )


def deployment_group(aws: AwsClients, application_name: str, name: str) -> dict[str, Any] | None:
    """The deployment group, or None when it (or its application) does not exist."""
    import botocore.exceptions as bx

    with translate_errors(f"codedeploy:GetDeploymentGroup {application_name}/{name}"):
        try:
            answer = aws.client("codedeploy").get_deployment_group(
                applicationName=application_name, deploymentGroupName=name
            )
        except bx.ClientError as exc:
            if error_code(exc) not in MISSING_GROUP:
                raise
            return None
    return dict(answer["deploymentGroupInfo"])


def group_request(spec: GroupSpec) -> dict[str, Any]:
    """The create_deployment_group request: blue/green with traffic control, the old task set
    terminated after the wait, automatic rollback on failure and on the target's alarms."""
    pair: dict[str, Any] = {
        "targetGroups": [{"name": n} for n in spec.target_groups],
        "prodTrafficRoute": {"listenerArns": [spec.prod_listener_arn]},
    }
    if spec.test_listener_arn:
        pair["testTrafficRoute"] = {"listenerArns": [spec.test_listener_arn]}
    request: dict[str, Any] = {
        "applicationName": spec.application,
        "deploymentGroupName": spec.name,
        "serviceRoleArn": spec.service_role_arn,
        "deploymentConfigName": spec.deployment_config,
        "deploymentStyle": {
            "deploymentType": "BLUE_GREEN",
            "deploymentOption": "WITH_TRAFFIC_CONTROL",
        },
        "blueGreenDeploymentConfiguration": {
            "deploymentReadyOption": {"actionOnTimeout": "CONTINUE_DEPLOYMENT"},
            "terminateBlueInstancesOnDeploymentSuccess": {
                "action": "TERMINATE",
                "terminationWaitTimeInMinutes": spec.termination_wait_minutes,
            },
        },
        "loadBalancerInfo": {"targetGroupPairInfoList": [pair]},
        "ecsServices": [{"serviceName": spec.service, "clusterName": spec.cluster}],
        "autoRollbackConfiguration": {"enabled": True, "events": ROLLBACK_EVENTS},
        "tags": [{"Key": "managed-by", "Value": "shipyard"}],
    }
    if spec.alarms:
        request["alarmConfiguration"] = {
            "enabled": True,
            "alarms": [{"name": a} for a in spec.alarms],
        }
    return request


def create_deployment_group(aws: AwsClients, spec: GroupSpec) -> None:
    with translate_errors(f"codedeploy:CreateDeploymentGroup {spec.application}/{spec.name}"):
        aws.client("codedeploy").create_deployment_group(**group_request(spec))


def group_service(group: dict[str, Any]) -> tuple[str, str] | None:
    """(cluster, service) the deployment group deploys to, if it names one."""
    services = group.get("ecsServices") or []
    if not services:
        return None
    return str(services[0].get("clusterName", "")), str(services[0].get("serviceName", ""))


def ecs_service(aws: AwsClients, cluster: str, name: str) -> dict[str, Any] | None:
    """The ACTIVE service, or None: a deployment group can only be made for one that exists."""
    import botocore.exceptions as bx

    with translate_errors(f"ecs:DescribeServices {cluster}/{name}"):
        try:
            answer = aws.client("ecs").describe_services(cluster=cluster, services=[name])
        except bx.ClientError as exc:
            if error_code(exc) != "ClusterNotFoundException":
                raise
            return None
    found = [s for s in answer.get("services", []) if s.get("status") == "ACTIVE"]
    return dict(found[0]) if found else None
