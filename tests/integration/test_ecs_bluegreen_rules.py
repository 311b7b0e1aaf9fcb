"""The rules of the CodeDeploy blue/green target (targets/ecs_bluegreen.py) one phase at a time:
what the AppSpec sent to CodeDeploy holds, the exact lines and messages a user sees, which
status ends a watch, when the rollback deployment counts as named, and how `inv wait
--deployment d-...` picks the service and settles its record.

The rollout-level tests (test_ecs_rollout_bluegreen.py, test_ecs_bluegreen_*.py) drive whole
deploys; these call the target's phases directly, so each rule is pinned by one short Stubber
sequence (checked against the real CodeDeploy and ECS service models, with the parameters each
call must send), with an injected clock and the console's own output."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import ANY

from shipyard.errors import ConfigError, DeployFailed, LockHeld, VerifyFailed
from shipyard.rollout.model import Attempt, Serving
from shipyard.targets.ecs_bluegreen import EcsBlueGreenTarget, _taskdef_of, _why
from shipyard.targets.ecs_watch import Move, Watched
from tests.integration.test_ecs_rollout_bluegreen import (
    BLUE,
    BOTH,
    GREEN,
    NAME,
    PROD_NEW,
    PROD_OLD,
    ROLLBACK,
    BlueGreen,
)
from tests.integration.test_ecs_stubber import ARTIFACT, CLUSTER, FakeClock, arn, make_ctx
from tests.integration.test_ecs_stubber import creds as creds_fixture

creds = creds_fixture

ADMIN = "gamepulse-admin"
TWO_SERVICES = {
    "target.services": [
        {"name": NAME, "container_port": 8080},
        {"name": ADMIN, "container_port": 8080, "deployment_group": ADMIN},
    ]
}
URL = "http://127.0.0.1:9"  # the environment URL: no check runs in these tests
APPSPEC = "deploy/codedeploy/appspec.json"
_STAMP = re.compile(r"^\[\d\d:\d\d:\d\d\] ")


class Harness:
    """A blue/green target on production's config, its fake clock and what it printed."""

    def __init__(self, tmp_path: Path, url: str, **overrides: Any) -> None:
        self.ctx, self.out = make_ctx(tmp_path, "production", url, **overrides)
        self.clock = FakeClock()
        self.target = EcsBlueGreenTarget(self.ctx, clock=self.clock, sleep=self.clock.sleep)

    def lines(self) -> list[str]:
        """The console's lines without their time stamps."""
        return [_STAMP.sub("", line) for line in self.out.getvalue().splitlines()]

    def service(self, index: int = 0) -> Any:
        return self.target.cfg.services[index]

    def move(
        self,
        *,
        previous: str | None = PROD_OLD,
        new: str = PROD_NEW,
        deployment: str = "d-NEW",
        moved: bool = True,
        index: int = 0,
    ) -> Move:
        return Move(
            self.service(index), "gamepulse", previous, new, deployment=deployment, moved=moved
        )

    def write_appspec(self, template: Any) -> None:
        text = template if isinstance(template, str) else json.dumps(template)
        (self.ctx.root / APPSPEC).write_text(text)


def attempt(*moves: Move) -> Attempt:
    return Attempt("deploy", ARTIFACT, Serving(True), state={"moves": list(moves)})


def info(dep_id: str, status: str, **extra: Any) -> dict[str, Any]:
    """A get_deployment deploymentInfo as CodeDeploy answers it."""
    return {"deploymentId": dep_id, "status": status, **extra}


# -- _taskdef_of: which revision a deployment's AppSpec puts live ----------------------------------
def _content(spec: Any) -> dict[str, Any]:
    return {"revisionType": "AppSpecContent", "appSpecContent": {"content": json.dumps(spec)}}


@pytest.mark.parametrize(
    ("deployment", "expected"),
    [
        (
            {
                "revision": _content(
                    {"Resources": [{"TargetService": {"Properties": {"TaskDefinition": PROD_NEW}}}]}
                )
            },
            PROD_NEW,
        ),
        ({}, ""),  # no revision at all
        ({"revision": {"revisionType": "AppSpecContent"}}, ""),  # no appSpecContent
        ({"revision": {"appSpecContent": {}}}, ""),  # no content
        ({"revision": {"appSpecContent": {"content": "{not json"}}}, ""),
        ({"revision": _content({"Resources": []})}, ""),
        ({"revision": _content({"Resources": [{"Other": {}}]})}, ""),  # no TargetService
        ({"revision": _content({"Resources": [{"TargetService": {}}]})}, ""),  # no Properties
        ({"revision": _content({"Resources": [{"TargetService": {"Properties": {}}}]})}, ""),
    ],
)
def test_the_taskdef_a_deployment_puts_live_is_read_from_its_appspec_or_is_empty(
    deployment: dict[str, Any], expected: str
) -> None:
    """Whatever part of the AppSpec is missing, the answer is '' (no record is then touched),
    never an exception and never the text 'None'."""
    assert _taskdef_of(deployment) == expected


