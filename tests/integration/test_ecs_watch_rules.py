"""The rules of following one rolling ECS deployment (shipyard.targets.ecs_watch.Follower), pinned
one by one: which deployment is ours, what ends the watch (COMPLETED and PRIMARY, FAILED,
superseded by another revision, gone, the deadline) and what the caller gets back (the Watched
value: end, reason naming the facts, what is PRIMARY, the deployment that replaced ours); the
progress and event lines (each event once, oldest first); stopped tasks with their log tail.

The Follower is driven with the real ECS, CloudWatch and Logs clients behind botocore's Stubber
(requests and answers checked against the AWS model) and a FakeClock: timeouts take no time."""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shipyard.adapters.cloudwatch import CloudWatch
from shipyard.adapters.ecs import EcsApi
from shipyard.config.targets import EcsTargetConfig
from shipyard.targets.ecs_watch import Follower, Move, View, Watched, rolling_view
from shipyard.taskdef import Rendered
from tests.support.ecs_stubs import (
    ACCOUNT,
    CLUSTER,
    FAMILY,
    NEW,
    OLD,
    REGION,
    FakeClock,
    Stubs,
    arn,
    creds,
    dep,
    event,
    make_ctx,
    rolling,
    service,
    steady,
)

__all__ = ["creds"]

THEIRS = arn(FAMILY, 6)
TASK = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/0123abcd"
STOPPED = "Essential container in task exited"
BREAKER = "ECS deployment circuit breaker: tasks failed to start."
DONE_DEPS = [dep("ecs-svc/new", "PRIMARY", NEW, "COMPLETED", 2, minute=5)]


@dataclass
class Rig:
    follower: Follower
    stubs: Stubs
    clock: FakeClock
    out: io.StringIO

    def move(self, deployment: str | None = "ecs-svc/new", **kw: Any) -> Move:
        cfg = self.follower.cfg
        return Move(cfg.services[0], "gamepulse", OLD, NEW, deployment=deployment, moved=True, **kw)

    def lines(self) -> list[str]:  # what was printed, without the progress [HH:MM:SS] stamp
        return [re.sub(r"^\[\d\d:\d\d:\d\d\] ", "", x) for x in self.out.getvalue().splitlines()]


@pytest.fixture
def rig(tmp_path: Path, creds: None, request: pytest.FixtureRequest) -> Any:
    overrides = getattr(request, "param", {})
    ctx, out = make_ctx(tmp_path, "staging", "http://127.0.0.1:9", **overrides)
    cfg = ctx.config.target
    assert isinstance(cfg, EcsTargetConfig)
    clock = FakeClock()
    follower = Follower(EcsApi(ctx.aws), CloudWatch(ctx.aws), cfg, ctx.console, clock, clock.sleep)
    with Stubs(ctx) as stubs:
        yield Rig(follower, stubs, clock, out)
        stubs.done()


def rendered(log: dict[str, Any] | None, name: str = "gamepulse") -> Rendered:
    container: dict[str, Any] = {"name": name, "image": "gamepulse@sha256:ab"}
    if log is not None:
        container["logConfiguration"] = log
    return Rendered({"family": FAMILY, "containerDefinitions": [container]}, ())


def stopped(stubs: Stubs, *tasks: dict[str, Any]) -> None:
    """ListTasks (STOPPED) and DescribeTasks answering `tasks`."""
    arns = [t["taskArn"] for t in tasks]
    stubs.ecs.add_response(
        "list_tasks",
        {"taskArns": arns},
        {"cluster": CLUSTER, "serviceName": FAMILY, "desiredStatus": "STOPPED"},
    )
    stubs.ecs.add_response(
        "describe_tasks", {"tasks": list(tasks)}, {"cluster": CLUSTER, "tasks": arns}
    )


def task(task_id: str = "0123abcd", **kw: Any) -> dict[str, Any]:
    return {
        "taskArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/{task_id}",
        "taskDefinitionArn": NEW,
        "lastStatus": "STOPPED",
        "stoppedReason": STOPPED,
        "containers": [{"name": "gamepulse", "exitCode": 1}],
        **kw,
    }


