"""The rolling ECS target's settling rules (shipyard.targets.ecs_settle) against botocore's Stubber
(the real ECS service model): the exact report `inv status` gives (each service's row, what the
records say is live, the history, the mismatches, and the report when ECS does not answer), the
digest read from the image of a revision shipyard did not deploy, the artifact `inv rollback`
returns to (its fallbacks and the restore list), `inv wait --deployment ID` to its end or its
refusal, what reconcile settles, and what serves. Every AWS call a rule makes is stubbed in
order: a call the rule should not make fails the test. Clocks are fake: nothing waits."""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import ANY

from shipyard.config import load_config
from shipyard.console import Console
from shipyard.context import Context
from shipyard.errors import DeployFailed, StateUnknown, Superseded, UsageError
from shipyard.rollout.model import Attempt, Serving
from shipyard.targets.base import Artifact, StatusReport
from shipyard.targets.ecs import EcsTarget
from shipyard.targets.ecs_watch import Move
from tests.support.ecs_stubs import (
    ARTIFACT,
    CLUSTER,
    REPO,
    FakeClock,
    Stubs,
    arn,
    creds,
    dep,
    event,
    service,
)

__all__ = ["creds"]  # the fixture these tests use

API, WORKER = "gamepulse-staging", "worker"
WORKER_FAMILY = "gamepulse-staging-worker"
API_OLD, API_NEW = arn(API, 4), arn(API, 5)
WORKER_OLD = arn(WORKER_FAMILY, 7)
URL = "https://staging.example.com"
SHA = "sha256:" + "cd" * 32
COMMIT = "c0ffee" * 6 + "c0ff"
CREATED = dt.datetime(2026, 1, 1, 0, 0, tzinfo=dt.UTC)


def make_ctx(tmp_path: Path, *, both: bool = False) -> tuple[Context, io.StringIO]:
    """Staging with the API service; with `both`, its worker too (its own family)."""
    root = tmp_path / "proj"
    shutil.copytree(REPO / "deploy", root / "deploy")
    (root / "version.txt").write_text("1.2.0\n")
    (root / "deploy" / "taskdef" / "worker.json").write_text(
        json.dumps({"family": "gamepulse-{{environment}}-worker"})
    )
    settings: dict[str, Any] = {"verify.url": URL}
    if both:
        settings["target.services"] = [
            {"name": API},
            {"name": WORKER, "taskdef_overlay": "deploy/taskdef/worker.json"},
        ]
    config = load_config("staging", root=root, overrides=settings, environ={})
    out = io.StringIO()
    return Context(config=config, root=root, console=Console(out=out, err=out), environ={}), out


class Env:
    """An EcsTarget over stubbed clients, and what the console printed."""

    def __init__(self, ctx: Context, stubs: Stubs, out: io.StringIO) -> None:
        clock = FakeClock()
        self.t = EcsTarget(ctx, clock=clock, sleep=clock.sleep)
        self.stubs = stubs
        self.out = out

    def describe(self, *svcs: dict[str, Any]) -> None:
        self.stubs.ecs.add_response(
            "describe_services",
            {"services": list(svcs)},
            {"cluster": CLUSTER, "services": [s["serviceName"] for s in svcs]},
        )

    def tags(self, taskdef: str, **tags: str) -> None:
        listed = [{"key": f"shipyard:{k.replace('_', '-')}", "value": v} for k, v in tags.items()]
        self.stubs.ecs.add_response(
            "list_tags_for_resource", {"tags": listed}, {"resourceArn": taskdef}
        )

    def settle(self, taskdef: str, outcome: str, *, live: bool = False) -> None:
        values = [{"key": "shipyard:outcome", "value": outcome}]
        if live:
            values.append({"key": "shipyard:deployed-at", "value": ANY})
        self.stubs.ecs.add_response("tag_resource", {}, {"resourceArn": taskdef, "tags": values})

    def taskdef(self, ref: str, containers: list[dict[str, Any]]) -> None:
        self.stubs.ecs.add_response(
            "describe_task_definition",
            {"taskDefinition": {"taskDefinitionArn": ref, "containerDefinitions": containers}},
            {"taskDefinition": ref, "include": ["TAGS"]},
        )


