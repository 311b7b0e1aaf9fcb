"""ECS rollout and CodeDeploy lifecycle sequences that moto cannot produce, fed through botocore's
Stubber (every request and response is checked against the AWS service model). Clocks and
sleeps are injected, so the timeout cases take no time."""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from shipyard.adapters.http import HttpAnswer
from shipyard.config import load_config
from shipyard.console import Console
from shipyard.context import Context
from shipyard.errors import DeployFailed, RolledBack, StateUnknown
from shipyard.targets.base import Artifact, DeployOptions
from shipyard.targets.ecs import EcsTarget
from shipyard.targets.ecs_bluegreen import EcsBlueGreenTarget

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
REGION = "ap-northeast-2"
DIGEST = "sha256:" + "ab" * 32
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/gamepulse@{DIGEST}"
ARTIFACT = Artifact("1.2.0", IMAGE, DIGEST, "c0ffee" * 6 + "c0ff")
CLUSTER = "gamepulse-cluster"


def arn(family: str, rev: int) -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{family}:{rev}"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.001)


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def make_ctx(tmp_path: Path, env: str, **overrides: Any) -> tuple[Context, io.StringIO]:
    root = tmp_path / "proj"
    shutil.copytree(REPO / "deploy", root / "deploy")
    (root / "version.txt").write_text("1.2.0\n")
    config = load_config(env, root=root, overrides=overrides, environ={})
    out = io.StringIO()
    return Context(config=config, root=root, console=Console(out=out, err=out), environ={}), out


def ok_fetch(url: str, timeout: float) -> HttpAnswer:
    return HttpAnswer(200, "ok 1.2.0")


def service(
    deployments: list[dict[str, Any]], events: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "serviceName": "gamepulse-staging",
        "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}",
        "status": "ACTIVE",
        "desiredCount": 2,
        "runningCount": 2,
        "taskDefinition": next(
            d["taskDefinition"] for d in deployments if d["status"] == "PRIMARY"
        ),
        "deployments": deployments,
        "events": events or [],
    }


def dep(
    dep_id: str,
    status: str,
    taskdef: str,
    state: str,
    running: int = 0,
    failed: int = 0,
    reason: str = "",
) -> dict[str, Any]:
    return {
        "id": dep_id,
        "status": status,
        "taskDefinition": taskdef,
        "rolloutState": state,
        "desiredCount": 2,
        "runningCount": running,
        "pendingCount": 2 - running,
        "failedTasks": failed,
        "rolloutStateReason": reason or f"ECS deployment {dep_id} {state.lower()}.",
        "createdAt": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    }


def event(n: int, text: str) -> dict[str, Any]:
    return {
        "id": f"ev-{n}",
        "createdAt": dt.datetime(2026, 1, 1, 0, n, tzinfo=dt.UTC),
        "message": text,
    }


OLD = arn("gamepulse-staging", 4)
NEW = arn("gamepulse-staging", 5)