def log_events(stubs: Stubs, stream: str, limit: int, *messages: str) -> None:
    stubs.stubbers["logs"].add_response(
        "get_log_events",
        {"events": [{"timestamp": i, "message": m} for i, m in enumerate(messages)]},
        {
            "logGroupName": "/ecs/gamepulse-staging",
            "logStreamName": stream,
            "limit": limit,
            "startFromHead": False,
        },
    )


# -- the deadline -------------------------------------------------------------------------------
def unlisted() -> dict[str, Any]:
    svc = service([])
    del svc["deployments"]  # the model makes the list optional: nothing is listed at all
    return svc


@pytest.mark.parametrize("answer", [steady(OLD), unlisted()], ids=["old-only", "no-list"])
def test_a_deadline_reached_before_ecs_lists_ours_says_none_not_seen_and_what_serves(
    rig: Rig, answer: dict[str, Any]
) -> None:
    """The first look tolerates ours being unlisted; at the deadline the timeout names no
    deployment id ("(none)"), "not seen", the configured timeout, and :4 still serving."""
    rig.stubs.describe(answer)
    watched = rig.follower.follow([rig.move(None)], deadline=rig.clock.now)
    reason = "deployment (none) still not seen after 15m00s"
    assert watched == Watched("timeout", FAMILY, reason, OLD, {})
    assert rig.clock.sleeps == 0


def test_the_deadline_is_reached_at_exactly_its_time_and_the_unchanged_line_is_shown_once(
    rig: Rig,
) -> None:
    """Looks at t=0, 5 and 10 with the deadline at 10: the third look ends it (>=, not >);
    the timeout names our id and its state; the progress line, unchanged, is printed once."""
    for _ in range(3):
        rig.stubs.describe(rolling(running=1))
    m = rig.move(None)
    watched = rig.follower.follow([m], deadline=rig.clock.now + 10)
    assert watched == Watched(
        "timeout", FAMILY, "deployment ecs-svc/new still IN_PROGRESS after 15m00s", OLD, {}
    )
    assert rig.clock.sleeps == 2
    assert m.deployment == "ecs-svc/new"  # PRIMARY runs our revision: that deployment is ours
    assert rig.lines() == [f"{FAMILY}: IN_PROGRESS running 1/2 pending 1 failed 0"]


def test_a_deployment_completing_as_primary_ends_the_watch_with_none_and_a_line(
    rig: Rig,
) -> None:
    rig.stubs.describe(rolling(running=1))
    rig.stubs.describe(service(DONE_DEPS))
    assert rig.follower.follow([rig.move()], deadline=rig.clock.now + 60) is None
    assert rig.clock.sleeps == 1
    assert rig.lines() == [
        f"{FAMILY}: IN_PROGRESS running 1/2 pending 1 failed 0",
        f"{FAMILY}: COMPLETED running 2/2 pending 0 failed 0",
        f"{FAMILY}: {FAMILY}:5 COMPLETED and PRIMARY",
    ]


def test_a_deployment_listing_no_state_nor_counts_shows_a_question_mark_and_zeros(rig: Rig) -> None:
    rig.follower.judge(rig.move(), service([bare()]))  # no failed count: no stopped tasks looked up
    assert rig.lines() == [f"{FAMILY}: ? running 0/0 pending 0 failed 0"]


WORKER = "gamepulse-worker"


@pytest.mark.parametrize(
    "rig", [{"target.services": [{"name": FAMILY}, {"name": WORKER}]}], indirect=True
)
def test_services_are_looked_at_together_until_each_ends_and_a_timeout_names_the_one_left(
    rig: Rig,
) -> None:
    """One DescribeServices for the moves still pending (a move never made is not watched);
    a service whose deployment COMPLETED drops out; at the deadline the one left is named."""
    new, old = arn(WORKER, 5), arn(WORKER, 4)
    worker = service(rolling(new, old, running=1)["deployments"], name=WORKER)
    both = {"services": [service(DONE_DEPS), worker]}
    rig.stubs.ecs.add_response(
        "describe_services", both, {"cluster": CLUSTER, "services": [FAMILY, WORKER]}
    )
    rig.stubs.describe(worker)
    idle = rig.move()
    idle.moved = False
    cfg = rig.follower.cfg.services[1]
    moves = [idle, rig.move(), Move(cfg, "gamepulse", old, new, moved=True)]
    watched = rig.follower.follow(moves, deadline=rig.clock.now + 5)
    reason = "deployment ecs-svc/new still IN_PROGRESS after 15m00s"
    assert watched == Watched("timeout", WORKER, reason, old)
    assert f"{FAMILY}: {FAMILY}:5 COMPLETED and PRIMARY" in rig.lines()