@pytest.fixture
def env(tmp_path: Path, creds: None) -> Iterator[Env]:
    ctx, out = make_ctx(tmp_path)
    stubs = Stubs(ctx)
    with stubs:
        yield Env(ctx, stubs, out)
        stubs.done()


@pytest.fixture
def env2(tmp_path: Path, creds: None) -> Iterator[Env]:
    ctx, out = make_ctx(tmp_path, both=True)
    stubs = Stubs(ctx)
    with stubs:
        yield Env(ctx, stubs, out)
        stubs.done()


def steady(name: str, taskdef: str, running: int = 1, desired: int = 3) -> dict[str, Any]:
    svc = service([dep("ecs-svc/1", "PRIMARY", taskdef, "COMPLETED", 2)], name=name)
    svc.update(runningCount=running, desiredCount=desired)
    return svc


def released(version: str = "1.1.0", outcome: str = "succeeded") -> dict[str, str]:
    return {
        "version": version,
        "digest": SHA,
        "git_revision": COMMIT,
        "outcome": outcome,
        "deployed_at": "2026-01-02T03:04:05Z",
    }


# -- status: a revision shipyard deployed ------------------------------------------------------
def test_status_reports_each_row_the_live_release_its_history_and_what_serves(env: Env) -> None:
    """The row and `live` come from the serving revision's tags and the PRIMARY deployment;
    the history lists the family newest first; nothing disagrees."""
    env.describe(steady(API, API_OLD))
    env.tags(API_OLD, **released())
    env.stubs.revisions(API, API_OLD, arn(API, 3))
    env.tags(arn(API, 3), version="1.0.0", outcome="failed")
    env.stubs.revisions(API, API_OLD, arn(API, 3))

    report = env.t.status()

    row = {
        "service": API,
        "version": "1.1.0",
        "revision": "gamepulse-staging:4",
        "digest": SHA,
        "git_revision": COMMIT,
        "outcome": "succeeded",
        "since": "2026-01-02T03:04:05Z",
        "rollout": "COMPLETED",
        "running": "1/3",
        "deployments": 1,
    }
    assert report.environment == "staging"
    assert report.url == URL
    assert report.live == {
        "version": "1.1.0",
        "revision": "gamepulse-staging:4",
        "digest": SHA,
        "since": "2026-01-02T03:04:05Z",
        "rollout": "COMPLETED",
        "running": "1/3",
        "release_id": "gamepulse-staging:4",
        "services": [row],
    }
    assert [(h["revision"], h["version"], h["live"]) for h in report.history] == [
        ("gamepulse-staging:4", "1.1.0", True),
        ("gamepulse-staging:3", "1.0.0", False),
    ]
    assert report.observed == {
        "known": True,
        "release_id": API_OLD,
        "version": "1.1.0",
        "digest": SHA,
        "detail": "gamepulse-staging: PRIMARY gamepulse-staging:4 COMPLETED 2/2 running",
        "continuing": "",
    }
    assert report.mismatch == ""


# -- status: a revision shipyard did not deploy -----------------------------------------------
def test_status_reads_the_digest_from_the_image_of_the_configured_container(env: Env) -> None:
    """No tags: the digest is the part after '@' of the release container's image (a sidecar
    listed first is not it), `since` is when the PRIMARY deployment was created."""
    svc = steady(API, API_OLD)
    env.describe(svc)
    env.tags(API_OLD)
    sidecar = {"name": "envoy", "image": "envoy@sha256:" + "ee" * 32}
    app = {"name": "gamepulse", "image": f"123456789012.dkr.ecr.x.amazonaws.com/gamepulse@{SHA}"}
    env.taskdef(API_OLD, [sidecar, app])
    env.stubs.revisions(API, API_OLD)
    env.stubs.revisions(API, API_OLD)

    report = env.t.status()

    assert report.live is not None
    assert report.live["services"] == [
        {
            "service": API,
            "version": None,
            "revision": "gamepulse-staging:4",
            "digest": SHA,
            "git_revision": None,
            "outcome": None,
            "since": "2026-01-01T00:00:00Z",
            "rollout": "COMPLETED",
            "running": "1/3",
            "deployments": 1,
        }
    ]
    assert report.mismatch == (
        "gamepulse-staging: gamepulse-staging:4 serves but was not deployed by shipyard"
    )


