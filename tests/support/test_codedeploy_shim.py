"""The CodeDeploy shim against moto in server mode: an ECS blue/green deployment runs to
Succeeded one stage per GetDeployment, switching the service's task sets as CodeDeploy does;
a bad AppSpec fails it; StopDeployment with rollback puts the original task set back."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.conftest import MotoServer
from tests.support.codedeploy_shim import codedeploy_deployments_complete

REGION = "ap-northeast-2"
CLUSTER = "c"
SERVICE = "svc"


def _clients(aws: MotoServer) -> tuple[Any, Any]:
    kw = {"endpoint_url": aws.endpoint, "region_name": REGION}
    return boto3.client("ecs", **kw), boto3.client("codedeploy", **kw)


def _taskdef(ecs: Any, image: str) -> str:
    return str(
        ecs.register_task_definition(
            family="f",
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="256",
            memory="512",
            containerDefinitions=[
                {"name": "app", "image": image, "portMappings": [{"containerPort": 8080}]}
            ],
        )["taskDefinition"]["taskDefinitionArn"]
    )


@pytest.fixture
def blue(aws: MotoServer) -> dict[str, Any]:
    ecs, cd = _clients(aws)
    ecs.create_cluster(clusterName=CLUSTER)
    old = _taskdef(ecs, "app@sha256:" + "1" * 64)
    ecs.create_service(
        cluster=CLUSTER,
        serviceName=SERVICE,
        taskDefinition=old,
        desiredCount=1,
        launchType="FARGATE",
        deploymentController={"type": "CODE_DEPLOY"},
    )
    first = ecs.create_task_set(
        cluster=CLUSTER, service=SERVICE, taskDefinition=old, launchType="FARGATE"
    )["taskSet"]["taskSetArn"]
    ecs.update_service_primary_task_set(cluster=CLUSTER, service=SERVICE, primaryTaskSet=first)
    cd.create_application(applicationName="a", computePlatform="ECS")
    cd.create_deployment_group(
        applicationName="a",
        deploymentGroupName="g",
        serviceRoleArn="arn:aws:iam::123456789012:role/cd",
        ecsServices=[{"serviceName": SERVICE, "clusterName": CLUSTER}],
    )
    return {"ecs": ecs, "cd": cd, "old": old, "new": _taskdef(ecs, "app@sha256:" + "2" * 64)}


def _create(cd: Any, taskdef: str, container: str = "app", port: int = 8080) -> str:
    spec = {
        "version": 0.0,
        "Resources": [
            {
                "TargetService": {
                    "Type": "AWS::ECS::Service",
                    "Properties": {
                        "TaskDefinition": taskdef,
                        "LoadBalancerInfo": {"ContainerName": container, "ContainerPort": port},
                    },
                }
            }
        ],
    }
    content = json.dumps(spec)
    return str(
        cd.create_deployment(
            applicationName="a",
            deploymentGroupName="g",
            revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": content}},
        )["deploymentId"]
    )


def _sets(ecs: Any) -> list[tuple[str, str]]:
    svc = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]
    return sorted((s["status"], s["taskDefinition"]) for s in svc["taskSets"])


def test_a_deployment_runs_to_succeeded_and_switches_the_task_sets(
    blue: dict[str, Any],
) -> None:
    ecs, cd, old, new = blue["ecs"], blue["cd"], blue["old"], blue["new"]
    with codedeploy_deployments_complete() as record:
        dep = _create(cd, new)
        assert cd.get_deployment(deploymentId=dep)["deploymentInfo"]["status"] == "InProgress"
        assert _sets(ecs) == [("ACTIVE", new), ("PRIMARY", old)]  # green is up, blue serves
        (target,) = cd.list_deployment_targets(deploymentId=dep)["targetIds"]
        assert target == f"{CLUSTER}:{SERVICE}"
        assert cd.get_deployment(deploymentId=dep)["deploymentInfo"]["status"] == "Baking"
        assert _sets(ecs) == [("ACTIVE", old), ("PRIMARY", new)]  # traffic on green
        events = cd.get_deployment_target(deploymentId=dep, targetId=target)["deploymentTarget"]
        lifecycle = {
            e["lifecycleEventName"]: e["status"] for e in events["ecsTarget"]["lifecycleEvents"]
        }
        assert set(lifecycle.values()) == {"Succeeded"}
        assert cd.get_deployment(deploymentId=dep)["deploymentInfo"]["status"] == "Succeeded"
        assert _sets(ecs) == [("PRIMARY", new)]  # blue is gone
        assert record.deployments[dep].stages == ["Created", "InProgress", "Baking", "Succeeded"]
        listed = cd.list_deployments(
            applicationName="a", deploymentGroupName="g", includeOnlyStatuses=["InProgress"]
        )["deployments"]
        assert listed == []


def test_an_appspec_naming_a_missing_container_fails_and_moves_nothing(
    blue: dict[str, Any],
) -> None:
    ecs, cd, old, new = blue["ecs"], blue["cd"], blue["old"], blue["new"]
    with codedeploy_deployments_complete():
        dep = _create(cd, new, container="nope")
        info = cd.get_deployment(deploymentId=dep)["deploymentInfo"]
    assert info["status"] == "Failed"
    assert info["errorInformation"]["code"] == "INVALID_REVISION"
    assert "nope" in info["errorInformation"]["message"]
    assert _sets(ecs) == [("PRIMARY", old)]


def test_stop_with_rollback_puts_the_original_task_set_back(blue: dict[str, Any]) -> None:
    ecs, cd, old, new = blue["ecs"], blue["cd"], blue["old"], blue["new"]
    with codedeploy_deployments_complete():
        dep = _create(cd, new)
        cd.get_deployment(deploymentId=dep)
        cd.get_deployment(deploymentId=dep)  # Baking: traffic on green
        stopped = cd.stop_deployment(deploymentId=dep, autoRollbackEnabled=True)
        assert stopped["status"] == "Pending"
        info = cd.get_deployment(deploymentId=dep)["deploymentInfo"]
        assert info["status"] == "Stopped"
        back = info["rollbackInfo"]["rollbackDeploymentId"]
        rollback = cd.get_deployment(deploymentId=back)["deploymentInfo"]
    assert rollback["status"] == "Succeeded"
    assert rollback["creator"] == "codeDeployRollback"
    assert _sets(ecs) == [("PRIMARY", old)]


def test_moto_is_itself_again_afterwards(blue: dict[str, Any]) -> None:
    cd = blue["cd"]
    with codedeploy_deployments_complete():
        pass
    dep = _create(cd, blue["new"])
    assert cd.get_deployment(deploymentId=dep)["deploymentInfo"]["status"] == "Created"
    with pytest.raises(cd.exceptions.ClientError):
        cd.list_deployment_targets(deploymentId=dep)