# -- how a deployment ends the watch ------------------------------------------------------------
def theirs(created: bool = True) -> dict[str, Any]:
    primary = dep("ecs-svc/theirs", "PRIMARY", THEIRS, "IN_PROGRESS", 1, minute=8)
    if not created:
        del primary["createdAt"]
    return primary


def unreasoned() -> dict[str, Any]:
    failed = dep("ecs-svc/new", "PRIMARY", NEW, "FAILED", 0, minute=5)
    del failed["rolloutStateReason"]
    return failed


BACK = dep("ecs-svc/back", "PRIMARY", OLD, "IN_PROGRESS", 1, minute=9)
OURS = dep("ecs-svc/new", "ACTIVE", NEW, "IN_PROGRESS", 1, minute=5)
OURS_FAILED = dep("ecs-svc/new", "ACTIVE", NEW, "FAILED", 0, reason=BREAKER, minute=5)
SUPERSEDED = f"deployment ecs-svc/new of {FAMILY}:5 was superseded: deployment ecs-svc/theirs"
ENDINGS = {  # deployments listed: (end, reason, what is PRIMARY, the deployment that replaced ours)
    "superseded": (
        [theirs(), OURS],
        ("superseded", f"{SUPERSEDED} (created 2026-01-01 00:08:00+00:00) made {FAMILY}:6 PRIMARY"),
        (THEIRS, theirs()),
    ),
    "superseded-no-created-at": (
        [theirs(False), OURS],
        ("superseded", f"{SUPERSEDED} made {FAMILY}:6 PRIMARY"),
        (THEIRS, theirs(False)),
    ),
    "replaced": (
        [BACK, OURS],
        ("gone", f"deployment ecs-svc/new was replaced by ecs-svc/back; PRIMARY is {FAMILY}:4"),
        (OLD, {}),
    ),
    "disappeared": (
        [BACK],
        ("gone", f"deployment ecs-svc/new disappeared; PRIMARY is {FAMILY}:4"),
        (OLD, {}),
    ),
    "failed-rolled-back": (
        [BACK, OURS_FAILED],
        ("failed", f"deployment ecs-svc/new FAILED: {BREAKER}; PRIMARY is {FAMILY}:4"),
        (OLD, {}),
    ),
    "failed-primary": (
        [dict(OURS_FAILED, status="PRIMARY")],
        ("failed", f"deployment ecs-svc/new FAILED: {BREAKER}"),
        (NEW, {}),
    ),
    "failed-tasks-shown-once": (
        [dict(OURS_FAILED, failedTasks=1)],
        ("failed", f"deployment ecs-svc/new FAILED: {BREAKER}"),
        (None, {}),
    ),
    "failed-no-primary": (
        [OURS_FAILED],
        ("failed", f"deployment ecs-svc/new FAILED: {BREAKER}"),
        (None, {}),
    ),
    "failed-no-reason": (
        [unreasoned()],
        ("failed", "deployment ecs-svc/new FAILED: rollout FAILED"),
        (NEW, {}),
    ),
}


@pytest.mark.parametrize(("deployments", "said", "left"), ENDINGS.values(), ids=ENDINGS.keys())
def test_how_ours_ends_is_named_with_its_facts_and_what_is_primary(
    rig: Rig, deployments: list[dict[str, Any]], said: tuple[str, str], left: tuple[Any, Any]
) -> None:
    """Another revision (:6) PRIMARY: superseded, naming their deployment, its creation time
    (when ECS gives one) and the revision, and handing theirs back; :4 PRIMARY again: gone;
    FAILED (the circuit breaker, even while ACTIVE): ECS's reason, and PRIMARY when not ours;
    stopped tasks are looked up once for a failure (none here)."""
    rig.stubs.describe(service(deployments))
    if said[0] == "failed":
        rig.stubs.no_stopped_tasks()
    watched = rig.follower.follow([rig.move()], deadline=rig.clock.now + 60)
    assert watched == Watched(said[0], FAMILY, said[1], *left)
    assert not [x for x in rig.lines() if "could not list stopped tasks" in x]


