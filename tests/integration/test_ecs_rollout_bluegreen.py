"""ECS blue/green through CodeDeploy under the rollout engine (production's config): the lifecycle
to Succeeded, CodeDeploy's own rollback, a verify failure once traffic moved (Baking) that stops
the deployment with rollback and watches it (issue 13 items 4, 5), an interrupt, a timeout,
--no-wait and `inv wait --deployment d-...`. Stubber sequences against the service models."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from shipyard.adapters.http import get
from shipyard.config.targets import ECS_HOOKS
from shipyard.context import Context
from shipyard.errors import Interrupted, LockHeld, RolledBack, StateUnknown
from shipyard.rollout import api
from shipyard.targets.base import DeployOptions, DeployResult
from shipyard.targets.ecs_bluegreen import EcsBlueGreenTarget
from tests.integration.test_ecs_stubber import (
    ACCOUNT,
    ARTIFACT,
    CLUSTER,
    REGION,
    FakeClock,
    Interrupting,
    Site,
    Stubs,
    arn,
    make_ctx,
)
from tests.integration.test_ecs_stubber import creds as creds_fixture
from tests.integration.test_ecs_stubber import site as site_fixture

creds = creds_fixture
site = site_fixture

NAME = "gamepulse-production"
PROD_OLD = arn(NAME, 7)
PROD_NEW = arn(NAME, 8)


def taskset(external: str, status: str, taskdef: str, minute: int = 0) -> dict[str, Any]:
    return {
        "id": f"ecs-svc/{external}",
        "taskSetArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-set/{CLUSTER}/{NAME}/{external}",
        "externalId": external,
        "startedBy": "CODE_DEPLOY",
        "status": status,
        "taskDefinition": taskdef,
        "stabilityStatus": "STEADY_STATE",
        "createdAt": dt.datetime(2026, 1, 1, 0, minute, tzinfo=dt.UTC),
    }


def bg_service(*sets: dict[str, Any]) -> dict[str, Any]:
    primary = next((s["taskDefinition"] for s in sets if s["status"] == "PRIMARY"), PROD_OLD)
    return {
        "serviceName": NAME,
        "status": "ACTIVE",
        "taskDefinition": primary,
        "deploymentController": {"type": "CODE_DEPLOY"},
        "deployments": [],
        "taskSets": list(sets),
        "events": [],
    }


BLUE = bg_service(taskset("d-OLD", "PRIMARY", PROD_OLD))
BOTH = bg_service(
    taskset("d-OLD", "PRIMARY", PROD_OLD), taskset("d-NEW", "ACTIVE", PROD_NEW, minute=5)
)
GREEN = bg_service(taskset("d-NEW", "PRIMARY", PROD_NEW, minute=5))


class BlueGreen(Stubs):
    def start(self, old: str = PROD_OLD, new: str = PROD_NEW) -> None:
        """Lock, observe, reconcile, no deployment open, alarms OK, image, register, record
        shifting, create the deployment."""
        self.lock()
        self.settled(BLUE, old)
        self.cd.add_response(
            "list_deployments",
            {"deployments": []},
            {
                "applicationName": "gamepulse",
                "deploymentGroupName": NAME,
                "includeOnlyStatuses": ["Created", "Queued", "InProgress", "Baking", "Ready"],
            },
        )
        self.cw.add_response(
            "describe_alarms",
            {"MetricAlarms": [{"AlarmName": f"{NAME}-5xx", "StateValue": "OK"}]},
            {"AlarmNames": [f"{NAME}-5xx"], "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]},
        )
        self.image()
        self.register(new)
        self.tag(new)
        self.cd.add_response("create_deployment", {"deploymentId": "d-NEW"}, None)

    def poll(
        self,
        status: str,
        events: dict[str, str] | None = None,
        *,
        dep_id: str = "d-NEW",
        first: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """One look at a deployment: get_deployment and its ECS lifecycle events."""
        self.cd.add_response(
            "get_deployment",
            {"deploymentInfo": {"deploymentId": dep_id, "status": status, **(extra or {})}},
            {"deploymentId": dep_id},
        )
        if first:
            self.cd.add_response(
                "list_deployment_targets", {"targetIds": ["cluster:svc"]}, {"deploymentId": dep_id}
            )
        lifecycle = [{"lifecycleEventName": k, "status": v} for k, v in (events or {}).items()]
        self.cd.add_response(
            "get_deployment_target",
            {
                "deploymentTarget": {
                    "deploymentTargetType": "ECSTarget",
                    "ecsTarget": {
                        "deploymentId": dep_id,
                        "targetId": "cluster:svc",
                        "lifecycleEvents": lifecycle,
                    },
                }
            },
            {"deploymentId": dep_id, "targetId": "cluster:svc"},
        )

    def info(self, status: str, dep_id: str = "d-NEW", **extra: Any) -> None:
        self.cd.add_response(
            "get_deployment",
            {"deploymentInfo": {"deploymentId": dep_id, "status": status, **extra}},
            {"deploymentId": dep_id},
        )

    def stop(self, status: str = "Pending") -> None:
        self.cd.add_response(
            "stop_deployment",
            {"status": status, "statusMessage": "stopping"},
            {"deploymentId": "d-NEW", "autoRollbackEnabled": True},
        )

    def rolled_back(self) -> None:
        """CodeDeploy's rollback deployment d-BACK, watched to Succeeded."""
        self.poll("InProgress", dep_id="d-BACK", first=True)
        self.poll("Succeeded", dep_id="d-BACK")

    def ended(self, svc: dict[str, Any]) -> None:
        self.describe(svc)
        self.tag(PROD_NEW)
        self.metrics()