def test_status_shows_an_image_without_a_digest_as_it_is(env: Env) -> None:
    env.describe(steady(API, API_OLD))
    env.tags(API_OLD)
    env.taskdef(API_OLD, [{"name": "gamepulse", "image": "nginx:1.25"}])
    env.stubs.revisions(API, API_OLD)
    env.stubs.revisions(API, API_OLD)

    report = env.t.status()

    assert report.live is not None
    assert report.live["digest"] == "nginx:1.25"


def test_status_of_a_service_with_no_task_definition_reads_nothing_more(env: Env) -> None:
    """An EXTERNAL service without task sets names no revision: no tags, no image, no history
    are read; its row is empty and what serves cannot be told."""
    svc = {
        "serviceName": API,
        "status": "ACTIVE",
        "deploymentController": {"type": "EXTERNAL"},
        "deployments": [],
    }
    env.describe(svc)

    report = env.t.status()

    assert report.live == {
        "version": None,
        "revision": "-",
        "digest": None,
        "since": None,
        "rollout": None,
        "running": "0/0",
        "release_id": "-",
        "services": [
            {
                "service": API,
                "version": None,
                "revision": "-",
                "digest": None,
                "git_revision": None,
                "outcome": None,
                "since": None,
                "rollout": None,
                "running": "0/0",
                "deployments": 0,
            }
        ],
    }
    assert report.history == []
    assert report.mismatch == "what serves cannot be told: gamepulse-staging: -"


def test_status_when_ecs_does_not_answer_says_so_and_shows_nothing_live(env: Env) -> None:
    env.stubs.ecs.add_client_error(
        "describe_services", "AccessDeniedException", "no ecs:DescribeServices for you"
    )

    report = env.t.status()

    said = (
        "ecs:DescribeServices gamepulse-cluster: access denied: these credentials may not "
        "perform ecs:DescribeServices (grant it in deploy/iam/github-actions-policy.json or use "
        "a role that has it)"
    )
    assert report == StatusReport(
        "staging",
        URL,
        None,
        [],
        {
            "known": False,
            "release_id": None,
            "version": None,
            "digest": None,
            "detail": said,
            "continuing": "",
        },
        said,
    )


# -- rollback_artifact ------------------------------------------------------------------------
def observed(serving: dict[str, str | None]) -> Serving:
    release = ",".join(v for v in serving.values() if v)
    return Serving(True, release, facts={"serving": serving, "services": {}, "events": {}})


def test_rollback_refuses_when_what_serves_cannot_be_told(env: Env) -> None:
    with pytest.raises(StateUnknown) as err:
        env.t.rollback_artifact(Serving(False, detail="ECS did not answer"), None)
    assert str(err.value) == "what serves cannot be told (ECS did not answer): nothing to roll back"


def test_rollback_refuses_a_service_that_runs_nothing_yet(env2: Env) -> None:
    with pytest.raises(DeployFailed) as err:
        env2.t.rollback_artifact(observed({API: None, WORKER: WORKER_OLD}), None)
    assert str(err.value) == "gamepulse-staging runs no task definition yet: nothing to roll back"


def test_rollback_refusal_names_the_service(env: Env) -> None:
    env.stubs.revisions(API, API_NEW, API_OLD)
    env.tags(API_OLD, version="1.1.0", outcome="failed")
    with pytest.raises(UsageError) as err:
        env.t.rollback_artifact(observed({API: API_NEW}), None)
    assert str(err.value) == (
        "gamepulse-staging: no earlier revision of gamepulse-staging is recorded as a good release"
    )