def test_ecs_starting_nothing_is_gone_on_the_second_look(rig: Rig) -> None:
    rig.stubs.describe(steady(OLD))
    rig.stubs.describe(steady(OLD))
    watched = rig.follower.follow([rig.move(None)], deadline=rig.clock.now + 60)
    reason = f"ECS started no deployment for {FAMILY}:5; PRIMARY is {FAMILY}:4"
    assert watched == Watched("gone", FAMILY, reason, OLD, {})
    assert rig.clock.sleeps == 1


def test_a_look_with_no_primary_listed_decides_nothing(rig: Rig) -> None:
    """Ours absent and nothing PRIMARY: looked at again, not called gone."""
    rig.stubs.describe(service([dep("ecs-svc/x", "ACTIVE", OLD, "COMPLETED", 2)]))
    rig.stubs.describe(service([dep("ecs-svc/new", "PRIMARY", NEW, "COMPLETED", 2)]))
    assert rig.follower.follow([rig.move()], deadline=rig.clock.now + 60) is None


def test_a_forced_deployment_of_our_revision_is_followed_by_its_id(rig: Rig) -> None:
    forced = dep("ecs-svc/forced", "PRIMARY", NEW, "COMPLETED", 2, minute=7)
    m = rig.move()
    watched = rig.follower.judge(m, service([forced, OURS]))
    assert watched == Watched("completed", FAMILY, "ECS deployment ecs-svc/forced completed.", NEW)
    assert m.deployment == "ecs-svc/forced"
    assert rig.lines()[0] == f"{FAMILY}: following ecs-svc/forced"


# -- events ---------------------------------------------------------------------------------------
def test_service_events_are_shown_once_oldest_first_and_earlier_ones_never(rig: Rig) -> None:
    """ECS lists events newest first; ev-1 was seen before the deploy and is never shown."""
    ev = [event(n, text) for n, text in enumerate(["steady", "started 1", "drained", "ok"], 1)]
    first = rolling(running=1)
    first["events"] = ev[1::-1]  # ev-2, ev-1
    later = service(DONE_DEPS, ev[::-1])  # ev-4 ... ev-1
    rig.stubs.describe(first)
    rig.stubs.describe(later)
    m = rig.move(seen_events={"ev-1"})
    assert rig.follower.follow([m], deadline=rig.clock.now + 60) is None
    shown = [x for x in rig.lines() if " event: " in x]
    assert shown == [f"{FAMILY} event: {text}" for text in ["started 1", "drained", "ok"]]
    assert m.seen_events == {"ev-1", "ev-2", "ev-3", "ev-4"}


# -- stopped tasks and their log tail ----------------------------------------------------------
AWSLOGS = {"awslogs-group": "/ecs/gamepulse-staging", "awslogs-region": REGION}
PREFIXED = {"logDriver": "awslogs", "options": {**AWSLOGS, "awslogs-stream-prefix": "gamepulse"}}
PANIC, DENIED = "panic: DB_PASSWORD rejected", "(log tail unavailable: logs:GetLogEvents"
TAILS = {  # target.log_lines, the task definition rendered, the stream read, what it shows
    "prefix": (1, rendered(PREFIXED), "gamepulse/gamepulse/0123abcd", PANIC),
    "no-prefix": (20, rendered({"logDriver": "awslogs", "options": AWSLOGS}), "0123abcd", PANIC),
    "unreadable": (20, rendered(PREFIXED), "gamepulse/gamepulse/0123abcd", DENIED),
    "off": (0, rendered(PREFIXED), None, None),
    "no-taskdef": (20, None, None, None),
    "firelens": (20, rendered({"logDriver": "awsfirelens", "options": AWSLOGS}), None, None),
    "no-group": (20, rendered({"logDriver": "awslogs", "options": {"x": "y"}}), None, None),
    "no-log": (20, rendered(None), None, None),
    "no-app": (20, rendered(PREFIXED, name="sidecar"), None, None),
}


