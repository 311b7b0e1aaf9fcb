"""inv run on ECS: a one-off task of the live revision, placed as the service places its tasks.

moto in server mode runs the one-off task (RUNNING to STOPPED as describe_tasks is asked) with
its log on moto's CloudWatch Logs; the request's placement, exit codes moto never produces, stop
reasons and Ctrl-C go through botocore's Stubber with the ECS service model."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from shipyard.errors import DeployFailed
from shipyard.operations.ecs_exec_run import ecs_run, run_request
from shipyard.operations.exec_run import CommandOptions
from tests.conftest import MotoServer
from tests.support.ecs_exec_run import (
    CLUSTER,
    FARGATE_SERVICE,
    LIVE,
    NETWORK,
    REGION,
    SERVICE,
    TASK,
    Stubs,
    make_ctx,
    rendered,
)
from tests.support.ecs_stubs import creds

__all__ = ["creds"]  # the fixture


# -- ECS run on moto ----------------------------------------------------------------------------
def test_ecs_run_on_moto_waits_for_stopped_and_streams_the_task_s_log(
    tmp_path: Path, aws: MotoServer
) -> None:
    ctx, out = make_ctx(tmp_path)
    ecs = boto3.client("ecs", endpoint_url=aws.endpoint, region_name=REGION)
    logs = boto3.client("logs", endpoint_url=aws.endpoint, region_name=REGION)
    document = rendered(ctx)
    # moto runs bridge-mode tasks with container memory only (its awsvpc tasks get no ENI)
    document.pop("requiresCompatibilities")
    document["networkMode"] = "bridge"
    for c in document["containerDefinitions"]:
        c["memory"] = 256
    ec2 = boto3.client("ec2", endpoint_url=aws.endpoint, region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="app", Description="app", VpcId=vpc)["GroupId"]
    ecs.create_cluster(clusterName=CLUSTER)
    arn = ecs.register_task_definition(**document)["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster=CLUSTER,
        serviceName=SERVICE,
        taskDefinition=arn,
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}
        },
    )
    logs.create_log_group(logGroupName="/ecs/gamepulse-staging")
    polls: list[float] = []

    def sleep(seconds: float) -> None:
        """The task writes its output while shipyard waits (as the awslogs driver would)."""
        polls.append(seconds)
        if len(polls) == 1:
            (task,) = ecs.list_tasks(cluster=CLUSTER, startedBy="shipyard-run")["taskArns"]
            stream = f"gamepulse/gamepulse/{task.rsplit('/', 1)[-1]}"
            logs.create_log_stream(logGroupName="/ecs/gamepulse-staging", logStreamName=stream)
            events = [{"timestamp": int(time.time() * 1000), "message": "migrated 3"}]
            logs.put_log_events(
                logGroupName="/ecs/gamepulse-staging", logStreamName=stream, logEvents=events
            )

    opts = CommandOptions(("./manage.py", "migrate"))
    result = ecs_run(ctx, opts, sleep=sleep)
    assert result.exit_code == 0
    assert result.facts["task_definition"] == arn
    assert "migrated 3" in out.getvalue().splitlines()
    assert len(polls) == 3  # RUNNING -> DEACTIVATING -> STOPPING -> DEPROVISIONING -> STOPPED
    described = ecs.describe_tasks(cluster=CLUSTER, tasks=[result.where])["tasks"][0]
    assert described["overrides"]["containerOverrides"] == [
        {"name": "gamepulse", "command": ["./manage.py", "migrate"]}
    ]
    assert described["startedBy"] == "shipyard-run"


def run_started(stubs: Stubs, expected: dict[str, Any]) -> None:
    stubs.ecs.add_response(
        "run_task",
        {"tasks": [{"taskArn": TASK, "lastStatus": "PROVISIONING"}], "failures": []},
        expected,
    )


def request(**extra: Any) -> dict[str, Any]:
    return {
        "cluster": CLUSTER,
        "taskDefinition": LIVE,
        "count": 1,
        "startedBy": "shipyard-run",
        "overrides": {"containerOverrides": [{"name": "gamepulse", "command": ["sh", "-c", "x"]}]},
        **extra,
    }


def never_sleep(_seconds: float) -> None:
    return None


def test_ecs_run_uses_the_service_s_network_and_exits_with_the_container_s_code(
    tmp_path: Path, creds: None
) -> None:
    ctx, out = make_ctx(tmp_path)
    with Stubs(ctx) as stubs:
        stubs.live(FARGATE_SERVICE)
        run_started(
            stubs,
            request(launchType="FARGATE", platformVersion="1.4.0", networkConfiguration=NETWORK),
        )
        stubs.described(lastStatus="RUNNING")
        stubs.log("starting")
        stubs.described(
            lastStatus="STOPPED",
            stopCode="EssentialContainerExited",
            stoppedReason="Essential container in task exited",
            containers=[{"name": "gamepulse", "exitCode": 3}],
        )
        stubs.log("failed: 3 rows", after="f/1", then="f/2")
        result = ecs_run(ctx, CommandOptions(("sh", "-c", "x")), sleep=never_sleep)
        stubs.done()
    assert result.exit_code == 3
    assert result.detail == "Essential container in task exited"
    shown = out.getvalue()
    assert "starting\n" in shown
    assert "failed: 3 rows\n" in shown
    assert "stopped: Essential container in task exited (gamepulse exited 3)" in shown


def test_ecs_run_of_a_task_that_never_ran_fails_with_its_reason(
    tmp_path: Path, creds: None
) -> None:
    ctx, _ = make_ctx(tmp_path)
    with Stubs(ctx) as stubs:
        stubs.live(FARGATE_SERVICE)
        run_started(
            stubs,
            request(launchType="FARGATE", platformVersion="1.4.0", networkConfiguration=NETWORK),
        )
        stubs.described(
            lastStatus="STOPPED",
            stopCode="TaskFailedToStart",
            stoppedReason="CannotPullContainerError: pull image manifest has been retried 5 times",
            containers=[{"name": "gamepulse", "lastStatus": "STOPPED"}],
        )
        stubs.logs.add_client_error("get_log_events", "ResourceNotFoundException", "no stream")
        with pytest.raises(DeployFailed, match="stopped before gamepulse ran: CannotPull") as err:
            ecs_run(ctx, CommandOptions(("sh", "-c", "x")), sleep=never_sleep)
        stubs.done()
    assert err.value.exit_code == 1


def test_ecs_run_places_as_the_service_does_capacity_providers_and_task_sets(
    tmp_path: Path, creds: None
) -> None:
    ctx, _ = make_ctx(tmp_path)
    from shipyard.operations.live import EcsService, ecs_target

    target = ecs_target(ctx)
    strategy = [{"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 0}]
    doc = rendered(ctx)

    def live_with(described: dict[str, Any]) -> EcsService:
        return EcsService(target, target.cfg.services[0], described, LIVE, doc)

    spot = run_request(live_with({"capacityProviderStrategy": strategy}), "gamepulse", ("x",))
    assert spot["capacityProviderStrategy"] == strategy
    assert "launchType" not in spot
    blue_green = {
        "taskSets": [
            {
                "status": "ACTIVE",
                "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["s-old"]}},
            },
            {"status": "PRIMARY", "launchType": "FARGATE", "networkConfiguration": NETWORK},
        ]
    }
    placed = run_request(live_with(blue_green), "gamepulse", ("x",))
    assert placed["networkConfiguration"] == NETWORK
    assert placed["launchType"] == "FARGATE"


def test_ecs_run_interrupted_stops_the_task(tmp_path: Path, creds: None) -> None:
    ctx, out = make_ctx(tmp_path)

    def ctrl_c(_seconds: float) -> None:
        raise KeyboardInterrupt

    with Stubs(ctx) as stubs:
        stubs.live(FARGATE_SERVICE)
        run_started(
            stubs,
            request(launchType="FARGATE", platformVersion="1.4.0", networkConfiguration=NETWORK),
        )
        stubs.described(lastStatus="RUNNING")
        stubs.logs.add_client_error("get_log_events", "ResourceNotFoundException", "no stream")
        stubs.ecs.add_response(
            "stop_task",
            {"task": {"taskArn": TASK}},
            {"cluster": CLUSTER, "task": TASK, "reason": "interrupted: stopped by inv run"},
        )
        with pytest.raises(KeyboardInterrupt):
            ecs_run(ctx, CommandOptions(("sh", "-c", "x")), sleep=ctrl_c)
        stubs.done()
    assert "stopped task 0123456789abcdef" in out.getvalue()


def test_ecs_run_that_ecs_cannot_place_fails_with_its_reason(tmp_path: Path, creds: None) -> None:
    ctx, _ = make_ctx(tmp_path)
    with Stubs(ctx) as stubs:
        stubs.live(FARGATE_SERVICE)
        stubs.ecs.add_response(
            "run_task",
            {"tasks": [], "failures": [{"reason": "RESOURCE:MEMORY", "detail": "no room"}]},
            {
                **request(
                    launchType="FARGATE", platformVersion="1.4.0", networkConfiguration=NETWORK
                ),
            },
        )
        with pytest.raises(DeployFailed, match="did not start the task: RESOURCE:MEMORY"):
            ecs_run(ctx, CommandOptions(("sh", "-c", "x")), sleep=never_sleep)
        stubs.done()
