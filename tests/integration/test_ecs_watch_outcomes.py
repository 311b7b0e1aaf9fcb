"""How the rolling ECS target reads a deployment it follows, in the histories where one rule
decides (issue 13 items 1-3 and their neighbours): a deployment ECS lists a moment late, one it
never starts, and during the bake another team's deployment becoming PRIMARY (superseded, never
undone), our deployment FAILING late, ECS's own rollback making ours disappear, a service with
no PRIMARY at all. Stubber sequences checked against the ECS service model; verify talks to a
real HTTP server; clocks are injected."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.errors import DeployFailed, RolledBack, Superseded
from tests.integration.test_ecs_rollout import BACK_DONE, DONE, ended, revert, wait
from tests.integration.test_ecs_stubber import (
    FAMILY,
    NEW,
    OLD,
    FakeClock,
    Site,
    Stubs,
    arn,
    dep,
    deploy,
    make_ctx,
    rolling,
    rolling_target,
    service,
    steady,
)
from tests.integration.test_ecs_stubber import creds as creds_fixture
from tests.integration.test_ecs_stubber import site as site_fixture

creds = creds_fixture
site = site_fixture

THEIRS = arn(FAMILY, 6)
BAKE = {"target.bake_seconds": 10, "target.poll_seconds": 5}


def started_unlisted(stubs: Stubs) -> None:
    """Lock ... register, then update_service answers with the old deployment only: ECS has
    not listed ours yet."""
    stubs.lock()
    stubs.settled(steady(OLD), OLD)
    stubs.image()
    stubs.register(NEW)
    stubs.tag(NEW)
    stubs.update(NEW, steady(OLD))


def test_a_deployment_listed_a_moment_late_is_followed_to_success(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, _ = make_ctx(tmp_path, "staging", site.url)
    clock = FakeClock()
    with Stubs(ctx) as stubs:
        started_unlisted(stubs)
        stubs.describe(steady(OLD))  # first look: not listed yet, looked at once more
        stubs.describe(rolling(running=1))  # there it is, PRIMARY
        stubs.describe(DONE)
        ended(stubs, DONE)
        result = deploy(ctx, clock, rolling_target(ctx, clock))
        stubs.done()
    assert result.outcome == "succeeded"
    assert result.details["services"][FAMILY]["deployment"] == "ecs-svc/new"
    assert stubs.updates == [NEW]


def test_a_deployment_ecs_never_starts_is_a_failure_after_a_second_look(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, _ = make_ctx(tmp_path, "staging", site.url)
    clock = FakeClock()
    with Stubs(ctx) as stubs:
        started_unlisted(stubs)
        stubs.describe(steady(OLD))
        stubs.describe(steady(OLD))  # still nothing of ours: gone
        stubs.describe(steady(OLD))  # undo observes: :4 serves, nothing to return
        ended(stubs, steady(OLD))
        with pytest.raises(DeployFailed) as err:
            deploy(ctx, clock, rolling_target(ctx, clock))
        stubs.done()
    message = err.value.message
    assert (
        "gamepulse-staging: ECS started no deployment for gamepulse-staging:5; "
        "PRIMARY is gamepulse-staging:4" in message
    )
    assert stubs.updates == [NEW]  # nothing to update back
    assert stubs.outcomes(NEW)[0] == "shifting"


# -- while baking -------------------------------------------------------------------------------
def test_another_teams_deployment_during_the_bake_is_superseded_and_left_alone(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, _ = make_ctx(tmp_path, "staging", site.url, **BAKE)
    clock = FakeClock()
    theirs = service(
        [
            dep("ecs-svc/theirs", "PRIMARY", THEIRS, "IN_PROGRESS", 1, minute=8),
            dep("ecs-svc/new", "ACTIVE", NEW, "COMPLETED", 2, minute=5),
        ]
    )
    with Stubs(ctx) as stubs:
        stubs.start()
        stubs.describe(DONE)  # watch: ours COMPLETED and PRIMARY
        stubs.describe(DONE)  # bake t = 0
        stubs.describe(theirs)  # bake t = 5: theirs is PRIMARY
        stubs.ecs.add_response(
            "describe_task_definition",
            {
                "taskDefinition": {"taskDefinitionArn": THEIRS, "family": FAMILY, "revision": 6},
                "tags": [],
            },
            {"taskDefinition": THEIRS, "include": ["TAGS"]},
        )
        stubs.describe(theirs)  # observed at the end: ours still carries traffic while theirs rolls
        stubs.tag(NEW)
        stubs.metrics()
        with pytest.raises(Superseded) as err:
            deploy(ctx, clock, rolling_target(ctx, clock))
        stubs.done()
    message = err.value.message
    assert "gamepulse-staging: while baking: deployment ecs-svc/new of gamepulse-staging:5" in (
        message
    )
    assert "was superseded: deployment ecs-svc/theirs" in message
    assert "made gamepulse-staging:6 PRIMARY" in message
    assert "registered by" not in message  # nothing is known of who made :6
    assert stubs.updates == [NEW]  # theirs is never rolled back
    assert stubs.outcomes(NEW) == ["shifting", "superseded"]


def test_our_deployment_failing_late_in_the_bake_is_rolled_back(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, _ = make_ctx(tmp_path, "staging", site.url, **BAKE)
    clock = FakeClock()
    failed = service(
        [
            dep(
                "ecs-svc/new",
                "PRIMARY",
                NEW,
                "FAILED",
                1,
                failed=0,
                reason="ECS deployment circuit breaker: tasks failed to start.",
                minute=5,
            )
        ]
    )
    with Stubs(ctx) as stubs:
        stubs.start()
        stubs.describe(DONE)
        stubs.describe(DONE)  # bake t = 0
        stubs.describe(failed)  # bake t = 5: the circuit breaker failed ours
        stubs.no_stopped_tasks()
        revert(stubs, failed)
        ended(stubs, BACK_DONE)
        with pytest.raises(RolledBack) as err:
            deploy(ctx, clock, rolling_target(ctx, clock))
        stubs.done()
    message = err.value.message
    assert "gamepulse-staging: while baking: deployment ecs-svc/new FAILED: ECS deployment" in (
        message
    )
    assert "serves again" in message
    assert stubs.updates == [NEW, OLD]


def test_ecs_returning_the_service_itself_during_the_bake_is_a_failure(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, _ = make_ctx(tmp_path, "staging", site.url, **BAKE)
    clock = FakeClock()
    back = service([dep("ecs-svc/back", "PRIMARY", OLD, "IN_PROGRESS", 1, minute=9)])
    with Stubs(ctx) as stubs:
        stubs.start()
        stubs.describe(DONE)
        stubs.describe(DONE)  # bake t = 0
        stubs.describe(back)  # bake t = 5: ours is gone, :4 rolls out again
        stubs.describe(back)  # undo: ECS is returning to :4 itself: watched, not updated
        stubs.describe(BACK_DONE)
        ended(stubs, BACK_DONE)
        with pytest.raises(RolledBack) as err:
            deploy(ctx, clock, rolling_target(ctx, clock))
        stubs.done()
    message = err.value.message
    assert "while baking: deployment ecs-svc/new disappeared; PRIMARY is gamepulse-staging:4" in (
        message
    )
    assert stubs.updates == [NEW]


def test_a_service_showing_no_primary_during_the_bake_is_a_failure(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, _ = make_ctx(tmp_path, "staging", site.url, **BAKE)
    clock = FakeClock()
    odd = service([dep("ecs-svc/new", "ACTIVE", NEW, "COMPLETED", 2, minute=5)])
    with Stubs(ctx) as stubs:
        stubs.start()
        stubs.describe(DONE)
        stubs.describe(DONE)  # bake t = 0
        stubs.describe(odd)  # bake t = 5: ours, but nothing is PRIMARY
        revert(stubs, DONE)
        ended(stubs, BACK_DONE)
        with pytest.raises(RolledBack) as err:
            deploy(ctx, clock, rolling_target(ctx, clock))
        stubs.done()
    assert "gamepulse-staging: gamepulse-staging:5 left PRIMARY while baking" in err.value.message
    assert stubs.updates == [NEW, OLD]


def test_tasks_failing_during_the_bake_are_counted_from_the_bake_start(
    tmp_path: Path, creds: None, site: Site
) -> None:
    """2 tasks had failed before the bake (replaced since): only failures after that count."""
    ctx, _ = make_ctx(tmp_path, "staging", site.url, **BAKE)
    clock = FakeClock()
    before = service([dep("ecs-svc/new", "PRIMARY", NEW, "COMPLETED", 2, failed=2, minute=5)])
    worse = service([dep("ecs-svc/new", "PRIMARY", NEW, "COMPLETED", 1, failed=5, minute=5)])
    with Stubs(ctx) as stubs:
        stubs.start()
        stubs.describe(before)  # watch: COMPLETED, 2 failed during the rollout
        stubs.no_stopped_tasks()
        stubs.describe(before)  # bake t = 0: the base is 2
        stubs.describe(worse)  # bake t = 5: 3 more
        stubs.no_stopped_tasks()
        revert(stubs, worse)
        ended(stubs, BACK_DONE)
        with pytest.raises(RolledBack) as err:
            deploy(ctx, clock, rolling_target(ctx, clock))
        stubs.done()
    assert "3 task(s) of gamepulse-staging:5 failed while baking" in err.value.message


# -- inv wait --deployment ID ---------------------------------------------------------------------
def test_wait_records_a_completed_deployment_as_live_since_now(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, _ = make_ctx(tmp_path, "staging", site.url)
    clock = FakeClock()
    with Stubs(ctx) as stubs:
        stubs.lock()
        stubs.describe(rolling())
        stubs.tags(OLD, version="1.1.0", outcome="succeeded")
        stubs.describe(rolling())  # where is ecs-svc/new?
        stubs.describe(DONE)
        stubs.tags(NEW, version="1.2.0", outcome="shifting")
        stubs.tag(NEW)
        stubs.describe(DONE)
        wait(ctx, clock, "ecs-svc/new")
        stubs.done()
    ((taggged, values),) = stubs.tagged
    assert taggged == NEW
    assert values["shipyard:outcome"] == "succeeded"
    assert values["shipyard:deployed-at"]  # live since now: status and history show it


def test_wait_on_a_deployment_someone_superseded_records_it_and_names_theirs(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, _ = make_ctx(tmp_path, "staging", site.url)
    clock = FakeClock()
    theirs = service(
        [
            dep("ecs-svc/theirs", "PRIMARY", THEIRS, "COMPLETED", 2, minute=8),
            dep("ecs-svc/new", "ACTIVE", NEW, "IN_PROGRESS", 1, minute=5),
        ]
    )
    with Stubs(ctx) as stubs:
        stubs.lock()
        stubs.describe(rolling())
        stubs.tags(OLD, version="1.1.0", outcome="succeeded")
        stubs.describe(rolling())
        stubs.describe(theirs)
        stubs.tags(NEW, version="1.2.0", outcome="shifting")
        stubs.tag(NEW)
        stubs.describe(theirs)  # what serves now
        stubs.tags(THEIRS, version="1.3.0", outcome="succeeded")
        stubs.ecs.add_client_error("describe_task_definition", "ClientException", "gone")
        with pytest.raises(Superseded) as err:
            wait(ctx, clock, "ecs-svc/new")
        stubs.done()
    assert err.value.exit_code == 1
    assert stubs.outcomes(NEW) == ["superseded"]
    message = err.value.message
    assert message.startswith("gamepulse-staging: 1.3.0 (")
    assert "made gamepulse-staging:6 PRIMARY" in message