ROLLBACK = {"rollbackInfo": {"rollbackDeploymentId": "d-BACK"}}


def bg_target(ctx: Context, clock: FakeClock) -> EcsBlueGreenTarget:
    return EcsBlueGreenTarget(ctx, clock=clock, sleep=clock.sleep)


def deploy(ctx: Context, clock: FakeClock, **opts: Any) -> DeployResult:
    return api.deploy(
        ctx,
        ARTIFACT,
        DeployOptions(**opts),
        target=bg_target(ctx, clock),
        fetch=get,
        clock=clock,
        sleep=clock.sleep,
    )


def test_codedeploy_lifecycle_runs_to_succeeded(tmp_path: Path, creds: None, site: Site) -> None:
    # hooks come from config only (the AppSpec template names none); listed out of order
    hooks = {h: f"gamepulse-production-{h.lower()}" for h in reversed(ECS_HOOKS)}
    ctx, out = make_ctx(tmp_path, "production", site.url, **{"target.codedeploy.hooks": hooks})
    clock = FakeClock()
    with BlueGreen(ctx) as stubs:
        stubs.start()
        stubs.poll(
            "InProgress", {"BeforeInstall": "Succeeded", "Install": "InProgress"}, first=True
        )
        stubs.poll("Baking", {"Install": "Succeeded", "AfterAllowTraffic": "Succeeded"})
        stubs.poll("Succeeded", first=True)  # finalize: to Succeeded, termination wait and all
        stubs.ended(GREEN)
        result = deploy(ctx, clock)
        stubs.done()
    assert result.outcome == "succeeded"
    assert result.serving["release_id"] == PROD_NEW
    assert stubs.outcomes(PROD_NEW) == ["shifting", "succeeded"]
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
    assert stubs.stops == []