# -- _why: the reason a failed deployment is reported with -----------------------------------------
@pytest.mark.parametrize(
    ("deployment", "expected"),
    [
        ({}, "deployment d-1 ?: ?"),
        ({"status": "Failed"}, "deployment d-1 Failed: Failed"),
        ({"status": "Failed", "errorInformation": {}}, "deployment d-1 Failed: Failed"),
        (
            {"status": "Failed", "errorInformation": {"code": "HOOK_FAILED"}},
            "deployment d-1 Failed: HOOK_FAILED",
        ),
        (
            {"status": "Stopped", "errorInformation": {"message": "stopped by alarm"}},
            "deployment d-1 Stopped: stopped by alarm",
        ),
        (
            {"status": "Failed", "errorInformation": {"code": "E", "message": "m"}, **ROLLBACK},
            "deployment d-1 Failed: E: m (CodeDeploy rolls back in d-BACK)",
        ),
        ({"status": "Failed", "rollbackInfo": {}}, "deployment d-1 Failed: Failed"),
    ],
)
def test_why_a_deployment_ended_names_its_status_error_and_rollback(
    deployment: dict[str, Any], expected: str
) -> None:
    assert _why("d-1", deployment) == expected


# -- the target's own config -----------------------------------------------------------------------
def test_the_target_refuses_a_config_without_codedeploy(tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path, "staging", URL)  # staging is the rolling ECS target
    with pytest.raises(ConfigError) as err:
        EcsBlueGreenTarget(ctx)
    assert err.value.message == "the ecs-bluegreen target needs [target.codedeploy]"


# -- the AppSpec sent to CodeDeploy ----------------------------------------------------------------
def test_appspec_keeps_the_templates_network_and_capacity_with_placeholders_filled(
    tmp_path: Path, creds: None
) -> None:
    h = Harness(tmp_path, URL)
    network = {"awsvpcConfiguration": {"Subnets": ["{{project}}-{{environment}}-{{region}}"]}}
    capacity = [{"CapacityProvider": "{{service}}-spot", "Weight": 1}]
    properties = {
        "TaskDefinition": "set by shipyard",
        "PlatformVersion": "1.4.0",
        "NetworkConfiguration": network,
        "CapacityProviderStrategy": capacity,
    }
    h.write_appspec({"Resources": [{"TargetService": {"Properties": properties}}]})
    spec = h.target.appspec(h.service(), PROD_NEW)
    assert spec["Resources"][0]["TargetService"]["Properties"] == {
        "TaskDefinition": PROD_NEW,
        "LoadBalancerInfo": {"ContainerName": "gamepulse", "ContainerPort": 8080},
        "PlatformVersion": "1.4.0",
        "NetworkConfiguration": {
            "awsvpcConfiguration": {"Subnets": ["gamepulse-production-ap-northeast-2"]}
        },
        "CapacityProviderStrategy": [{"CapacityProvider": f"{NAME}-spot", "Weight": 1}],
    }


@pytest.mark.parametrize(
    "template",
    [
        {"version": 0.0},  # no Resources
        {"Resources": [{"Other": {}}]},  # a resource without TargetService
        {"Resources": [{"TargetService": {"Type": "AWS::ECS::Service"}}]},  # without Properties
    ],
)
def test_appspec_from_a_template_without_target_properties_has_only_shipyards(
    tmp_path: Path, creds: None, template: dict[str, Any]
) -> None:
    h = Harness(tmp_path, URL)
    h.write_appspec(template)
    spec = h.target.appspec(h.service(), PROD_NEW)
    assert spec == {
        "version": 0.0,
        "Resources": [
            {
                "TargetService": {
                    "Type": "AWS::ECS::Service",
                    "Properties": {
                        "TaskDefinition": PROD_NEW,
                        "LoadBalancerInfo": {"ContainerName": "gamepulse", "ContainerPort": 8080},
                    },
                }
            }
        ],
    }


