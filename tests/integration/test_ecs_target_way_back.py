"""The rolling ECS target's way back and its edges, against botocore's Stubber (the real ECS and
CloudWatch service models): which deployment undo follows when the old one is still listed,
what the way back shows of its own rollout, the version a task definition names, the bake (its
failed tasks, its last wait), the words of a refused start, and the duration the deploy metric
carries. Clocks are fake: nothing waits."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from shipyard.errors import DeployFailed, LockHeld, StateUnknown
from shipyard.rollout.model import Attempt, Serving
from shipyard.targets.base import Artifact
from shipyard.targets.ecs import EcsTarget
from shipyard.targets.ecs_watch import Move, rolling_view
from tests.integration.test_ecs_target_rules import (
    API,
    API_NEW,
    API_OLD,
    DONE,
    RUN,
    WORKER,
    WORKER_NEW,
    WORKER_OLD,
    _move,
    attempt,
    describe,
    make_ctx,
    primary,
    target,
    update,
)
from tests.integration.test_ecs_watch_rules import log_events, stopped, task
from tests.support.ecs_stubs import (
    ARTIFACT,
    CLUSTER,
    FakeClock,
    Stubs,
    creds,
    dep,
    event,
    service,
)

__all__ = ["creds"]  # the fixture these tests use

S4 = "gamepulse-staging:4"


def _moved(t: EcsTarget) -> Move:
    return _move(t, 0, API_OLD, API_NEW, deployment="ecs-svc/api-new", moved=True)


def one_moved(tmp_path: Path) -> tuple[EcsTarget, Attempt, io.StringIO]:
    """The API service alone, told to move from :4 to :5 by deployment ecs-svc/api-new (as
    test_ecs_target_rules' one_moved, with what the console printed)."""
    ctx, out = make_ctx(tmp_path, **{"target.services": [{"name": API}]})
    t = target(ctx)
    a = attempt("deploy", {API: API_OLD})
    t.moves(a).append(_moved(t))
    return t, a, out


# -- prepare ---------------------------------------------------------------------------------
def test_a_task_definition_naming_the_version_is_registered_with_this_releases_version(
    tmp_path: Path, creds: None
) -> None:
    """`{{version}}` in a task definition (here an APP_VERSION variable) is filled with the
    version being deployed in the revision registered."""
    ctx, _ = make_ctx(tmp_path, **{"target.services": [{"name": API}]})
    overlay = ctx.root / "deploy" / "taskdef" / "staging.json"
    env = [{"name": "APP_VERSION", "value": "{{version}}"}]
    container = {"name": ctx.config.taskdef.container, "environment": env}
    overlay.write_text(json.dumps({"containerDefinitions": [container]}))
    t = target(ctx)
    sent: list[dict[str, Any]] = []
    ctx.aws.client("ecs").meta.events.register(
        "provide-client-params.ecs.RegisterTaskDefinition",
        lambda params, **_: sent.append(params),
    )
    with Stubs(ctx) as stubs:
        stubs.image()
        stubs.register(API_NEW)
        t.prepare(attempt("deploy", {API: API_OLD}))
        stubs.done()
    [registered] = sent
    [app] = [c for c in registered["containerDefinitions"] if c["name"] == container["name"]]
    assert {"name": "APP_VERSION", "value": ARTIFACT.version} in app["environment"]


# -- undo ------------------------------------------------------------------------------------
def test_the_way_back_follows_the_new_primary_not_the_old_deployment_still_listed(
    tmp_path: Path, creds: None
) -> None:
    """A deploy that failed half way leaves the deployment that served :4 ACTIVE beside ours.
    Updating back to :4 makes a fresh PRIMARY deployment of :4: that one is the way back
    undo names and follows, not the old one of the same revision still draining."""
    t, a, out = one_moved(tmp_path)
    with Stubs(t.ctx) as stubs:
        describe(stubs, service([primary("ecs-svc/api-new", API_NEW, RUN)], name=API))
        answer = service(
            [
                primary("back", API_OLD, RUN),
                dep("ecs-svc/api-new", "ACTIVE", API_NEW, RUN),
                dep("ecs-svc/api-old", "ACTIVE", API_OLD, DONE, 1),
            ],
            name=API,
        )
        update(stubs, API, API_OLD, answer)
        describe(stubs, service([primary("back", API_OLD, DONE)], name=API))
        assert t.undo(a) == f"gamepulse-staging: rolled back to {S4} (back)"
        stubs.done()
    assert "following" not in out.getvalue()


def test_the_way_back_shows_only_the_events_the_deploy_had_not_shown(
    tmp_path: Path, creds: None
) -> None:
    """The service's events the deploy's watch already printed are not printed again while
    the way back is watched; the ones that are new are, once each."""
    t, a, out = one_moved(tmp_path)
    t.moves(a)[0].seen_events = {"ev-1"}
    seen_before = event(1, "has started 2 tasks: (task aaa)")
    fresh = event(2, "has stopped 2 running tasks: (task aaa)")
    with Stubs(t.ctx) as stubs:
        describe(stubs, service([primary("ecs-svc/api-new", API_NEW, RUN)], name=API))
        update(stubs, API, API_OLD, service([primary("back", API_OLD, RUN)], name=API))
        way_back = service([primary("back", API_OLD, DONE)], [fresh, seen_before], name=API)
        describe(stubs, way_back)
        assert t.undo(a) == f"gamepulse-staging: rolled back to {S4} (back)"
        stubs.done()
    text = out.getvalue()
    assert "event: has stopped 2 running tasks" in text
    assert "event: has started 2 tasks" not in text
    assert text.count("event: has stopped 2 running tasks") == 1


def test_a_way_back_whose_tasks_stop_shows_their_container_log(tmp_path: Path, creds: None) -> None:
    """When the rollout back to :4 fails, its stopped task is shown with the tail of its
    container's log, read from the stream the rendered task definition's awslogs options name
    (prefix/container/task id)."""
    t, a, out = one_moved(tmp_path)
    t.moves(a)[0].rendered = t.render(t.cfg.services[0], ARTIFACT.image, ARTIFACT.version)
    with Stubs(t.ctx) as stubs:
        describe(stubs, service([primary("ecs-svc/api-new", API_NEW, DONE)], name=API))
        update(stubs, API, API_OLD, service([primary("back", API_OLD, RUN)], name=API))
        failed = primary("back", API_OLD, "FAILED", reason="tasks failed to start")
        describe(stubs, service([failed], name=API))
        stopped(stubs, task(taskDefinitionArn=API_OLD))
        stream = "gamepulse/gamepulse/0123abcd"
        log_events(stubs, stream, t.cfg.log_lines, "old config: DATABASE_URL missing")
        with pytest.raises(DeployFailed, match="returning to what served"):
            t.undo(a)
        stubs.done()
    assert "    | old config: DATABASE_URL missing" in out.getvalue()


def test_a_way_back_that_ecs_returns_to_ours_is_a_failure_of_the_way_back_not_theirs(
    tmp_path: Path, creds: None
) -> None:
    """ECS drops the way back and makes :5 (ours) PRIMARY again: the way back did not return
    what served, and it says so as our failure; nobody else's deployment superseded it."""
    t, a, _ = one_moved(tmp_path)
    with Stubs(t.ctx) as stubs:
        describe(stubs, service([primary("ecs-svc/api-new", API_NEW, DONE)], name=API))
        update(stubs, API, API_OLD, service([primary("back", API_OLD, RUN)], name=API))
        describe(stubs, service([primary("ecs-svc/again", API_NEW, RUN)], name=API))
        with pytest.raises(DeployFailed) as err:
            t.undo(a)
        stubs.done()
    assert type(err.value) is DeployFailed
    assert err.value.message == (
        "gamepulse-staging: returning to what served: deployment back disappeared; "
        "PRIMARY is gamepulse-staging:5"
    )


# -- following several services ------------------------------------------------------------
def test_a_service_failing_while_the_one_before_it_still_rolls_is_seen_at_that_look(
    tmp_path: Path, creds: None
) -> None:
    """Every pending service is judged at each look: the worker's FAILED rollout ends the
    watch at the first look, though the API listed before it is still IN_PROGRESS (and the
    deadline, reached at that look, is not what is reported)."""
    ctx, _ = make_ctx(tmp_path)
    t = target(ctx)
    moves = [
        _move(t, 0, API_OLD, API_NEW, deployment="api-new", moved=True),
        _move(t, 1, WORKER_OLD, WORKER_NEW, deployment="w", moved=True),
    ]
    failed = primary("w", WORKER_NEW, "FAILED", reason="tasks failed to start")
    with Stubs(ctx) as stubs:
        rolling_api = service([primary("api-new", API_NEW, RUN)], name=API)
        describe(stubs, rolling_api, service([failed], name=WORKER))
        stubs.ecs.add_response(
            "list_tasks",
            {"taskArns": []},
            {"cluster": CLUSTER, "serviceName": WORKER, "desiredStatus": "STOPPED"},
        )
        watched = t.follower.follow(moves, deadline=t.clock())
        stubs.done()
    assert watched is not None
    assert (watched.end, watched.service) == ("failed", WORKER)
    assert watched.reason == "deployment w FAILED: tasks failed to start"


def test_a_service_listed_with_neither_a_primary_nor_a_task_definition_serves_nothing_known() -> (
    None
):
    view = rolling_view(API, {"serviceName": API, "deployments": []})
    assert view.serving is None


# -- bake ------------------------------------------------------------------------------------
def test_the_bake_waits_a_poll_at_a_time_and_its_last_wait_ends_at_its_deadline(
    tmp_path: Path, creds: None
) -> None:
    """Baking 12 s with a 5 s poll looks at 0, 5, 10 and 12 s: the last wait is the 2 s left,
    not another whole poll past the deadline."""
    ctx, _ = make_ctx(tmp_path, **{"target.services": [{"name": API}], "target.poll_seconds": 5})
    clock = FakeClock()
    t = EcsTarget(ctx, clock=clock, sleep=clock.sleep)
    a = attempt("deploy", {API: API_OLD})
    t.moves(a).append(_moved(t))
    with Stubs(ctx) as stubs:
        for _ in range(4):
            describe(stubs, service([primary("ecs-svc/api-new", API_NEW, DONE)], name=API))
        t.bake(a, clock.now + 12, lambda: None)
        stubs.done()
    assert clock.waits == [5, 5, 2]
    assert clock.now == 1012


def test_a_task_failing_while_baking_counts_from_the_first_look_even_without_a_count(
    tmp_path: Path, creds: None
) -> None:
    """Failed tasks are counted from the bake's first look (a PRIMARY that lists no
    failedTasks has none): one failing later ends the bake naming how many and the revision."""
    t, a, _ = one_moved(tmp_path)
    ctx = t.ctx
    first = dep("ecs-svc/api-new", "PRIMARY", API_NEW, "COMPLETED", 2)
    del first["failedTasks"]
    with Stubs(ctx) as stubs:
        describe(stubs, service([first], name=API))
        describe(stubs, service([{**first, "failedTasks": 1}], name=API))
        stubs.no_stopped_tasks()
        with pytest.raises(DeployFailed) as err:
            t.bake(a, t.clock() + 60, lambda: None)
        stubs.done()
    assert (
        err.value.message
        == "gamepulse-staging: 1 task(s) of gamepulse-staging:5 failed while baking"
    )


# -- a refused start -------------------------------------------------------------------------
def test_a_deploy_refused_for_a_rollout_under_way_says_how_to_wait_for_it(
    tmp_path: Path, creds: None
) -> None:
    ctx, _ = make_ctx(tmp_path)
    t = target(ctx)
    busy = "gamepulse-staging: deployment ecs-svc/theirs IN_PROGRESS"
    before = Serving(True, API_OLD, continuing=busy, facts={"serving": {}, "events": {}})
    with pytest.raises(LockHeld) as err:
        t.refuse_busy(before)
    assert err.value.message == f"a deployment is already in progress: {busy}"
    assert err.value.hint == "wait for it (inv wait --env staging), then deploy again"


def test_a_deploy_refused_when_what_serves_is_unknown_names_why_and_that_nothing_changed(
    tmp_path: Path, creds: None
) -> None:
    ctx, _ = make_ctx(tmp_path)
    t = target(ctx)
    before = Serving(False, detail="ECS did not answer: ThrottlingException")
    with pytest.raises(StateUnknown) as err:
        t.refuse_busy(before)
    assert err.value.message == (
        "what serves cannot be told (ECS did not answer: ThrottlingException): nothing changed"
    )


# -- the deploy metric -----------------------------------------------------------------------
def test_the_duration_metric_counts_from_the_start_of_prepare(tmp_path: Path, creds: None) -> None:
    """DeployDuration is the time from prepare to finish on the target's clock (42.5 s
    here), not zero."""
    ctx, _ = make_ctx(tmp_path, **{"target.services": [{"name": API}]})
    t = target(ctx)
    back = Artifact("1.0.0", "", "sha256:" + "c" * 64, "", restore=API_OLD)
    a = attempt("rollback", {API: API_NEW}, back)
    sent: list[dict[str, Any]] = []
    ctx.aws.client("cloudwatch").meta.events.register(
        "provide-client-params.cloudwatch.PutMetricData",
        lambda params, **_: sent.append(params),
    )
    with Stubs(ctx) as stubs:
        t.prepare(a)
        t.clock.now += 42.5  # type: ignore[attr-defined]
        stubs.metrics()
        t.finish(a, "failed", Serving(True, API_NEW), "")
        stubs.done()
    [duration] = [d for d in sent[0]["MetricData"] if d["MetricName"] == "DeployDuration"]
    assert duration["Value"] == 42.5
    assert duration["Unit"] == "Seconds"