class Rolling:
    """Stubbers for one rolling deploy of gamepulse-staging from :4 to :5."""

    def __init__(self, ctx: Context) -> None:
        self.ecs = Stubber(ctx.aws.client("ecs"))
        self.ecr = Stubber(ctx.aws.client("ecr"))
        self.cw = Stubber(ctx.aws.client("cloudwatch"))
        self.logs = Stubber(ctx.aws.client("logs"))
        self.all = (self.ecs, self.ecr, self.cw, self.logs)

    def __enter__(self) -> Rolling:
        for s in self.all:
            s.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        for s in self.all:
            s.deactivate()

    def done(self) -> None:
        for s in self.all:
            s.assert_no_pending_responses()

    def describe(self, svc: dict[str, Any]) -> None:
        self.ecs.add_response(
            "describe_services",
            {"services": [svc]},
            {"cluster": CLUSTER, "services": ["gamepulse-staging"]},
        )

    def start(self) -> None:
        """Pre-flight, registration and the update that starts deployment ecs-svc/new."""
        self.describe(
            service([dep("ecs-svc/old", "PRIMARY", OLD, "COMPLETED", 2)], [event(1, "steady")])
        )
        self.ecr.add_response(
            "describe_images",
            {
                "imageDetails": [
                    {"registryId": ACCOUNT, "repositoryName": "gamepulse", "imageDigest": DIGEST}
                ]
            },
            {
                "repositoryName": "gamepulse",
                "imageIds": [{"imageDigest": DIGEST}],
                "registryId": ACCOUNT,
            },
        )
        self.ecs.add_response(
            "register_task_definition",
            {
                "taskDefinition": {
                    "taskDefinitionArn": NEW,
                    "family": "gamepulse-staging",
                    "revision": 5,
                }
            },
            {
                **{
                    k: ANY
                    for k in (
                        "family",
                        "networkMode",
                        "requiresCompatibilities",
                        "cpu",
                        "memory",
                        "executionRoleArn",
                        "taskRoleArn",
                        "containerDefinitions",
                        "volumes",
                    )
                },
                "tags": ANY,
            },
        )
        self.ecs.add_response(
            "update_service",
            {
                "service": service(
                    [
                        dep("ecs-svc/new", "PRIMARY", NEW, "IN_PROGRESS"),
                        dep("ecs-svc/old", "ACTIVE", OLD, "COMPLETED", 2),
                    ],
                    [event(1, "steady")],
                )
            },
            {
                "cluster": CLUSTER,
                "service": "gamepulse-staging",
                "taskDefinition": NEW,
                "deploymentConfiguration": {
                    "deploymentCircuitBreaker": {"enable": True, "rollback": True}
                },
            },
        )

    def tag(self, outcome: str) -> None:
        self.ecs.add_response("tag_resource", {}, {"resourceArn": NEW, "tags": ANY})

    def metrics(self) -> None:
        self.cw.add_response("put_metric_data", {}, {"Namespace": "Shipyard", "MetricData": ANY})


def rolling_target(ctx: Context, clock: FakeClock) -> EcsTarget:
    return EcsTarget(ctx, clock=clock, sleep=clock.sleep, fetch=ok_fetch)


def test_in_progress_then_completed_is_success_and_shows_new_events(
    tmp_path: Path, creds: None
) -> None:
    ctx, out = make_ctx(tmp_path, "staging")
    clock = FakeClock()
    with Rolling(ctx) as stubs:
        stubs.start()
        stubs.describe(
            service(
                [
                    dep("ecs-svc/new", "PRIMARY", NEW, "IN_PROGRESS", 1),
                    dep("ecs-svc/old", "ACTIVE", OLD, "COMPLETED", 2),
                ],
                [event(2, "has started 1 tasks"), event(1, "steady")],
            )
        )
        stubs.describe(
            service(
                [dep("ecs-svc/new", "PRIMARY", NEW, "COMPLETED", 2)],
                [
                    event(3, "has reached a steady state"),
                    event(2, "has started 1 tasks"),
                    event(1, "steady"),
                ],
            )
        )
        stubs.tag("succeeded")
        stubs.metrics()
        result = rolling_target(ctx, clock).deploy(ARTIFACT, DeployOptions(lock_held=True))
        stubs.done()
    assert result.outcome == "succeeded"
    assert result.details["services"]["gamepulse-staging"]["deployment"] == "ecs-svc/new"
    text = out.getvalue()
    assert "IN_PROGRESS running 1/2" in text
    assert "has started 1 tasks" in text
    assert "has reached a steady state" in text
    assert "event: steady" not in text  # events from before the deploy are not replayed
    assert text.index("has started 1 tasks") < text.index("has reached a steady state")


