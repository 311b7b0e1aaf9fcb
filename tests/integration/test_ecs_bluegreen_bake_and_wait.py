"""CodeDeploy blue/green after traffic moved: the bake (the deployment stays open and healthy,
the checks pass at each poll), finalize (to Succeeded through the termination wait), and
`inv wait --deployment d-...` to each of its ends. Stubber sequences against the CodeDeploy
and ECS service models; the environment URL is a real HTTP server; clocks are injected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shipyard.adapters.http import get
from shipyard.errors import DeployFailed, RolledBack, StateUnknown
from shipyard.rollout import api
from tests.integration.test_ecs_rollout_bluegreen import (
    BLUE,
    BOTH,
    GREEN,
    NAME,
    PROD_NEW,
    PROD_OLD,
    ROLLBACK,
    BlueGreen,
    bg_service,
    bg_target,
    deploy,
    taskset,
)
from tests.integration.test_ecs_stubber import FakeClock, Site, make_ctx
from tests.integration.test_ecs_stubber import creds as creds_fixture
from tests.integration.test_ecs_stubber import site as site_fixture

creds = creds_fixture
site = site_fixture

BAKE = {"target.bake_seconds": 10, "target.poll_seconds": 5}
# green carries production traffic, blue still runs (CodeDeploy's termination wait)
WAITING = bg_service(
    taskset("d-NEW", "PRIMARY", PROD_NEW, minute=5), taskset("d-OLD", "ACTIVE", PROD_OLD)
)


def moved(stubs: BlueGreen) -> None:
    """Lock ... create, then the first look finds traffic on the new task set (Baking)."""
    stubs.start()
    stubs.poll(
        "Baking", {"AllowTraffic": "Succeeded", "AfterAllowTraffic": "Succeeded"}, first=True
    )


def test_a_bake_that_holds_ends_in_success_after_the_whole_bake(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, _ = make_ctx(tmp_path, "production", site.url, **BAKE)
    clock = FakeClock()
    with BlueGreen(ctx) as stubs:
        moved(stubs)
        for _ in range(3):  # bake at t = 0, 5, 10: still open, checks pass
            stubs.info("Baking")
        stubs.poll("Succeeded", first=True)  # finalize
        stubs.ended(GREEN)
        result = deploy(ctx, clock)
        stubs.done()
    assert result.outcome == "succeeded"
    assert clock.now - 1000.0 == pytest.approx(10.0)
    assert stubs.stops == []
    assert stubs.outcomes(PROD_NEW) == ["shifting", "succeeded"]


def test_a_deployment_stopped_while_baking_is_rolled_back_by_codedeploy(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, _ = make_ctx(tmp_path, "production", site.url, **BAKE)
    clock = FakeClock()
    alarm = {"code": "ALARM_ACTIVE", "message": "gamepulse-production-5xx in ALARM"}
    with BlueGreen(ctx) as stubs:
        moved(stubs)
        stubs.info("Baking")  # t = 0
        stubs.info("Stopped", errorInformation=alarm, **ROLLBACK)  # t = 5: an alarm stopped it
        stubs.info("Stopped", errorInformation=alarm, **ROLLBACK)  # undo: it ended already
        stubs.rolled_back()
        stubs.ended(BLUE)
        with pytest.raises(RolledBack) as err:
            deploy(ctx, clock)
        stubs.done()
    message = err.value.message
    assert "gamepulse-production: while baking: deployment d-NEW Stopped: ALARM_ACTIVE" in message
    assert "(CodeDeploy rolls back in d-BACK)" in message
    assert "serves again" in message
    assert stubs.stops == []  # it was stopped already: nothing more to stop


def test_checks_failing_while_baking_stop_the_deployment_with_rollback(
    tmp_path: Path, creds: None, site: Site
) -> None:
    class Breaks(FakeClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            site.app.health = 502  # the release falls over during the bake

    ctx, _ = make_ctx(tmp_path, "production", site.url, **BAKE)
    clock = Breaks()
    with BlueGreen(ctx) as stubs:
        moved(stubs)
        stubs.info("Baking")  # t = 0: checks pass
        stubs.info("Baking")  # t = 5: still open, but the checks fail
        stubs.info("Baking")  # undo: open
        stubs.stop("Pending")
        stubs.info("Stopped", **ROLLBACK)
        stubs.rolled_back()
        stubs.ended(BLUE)
        with pytest.raises(RolledBack) as err:
            deploy(ctx, clock)
        stubs.done()
    assert "while baking: /health/" in err.value.message
    assert "HTTP 502" in err.value.message
    assert stubs.stops == ["d-NEW"]
    assert stubs.outcomes(PROD_NEW) == ["shifting", "rolled_back"]


def test_a_termination_wait_longer_than_the_timeout_is_left_to_codedeploy(
    tmp_path: Path, creds: None, site: Site
) -> None:
    """Traffic moved and the checks passed: only the old task set's termination is left. Not
    finished in time, that is a warning (CodeDeploy ends it), not a failure."""
    overrides = {"target.timeout_seconds": 10, "target.poll_seconds": 5}
    ctx, out = make_ctx(tmp_path, "production", site.url, **overrides)
    clock = FakeClock()
    with BlueGreen(ctx) as stubs:
        moved(stubs)
        stubs.poll("Baking", first=True)  # finalize, t = 0, 5, 10
        stubs.poll("Baking")
        stubs.poll("Baking")
        stubs.ended(WAITING)
        result = deploy(ctx, clock)
        stubs.done()
    assert result.outcome == "succeeded"
    assert result.serving["release_id"] == PROD_NEW
    assert "d-NEW still Baking after 10.0s: CodeDeploy finishes it on its own" in out.getvalue()
    assert stubs.stops == []


def test_a_deployment_failing_in_its_termination_wait_is_rolled_back(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, _ = make_ctx(tmp_path, "production", site.url)
    clock = FakeClock()
    error = {"code": "INTERNAL_ERROR", "message": "task set could not be deleted"}
    with BlueGreen(ctx) as stubs:
        moved(stubs)
        stubs.poll("Failed", first=True, extra={"errorInformation": error, **ROLLBACK})
        stubs.info("Failed", errorInformation=error, **ROLLBACK)  # undo: it ended
        stubs.rolled_back()
        stubs.ended(BLUE)
        with pytest.raises(RolledBack) as err:
            deploy(ctx, clock)
        stubs.done()
    assert "deployment d-NEW Failed: INTERNAL_ERROR: task set could not be deleted" in (
        err.value.message
    )
    assert stubs.outcomes(PROD_NEW) == ["shifting", "rolled_back"]


# -- inv wait --deployment d-... ------------------------------------------------------------------
def revision(taskdef: str) -> dict[str, Any]:
    content = json.dumps(
        {"Resources": [{"TargetService": {"Properties": {"TaskDefinition": taskdef}}}]}
    )
    return {"revisionType": "AppSpecContent", "appSpecContent": {"content": content}}


def wait(ctx: Any, clock: FakeClock) -> Any:
    target = bg_target(ctx, clock)
    return api.wait(ctx, follow="d-NEW", target=target, fetch=get, clock=clock, sleep=clock.sleep)


def test_wait_on_a_deployment_that_fails_records_it_and_exits_1_naming_what_serves(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, _ = make_ctx(tmp_path, "production", site.url)
    clock = FakeClock()
    error = {"code": "HEALTH_CONSTRAINTS", "message": "tasks failed to start"}
    with BlueGreen(ctx) as stubs:
        stubs.lock()
        stubs.describe(BOTH)
        stubs.tags(PROD_OLD, version="1.1.0", outcome="succeeded")
        stubs.info("InProgress", revision=revision(PROD_NEW), deploymentGroupName=NAME)
        stubs.poll("InProgress", first=True)
        stubs.poll("Failed", extra={"errorInformation": error, **ROLLBACK})
        stubs.tags(PROD_NEW, version="1.2.0", outcome="shifting")
        stubs.tag(PROD_NEW)
        stubs.describe(BLUE)
        with pytest.raises(DeployFailed) as err:
            wait(ctx, clock)
        stubs.done()
    assert err.value.exit_code == 1
    message = err.value.message
    assert message.startswith("gamepulse-production: 1.1.0 (")
    assert "serves; deployment d-NEW Failed: HEALTH_CONSTRAINTS: tasks failed to start" in message
    assert stubs.outcomes(PROD_NEW) == ["failed"]


def test_wait_that_runs_out_of_time_is_unknown_and_records_nothing(
    tmp_path: Path, creds: None, site: Site
) -> None:
    overrides = {"target.timeout_seconds": 10, "target.poll_seconds": 5}
    ctx, _ = make_ctx(tmp_path, "production", site.url, **overrides)
    clock = FakeClock()
    with BlueGreen(ctx) as stubs:
        stubs.lock()
        stubs.describe(BOTH)
        stubs.tags(PROD_OLD, version="1.1.0", outcome="succeeded")
        stubs.info("InProgress", revision=revision(PROD_NEW), deploymentGroupName=NAME)
        stubs.poll("InProgress", first=True)
        stubs.poll("InProgress")
        stubs.poll("InProgress")
        stubs.tags(PROD_NEW, version="1.2.0", outcome="shifting")
        with pytest.raises(StateUnknown) as err:
            wait(ctx, clock)
        stubs.done()
    assert err.value.exit_code == 3
    assert "deployment d-NEW still InProgress after 10.0s" in err.value.message
    assert stubs.tagged == []


def test_wait_on_a_deployment_whose_revision_cannot_be_read_settles_no_record(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, out = make_ctx(tmp_path, "production", site.url)
    clock = FakeClock()
    unreadable = {"revisionType": "AppSpecContent", "appSpecContent": {"content": "{not json"}}
    with BlueGreen(ctx) as stubs:
        stubs.lock()
        stubs.describe(GREEN)
        stubs.tags(PROD_NEW, version="1.2.0", outcome="succeeded")
        stubs.info("Succeeded", revision=unreadable, deploymentGroupName=NAME)
        stubs.poll("Succeeded", first=True)
        stubs.describe(GREEN)
        serving = wait(ctx, clock)
        stubs.done()
    assert serving.release_id == PROD_NEW
    assert stubs.tagged == []  # which revision it deployed is not known: no record is touched
    assert "deployment d-NEW of gamepulse-production Succeeded" in out.getvalue()