def test_an_unknown_placeholder_in_the_appspec_names_the_file_and_key(
    tmp_path: Path, creds: None
) -> None:
    h = Harness(tmp_path, URL)
    h.write_appspec(
        {"Resources": [{"TargetService": {"Properties": {"PlatformVersion": "{{x}}"}}}]}
    )
    with pytest.raises(ConfigError) as err:
        h.target.appspec(h.service(), PROD_NEW)
    assert err.value.message == (
        f"{APPSPEC}: Resources[0].TargetService.Properties.PlatformVersion: "
        "unknown placeholder {{x}}"
    )


def test_an_appspec_that_is_not_json_names_the_file_and_line(tmp_path: Path, creds: None) -> None:
    h = Harness(tmp_path, URL)
    h.write_appspec('{\n  "Resources": [,\n}')
    with pytest.raises(ConfigError) as err:
        h.target.appspec(h.service(), PROD_NEW)
    assert err.value.message == f"{APPSPEC}: not valid JSON: Expecting value at line 2"


# -- shift: create_deployment ----------------------------------------------------------------------
def test_the_shift_creates_a_deployment_described_by_version_and_shows_the_short_config(
    tmp_path: Path, creds: None
) -> None:
    h = Harness(tmp_path, URL)
    m = h.move(moved=False, deployment="")
    with BlueGreen(h.ctx) as stubs:
        stubs.cd.add_response(
            "create_deployment",
            {"deploymentId": "d-NEW"},
            {
                "applicationName": "gamepulse",
                "deploymentGroupName": NAME,
                "revision": ANY,
                "deploymentConfigName": "CodeDeployDefault.ECSCanary10Percent5Minutes",
                "description": "shipyard production: 1.2.0 gamepulse-production:8",
                "autoRollbackConfiguration": ANY,
            },
        )
        h.target.start_move(m, attempt(m))
        stubs.done()
    assert m.moved is True
    assert m.deployment == "d-NEW"
    assert h.lines() == [f"{NAME}: CodeDeploy deployment d-NEW (ECSCanary10Percent5Minutes)"]


def test_an_open_codedeploy_deployment_is_refused_with_how_to_wait_for_it(
    tmp_path: Path, creds: None
) -> None:
    h = Harness(tmp_path, URL)
    with BlueGreen(h.ctx) as stubs:
        stubs.cd.add_response(
            "list_deployments",
            {"deployments": ["d-OTHER"]},
            {
                "applicationName": "gamepulse",
                "deploymentGroupName": NAME,
                "includeOnlyStatuses": ["Created", "Queued", "InProgress", "Baking", "Ready"],
            },
        )
        with pytest.raises(LockHeld) as err:
            h.target.refuse_busy(Serving(True, PROD_OLD))
        stubs.done()
    assert err.value.message == (
        f"a deployment is already in progress: CodeDeploy deployment d-OTHER of gamepulse/{NAME}"
    )
    assert err.value.hint == (
        "wait for it (inv wait --env production --deployment d-OTHER), then deploy again"
    )


# -- watch: following a deployment -----------------------------------------------------------------
def test_watch_shows_each_new_status_and_lifecycle_event_once_and_says_when_approval_waits(
    tmp_path: Path, creds: None
) -> None:
    h = Harness(tmp_path, URL, **{"target.poll_seconds": 5})
    installed = {"BeforeInstall": "Succeeded"}
    with BlueGreen(h.ctx) as stubs:
        stubs.poll("InProgress", installed, first=True)
        stubs.poll("InProgress", installed)
        stubs.poll("Ready", installed)
        stubs.poll("Succeeded", {**installed, "AfterAllowTraffic": "Succeeded"})
        watched = h.target.watch(h.move(), moved=False, deadline=h.clock() + 100)
        stubs.done()
    assert watched is None
    assert h.lines() == [
        f"{NAME}: deployment d-NEW InProgress",
        f"{NAME}: BeforeInstall Succeeded",
        f"{NAME}: deployment d-NEW Ready",
        f"{NAME}: waiting for the traffic reroute to be approved",
        f"{NAME}: deployment d-NEW Succeeded",
        f"{NAME}: AfterAllowTraffic Succeeded",
    ]