def test_failed_with_circuit_breaker_rollback_is_failure_with_task_reasons(
    tmp_path: Path, creds: None
) -> None:
    ctx, out = make_ctx(tmp_path, "staging")
    clock = FakeClock()
    task_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/0123abcd"
    stopped = {
        "tasks": [
            {
                "taskArn": task_arn,
                "taskDefinitionArn": NEW,
                "lastStatus": "STOPPED",
                "stoppedReason": "Essential container in task exited",
                "containers": [{"name": "gamepulse", "exitCode": 1}],
            }
        ]
    }
    with Rolling(ctx) as stubs:
        stubs.start()
        stubs.describe(
            service(
                [
                    dep("ecs-svc/new", "PRIMARY", NEW, "IN_PROGRESS", 0, failed=1),
                    dep("ecs-svc/old", "ACTIVE", OLD, "COMPLETED", 2),
                ]
            )
        )

        def stopped_tasks(with_log: bool) -> None:
            stubs.ecs.add_response(
                "list_tasks",
                {"taskArns": [task_arn]},
                {
                    "cluster": CLUSTER,
                    "serviceName": "gamepulse-staging",
                    "desiredStatus": "STOPPED",
                },
            )
            stubs.ecs.add_response(
                "describe_tasks", stopped, {"cluster": CLUSTER, "tasks": [task_arn]}
            )
            if with_log:
                stubs.logs.add_response(
                    "get_log_events",
                    {"events": [{"timestamp": 1, "message": "panic: DB_PASSWORD rejected"}]},
                    {
                        "logGroupName": "/ecs/gamepulse-staging",
                        "logStreamName": "gamepulse/gamepulse/0123abcd",
                        "limit": 20,
                        "startFromHead": False,
                    },
                )

        stopped_tasks(with_log=True)  # failures appeared: reasons and log tail
        # the circuit breaker gave up: our deployment FAILED, the old revision is PRIMARY again,
        # and the service still looks "stable" (2/2 running)
        stubs.describe(
            service(
                [
                    dep("ecs-svc/rollback", "PRIMARY", OLD, "IN_PROGRESS", 2),
                    dep(
                        "ecs-svc/new",
                        "ACTIVE",
                        NEW,
                        "FAILED",
                        0,
                        failed=3,
                        reason="ECS deployment circuit breaker: tasks failed to start.",
                    ),
                ]
            )
        )
        stopped_tasks(with_log=False)  # looked at again, nothing new to print
        stubs.tag("failed")
        stubs.metrics()
        with pytest.raises(RolledBack) as err:
            rolling_target(ctx, clock).deploy(ARTIFACT, DeployOptions(lock_held=True))
        stubs.done()
    assert err.value.exit_code == 1
    assert "circuit breaker" in err.value.message
    assert "gamepulse-staging:4" in err.value.message
    text = out.getvalue()
    assert "Essential container in task exited" in text
    assert "panic: DB_PASSWORD rejected" in text


def test_deployment_disappearing_is_failure_even_though_the_service_is_stable(
    tmp_path: Path, creds: None
) -> None:
    ctx, _ = make_ctx(tmp_path, "staging")
    clock = FakeClock()
    with Rolling(ctx) as stubs:
        stubs.start()
        stubs.describe(service([dep("ecs-svc/rollback", "PRIMARY", OLD, "COMPLETED", 2)]))
        stubs.tag("failed")
        stubs.metrics()
        with pytest.raises(DeployFailed) as err:
            rolling_target(ctx, clock).deploy(ARTIFACT, DeployOptions(lock_held=True))
        stubs.done()
    assert "ecs-svc/new disappeared" in err.value.message
    assert err.value.exit_code == 1


def test_stuck_rollout_times_out_as_unknown_exit_3(tmp_path: Path, creds: None) -> None:
    ctx, _ = make_ctx(
        tmp_path, "staging", **{"target.timeout_seconds": 30, "target.poll_seconds": 5}
    )
    clock = FakeClock()
    with Rolling(ctx) as stubs:
        stubs.start()
        for _ in range(6):  # t = 5, 10, ... 30 s
            stubs.describe(
                service(
                    [
                        dep("ecs-svc/new", "PRIMARY", NEW, "IN_PROGRESS", 1),
                        dep("ecs-svc/old", "ACTIVE", OLD, "COMPLETED", 2),
                    ]
                )
            )
        stubs.metrics()
        with pytest.raises(StateUnknown) as err:
            rolling_target(ctx, clock).deploy(ARTIFACT, DeployOptions(lock_held=True))
        stubs.done()
    assert err.value.exit_code == 3
    assert "state is unknown" in err.value.message
    assert "describe-services" in (err.value.hint or "")
    assert clock.now - 1000.0 == pytest.approx(30, abs=0.1)


def test_no_wait_registers_and_updates_only(tmp_path: Path, creds: None) -> None:
    ctx, _ = make_ctx(tmp_path, "staging")
    with Rolling(ctx) as stubs:
        stubs.start()
        result = rolling_target(ctx, FakeClock()).deploy(
            ARTIFACT, DeployOptions(lock_held=True, wait=False)
        )
        stubs.done()
    assert result.outcome == "unknown"
    assert result.details["waited"] is False


# -- CodeDeploy blue/green --------------------------------------------------------------------
PROD_OLD = arn("gamepulse-production", 7)
PROD_NEW = arn("gamepulse-production", 8)