@pytest.mark.parametrize(
    ("rig", "doc", "stream", "said"),
    [({"target.log_lines": n}, *rest) for n, *rest in TAILS.values()],
    ids=TAILS.keys(),
    indirect=["rig"],
)
def test_a_stopped_task_is_shown_with_the_awslogs_tail_of_its_own_stream(
    rig: Rig, doc: Rendered | None, stream: str | None, said: str | None
) -> None:
    """The tail is read only from an awslogs group of the app container, from the stream ECS
    names <prefix>/<container>/<task id> (the task id alone without a prefix), log_lines long;
    a tail that cannot be read says so under the task."""
    m = rig.move(rendered=doc)
    stopped(rig.stubs, task(containers=[{"name": "gamepulse", "exitCode": 1, "reason": "OOM"}]))
    if said == DENIED:
        rig.stubs.stubbers["logs"].add_client_error("get_log_events", "AccessDeniedException")
    elif stream is not None:
        log_events(rig.stubs, stream, rig.follower.cfg.log_lines, PANIC)
    rig.follower.show_stopped(m)
    text = rig.out.getvalue()
    assert f"{FAMILY}: task 0123abcd stopped: {STOPPED} (gamepulse exit 1 OOM)" in text
    tail = [x[6:] for x in text.splitlines() if x.startswith("    | ")]
    assert [x[: len(said)] for x in tail] == ([said] if said else [])
    assert m.shown_tasks == {TASK}


def test_stopped_tasks_are_shown_at_most_three_and_each_only_once(rig: Rig) -> None:
    """Newest first, three at a time; a task already shown is skipped, the ones after it are
    still shown; a missing reason, exit code or container list is said plainly."""
    tasks = [task(f"t{i}", stoppedAt=dt.datetime(2026, 1, 1, 0, 9 - i)) for i in range(4)]
    tasks[0]["stoppedReason"] = "Scaling activity initiated"
    del tasks[0]["containers"]
    del tasks[1]["stoppedReason"]
    tasks[2]["containers"] = [{"name": "gamepulse", "reason": "CannotPullContainerError: denied"}]
    stopped(rig.stubs, *tasks)
    stopped(rig.stubs, *tasks)
    stopped(rig.stubs, *tasks[1:])  # t0 no longer listed: t3 is among the newest three
    m = rig.move()
    rig.follower.show_stopped(m)
    assert len(rig.lines()) == 3
    rig.follower.show_stopped(m)
    rig.follower.show_stopped(m)
    warned = [x for x in rig.lines() if " stopped: " in x]
    assert [x.split(": ", 1)[1] for x in warned] == [
        f"{FAMILY}: task t0 stopped: Scaling activity initiated",
        f"{FAMILY}: task t1 stopped: ? (gamepulse exit 1)",
        f"{FAMILY}: task t2 stopped: Essential container in task exited "
        "(gamepulse exit - CannotPullContainerError: denied)",
        f"{FAMILY}: task t3 stopped: Essential container in task exited (gamepulse exit 1)",
    ]
    assert m.shown_tasks == {t["taskArn"] for t in tasks}


def test_stopped_tasks_that_cannot_be_listed_are_a_warning_not_an_error(rig: Rig) -> None:
    rig.stubs.ecs.add_client_error("list_tasks", "AccessDeniedException", "not allowed")
    rig.follower.show_stopped(rig.move())
    (line,) = rig.lines()
    assert f"{FAMILY}: could not list stopped tasks:" in line
    assert "access denied: these credentials may not perform ecs:ListTasks" in line


def test_stopped_tasks_are_looked_up_when_the_failed_count_grows_only(rig: Rig) -> None:
    """failedTasks 1, 1, then 2: ListTasks on the first and third look; the unchanged line
    is not repeated."""
    rig.stubs.describe(rolling(running=1, failed=1))
    stopped(rig.stubs, task("t1"))
    rig.stubs.describe(rolling(running=1, failed=1))
    rig.stubs.describe(rolling(running=1, failed=2))
    stopped(rig.stubs, task("t2"), task("t1"))
    watched = rig.follower.follow([rig.move()], deadline=rig.clock.now + 10)
    assert watched is not None
    assert watched.end == "timeout"
    progress = [x for x in rig.lines() if x.startswith(f"{FAMILY}: IN_PROGRESS")]
    assert progress == [
        f"{FAMILY}: IN_PROGRESS running 1/2 pending 1 failed 1",
        f"{FAMILY}: IN_PROGRESS running 1/2 pending 1 failed 2",
    ]
    assert sum(" stopped: " in x for x in rig.lines()) == 2


