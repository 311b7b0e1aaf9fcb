"""CodeDeploy blue/green undo when the deployment has already ended (Succeeded) with our
release serving: there is nothing to stop and no CodeDeploy rollback, so the previous revision
is deployed again and that deployment watched (ecs_bluegreen.py `_redeploy`). Stubber
sequences checked against the CodeDeploy and ECS service models; verify talks to a real HTTP
server that answers 5xx."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipyard.errors import DeployFailed, RolledBack
from tests.integration.test_ecs_rollout_bluegreen import (
    BLUE,
    GREEN,
    PROD_NEW,
    PROD_OLD,
    BlueGreen,
    bg_service,
    deploy,
    taskset,
)
from tests.integration.test_ecs_stubber import FakeClock, Site, arn, make_ctx
from tests.integration.test_ecs_stubber import creds as creds_fixture
from tests.integration.test_ecs_stubber import site as site_fixture

creds = creds_fixture
site = site_fixture


def succeeded_at_once(stubs: BlueGreen) -> None:
    """The deployment ran to Succeeded before the first look (no termination wait), then the
    checks fail and undo finds it ended, with no rollback named."""
    stubs.start()
    stubs.poll("Succeeded", {"AfterAllowTraffic": "Succeeded"}, first=True)
    stubs.info("Succeeded")


def test_a_succeeded_deployment_is_undone_by_deploying_the_previous_revision(
    tmp_path: Path, creds: None, site: Site
) -> None:
    site.app.health = 503
    ctx, out = make_ctx(tmp_path, "production", site.url)
    clock = FakeClock()
    with BlueGreen(ctx) as stubs:
        succeeded_at_once(stubs)
        stubs.describe(GREEN)  # ours serves
        stubs.cd.add_response("create_deployment", {"deploymentId": "d-UNDO"}, None)
        stubs.poll("InProgress", dep_id="d-UNDO", first=True)
        stubs.poll("Succeeded", dep_id="d-UNDO")
        stubs.ended(BLUE)
        with pytest.raises(RolledBack) as err:
            deploy(ctx, clock)
        stubs.done()
    assert "verify failed" in err.value.message
    assert "serves again" in err.value.message
    assert stubs.stops == []  # nothing was open to stop
    assert len(stubs.created) == 2
    back = stubs.created[1]
    spec = json.loads(back["revision"]["appSpecContent"]["content"])
    assert spec["Resources"][0]["TargetService"]["Properties"]["TaskDefinition"] == PROD_OLD
    assert back["description"] == "shipyard production: undo gamepulse-production:7"
    assert stubs.outcomes(PROD_NEW) == ["shifting", "rolled_back"]
    assert "CodeDeploy deployment d-UNDO" in out.getvalue()


def test_nothing_is_redeployed_when_the_previous_revision_serves_already(
    tmp_path: Path, creds: None, site: Site
) -> None:
    site.app.health = 503
    ctx, _ = make_ctx(tmp_path, "production", site.url)
    clock = FakeClock()
    with BlueGreen(ctx) as stubs:
        succeeded_at_once(stubs)
        stubs.describe(BLUE)  # someone (or CodeDeploy) returned it already
        stubs.ended(BLUE)
        with pytest.raises(RolledBack) as err:
            deploy(ctx, clock)
        stubs.done()
    assert len(stubs.created) == 1
    assert "serves again" in err.value.message


def test_another_revision_serving_is_left_alone(tmp_path: Path, creds: None, site: Site) -> None:
    site.app.health = 503
    theirs = arn("gamepulse-production", 9)
    ctx, _ = make_ctx(tmp_path, "production", site.url)
    clock = FakeClock()
    after = bg_service(taskset("d-THEIRS", "PRIMARY", theirs, minute=9))
    with BlueGreen(ctx) as stubs:
        succeeded_at_once(stubs)
        stubs.describe(after)
        stubs.describe(after)  # observed at the end
        stubs.tags(theirs, version="1.3.0", outcome="succeeded")
        stubs.tag(PROD_NEW)
        stubs.metrics()
        with pytest.raises(DeployFailed) as err:
            deploy(ctx, clock)
        stubs.done()
    assert not isinstance(err.value, RolledBack)
    assert len(stubs.created) == 1  # never a deployment over theirs
    assert "gamepulse-production:9 serves, not ours: left alone" in err.value.message
    assert "1.3.0" in err.value.message


def test_a_redeploy_that_fails_is_reported_with_ours_still_serving(
    tmp_path: Path, creds: None, site: Site
) -> None:
    site.app.health = 503
    ctx, _ = make_ctx(tmp_path, "production", site.url)
    clock = FakeClock()
    with BlueGreen(ctx) as stubs:
        succeeded_at_once(stubs)
        stubs.describe(GREEN)
        stubs.cd.add_response("create_deployment", {"deploymentId": "d-UNDO"}, None)
        stubs.poll(
            "Failed",
            dep_id="d-UNDO",
            first=True,
            extra={"errorInformation": {"code": "HEALTH_CONSTRAINTS", "message": "no tasks"}},
        )
        stubs.ended(GREEN)
        with pytest.raises(DeployFailed) as err:
            deploy(ctx, clock)
        stubs.done()
    assert not isinstance(err.value, RolledBack)
    message = err.value.message
    assert "redeploying gamepulse-production:7" in message
    assert "d-UNDO Failed: HEALTH_CONSTRAINTS: no tasks" in message
    assert "(the new release) serves: it could not be undone" in message
    assert stubs.outcomes(PROD_NEW) == ["shifting", "failed"]