def test_rollback_returns_every_service_with_the_first_ones_release(env2: Env) -> None:
    """Version, digest and commit come from the first service's chosen revision; the image is
    left to the target; restore lists each service's revision in configuration order."""
    env2.stubs.revisions(API, API_NEW, API_OLD)
    env2.tags(API_OLD, **released())
    env2.stubs.revisions(WORKER_FAMILY, arn(WORKER_FAMILY, 8), WORKER_OLD)
    env2.tags(WORKER_OLD, outcome="succeeded")

    chosen = env2.t.rollback_artifact(observed({API: API_NEW, WORKER: arn(WORKER_FAMILY, 8)}), None)

    assert chosen == Artifact("1.1.0", "", SHA, COMMIT, restore=f"{API_OLD},{WORKER_OLD}")


def test_rollback_to_a_revision_without_records_names_it_by_its_revision(env: Env) -> None:
    bare = arn(API, 3)
    env.stubs.ecs.add_response(
        "describe_task_definition",
        {"taskDefinition": {"taskDefinitionArn": bare, "status": "ACTIVE"}},
        {"taskDefinition": f"{API}:3", "include": ["TAGS"]},
    )

    chosen = env.t.rollback_artifact(observed({API: API_NEW}), "3")

    assert chosen == Artifact("gamepulse-staging:3", "", "", "", restore=bare)


# -- inv wait --deployment ID -------------------------------------------------------------------
def rolling(new: str = API_NEW, old: str = API_OLD, name: str = API) -> dict[str, Any]:
    return service(
        [
            dep("ecs-svc/new", "PRIMARY", new, "IN_PROGRESS", 0, minute=5),
            dep("ecs-svc/old", "ACTIVE", old, "COMPLETED", 2),
        ],
        name=name,
    )


def test_wait_follows_the_deployment_to_its_end_and_records_it_succeeded(env: Env) -> None:
    env.describe(rolling())
    env.describe(service([dep("ecs-svc/new", "PRIMARY", API_NEW, "COMPLETED", 2, minute=5)]))
    env.tags(API_NEW, outcome="shifting")
    env.settle(API_NEW, "succeeded", live=True)

    notes = env.t.reconcile(Serving(False), follow="ecs-svc/new")

    assert notes == [
        "deployment ecs-svc/new of gamepulse-staging completed: gamepulse-staging:5 serves"
    ]


def test_wait_leaves_a_settled_record_of_a_completed_deployment_alone(env: Env) -> None:
    env.describe(rolling())
    env.describe(service([dep("ecs-svc/new", "PRIMARY", API_NEW, "COMPLETED", 2, minute=5)]))
    env.tags(API_NEW, outcome="succeeded")

    notes = env.t.reconcile(Serving(False), follow="ecs-svc/new")

    assert notes == [
        "deployment ecs-svc/new of gamepulse-staging completed: gamepulse-staging:5 serves"
    ]


def test_wait_for_a_deployment_no_service_runs_says_what_serves(env: Env) -> None:
    env.describe(steady(API, API_OLD))
    env.tags(API_OLD, **released())

    with pytest.raises(DeployFailed) as err:
        env.t.reconcile(Serving(False), follow="ecs-svc/gone")

    assert str(err.value) == (
        "deployment ecs-svc/gone is not on gamepulse-staging (it ended and another replaced it); "
        f"1.1.0 ({API_OLD}) serves"
    )


def test_wait_for_a_deployment_that_fails_records_it_failed_and_says_what_serves(
    env: Env,
) -> None:
    failed = service(
        [
            dep("ecs-svc/new", "PRIMARY", API_NEW, "FAILED", 0, 2, "tasks failed", minute=5),
            dep("ecs-svc/old", "ACTIVE", API_OLD, "COMPLETED", 2),
        ]
    )
    env.describe(rolling())
    env.describe(failed)
    env.stubs.no_stopped_tasks()
    env.tags(API_NEW, outcome="shifting")
    env.settle(API_NEW, "failed")
    env.describe(failed)
    env.tags(API_OLD, **released())

    with pytest.raises(DeployFailed) as err:
        env.t.reconcile(Serving(False), follow="ecs-svc/new")

    assert str(err.value) == (
        f"gamepulse-staging: 1.1.0 ({API_OLD}) serves; deployment ecs-svc/new FAILED: tasks failed"
    )


