"""ECS rollout and CodeDeploy lifecycle sequences that moto cannot produce, fed through botocore's
Stubber (every request and response is checked against the AWS service model), driven through
the rollout engine (shipyard.rollout.api) as every caller drives it. Clocks and sleeps are
injected, so the timeout cases take no time; verify talks HTTP to a real server on 127.0.0.1.

The helpers (Stubs, service/dep builders, the App server) are in tests/support/ecs_stubs.py,
shared with test_ecs_rollout*.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.errors import DeployFailed, RolledBack, StateUnknown
from shipyard.targets.base import DeployResult
from tests.support.ecs_stubs import (
    ACCOUNT,
    ARTIFACT,
    CLUSTER,
    FAMILY,
    NEW,
    OLD,
    REGION,
    FakeClock,
    Interrupting,
    Site,
    Stubs,
    arn,
    creds,
    dep,
    deploy,
    event,
    make_ctx,
    rolling,
    rolling_target,
    service,
    site,
    steady,
)

# the fixtures these tests use, and the helpers other modules still import from here
__all__ = ["ARTIFACT", "Interrupting", "arn", "creds", "site", "steady"]


# -- the rolling target -----------------------------------------------------------------------
def test_in_progress_then_completed_is_success_and_shows_new_events(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, out = make_ctx(tmp_path, "staging", site.url)
    clock = FakeClock()
    with Stubs(ctx) as stubs:
        stubs.start()
        stubs.describe(
            service(
                [
                    dep("ecs-svc/new", "PRIMARY", NEW, "IN_PROGRESS", 1, minute=5),
                    dep("ecs-svc/old", "ACTIVE", OLD, "COMPLETED", 2),
                ],
                [event(2, "has started 1 tasks"), event(1, "steady")],
            )
        )
        done = service(
            [dep("ecs-svc/new", "PRIMARY", NEW, "COMPLETED", 2)],
            [
                event(3, "has reached a steady state"),
                event(2, "has started 1 tasks"),
                event(1, "steady"),
            ],
        )
        stubs.describe(done)
        stubs.describe(done)  # observed at the end
        stubs.tag(NEW)  # succeeded
        stubs.metrics()
        result = deploy(ctx, clock, rolling_target(ctx, clock))
        stubs.done()
    assert result.outcome == "succeeded"
    assert result.release_id == NEW
    assert result.serving["release_id"] == NEW
    assert result.details["services"][FAMILY]["deployment"] == "ecs-svc/new"
    assert stubs.outcomes(NEW) == ["shifting", "succeeded"]
    assert stubs.updates == [NEW]
    text = out.getvalue()
    assert "IN_PROGRESS running 1/2" in text
    assert "has started 1 tasks" in text
    assert "has reached a steady state" in text
    assert "event: steady" not in text  # events from before the deploy are not replayed
    assert text.index("has started 1 tasks") < text.index("has reached a steady state")


def test_failed_with_circuit_breaker_rollback_is_rolled_back_with_task_reasons(
    tmp_path: Path, creds: None, site: Site
) -> None:
    """ECS's circuit breaker returned the service to :4 itself: undo watches that rollback to
    its end and changes nothing (no update_service back)."""
    ctx, out = make_ctx(tmp_path, "staging", site.url)
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
    with Stubs(ctx) as stubs:
        stubs.start()
        stubs.describe(rolling(failed=1))

        def stopped_tasks(with_log: bool) -> None:
            stubs.ecs.add_response(
                "list_tasks",
                {"taskArns": [task_arn]},
                {"cluster": CLUSTER, "serviceName": FAMILY, "desiredStatus": "STOPPED"},
            )
            stubs.ecs.add_response(
                "describe_tasks", stopped, {"cluster": CLUSTER, "tasks": [task_arn]}
            )
            if with_log:
                stubs.stubbers["logs"].add_response(
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
        # the circuit breaker gave up: our deployment FAILED and ECS rolls back to :4, while
        # the service still looks "stable" (2/2 running)
        breaker = service(
            [
                dep("ecs-svc/rollback", "PRIMARY", OLD, "IN_PROGRESS", 2, minute=9),
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
        stubs.describe(breaker)
        stopped_tasks(with_log=False)  # looked at again, nothing new to print
        stubs.describe(breaker)  # undo observes: ECS is already returning to :4
        back = service([dep("ecs-svc/rollback", "PRIMARY", OLD, "COMPLETED", 2)])
        stubs.describe(back)  # ...and is watched until that COMPLETED
        stubs.describe(back)  # observed at the end
        stubs.tag(NEW)
        stubs.metrics()
        with pytest.raises(RolledBack) as err:
            deploy(ctx, clock, rolling_target(ctx, clock))
        stubs.done()
    assert err.value.exit_code == 1
    assert "circuit breaker" in err.value.message
    assert "gamepulse-staging:4" in err.value.message
    assert "serves again" in err.value.message
    assert stubs.updates == [NEW]  # nothing of ours was needed to return
    assert stubs.outcomes(NEW) == ["shifting", "rolled_back"]
    text = out.getvalue()
    assert "Essential container in task exited" in text
    assert "panic: DB_PASSWORD rejected" in text


def test_deployment_disappearing_is_failure_even_though_the_service_is_stable(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, _ = make_ctx(tmp_path, "staging", site.url)
    clock = FakeClock()
    with Stubs(ctx) as stubs:
        stubs.start()
        gone = service([dep("ecs-svc/rollback", "PRIMARY", OLD, "COMPLETED", 2)])
        stubs.describe(gone)  # watch: ecs-svc/new is not listed any more
        stubs.describe(gone)  # undo observes: :4 is PRIMARY and COMPLETED, nothing to do
        stubs.describe(gone)  # observed at the end
        stubs.tag(NEW)
        stubs.metrics()
        with pytest.raises(DeployFailed) as err:
            deploy(ctx, clock, rolling_target(ctx, clock))
        stubs.done()
    assert "ecs-svc/new disappeared" in err.value.message
    assert err.value.exit_code == 1
    assert stubs.updates == [NEW]


def test_stuck_rollout_times_out_and_is_rolled_back_and_watched(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, _ = make_ctx(
        tmp_path, "staging", site.url, **{"target.timeout_seconds": 30, "target.poll_seconds": 5}
    )
    clock = FakeClock()
    with Stubs(ctx) as stubs:
        stubs.start()
        for _ in range(7):  # t = 0, 5, ... 30 s
            stubs.describe(rolling(running=1))
        stubs.describe(rolling(running=1))  # undo observes: ours is PRIMARY
        stubs.update(
            OLD,
            service(
                [
                    dep("ecs-svc/back", "PRIMARY", OLD, "IN_PROGRESS", 0, minute=9),
                    dep("ecs-svc/new", "ACTIVE", NEW, "IN_PROGRESS", 1),
                ]
            ),
            breaker=False,
        )
        back = service([dep("ecs-svc/back", "PRIMARY", OLD, "COMPLETED", 2)])
        stubs.describe(back)
        stubs.describe(back)
        stubs.tag(NEW)
        stubs.metrics()
        with pytest.raises(RolledBack) as err:
            deploy(ctx, clock, rolling_target(ctx, clock))
        stubs.done()
    assert "still IN_PROGRESS after 30" in err.value.message
    assert "serves again" in err.value.message
    assert stubs.updates == [NEW, OLD]
    assert stubs.outcomes(NEW) == ["shifting", "rolled_back"]


def test_stuck_rollout_whose_rollback_is_stuck_too_is_unknown_exit_3(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, _ = make_ctx(
        tmp_path, "staging", site.url, **{"target.timeout_seconds": 10, "target.poll_seconds": 5}
    )
    clock = FakeClock()
    both = service(
        [
            dep("ecs-svc/back", "PRIMARY", OLD, "IN_PROGRESS", 1, minute=9),
            dep("ecs-svc/new", "ACTIVE", NEW, "IN_PROGRESS", 1),
        ]
    )
    with Stubs(ctx) as stubs:
        stubs.start()
        for _ in range(3):  # t = 0, 5, 10
            stubs.describe(rolling(running=1))
        stubs.describe(rolling(running=1))
        stubs.update(OLD, both, breaker=False)
        for _ in range(3):
            stubs.describe(both)
        stubs.describe(both)  # observed: two unfinished rollouts, nothing to tell
        stubs.tag(NEW)
        stubs.metrics()
        with pytest.raises(StateUnknown) as err:
            deploy(ctx, clock, rolling_target(ctx, clock))
        stubs.done()
    assert err.value.exit_code == 3
    assert "cannot be told" in err.value.message
    assert stubs.outcomes(NEW) == ["shifting", "unknown"]
    result = err.value.result
    assert isinstance(result, DeployResult)
    assert result.serving["known"] is False
    assert "ecs-svc/back" in result.serving["continuing"]


def test_no_wait_returns_after_the_update_with_the_deployment_id(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, out = make_ctx(tmp_path, "staging", site.url)
    clock = FakeClock()
    with Stubs(ctx) as stubs:
        stubs.start()
        stubs.describe(rolling())  # observed: ours continues, :4 still carries the traffic
        result = deploy(ctx, clock, rolling_target(ctx, clock), wait=False)
        stubs.done()
    assert result.outcome == "in_progress"
    assert result.details["deployment_id"] == "ecs-svc/new"
    assert "deployment ecs-svc/new of gamepulse-staging continues" in result.message
    assert "inv wait --env staging" in result.message
    assert result.serving["release_id"] == OLD
    assert stubs.outcomes(NEW) == ["shifting"]  # left for `inv wait` to settle
    assert "continues" in out.getvalue()