@pytest.mark.parametrize("status", ["Failed", "Stopped"])
def test_codedeploy_failure_is_rolled_back_by_codedeploy_and_that_is_watched(
    tmp_path: Path, creds: None, site: Site, status: str
) -> None:
    ctx, _ = make_ctx(tmp_path, "production", site.url)
    clock = FakeClock()
    error = {"code": "HOOK_FAILED", "message": "AfterAllowTestTraffic failed"}
    with BlueGreen(ctx) as stubs:
        stubs.start()
        stubs.poll("InProgress", {"BeforeInstall": "Succeeded"}, first=True)
        stubs.poll(
            status,
            {"AfterAllowTestTraffic": "Failed"},
            extra={"errorInformation": error, **ROLLBACK},
        )
        stubs.info(status, **ROLLBACK)  # undo: it ended; CodeDeploy rolls back in d-BACK
        stubs.rolled_back()
        stubs.ended(BLUE)
        with pytest.raises(RolledBack) as err:
            deploy(ctx, clock)
        stubs.done()
    message = err.value.message
    assert f"d-NEW {status}" in message
    assert "HOOK_FAILED" in message
    assert "d-BACK" in message
    assert "serves again" in message
    assert stubs.stops == []  # it had ended: nothing to stop
    assert stubs.outcomes(PROD_NEW) == ["shifting", "rolled_back"]


@pytest.mark.parametrize("broken", ["5xx", "wrong version"])
def test_verify_failure_once_traffic_moved_stops_the_deployment_with_rollback(
    tmp_path: Path, creds: None, site: Site, broken: str
) -> None:
    """Issue 13 items 4 and 5: Baking (traffic on the new task set), the release answers 5xx or
    the old version: the open deployment is stopped with rollback and the rollback watched."""
    if broken == "5xx":
        site.app.health = 500
    else:
        site.app.version = "1.1.0"
    ctx, _ = make_ctx(tmp_path, "production", site.url)
    clock = FakeClock()
    with BlueGreen(ctx) as stubs:
        stubs.start()
        stubs.poll("InProgress", {"BeforeInstall": "Succeeded"}, first=True)
        stubs.poll("Baking", {"AfterAllowTraffic": "Succeeded"})
        stubs.info("Baking")  # undo: still open
        stubs.stop("Pending")
        stubs.info("Baking")  # the rollback is not named yet
        stubs.info("Stopped", **ROLLBACK)
        stubs.rolled_back()
        stubs.ended(BLUE)
        with pytest.raises(RolledBack) as err:
            deploy(ctx, clock)
        stubs.done()
    assert "verify failed" in err.value.message
    assert "serves again" in err.value.message
    assert stubs.stops == ["d-NEW"]
    assert stubs.outcomes(PROD_NEW) == ["shifting", "rolled_back"]