def test_wait_for_a_superseded_deployment_records_it_superseded(env: Env) -> None:
    other = arn(API, 6)
    theirs = service(
        [
            dep("ecs-svc/other", "PRIMARY", other, "IN_PROGRESS", 0, minute=7),
            dep("ecs-svc/new", "ACTIVE", API_NEW, "IN_PROGRESS", 1, minute=5),
        ]
    )
    env.describe(rolling())
    env.describe(theirs)
    env.tags(API_NEW, outcome="shifting")
    env.settle(API_NEW, "superseded")
    env.describe(theirs)

    with pytest.raises(Superseded) as err:
        env.t.reconcile(Serving(False), follow="ecs-svc/new")

    assert str(err.value) == (
        "gamepulse-staging: unknown (gamepulse-staging: no finished rollout carries the traffic "
        "(PRIMARY gamepulse-staging:6 IN_PROGRESS 0/2 running, ACTIVE gamepulse-staging:5 "
        "IN_PROGRESS 1/2 running)) serves; deployment ecs-svc/new of gamepulse-staging:5 was "
        "superseded: deployment ecs-svc/other (created 2026-01-01 00:07:00+00:00) made "
        "gamepulse-staging:6 PRIMARY"
    )


# -- reconcile --------------------------------------------------------------------------------
def observe(env: Env, svc: dict[str, Any], serving: str, **tags: str) -> Serving:
    env.describe(svc)
    env.tags(serving, **tags)
    return env.t.observe()


def test_reconcile_records_a_rollout_that_completed_unwatched_succeeded(env: Env) -> None:
    seen = observe(env, steady(API, API_NEW), API_NEW, version="1.2.0", outcome="shifting")
    env.stubs.revisions(API, API_NEW, API_OLD)
    env.settle(API_NEW, "succeeded", live=True)

    assert env.t.reconcile(seen) == [
        "gamepulse-staging: gamepulse-staging:5 (recorded shifting) completed after shipyard "
        "stopped watching: recorded succeeded (not verified by that run: inv verify --env staging)"
    ]


def test_reconcile_settles_newer_revisions_that_do_not_serve_and_reports_the_one_running(
    env: Env,
) -> None:
    """:4 serves while a deployment of :7 runs: :5 (shifting, older than :7) was superseded,
    :6 (pending: never started) was interrupted, :7 is followed, not touched."""
    busy = rolling(arn(API, 7), API_OLD)
    seen = observe(env, busy, API_OLD, **released())
    env.stubs.revisions(API, arn(API, 7), arn(API, 6), API_NEW, API_OLD)
    env.tags(API_NEW, outcome="shifting")
    env.settle(API_NEW, "superseded")
    env.tags(arn(API, 6), outcome="pending")
    env.settle(arn(API, 6), "interrupted")
    env.tags(arn(API, 7), outcome="shifting")

    assert env.t.reconcile(seen) == [
        "gamepulse-staging: gamepulse-staging:5 (recorded shifting) does not serve "
        "(gamepulse-staging:4 does): recorded superseded",
        "gamepulse-staging: gamepulse-staging:6 (recorded pending) does not serve "
        "(gamepulse-staging:4 does): recorded interrupted",
        "deployment ecs-svc/new of gamepulse-staging continues (gamepulse-staging:7 "
        "IN_PROGRESS, 0/2 running); follow it: inv wait --env staging",
    ]


def test_reconcile_records_a_newer_shifting_revision_that_does_not_serve_failed(
    env: Env,
) -> None:
    seen = observe(env, steady(API, API_OLD), API_OLD, **released())
    env.stubs.revisions(API, API_NEW, API_OLD)
    env.tags(API_NEW, outcome="shifting")
    env.settle(API_NEW, "failed")

    assert env.t.reconcile(seen) == [
        "gamepulse-staging: gamepulse-staging:5 (recorded shifting) does not serve "
        "(gamepulse-staging:4 does): recorded failed"
    ]


