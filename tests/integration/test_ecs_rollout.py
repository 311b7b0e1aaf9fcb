"""The rolling ECS target under the rollout engine: interrupts, superseding deployments, verify
failures after the shift, a rollback whose own rollout fails, refusing while another rollout is
under way, --no-wait and `inv wait` (issue 9: defects 11-13 and "ECS truth"; issue 13: items
1-3); failures while baking are in test_ecs_rollout_bake.py. Stubber sequences checked against
the ECS service model; verify talks to a real HTTP server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shipyard.adapters.http import get
from shipyard.errors import (
    DeployFailed,
    Interrupted,
    LockHeld,
    RolledBack,
    StateUnknown,
    Superseded,
)
from shipyard.rollout import api
from tests.support.ecs_stubs import (
    BACK,
    BACK_DONE,
    CLUSTER,
    DONE,
    FAMILY,
    NEW,
    OLD,
    FakeClock,
    Interrupting,
    Site,
    Stubs,
    arn,
    creds,
    dep,
    deploy,
    ended,
    make_ctx,
    revert,
    rolling,
    rolling_target,
    service,
    site,
    steady,
)

__all__ = ["creds", "site"]  # the fixtures these tests use


# -- interrupts (defect 11) -------------------------------------------------------------------
def test_ctrl_c_during_the_watch_rolls_back_to_the_previous_revision_and_watches_it(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, out = make_ctx(tmp_path, "staging", site.url)
    clock = Interrupting(at=1)  # Ctrl-C in the first pause of the watch
    with Stubs(ctx) as stubs:
        stubs.start()
        stubs.describe(rolling(running=1))
        stubs.describe(rolling(running=1))  # undo observes ours IN_PROGRESS as PRIMARY
        stubs.update(OLD, BACK, breaker=False)
        stubs.describe(BACK)  # the way back is watched...
        stubs.describe(BACK_DONE)  # ...until it COMPLETED
        ended(stubs, BACK_DONE)
        with pytest.raises(Interrupted) as err:
            deploy(ctx, clock, rolling_target(ctx, clock))
        stubs.done()
    assert err.value.exit_code == 130
    assert "interrupted during wait_shifted" in err.value.message
    assert (
        "1.1.0 (arn:aws:ecs:ap-northeast-2:123456789012:task-definition/gamepulse-staging:4)"
        in (err.value.message)
    )
    assert "serves again" in err.value.message
    assert "still serving" not in err.value.message  # never the old lie
    assert stubs.updates == [NEW, OLD]
    assert stubs.outcomes(NEW) == ["shifting", "interrupted"]
    assert "rolling back to gamepulse-staging:4" in out.getvalue()


# -- superseded (defect 12; issue 13 items 1 and 2) -------------------------------------------
@pytest.mark.parametrize("ours", ["IN_PROGRESS", "COMPLETED"])
def test_a_deployment_superseded_by_another_teams_is_never_rolled_back(
    tmp_path: Path, creds: None, site: Site, ours: str
) -> None:
    """Someone else's :3 becomes PRIMARY while ours (:2) rolls out. Ours COMPLETED but no longer
    PRIMARY is no success either. Exit 1 naming :3 and who made it; no update back to :1."""
    first, mine, theirs = arn(FAMILY, 1), arn(FAMILY, 2), arn(FAMILY, 3)
    ctx, _ = make_ctx(tmp_path, "staging", site.url)
    clock = FakeClock()
    with Stubs(ctx) as stubs:
        stubs.start(first, mine)
        stubs.describe(rolling(mine, first))
        stubs.describe(
            service(
                [
                    dep("ecs-svc/theirs", "PRIMARY", theirs, "IN_PROGRESS", 0, minute=7),
                    dep("ecs-svc/new", "ACTIVE", mine, ours, 2, minute=5),
                    dep("ecs-svc/old", "ACTIVE", first, "COMPLETED", 2),
                ]
            )
        )
        stubs.ecs.add_response(
            "describe_task_definition",
            {
                "taskDefinition": {
                    "taskDefinitionArn": theirs,
                    "family": FAMILY,
                    "revision": 3,
                    "registeredBy": "arn:aws:iam::123456789012:user/bob",
                },
                "tags": [
                    {"key": "shipyard:version", "value": "1.3.0"},
                    {"key": "shipyard:actor", "value": "bob"},
                ],
            },
            {"taskDefinition": theirs, "include": ["TAGS"]},
        )
        stubs.describe(service([dep("ecs-svc/theirs", "PRIMARY", theirs, "COMPLETED", 2)]))
        stubs.tag(mine)
        stubs.metrics()
        with pytest.raises(Superseded) as err:
            deploy(ctx, clock, rolling_target(ctx, clock))
        stubs.done()
    assert err.value.exit_code == 1
    message = err.value.message
    assert "superseded" in message
    assert "made gamepulse-staging:3 PRIMARY" in message
    assert "by bob" in message
    assert "registered by arn:aws:iam::123456789012:user/bob" in message
    assert (
        "1.3.0 (arn:aws:ecs:ap-northeast-2:123456789012:task-definition/gamepulse-staging:3)"
        in (message)
    )
    assert stubs.updates == [mine]  # theirs is left alone: never an update back to :1
    assert stubs.outcomes(mine) == ["shifting", "superseded"]


# -- failures after the shift ---------------------------------------------------------------
@pytest.mark.parametrize("broken", ["5xx", "wrong version"])
def test_verify_failure_after_the_shift_rolls_back_and_watches_the_way_back(
    tmp_path: Path, creds: None, site: Site, broken: str
) -> None:
    if broken == "5xx":
        site.app.health = 503
    else:
        site.app.version = "1.1.0"  # the old release still answers
    ctx, _ = make_ctx(tmp_path, "staging", site.url)
    clock = FakeClock()
    with Stubs(ctx) as stubs:
        stubs.start()
        stubs.describe(DONE)
        revert(stubs, DONE)
        ended(stubs, BACK_DONE)
        with pytest.raises(RolledBack) as err:
            deploy(ctx, clock, rolling_target(ctx, clock))
        stubs.done()
    assert "verify failed" in err.value.message
    assert ("HTTP 503" if broken == "5xx" else "lacks '1.2.0'") in err.value.message
    assert "serves again" in err.value.message
    assert stubs.updates == [NEW, OLD]
    assert stubs.outcomes(NEW) == ["shifting", "rolled_back"]


def test_a_rollback_whose_own_rollout_fails_is_reported_not_ignored(
    tmp_path: Path, creds: None, site: Site
) -> None:
    """Issue 13 item 3: verify fails, the update back to :4 FAILS (the circuit breaker returns
    the service to :5). The outcome is failed with :5 serving, never rolled_back."""
    site.app.health = 500
    ctx, _ = make_ctx(tmp_path, "staging", site.url)
    clock = FakeClock()
    with Stubs(ctx) as stubs:
        stubs.start()
        stubs.describe(DONE)
        stubs.describe(DONE)
        stubs.update(OLD, BACK, breaker=False)
        stubs.describe(
            service(
                [
                    dep("ecs-svc/again", "PRIMARY", NEW, "IN_PROGRESS", 2, minute=10),
                    dep("ecs-svc/back", "ACTIVE", OLD, "FAILED", 0, failed=2, minute=9),
                ]
            )
        )
        stubs.no_stopped_tasks()
        ended(stubs, service([dep("ecs-svc/again", "PRIMARY", NEW, "COMPLETED", 2, minute=10)]))
        with pytest.raises(DeployFailed) as err:
            deploy(ctx, clock, rolling_target(ctx, clock))
        stubs.done()
    assert not isinstance(err.value, RolledBack)
    message = err.value.message
    assert "(the new release) serves: it could not be undone" in message
    assert "deployment ecs-svc/back FAILED" in message
    assert stubs.outcomes(NEW) == ["shifting", "failed"]


def test_refuses_while_another_rollout_is_under_way_and_changes_nothing(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, _ = make_ctx(tmp_path, "staging", site.url)
    clock = FakeClock()
    with Stubs(ctx) as stubs:
        stubs.lock()
        stubs.describe(rolling())
        stubs.tags(OLD, version="1.1.0", outcome="succeeded")
        stubs.revisions(FAMILY, NEW, OLD)
        stubs.tags(NEW)  # not shipyard's
        stubs.describe(rolling())
        with pytest.raises(LockHeld, match="already in progress: deployment ecs-svc/new"):
            deploy(ctx, clock, rolling_target(ctx, clock))
        stubs.done()
    assert stubs.updates == []
    assert stubs.tagged == []


# -- --no-wait and inv wait (defect 13) -------------------------------------------------------
def wait(ctx: Any, clock: FakeClock, follow: str | None = None) -> Any:
    target = rolling_target(ctx, clock)
    return api.wait(ctx, follow=follow, target=target, fetch=get, clock=clock, sleep=clock.sleep)


def test_wait_follows_a_deployment_to_completion_and_records_it(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, out = make_ctx(tmp_path, "staging", site.url)
    clock = FakeClock()
    with Stubs(ctx) as stubs:
        stubs.lock()
        stubs.describe(rolling())
        stubs.tags(OLD, version="1.1.0", outcome="succeeded")
        stubs.describe(rolling())  # where is ecs-svc/new?
        stubs.describe(rolling(running=1))
        stubs.describe(DONE)
        stubs.tags(NEW, version="1.2.0", outcome="shifting")
        stubs.tag(NEW)
        stubs.describe(DONE)  # observed again after the records changed
        serving = wait(ctx, clock, "ecs-svc/new")
        stubs.done()
    assert serving.release_id == NEW
    assert serving.version == "1.2.0"
    assert stubs.outcomes(NEW) == ["succeeded"]
    assert "deployment ecs-svc/new of gamepulse-staging completed" in out.getvalue()


def test_wait_on_a_deployment_that_fails_exits_1_naming_what_serves(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, _ = make_ctx(tmp_path, "staging", site.url)
    clock = FakeClock()
    with Stubs(ctx) as stubs:
        stubs.lock()
        stubs.describe(rolling())
        stubs.tags(OLD, version="1.1.0", outcome="succeeded")
        stubs.describe(rolling())
        stubs.describe(
            service(
                [
                    dep("ecs-svc/rollback", "PRIMARY", OLD, "IN_PROGRESS", 2, minute=9),
                    dep("ecs-svc/new", "ACTIVE", NEW, "FAILED", 0, failed=2, minute=5),
                ]
            )
        )
        stubs.no_stopped_tasks()
        stubs.tags(NEW, version="1.2.0", outcome="shifting")
        stubs.tag(NEW)
        stubs.describe(BACK_DONE)
        with pytest.raises(DeployFailed) as err:
            wait(ctx, clock, "ecs-svc/new")
        stubs.done()
    assert err.value.exit_code == 1
    assert "ecs-svc/new FAILED" in err.value.message
    assert (
        "1.1.0 (arn:aws:ecs:ap-northeast-2:123456789012:task-definition/gamepulse-staging:4)"
        in (err.value.message)
    )
    assert stubs.outcomes(NEW) == ["failed"]


def test_wait_that_runs_out_of_time_is_unknown_exit_3(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, _ = make_ctx(
        tmp_path, "staging", site.url, **{"target.timeout_seconds": 10, "target.poll_seconds": 5}
    )
    clock = FakeClock()
    with Stubs(ctx) as stubs:
        stubs.lock()
        stubs.describe(rolling())
        stubs.tags(OLD, version="1.1.0", outcome="succeeded")
        for _ in range(4):  # found, then t = 0, 5, 10
            stubs.describe(rolling(running=1))
        with pytest.raises(StateUnknown) as err:
            wait(ctx, clock, "ecs-svc/new")
        stubs.done()
    assert err.value.exit_code == 3
    assert err.value.message.startswith(
        "gamepulse-staging: deployment ecs-svc/new still IN_PROGRESS after 10"
    )
    assert f"--cluster {CLUSTER} --services gamepulse-staging;" in (err.value.hint or "")


def test_wait_for_a_deployment_no_service_lists_fails(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, _ = make_ctx(tmp_path, "staging", site.url)
    clock = FakeClock()
    with Stubs(ctx) as stubs:
        stubs.lock()
        stubs.describe(steady())
        stubs.tags(OLD, version="1.1.0", outcome="succeeded")
        stubs.describe(steady())
        with pytest.raises(DeployFailed, match="ecs-svc/gone is not on gamepulse-staging"):
            wait(ctx, clock, "ecs-svc/gone")
        stubs.done()


def test_wait_settles_what_a_no_wait_deploy_left_shifting(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, out = make_ctx(tmp_path, "staging", site.url)
    clock = FakeClock()
    with Stubs(ctx) as stubs:
        stubs.lock()
        stubs.describe(DONE)
        stubs.tags(NEW, version="1.2.0", outcome="shifting")
        stubs.revisions(FAMILY, NEW, OLD)
        stubs.tag(NEW)
        stubs.describe(DONE)
        serving = wait(ctx, clock)
        stubs.done()
    assert serving.release_id == NEW
    assert stubs.outcomes(NEW) == ["succeeded"]
    assert "completed after shipyard stopped watching" in out.getvalue()


def test_reconcile_records_a_rollout_the_circuit_breaker_undid_while_nobody_watched(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, out = make_ctx(tmp_path, "staging", site.url)
    clock = FakeClock()
    with Stubs(ctx) as stubs:
        stubs.lock()
        stubs.describe(steady())
        stubs.tags(OLD, version="1.1.0", outcome="succeeded")
        stubs.revisions(FAMILY, NEW, OLD)
        stubs.tags(NEW, version="1.2.0", outcome="shifting")
        stubs.tag(NEW)
        stubs.describe(steady())
        serving = wait(ctx, clock)
        stubs.done()
    assert serving.release_id == OLD
    assert stubs.outcomes(NEW) == ["failed"]
    assert "does not serve" in out.getvalue()


def _rollout_under_way(stubs: Stubs) -> None:
    """Settling (the lock, observe, reconcile) finds ecs-svc/new rolling out, recorded
    shifting: it leaves the record alone and says the rollout continues."""
    stubs.lock()
    stubs.describe(rolling())
    stubs.tags(OLD, version="1.1.0", outcome="succeeded")
    stubs.revisions(FAMILY, NEW, OLD)
    stubs.tags(NEW, version="1.2.0", outcome="shifting")
    stubs.describe(rolling())


def test_reconcile_leaves_a_rollout_under_way_alone_and_says_so(
    tmp_path: Path, creds: None, site: Site
) -> None:
    from shipyard.rollout.engine import Rollout

    ctx, out = make_ctx(tmp_path, "staging", site.url)
    clock = FakeClock()
    with Stubs(ctx) as stubs:
        _rollout_under_way(stubs)
        target = rolling_target(ctx, clock)
        serving = Rollout(ctx, target, fetch=get, clock=clock, sleep=clock.sleep).settle()
        stubs.done()
    assert serving.release_id == OLD
    assert "ecs-svc/new" in serving.continuing
    assert stubs.tagged == []
    assert "deployment ecs-svc/new of gamepulse-staging continues" in out.getvalue()


def test_wait_follows_a_rollout_it_finds_under_way_to_its_end(
    tmp_path: Path, creds: None, site: Site
) -> None:
    """inv wait without --deployment waits until the environment is stable: the rollout a
    --no-wait run left is followed until it completes, and recorded."""
    ctx, out = make_ctx(tmp_path, "staging", site.url)
    clock = FakeClock()
    with Stubs(ctx) as stubs:
        _rollout_under_way(stubs)
        stubs.lock()  # then, following ecs-svc/new as --deployment would (the tags are known)
        stubs.describe(rolling())
        stubs.describe(rolling())
        stubs.describe(rolling(running=1))
        stubs.describe(DONE)
        stubs.tag(NEW)
        stubs.describe(DONE)
        serving = wait(ctx, clock)
        stubs.done()
    assert serving.release_id == NEW
    assert serving.continuing == ""
    assert stubs.outcomes(NEW) == ["succeeded"]
    assert "deployment ecs-svc/new of gamepulse-staging completed" in out.getvalue()


def test_observe_without_an_answer_from_ecs_is_unknown(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, _ = make_ctx(tmp_path, "staging", site.url)
    clock = FakeClock()
    with Stubs(ctx) as stubs:
        stubs.ecs.add_client_error("describe_services", "AccessDeniedException", "no")
        observed = rolling_target(ctx, clock).observe()
        stubs.done()
    assert observed.known is False
    assert "access denied" in observed.detail