def test_ctrl_c_stops_the_deployment_with_rollback_and_watches_it(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, _ = make_ctx(tmp_path, "production", site.url)
    clock = Interrupting(at=1)
    with BlueGreen(ctx) as stubs:
        stubs.start()
        stubs.poll("InProgress", {"BeforeInstall": "InProgress"}, first=True)
        stubs.info("InProgress")
        stubs.stop("Pending")
        stubs.info("Stopped", **ROLLBACK)
        stubs.rolled_back()
        stubs.ended(BLUE)
        with pytest.raises(Interrupted) as err:
            deploy(ctx, clock)
        stubs.done()
    assert err.value.exit_code == 130
    assert "interrupted during wait_shifted" in err.value.message
    assert "serves again" in err.value.message
    assert stubs.stops == ["d-NEW"]
    assert stubs.outcomes(PROD_NEW) == ["shifting", "interrupted"]


def test_timeout_stops_with_rollback_and_reports_what_serves(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, _ = make_ctx(
        tmp_path, "production", site.url, **{"target.timeout_seconds": 10, "target.poll_seconds": 5}
    )
    clock = FakeClock()
    with BlueGreen(ctx) as stubs:
        stubs.start()
        stubs.poll("InProgress", {"BeforeInstall": "InProgress"}, first=True)
        stubs.poll("InProgress", {"BeforeInstall": "InProgress"})
        stubs.poll("InProgress", {"BeforeInstall": "InProgress"})
        stubs.info("InProgress")
        stubs.stop("Succeeded")
        stubs.info("Stopped", **ROLLBACK)
        stubs.rolled_back()
        stubs.ended(BLUE)
        with pytest.raises(RolledBack) as err:
            deploy(ctx, clock)
        stubs.done()
    assert "still InProgress after 10" in err.value.message
    assert err.value.exit_code == 1


def test_a_rollback_that_never_finishes_is_unknown_exit_3(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, _ = make_ctx(
        tmp_path, "production", site.url, **{"target.timeout_seconds": 5, "target.poll_seconds": 5}
    )
    clock = FakeClock()
    with BlueGreen(ctx) as stubs:
        stubs.start()
        stubs.poll("InProgress", first=True)
        stubs.poll("InProgress")
        stubs.info("InProgress")
        stubs.stop("Pending")
        stubs.info("Stopped", **ROLLBACK)
        stubs.poll("InProgress", dep_id="d-BACK", first=True)
        stubs.poll("InProgress", dep_id="d-BACK")
        stubs.describe(
            bg_service(
                taskset("d-OLD", "ACTIVE", PROD_OLD), taskset("d-NEW", "ACTIVE", PROD_NEW, 5)
            )
        )
        stubs.tag(PROD_NEW)
        stubs.metrics()
        with pytest.raises(StateUnknown) as err:
            deploy(ctx, clock)
        stubs.done()
    assert err.value.exit_code == 3
    assert "cannot be told" in err.value.message
    assert "d-NEW still InProgress" in err.value.message
    assert stubs.outcomes(PROD_NEW) == ["shifting", "unknown"]


def test_no_wait_returns_naming_the_open_codedeploy_deployment(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, _ = make_ctx(tmp_path, "production", site.url)
    clock = FakeClock()
    with BlueGreen(ctx) as stubs:
        stubs.start()
        stubs.describe(BOTH)
        result = deploy(ctx, clock, wait=False)
        stubs.done()
    assert result.outcome == "in_progress"
    assert "CodeDeploy deployment d-NEW of gamepulse-production continues" in result.message
    assert result.details["deployment_id"] == "d-NEW"
    assert stubs.outcomes(PROD_NEW) == ["shifting"]


def test_wait_follows_a_codedeploy_deployment_to_succeeded(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, out = make_ctx(tmp_path, "production", site.url)
    clock = FakeClock()
    content = json.dumps(
        {"Resources": [{"TargetService": {"Properties": {"TaskDefinition": PROD_NEW}}}]}
    )
    revision = {"revisionType": "AppSpecContent", "appSpecContent": {"content": content}}
    with BlueGreen(ctx) as stubs:
        stubs.lock()
        stubs.describe(BOTH)
        stubs.tags(PROD_OLD, version="1.1.0", outcome="succeeded")
        stubs.info("Baking", revision=revision, deploymentGroupName=NAME)
        stubs.poll("Baking", first=True)
        stubs.poll("Succeeded")
        stubs.tags(PROD_NEW, version="1.2.0", outcome="shifting")
        stubs.tag(PROD_NEW)
        stubs.describe(GREEN)
        serving = api.wait(
            ctx,
            follow="d-NEW",
            target=bg_target(ctx, clock),
            fetch=get,
            clock=clock,
            sleep=clock.sleep,
        )
        stubs.done()
    assert serving.release_id == PROD_NEW
    assert serving.version == "1.2.0"
    assert stubs.outcomes(PROD_NEW) == ["succeeded"]
    assert "deployment d-NEW of gamepulse-production Succeeded" in out.getvalue()


def test_refuses_while_a_codedeploy_deployment_is_open(
    tmp_path: Path, creds: None, site: Site
) -> None:

    ctx, _ = make_ctx(tmp_path, "production", site.url)
    clock = FakeClock()
    with BlueGreen(ctx) as stubs:
        stubs.lock()
        stubs.settled(BLUE, PROD_OLD)
        stubs.cd.add_response("list_deployments", {"deployments": ["d-OTHER"]}, None)
        stubs.describe(BLUE)
        with pytest.raises(LockHeld, match="CodeDeploy deployment d-OTHER"):
            deploy(ctx, clock)
        stubs.done()
    assert stubs.created == []