def test_reconcile_of_an_unknown_observation_asks_nothing(env: Env) -> None:
    assert env.t.reconcile(Serving(False, detail="ECS did not answer")) == []


# -- what serves ------------------------------------------------------------------------------
def test_services_on_different_versions_serve_no_one_version(env2: Env) -> None:
    env2.describe(steady(API, API_OLD), steady(WORKER, WORKER_OLD))
    env2.tags(API_OLD, version="1.1.0", digest=SHA)
    env2.tags(WORKER_OLD, version="1.0.0", digest=SHA)

    seen = env2.t.observe()

    assert (seen.known, seen.release_id, seen.version, seen.digest) == (
        True,
        f"{API_OLD},{WORKER_OLD}",
        None,
        SHA,
    )
    assert seen.detail == (
        "gamepulse-staging: PRIMARY gamepulse-staging:4 COMPLETED 2/2 running; "
        "worker: PRIMARY gamepulse-staging-worker:7 COMPLETED 2/2 running; "
        "the services run different versions"
    )
    assert seen.facts["serving"] == {API: API_OLD, WORKER: WORKER_OLD}
    assert seen.facts["under_way"] == []


def test_what_serves_is_known_without_its_version_when_its_tags_cannot_be_read(
    env: Env,
) -> None:
    env.describe(rolling())
    env.stubs.ecs.add_client_error("list_tags_for_resource", "ServerException", "try later")

    seen = env.t.observe()

    assert (seen.known, seen.release_id, seen.version, seen.digest) == (True, API_OLD, None, None)
    assert seen.detail == (
        "gamepulse-staging: PRIMARY gamepulse-staging:5 IN_PROGRESS 0/2 running, ACTIVE "
        "gamepulse-staging:4 COMPLETED 2/2 running; its tags could not be read: "
        "ecs:ListTagsForResource gamepulse-staging:4: ServerException: try later"
    )
    assert seen.continuing == (
        "deployment ecs-svc/new of gamepulse-staging continues "
        "(gamepulse-staging:5 IN_PROGRESS, 0/2 running)"
    )
    assert seen.facts["under_way"] == ["ecs-svc/new"]
    assert seen.facts["events"] == {API: set()}


# -- status: mismatches -----------------------------------------------------------------------
def test_status_names_a_newer_unsettled_revision_no_rollout_runs(env: Env) -> None:
    env.describe(steady(API, API_OLD))
    env.tags(API_OLD, **released())
    env.stubs.revisions(API, API_NEW, API_OLD)
    env.tags(API_NEW, outcome="pending")
    env.stubs.revisions(API, API_NEW, API_OLD)

    report = env.t.status()

    assert report.mismatch == (
        "gamepulse-staging: gamepulse-staging:5 is recorded pending but no rollout runs it "
        "(inv wait --env staging settles the record)"
    )


# -- finish: the outcome tags and the metrics ---------------------------------------------------
def an_attempt(
    env: Env, kind: str, moves: list[tuple[str | None, str]], *, shifted: bool = True
) -> Attempt:
    before = Serving(True, ",".join(p for p, _ in moves if p))
    a = Attempt(kind, ARTIFACT, before, actor="alice")  # type: ignore[arg-type]
    a.shifted = shifted
    a.state["started"] = 970.0  # the fake clock reads 1000
    services = env.t.cfg.services
    for scfg, (previous, new) in zip(services, moves, strict=True):
        env.t.moves(a).append(Move(scfg, "gamepulse", previous, new, moved=True))
    return a


def metrics(env: Env, service: str, success: int, failure: int, rollback: int) -> None:
    dims = [{"Name": "Environment", "Value": "staging"}, {"Name": "Service", "Value": service}]
    data = [
        {
            "MetricName": "DeployDuration",
            "Dimensions": dims,
            "Timestamp": ANY,
            "Value": 30.0,
            "Unit": "Seconds",
        }
    ] + [
        {"MetricName": m, "Dimensions": dims, "Timestamp": ANY, "Value": float(v), "Unit": "Count"}
        for m, v in (
            ("DeploySuccess", success),
            ("DeployFailure", failure),
            ("DeployRollback", rollback),
        )
    ]
    env.stubs.cw.add_response(
        "put_metric_data", {}, {"Namespace": env.t.cfg.metrics_namespace, "MetricData": data}
    )