# -- what serves: rolling_view --------------------------------------------------------------
def bare(**kw: Any) -> dict[str, Any]:
    """A deployment listing only its id, status and task definition (the model's minimum)."""
    d = dep("ecs-svc/new", "PRIMARY", NEW, "IN_PROGRESS", 2, minute=5)
    return {**{k: d[k] for k in ("id", "status", "taskDefinition")}, **kw}


P5, A4 = f"PRIMARY {FAMILY}:5 IN_PROGRESS 1/2 running", f"ACTIVE {FAMILY}:4 COMPLETED 2/2 running"
GOES = f"deployment ecs-svc/new of {FAMILY} continues ({FAMILY}:5 IN_PROGRESS, 1/2 running)"
A3 = dep("ecs-svc/three", "ACTIVE", arn(FAMILY, 3), "COMPLETED", 2, minute=1)
A4_LATER = dep("ecs-svc/old", "ACTIVE", OLD, "COMPLETED", 2, minute=2)
VIEWS = {  # deployments listed (None: none): (known, serving, detail, continuing, busy, target)
    "no-primary": ([dict(A3, status="ACTIVE")], (True, OLD, f"{FAMILY}:4", "", None, None)),
    "no-list": (None, (True, OLD, f"{FAMILY}:4", "", None, None)),
    "steady": (
        [dep("ecs-svc/old", "PRIMARY", OLD, "COMPLETED", 2)],
        (True, OLD, f"PRIMARY {FAMILY}:4 COMPLETED 2/2 running", "", None, None),
    ),
    "rolling": (
        rolling(running=1)["deployments"],
        (True, OLD, f"{P5}, {A4}", GOES, OURS["id"], NEW),
    ),
    "latest-completed": (
        [rolling(running=1)["deployments"][0], A3, A4_LATER],
        (True, OLD, f"{P5}, ACTIVE {FAMILY}:3 COMPLETED 2/2 running, {A4}", GOES, OURS["id"], NEW),
    ),
    "latest-completed-first": (
        [
            rolling(running=1)["deployments"][0],
            A4_LATER,
            bare(status="ACTIVE"),
        ],
        (True, OLD, f"{P5}, {A4}, ACTIVE {FAMILY}:5 - 0/0 running", GOES, OURS["id"], NEW),
    ),
    "alone": (
        [dep("ecs-svc/new", "PRIMARY", NEW, "IN_PROGRESS", 1)],
        (True, NEW, P5, GOES, OURS["id"], NEW),
    ),
    "none-finished": (
        [BACK, OURS_FAILED],
        (
            False,
            None,
            f"no finished rollout carries the traffic (PRIMARY {FAMILY}:4 IN_PROGRESS 1/2 running"
            f", ACTIVE {FAMILY}:5 FAILED 0/2 running)",
            f"deployment ecs-svc/back of {FAMILY} continues ({FAMILY}:4 IN_PROGRESS, 1/2 running)",
            "ecs-svc/back",
            OLD,
        ),
    ),
    "no-state": (
        [bare(), A4_LATER],
        (True, NEW, f"PRIMARY {FAMILY}:5 - 0/0 running, {A4}", "", None, None),
    ),
}


@pytest.mark.parametrize(("deployments", "seen"), VIEWS.values(), ids=VIEWS.keys())
def test_what_serves_is_the_completed_primary_else_the_latest_completed_older_one(
    deployments: list[dict[str, Any]] | None, seen: tuple[Any, ...]
) -> None:
    """While a rollout is under way the latest older COMPLETED deployment carries the traffic,
    a lone deployment carries it itself, else nothing can be told; without a PRIMARY the
    service's task definition is what serves. A missing rolloutState counts as COMPLETED."""
    view = rolling_view(FAMILY, unlisted() if deployments is None else service(deployments))
    known, serving, detail, *rest = seen
    assert view == View(FAMILY, known, serving, f"{FAMILY}: {detail}", *rest)