@pytest.mark.parametrize("status", ["Failed", "Stopped"])
def test_watch_of_a_deployment_that_ended_badly_returns_failed_with_its_info(
    tmp_path: Path, creds: None, status: str
) -> None:
    h = Harness(tmp_path, URL)
    error = {"code": "HOOK_FAILED", "message": "AfterInstall failed"}
    with BlueGreen(h.ctx) as stubs:
        stubs.poll(status, first=True, extra={"errorInformation": error, **ROLLBACK})
        watched = h.target.watch(h.move(), moved=True, deadline=h.clock() + 100)
        stubs.done()
    reason = f"deployment d-NEW {status}: HOOK_FAILED: AfterInstall failed"
    assert watched == Watched(
        "failed",
        NAME,
        f"{reason} (CodeDeploy rolls back in d-BACK)",
        None,
        info("d-NEW", status, errorInformation=error, **ROLLBACK),
    )


def test_watch_that_runs_out_of_time_returns_timeout_naming_the_status(
    tmp_path: Path, creds: None
) -> None:
    h = Harness(tmp_path, URL, **{"target.timeout_seconds": 10, "target.poll_seconds": 5})
    with BlueGreen(h.ctx) as stubs:
        stubs.poll("InProgress", first=True)
        stubs.poll("InProgress")
        stubs.poll("InProgress")
        watched = h.target.watch(h.move(), moved=True, deadline=h.target.deadline())
        stubs.done()
    assert watched == Watched("timeout", NAME, "deployment d-NEW still InProgress after 10.0s")
    assert h.lines() == [f"{NAME}: deployment d-NEW InProgress"]
    assert h.clock.now == 1010.0


def test_watch_of_a_deployment_without_a_status_shows_a_question_mark(
    tmp_path: Path, creds: None
) -> None:
    h = Harness(tmp_path, URL, **{"target.timeout_seconds": 5, "target.poll_seconds": 5})
    with BlueGreen(h.ctx) as stubs:
        for _ in range(2):  # t = 0 and 5; no ECS target listed yet either time
            stubs.cd.add_response(
                "get_deployment", {"deploymentInfo": {"deploymentId": "d-NEW"}}, None
            )
            stubs.cd.add_response("list_deployment_targets", {"targetIds": []}, None)
        watched = h.target.watch(h.move(), moved=True, deadline=h.target.deadline())
        stubs.done()
    assert watched == Watched("timeout", NAME, "deployment d-NEW still ? after 5.0s")
    assert h.lines() == [f"{NAME}: deployment d-NEW ?"]


@pytest.mark.parametrize(
    ("status", "events"),
    [("Baking", {}), ("InProgress", {"AfterAllowTraffic": "Succeeded"})],
)
def test_traffic_counts_as_moved_once_baking_or_after_allow_traffic_succeeded(
    tmp_path: Path, creds: None, status: str, events: dict[str, str]
) -> None:
    """One look is enough: the watch returns at once (a further look would find no stub)."""
    h = Harness(tmp_path, URL)
    with BlueGreen(h.ctx) as stubs:
        stubs.poll(status, events, first=True)
        watched = h.target.watch(h.move(), moved=True, deadline=h.clock() + 100)
        stubs.done()
    assert watched is None
    assert h.lines()[-1] == f"{NAME}: traffic on gamepulse-production:8 ({status})"


def test_lifecycle_events_that_cannot_be_read_are_a_warning_and_the_status_decides(
    tmp_path: Path, creds: None
) -> None:
    h = Harness(tmp_path, URL)
    with BlueGreen(h.ctx) as stubs:
        stubs.info("Succeeded")
        stubs.cd.add_client_error(
            "list_deployment_targets",
            service_error_code="AccessDeniedException",
            service_message="not allowed",
        )
        watched = h.target.watch(h.move(), moved=False, deadline=h.clock() + 100)
        stubs.done()
    assert watched is None
    text = h.out.getvalue()
    assert f"{NAME}: lifecycle events unavailable: " in text
    assert "codedeploy:ListDeploymentTargets d-NEW: access denied" in text


# -- bake and finalize -----------------------------------------------------------------------------
def _healthy() -> str | None:
    return None


@pytest.mark.parametrize("status", ["Failed", "Stopped"])
def test_a_deployment_that_ended_badly_while_baking_fails_the_bake(
    tmp_path: Path, creds: None, status: str
) -> None:
    h = Harness(tmp_path, URL)
    m = h.move()
    with BlueGreen(h.ctx) as stubs:
        stubs.info(status)
        with pytest.raises(DeployFailed) as err:
            h.target.bake(attempt(m), h.clock() + 10, _healthy)
        stubs.done()
    assert err.value.message == f"{NAME}: while baking: deployment d-NEW {status}: {status}"