def test_a_deploy_that_succeeded_marks_each_new_revision_live_and_counts_a_success(
    env2: Env,
) -> None:
    a = an_attempt(env2, "deploy", [(API_OLD, API_NEW), (None, arn(WORKER_FAMILY, 8))])
    env2.settle(API_NEW, "succeeded", live=True)
    env2.settle(arn(WORKER_FAMILY, 8), "succeeded", live=True)
    metrics(env2, API, 1, 0, 0)
    metrics(env2, WORKER, 1, 0, 0)

    env2.t.finish(a, "succeeded", Serving(True, API_NEW), "")


def test_a_deploy_that_succeeded_unobserved_is_recorded_without_going_live(env: Env) -> None:
    a = an_attempt(env, "deploy", [(API_OLD, API_NEW)])
    env.settle(API_NEW, "succeeded")
    metrics(env, API, 1, 0, 0)

    env.t.finish(a, "succeeded", Serving(False), "")


def test_a_failed_deploy_that_returned_counts_a_failure_and_a_rollback(env: Env) -> None:
    a = an_attempt(env, "deploy", [(API_OLD, API_NEW)])
    env.settle(API_NEW, "failed")
    metrics(env, API, 0, 1, 1)

    env.t.finish(a, "failed", Serving(True, API_OLD), "")


def test_a_failed_deploy_that_never_shifted_counts_no_rollback(env: Env) -> None:
    a = an_attempt(env, "deploy", [(API_OLD, API_NEW)], shifted=False)
    env.settle(API_NEW, "failed")
    metrics(env, API, 0, 1, 0)

    env.t.finish(a, "failed", Serving(True, API_OLD), "")


def test_a_rollback_marks_where_it_returned_live_and_when_it_left_the_other(env: Env) -> None:
    a = an_attempt(env, "rollback", [(API_NEW, API_OLD)])
    env.settle(API_OLD, "succeeded", live=True)
    env.stubs.ecs.add_response(
        "tag_resource",
        {},
        {"resourceArn": API_NEW, "tags": [{"key": "shipyard:rolled-back-at", "value": ANY}]},
    )
    metrics(env, API, 0, 0, 1)

    env.t.finish(a, "succeeded", Serving(True, API_OLD), "")


def test_a_failed_rollback_tags_nothing_and_counts_a_failure(env: Env) -> None:
    a = an_attempt(env, "rollback", [(API_NEW, API_OLD)])
    metrics(env, API, 0, 1, 0)

    env.t.finish(a, "failed", Serving(True, API_OLD), "")


def test_nothing_is_recorded_for_a_run_left_in_progress_or_refused(env: Env) -> None:
    env.t.finish(an_attempt(env, "deploy", [(API_OLD, API_NEW)]), "in_progress", Serving(True), "")
    env.t.finish(an_attempt(env, "deploy", [(API_OLD, "")]), "failed", Serving(True), "")

    assert env.out.getvalue() == ""  # no tag was tried (a failed write would warn)


def test_metrics_that_cannot_be_written_are_a_warning(env: Env) -> None:
    a = an_attempt(env, "deploy", [(API_OLD, API_NEW)])
    env.settle(API_NEW, "succeeded", live=True)
    env.stubs.cw.add_client_error("put_metric_data", "InternalFailure", "down")

    env.t.finish(a, "succeeded", Serving(True, API_NEW), "")

    assert env.out.getvalue() == (
        "warning: could not record CloudWatch metrics: "
        "cloudwatch:PutMetricData: InternalFailure: down\n"
    )