class BlueGreen:
    def __init__(self, ctx: Context) -> None:
        self.ecs = Stubber(ctx.aws.client("ecs"))
        self.ecr = Stubber(ctx.aws.client("ecr"))
        self.cw = Stubber(ctx.aws.client("cloudwatch"))
        self.cd = Stubber(ctx.aws.client("codedeploy"))
        self.all = (self.ecs, self.ecr, self.cw, self.cd)
        self.created: list[dict[str, Any]] = []
        ctx.aws.client("codedeploy").meta.events.register(
            "provide-client-params.codedeploy.CreateDeployment",
            lambda params, **_: self.created.append(dict(params)),
        )

    def __enter__(self) -> BlueGreen:
        for s in self.all:
            s.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        for s in self.all:
            s.deactivate()

    def done(self) -> None:
        for s in self.all:
            s.assert_no_pending_responses()

    def start(self) -> None:
        svc = {
            "serviceName": "gamepulse-production",
            "status": "ACTIVE",
            "taskDefinition": PROD_OLD,
            "deploymentController": {"type": "CODE_DEPLOY"},
            "deployments": [],
            "events": [],
        }
        self.ecs.add_response(
            "describe_services",
            {"services": [svc]},
            {"cluster": CLUSTER, "services": ["gamepulse-production"]},
        )
        self.cd.add_response(
            "list_deployments",
            {"deployments": []},
            {
                "applicationName": "gamepulse",
                "deploymentGroupName": "gamepulse-production",
                "includeOnlyStatuses": ["Created", "Queued", "InProgress", "Baking", "Ready"],
            },
        )
        self.cw.add_response(
            "describe_alarms",
            {
                "MetricAlarms": [
                    {
                        "AlarmName": "gamepulse-production-5xx",
                        "StateValue": "OK",
                        "StateReason": "fine",
                    }
                ]
            },
            {
                "AlarmNames": ["gamepulse-production-5xx"],
                "AlarmTypes": ["MetricAlarm", "CompositeAlarm"],
            },
        )
        self.ecr.add_response(
            "describe_images",
            {"imageDetails": [{"imageDigest": DIGEST}]},
            {
                "repositoryName": "gamepulse",
                "imageIds": [{"imageDigest": DIGEST}],
                "registryId": ACCOUNT,
            },
        )
        self.ecs.add_response(
            "register_task_definition", {"taskDefinition": {"taskDefinitionArn": PROD_NEW}}, None
        )
        self.cd.add_response("create_deployment", {"deploymentId": "d-NEW"}, None)

    def poll(
        self,
        status: str,
        events: dict[str, str],
        *,
        first: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.cd.add_response(
            "get_deployment",
            {"deploymentInfo": {"deploymentId": "d-NEW", "status": status, **(extra or {})}},
            {"deploymentId": "d-NEW"},
        )
        if first:
            self.cd.add_response(
                "list_deployment_targets", {"targetIds": ["cluster:svc"]}, {"deploymentId": "d-NEW"}
            )
        self.cd.add_response(
            "get_deployment_target",
            {
                "deploymentTarget": {
                    "deploymentTargetType": "ECSTarget",
                    "ecsTarget": {
                        "deploymentId": "d-NEW",
                        "targetId": "cluster:svc",
                        "lifecycleEvents": [
                            {"lifecycleEventName": k, "status": v} for k, v in events.items()
                        ],
                    },
                }
            },
            {"deploymentId": "d-NEW", "targetId": "cluster:svc"},
        )

    def records(self) -> None:
        self.ecs.add_response("tag_resource", {}, {"resourceArn": PROD_NEW, "tags": ANY})
        self.cw.add_response("put_metric_data", {}, {"Namespace": "Shipyard", "MetricData": ANY})


def bg_target(ctx: Context, clock: FakeClock) -> EcsBlueGreenTarget:
    return EcsBlueGreenTarget(ctx, clock=clock, sleep=clock.sleep, fetch=ok_fetch)


def test_codedeploy_lifecycle_succeeded(tmp_path: Path, creds: None) -> None:
    ctx, out = make_ctx(tmp_path, "production")
    clock = FakeClock()
    with BlueGreen(ctx) as stubs:
        stubs.start()
        stubs.poll(
            "InProgress", {"BeforeInstall": "Succeeded", "Install": "InProgress"}, first=True
        )
        stubs.poll(
            "Succeeded",
            {
                "BeforeInstall": "Succeeded",
                "Install": "Succeeded",
                "AfterAllowTraffic": "Succeeded",
            },
        )
        stubs.records()
        result = bg_target(ctx, clock).deploy(ARTIFACT, DeployOptions(lock_held=True))
        stubs.done()
    assert result.outcome == "succeeded"
    created = stubs.created[0]
    assert created["deploymentConfigName"] == "CodeDeployDefault.ECSCanary10Percent5Minutes"
    assert created["autoRollbackConfiguration"] == {
        "enabled": True,
        "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"],
    }
    spec = json.loads(created["revision"]["appSpecContent"]["content"])
    props = spec["Resources"][0]["TargetService"]["Properties"]
    assert props["TaskDefinition"] == PROD_NEW
    assert props["LoadBalancerInfo"] == {"ContainerName": "gamepulse", "ContainerPort": 8080}
    assert [next(iter(h)) for h in spec["Hooks"]] == [
        "BeforeInstall",
        "AfterInstall",
        "AfterAllowTestTraffic",
        "BeforeAllowTraffic",
        "AfterAllowTraffic",
    ]
    text = out.getvalue()
    assert "BeforeInstall Succeeded" in text
    assert "Install InProgress" in text