def test_the_bake_ends_exactly_at_its_end_even_between_polls(tmp_path: Path, creds: None) -> None:
    """A 7 s bake polled every 5 s looks at t = 0, 5 and 7: the last sleep is what is left."""
    h = Harness(tmp_path, URL, **{"target.poll_seconds": 5})
    with BlueGreen(h.ctx) as stubs:
        for _ in range(3):
            stubs.info("Baking")
        h.target.bake(attempt(h.move()), h.clock() + 7, _healthy)
        stubs.done()
    assert h.clock.now == 1007.0
    assert h.clock.sleeps == 2


def test_a_check_failing_while_baking_is_a_verify_failure(tmp_path: Path, creds: None) -> None:
    h = Harness(tmp_path, URL)
    with BlueGreen(h.ctx) as stubs:
        stubs.info("Baking")
        with pytest.raises(VerifyFailed) as err:
            h.target.bake(attempt(h.move()), h.clock() + 10, lambda: "/health/: HTTP 502")
        stubs.done()
    assert err.value.message == "while baking: /health/: HTTP 502"


def test_finalize_watches_every_moved_service_past_one_that_did_not_move(
    tmp_path: Path, creds: None
) -> None:
    h = Harness(tmp_path, URL, **TWO_SERVICES)
    unmoved = h.move(previous=arn(NAME, 1), new=arn(NAME, 2), moved=False, deployment="")
    admin = h.move(previous=arn(ADMIN, 1), new=arn(ADMIN, 2), deployment="d-ADM", index=1)
    with BlueGreen(h.ctx) as stubs:
        stubs.poll("Succeeded", dep_id="d-ADM", first=True)
        h.target.finalize(attempt(unmoved, admin))
        stubs.done()
    assert h.lines() == [f"{ADMIN}: deployment d-ADM Succeeded"]


# -- undo ------------------------------------------------------------------------------------------
def test_undo_of_an_open_deployment_stops_it_with_rollback_and_watches_the_rollback(
    tmp_path: Path, creds: None
) -> None:
    """The rollback is named while the stopped deployment is still InProgress: that answer is
    enough (no further get_deployment); the rollback Baking is not its end."""
    h = Harness(tmp_path, URL)
    with BlueGreen(h.ctx) as stubs:
        stubs.info("InProgress")
        stubs.stop("Pending")
        stubs.info("InProgress", **ROLLBACK)
        stubs.poll("Baking", dep_id="d-BACK", first=True)
        stubs.poll("Succeeded", dep_id="d-BACK")
        note = h.target.undo(attempt(h.move()))
        stubs.done()
    assert note == f"{NAME}: CodeDeploy rolled d-NEW back (d-BACK Succeeded)"
    assert stubs.stops == ["d-NEW"]
    assert h.lines()[0] == f"{NAME}: stopped d-NEW with rollback (Pending)"


def test_a_stopped_deployment_that_names_no_rollback_is_not_asked_again(
    tmp_path: Path, creds: None
) -> None:
    """Stopped (final) without a rollback: the wait for one ends; the previous revision
    serves already, so there is nothing to undo."""
    h = Harness(tmp_path, URL)
    with BlueGreen(h.ctx) as stubs:
        stubs.info("InProgress")
        stubs.stop("Pending")
        stubs.info("Stopped")
        stubs.describe(BLUE)
        note = h.target.undo(attempt(h.move()))
        stubs.done()
    assert note == f"{NAME}: gamepulse-production:7 serves: nothing to undo"
    assert h.clock.sleeps == 0


def test_the_wait_for_a_rollback_to_be_named_ends_at_the_deadline(
    tmp_path: Path, creds: None
) -> None:
    h = Harness(tmp_path, URL, **{"target.timeout_seconds": 10, "target.poll_seconds": 5})
    with BlueGreen(h.ctx) as stubs:
        stubs.info("InProgress")
        stubs.stop("Pending")
        for _ in range(3):  # t = 0, 5, 10: still InProgress, no rollback named
            stubs.info("InProgress")
        stubs.describe(BOTH)
        note = h.target.undo(attempt(h.move()))
        stubs.done()
    assert h.clock.now == 1010.0
    assert note == f"{NAME}: gamepulse-production:7 serves: nothing to undo"