def test_what_serves_cannot_be_told_while_no_finished_rollout_carries_the_traffic(
    env: Env,
) -> None:
    """Two rollouts under way: unknown, with what continues and the facts reconcile needs."""
    svc = service(
        [
            dep("ecs-svc/other", "PRIMARY", arn(API, 6), "IN_PROGRESS", 0, minute=7),
            dep("ecs-svc/new", "ACTIVE", API_NEW, "IN_PROGRESS", 1, minute=5),
        ],
        [event(1, "started"), event(2, "more")],
    )
    env.describe(svc)

    seen = env.t.observe()

    assert seen.known is False
    assert (seen.release_id, seen.version, seen.digest) == (None, None, None)
    assert seen.detail == (
        "gamepulse-staging: no finished rollout carries the traffic (PRIMARY gamepulse-staging:6 "
        "IN_PROGRESS 0/2 running, ACTIVE gamepulse-staging:5 IN_PROGRESS 1/2 running)"
    )
    assert seen.continuing == (
        "deployment ecs-svc/other of gamepulse-staging continues "
        "(gamepulse-staging:6 IN_PROGRESS, 0/2 running)"
    )
    assert seen.facts == {
        "services": {API: svc},
        "serving": {API: None},
        "events": {API: {"ev-1", "ev-2"}},
        "under_way": ["ecs-svc/other"],
    }


def test_a_rollback_to_the_revision_that_serves_leaves_no_rolled_back_mark(env: Env) -> None:
    """`--to` naming what already serves: it is marked live; no revision was left."""
    a = an_attempt(env, "rollback", [(API_OLD, API_OLD)])
    env.settle(API_OLD, "succeeded", live=True)
    metrics(env, API, 0, 0, 1)

    env.t.finish(a, "succeeded", Serving(True, API_OLD), "")

    assert env.out.getvalue() == ""  # no tag was tried (a failed write would warn)


def test_reconcile_gives_the_notes_of_every_service_in_order(env2: Env) -> None:
    env2.describe(steady(API, API_OLD), steady(WORKER, WORKER_OLD))
    env2.tags(API_OLD, **released())
    env2.tags(WORKER_OLD, **released())
    seen = env2.t.observe()
    env2.stubs.revisions(API, API_NEW, API_OLD)
    env2.tags(API_NEW, outcome="shifting")
    env2.settle(API_NEW, "failed")
    env2.stubs.revisions(WORKER_FAMILY, arn(WORKER_FAMILY, 8), WORKER_OLD)
    env2.tags(arn(WORKER_FAMILY, 8), outcome="pending")
    env2.settle(arn(WORKER_FAMILY, 8), "interrupted")

    assert env2.t.reconcile(seen) == [
        "gamepulse-staging: gamepulse-staging:5 (recorded shifting) does not serve "
        "(gamepulse-staging:4 does): recorded failed",
        "worker: gamepulse-staging-worker:8 (recorded pending) does not serve "
        "(gamepulse-staging-worker:7 does): recorded interrupted",
    ]


def test_a_revision_as_new_as_a_running_deployment_of_another_family_failed(env: Env) -> None:
    """A deployment moves the service to another family's :6: the service's own :6 (shifting,
    not what runs) is not older than what runs, so it failed, not superseded."""
    seen = observe(env, rolling(arn("gamepulse-v2", 6), API_OLD), API_OLD, **released())
    env.stubs.revisions(API, arn(API, 6), API_OLD)
    env.tags(arn(API, 6), outcome="shifting")
    env.settle(arn(API, 6), "failed")

    assert env.t.reconcile(seen)[0] == (
        "gamepulse-staging: gamepulse-staging:6 (recorded shifting) does not serve "
        "(gamepulse-staging:4 does): recorded failed"
    )


def test_status_ignores_an_older_unsettled_revision(env: Env) -> None:
    """Only revisions newer than what serves can be a rollout no one finished."""
    env.describe(steady(API, API_NEW))
    env.tags(API_NEW, **released("1.2.0"))
    env.stubs.revisions(API, API_NEW, API_OLD)
    env.tags(API_OLD, outcome="shifting")
    env.stubs.revisions(API, API_NEW, API_OLD)

    assert env.t.status().mismatch == ""