@pytest.mark.parametrize("status", ["Failed", "Stopped"])
def test_codedeploy_failed_or_stopped_is_failure_and_rolled_back(
    tmp_path: Path, creds: None, status: str
) -> None:
    ctx, _ = make_ctx(tmp_path, "production")
    clock = FakeClock()
    with BlueGreen(ctx) as stubs:
        stubs.start()
        stubs.poll("InProgress", {"BeforeInstall": "Succeeded"}, first=True)
        stubs.poll(
            status,
            {"BeforeInstall": "Succeeded", "AfterAllowTestTraffic": "Failed"},
            extra={
                "errorInformation": {
                    "code": "HOOK_FAILED",
                    "message": "AfterAllowTestTraffic failed",
                },
                "rollbackInfo": {"rollbackDeploymentId": "d-BACK"},
            },
        )
        stubs.ecs.add_response("tag_resource", {}, {"resourceArn": PROD_NEW, "tags": ANY})
        stubs.cw.add_response("put_metric_data", {}, {"Namespace": "Shipyard", "MetricData": ANY})
        with pytest.raises(RolledBack) as err:
            bg_target(ctx, clock).deploy(ARTIFACT, DeployOptions(lock_held=True))
        stubs.done()
    assert f"d-NEW {status}" in err.value.message
    assert "HOOK_FAILED" in err.value.message
    assert "d-BACK" in err.value.message


@pytest.mark.parametrize(
    ("stop_status", "error"), [("Succeeded", RolledBack), ("Pending", StateUnknown)]
)
def test_codedeploy_timeout_stops_with_rollback(
    tmp_path: Path, creds: None, stop_status: str, error: type[Exception]
) -> None:
    ctx, _ = make_ctx(
        tmp_path, "production", **{"target.timeout_seconds": 10, "target.poll_seconds": 5}
    )
    clock = FakeClock()
    with BlueGreen(ctx) as stubs:
        stubs.start()
        stubs.poll("InProgress", {"BeforeInstall": "InProgress"}, first=True)
        stubs.poll("InProgress", {"BeforeInstall": "InProgress"})
        stubs.poll("InProgress", {"BeforeInstall": "InProgress"})
        stubs.cd.add_response(
            "stop_deployment",
            {"status": stop_status, "statusMessage": "stopping"},
            {"deploymentId": "d-NEW", "autoRollbackEnabled": True},
        )
        if error is RolledBack:
            stubs.ecs.add_response("tag_resource", {}, {"resourceArn": PROD_NEW, "tags": ANY})
        stubs.cw.add_response("put_metric_data", {}, {"Namespace": "Shipyard", "MetricData": ANY})
        with pytest.raises(error) as err:
            bg_target(ctx, clock).deploy(ARTIFACT, DeployOptions(lock_held=True))
        stubs.done()
    assert "timed out" in str(err.value)
    assert getattr(err.value, "exit_code", None) == (1 if error is RolledBack else 3)