def test_a_codedeploy_rollback_that_fails_is_reported_as_such(tmp_path: Path, creds: None) -> None:
    h = Harness(tmp_path, URL)
    error = {"code": "HEALTH_CONSTRAINTS", "message": "no tasks"}
    with BlueGreen(h.ctx) as stubs:
        stubs.info("Failed", **ROLLBACK)
        stubs.poll("Failed", dep_id="d-BACK", first=True, extra={"errorInformation": error})
        with pytest.raises(DeployFailed) as err:
            h.target.undo(attempt(h.move()))
        stubs.done()
    assert err.value.message == (
        f"{NAME}: the CodeDeploy rollback: deployment d-BACK Failed: HEALTH_CONSTRAINTS: no tasks"
    )


def test_undo_of_a_succeeded_deployment_redeploys_the_previous_revision_to_its_end(
    tmp_path: Path, creds: None
) -> None:
    """The redeploy's Baking is not its end: undo waits for Succeeded."""
    h = Harness(tmp_path, URL)
    with BlueGreen(h.ctx) as stubs:
        stubs.info("Succeeded")
        stubs.describe(GREEN)
        stubs.cd.add_response(
            "create_deployment",
            {"deploymentId": "d-UNDO"},
            {
                "applicationName": "gamepulse",
                "deploymentGroupName": NAME,
                "revision": ANY,
                "deploymentConfigName": "CodeDeployDefault.ECSCanary10Percent5Minutes",
                "description": "shipyard production: undo gamepulse-production:7",
                "autoRollbackConfiguration": ANY,
            },
        )
        stubs.poll("Baking", dep_id="d-UNDO", first=True)
        stubs.poll("Succeeded", dep_id="d-UNDO")
        note = h.target.undo(attempt(h.move()))
        stubs.done()
    assert note == f"{NAME}: back on gamepulse-production:7 (deployment d-UNDO)"
    spec = json.loads(stubs.created[0]["revision"]["appSpecContent"]["content"])
    assert spec["Resources"][0]["TargetService"]["Properties"]["TaskDefinition"] == PROD_OLD


# -- inv wait --deployment d-... -------------------------------------------------------------------
def _revision(taskdef: str) -> dict[str, Any]:
    return _content({"Resources": [{"TargetService": {"Properties": {"TaskDefinition": taskdef}}}]})


@pytest.mark.parametrize(
    ("group", "service"),
    [(ADMIN, ADMIN), (NAME, NAME), ("a-group-no-service-has", NAME)],
)
def test_wait_follows_the_deployment_of_the_service_its_group_names_and_settles_it_live(
    tmp_path: Path, creds: None, group: str, service: str
) -> None:
    """The deployment group picks the service (the first one when none matches); its revision
    still recorded shifting is settled succeeded and live (deployed-at stamped)."""
    h = Harness(tmp_path, URL, **TWO_SERVICES)
    revision = arn(service, 3)
    with BlueGreen(h.ctx) as stubs:
        stubs.info("InProgress", revision=_revision(revision), deploymentGroupName=group)
        stubs.poll("Succeeded", first=True)
        stubs.tags(revision, version="1.2.0", outcome="shifting")
        stubs.ecs.add_response(
            "tag_resource",
            {},
            {
                "resourceArn": revision,
                "tags": [
                    {"key": "shipyard:outcome", "value": "succeeded"},
                    {"key": "shipyard:deployed-at", "value": ANY},
                ],
            },
        )
        notes = h.target.reconcile(Serving(True), follow="d-NEW")
        stubs.done()
    assert notes == [f"deployment d-NEW of {service} Succeeded: {service}:3 serves"]


def test_wait_on_an_ecs_deployment_id_follows_it_as_the_rolling_target_does(
    tmp_path: Path, creds: None
) -> None:
    h = Harness(tmp_path, URL)
    with BlueGreen(h.ctx) as stubs:
        stubs.ecs.add_response(
            "describe_services",
            {"services": [BLUE]},
            {"cluster": CLUSTER, "services": [NAME]},
        )
        stubs.tags(PROD_OLD, version="1.1.0", outcome="succeeded")
        with pytest.raises(DeployFailed) as err:
            h.target.reconcile(Serving(False), follow="ecs-svc/123")
        stubs.done()
    assert err.value.message.startswith(
        f"deployment ecs-svc/123 is not on {NAME} (it ended and another replaced it); "
    )
