"""A rolling deployment that ECS reports without a rolloutState. AWS returns rolloutState only
for rolling services that are not behind a Classic Load Balancer, so for those the watch
decides by the steady state `aws ecs wait services-stable` uses: our deployment is the only
one and runs every task it wants. Before this rule such a deploy always timed out and was
rolled back, though the new revision served.

Driven like tests/integration/test_ecs_watch_rules.py: the real ECS client behind botocore's
Stubber (answers checked against the AWS model) and a FakeClock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shipyard.adapters.cloudwatch import CloudWatch
from shipyard.adapters.ecs import EcsApi
from shipyard.config.targets import EcsTargetConfig
from shipyard.targets.ecs_watch import Follower, Move, Watched
from tests.support.ecs_stubs import NEW, OLD, FakeClock, Stubs, creds, dep, make_ctx, service

__all__ = ["creds"]


def unstated(dep_id: str, status: str, taskdef: str, running: int) -> dict[str, Any]:
    """A deployment as ECS lists it for a Classic Load Balancer service: no rolloutState."""
    listed = dep(dep_id, status, taskdef, "IN_PROGRESS", running)
    del listed["rolloutState"], listed["rolloutStateReason"]
    return listed


@pytest.fixture
def follower(tmp_path: Path, creds: None) -> Any:
    ctx, _ = make_ctx(tmp_path, "staging", "http://127.0.0.1:9")
    cfg = ctx.config.target
    assert isinstance(cfg, EcsTargetConfig)
    clock = FakeClock()
    with Stubs(ctx) as stubs:
        yield Follower(EcsApi(ctx.aws), CloudWatch(ctx.aws), cfg, ctx.console, clock, clock.sleep)
        stubs.done()


def move(follower: Follower) -> Move:
    return Move(
        follower.cfg.services[0], "gamepulse", OLD, NEW, deployment="ecs-svc/new", moved=True
    )


def test_without_a_rollout_state_the_only_deployment_running_every_task_has_completed(
    follower: Follower,
) -> None:
    done = service([unstated("ecs-svc/new", "PRIMARY", NEW, running=2)])
    watched = follower.judge(move(follower), done)
    assert watched == Watched(
        "completed", done["serviceName"], "steady state: the only deployment, 2 of 2 running", NEW
    )


@pytest.mark.parametrize(
    "deployments",
    [
        # the old tasks still run: not steady yet
        [unstated("ecs-svc/new", "PRIMARY", NEW, 2), unstated("ecs-svc/old", "ACTIVE", OLD, 2)],
        # ours alone, but not every task runs yet
        [unstated("ecs-svc/new", "PRIMARY", NEW, 1)],
    ],
    ids=["old tasks still run", "not every task runs"],
)
def test_without_a_rollout_state_a_deployment_short_of_the_steady_state_is_still_rolling(
    follower: Follower, deployments: list[dict[str, Any]]
) -> None:
    assert follower.judge(move(follower), service(deployments)) is None


def test_a_timeout_without_a_rollout_state_says_what_was_waited_for(follower: Follower) -> None:
    """The deadline's message names the counts, never `still None`."""
    svc = service([unstated("ecs-svc/new", "PRIMARY", NEW, 1)])
    watched = follower._timeout(move(follower), svc)
    assert watched.end == "timeout"
    assert watched.reason == (
        "deployment ecs-svc/new still not steady (1 of 2 running, 1 deployment(s)) after 15m00s"
    )
