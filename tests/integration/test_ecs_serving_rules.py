"""What an ECS service serves (shipyard.targets.ecs_serving), pinned field by field: a service under
a CODE_DEPLOY or EXTERNAL controller serves from its PRIMARY task set, and the View says which
revision, whether that could be told, the detail in words, and the deployment still under way
(its id and the revision it puts live). One shape of DescribeServices answer at a time: no
taskSets key, an empty list, no task definition at all, one PRIMARY, PRIMARY plus an ACTIVE or
DRAINING one, no PRIMARY.

The pure rules take plain dicts shaped like DescribeServices answers; the public paths that use
them (EcsTarget.observe and promote's live_image) run against botocore's Stubber with the real
ECS and ECR models."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from shipyard.errors import UsageError
from shipyard.pipelines.promote import live_image
from shipyard.rollout.model import UNDER_WAY, Serving
from shipyard.targets.ecs import EcsTarget
from shipyard.targets.ecs_serving import serving_view, taskset_view, uses_task_sets
from shipyard.targets.ecs_watch import View, rolling_view
from tests.support.ecs_stubs import (
    ACCOUNT,
    CLUSTER,
    DIGEST,
    FAMILY,
    IMAGE,
    NEW,
    OLD,
    REGION,
    FakeClock,
    Stubs,
    creds,
    make_ctx,
    rolling,
    steady,
)

__all__ = ["creds"]

NAME = FAMILY  # staging's one service, gamepulse-staging: task definitions :4 (OLD), :5 (NEW)
SHORT_OLD, SHORT_NEW = f"{FAMILY}:4", f"{FAMILY}:5"


def taskset(
    external: str | None,
    status: str,
    taskdef: str,
    stability: str | None = "STEADY_STATE",
    minute: int | None = 0,
) -> dict[str, Any]:
    """One entry of DescribeServices' taskSets; None leaves that field out of the answer."""
    found: dict[str, Any] = {
        "id": f"ecs-svc/{external or 'x1'}",
        "taskSetArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-set/{CLUSTER}/{NAME}/{external}",
        "status": status,
        "taskDefinition": taskdef,
    }
    if external is not None:
        found["externalId"] = external
    if stability is not None:
        found["stabilityStatus"] = stability
    if minute is not None:
        found["createdAt"] = dt.datetime(2026, 1, 1, 0, minute, tzinfo=dt.UTC)
    return found


def bg(
    *sets: dict[str, Any] | None, controller: str = "CODE_DEPLOY", **fields: Any
) -> dict[str, Any]:
    """A blue/green service; `bg(None)` leaves the taskSets key out, a field given as None is
    left out too."""
    svc: dict[str, Any] = {
        "serviceName": NAME,
        "status": "ACTIVE",
        "taskDefinition": OLD,
        "deploymentController": {"type": controller},
        "deployments": [],
        "events": [],
        **fields,
    }
    if sets != (None,):
        svc["taskSets"] = [s for s in sets if s is not None]
    return {k: v for k, v in svc.items() if v is not None}  # None: the field is not in it


PRIMARY_OLD = taskset("d-OLD", "PRIMARY", OLD)
GREEN_STARTING = taskset("d-NEW", "ACTIVE", NEW, "STABILIZING", minute=5)
TWO = bg(PRIMARY_OLD, GREEN_STARTING)
TWO_DETAIL = f"{NAME}: PRIMARY {SHORT_OLD} STEADY_STATE, ACTIVE {SHORT_NEW} STABILIZING"
TWO_CONTINUING = (
    f"CodeDeploy deployment d-NEW of {NAME} continues ({SHORT_NEW} ACTIVE, STABILIZING)"
)
NO_PRIMARY = bg(GREEN_STARTING)
NO_PRIMARY_DETAIL = f"{NAME}: no PRIMARY task set (ACTIVE {SHORT_NEW} STABILIZING)"

SHAPES: dict[str, tuple[dict[str, Any], View]] = {
    "no taskSets key": (bg(None), View(NAME, True, OLD, f"{NAME}: {SHORT_OLD}")),
    "empty taskSets": (bg(), View(NAME, True, OLD, f"{NAME}: {SHORT_OLD}")),
    "no taskSets key, no taskDefinition": (
        bg(None, taskDefinition=None),
        View(NAME, True, None, f"{NAME}: -"),
    ),
    "empty taskSets, empty taskDefinition": (
        bg(taskDefinition=""),
        View(NAME, True, None, f"{NAME}: -"),
    ),
    "one PRIMARY": (
        bg(PRIMARY_OLD),
        View(NAME, True, OLD, f"{NAME}: PRIMARY {SHORT_OLD} STEADY_STATE"),
    ),
    "one PRIMARY, no stabilityStatus": (
        bg(taskset("d-OLD", "PRIMARY", OLD, stability=None)),
        View(NAME, True, OLD, f"{NAME}: PRIMARY {SHORT_OLD} -"),
    ),
    "PRIMARY and a new ACTIVE one": (
        TWO,
        View(NAME, True, OLD, TWO_DETAIL, TWO_CONTINUING, "d-NEW", NEW),
    ),
    "new PRIMARY, old one DRAINING": (
        bg(taskset("d-OLD", "DRAINING", OLD), taskset("d-NEW", "PRIMARY", NEW, minute=5)),
        View(
            NAME,
            True,
            NEW,
            f"{NAME}: DRAINING {SHORT_OLD} STEADY_STATE, PRIMARY {SHORT_NEW} STEADY_STATE",
            f"CodeDeploy deployment d-NEW of {NAME} continues ({SHORT_NEW} PRIMARY, STEADY_STATE)",
            "d-NEW",
            NEW,
        ),
    ),
    "no PRIMARY": (NO_PRIMARY, View(NAME, False, None, NO_PRIMARY_DETAIL)),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_shape_of_answer_gives_exactly_its_view(shape: str) -> None:
    """Every field: the name, whether it is known, the serving ARN, the detail words, and the
    deployment under way (words, id, the revision it puts live) or none."""
    svc, expected = SHAPES[shape]
    assert uses_task_sets(svc)
    assert taskset_view(NAME, svc) == expected
    assert serving_view(NAME, svc) == expected


def test_an_external_controller_s_set_without_external_id_is_named_by_its_own_id() -> None:
    """An EXTERNAL controller's task set may carry no externalId: the deployment under way is
    then named by the task set's id, and a missing stabilityStatus reads '?' in the words."""
    svc = bg(
        taskset("ext-old", "PRIMARY", OLD),
        taskset(None, "ACTIVE", NEW, stability=None, minute=7),
        controller="EXTERNAL",
    )
    assert taskset_view(NAME, svc) == View(
        NAME,
        True,
        OLD,
        f"{NAME}: PRIMARY {SHORT_OLD} STEADY_STATE, ACTIVE {SHORT_NEW} -",
        f"CodeDeploy deployment ecs-svc/x1 of {NAME} continues ({SHORT_NEW} ACTIVE, ?)",
        "ecs-svc/x1",
        NEW,
    )


def test_a_primary_set_that_names_no_task_definition_cannot_tell_what_serves() -> None:
    # the text "None" was taken for a revision that serves (known, serving "None")
    svc = {"taskSets": [{"id": "ts-1", "status": "PRIMARY", "stabilityStatus": "STEADY_STATE"}]}
    view = taskset_view("web", svc)
    assert (view.known, view.serving) == (False, None)
    assert (
        view.detail == "web: its PRIMARY task set names no task definition (PRIMARY - STEADY_STATE)"
    )
    newer = {"id": "ts-2", "status": "ACTIVE", "createdAt": dt.datetime(2026, 1, 2)}
    svc = {"taskSets": [{**svc["taskSets"][0], "taskDefinition": "arn:td/web:3"}, newer]}
    assert taskset_view("web", svc).target is None  # not the text "None" either


def test_a_set_with_no_creation_time_counts_as_the_oldest() -> None:
    """The deployment under way is the newest task set by createdAt; one without a createdAt
    never outranks one with it, whichever order ECS lists them in."""
    undated = taskset("d-UNDATED", "ACTIVE", NEW, minute=None)
    dated = taskset("d-DATED", "PRIMARY", OLD, minute=3)
    for sets in ((undated, dated), (dated, undated)):
        view = taskset_view(NAME, bg(*sets))
        assert (view.busy, view.target, view.serving) == ("d-DATED", OLD, OLD)
        assert view.continuing == (
            f"CodeDeploy deployment d-DATED of {NAME} continues ({SHORT_OLD} PRIMARY, STEADY_STATE)"
        )


DISPATCH: dict[str, tuple[dict[str, Any], bool]] = {
    "CODE_DEPLOY, no task sets yet": (bg(), True),
    "EXTERNAL, no taskSets key": (bg(None, controller="EXTERNAL"), True),
    "ECS controller": (steady(), False),
    "no deploymentController key": (rolling(), False),
    "ECS controller, but task sets reported": (bg(PRIMARY_OLD, controller="ECS"), True),
    "ECS controller, empty task sets": (bg(controller="ECS"), False),
}


@pytest.mark.parametrize("shape", list(DISPATCH))
def test_task_sets_rule_when_the_controller_says_so_or_task_sets_are_reported(shape: str) -> None:
    svc, expected = DISPATCH[shape]
    assert uses_task_sets(svc) is expected


def test_a_rolling_service_is_read_from_its_deployments_with_its_name() -> None:
    """Under the ECS controller serving_view is ecs_watch.rolling_view: what the completed
    PRIMARY deployment runs, or the last completed one while a newer rolls out."""
    for svc in (steady(), rolling()):
        svc["deploymentController"] = {"type": "ECS"}
        assert serving_view(NAME, svc) == rolling_view(NAME, svc)
    assert serving_view(NAME, rolling()) == View(
        NAME,
        True,
        OLD,
        f"{NAME}: PRIMARY {SHORT_NEW} IN_PROGRESS 0/2 running, "
        f"ACTIVE {SHORT_OLD} COMPLETED 2/2 running",
        f"deployment ecs-svc/new of {NAME} continues ({SHORT_NEW} IN_PROGRESS, 0/2 running)",
        "ecs-svc/new",
        NEW,
    )
    assert serving_view(NAME, steady()) == View(
        NAME, True, OLD, f"{NAME}: PRIMARY {SHORT_OLD} COMPLETED 2/2 running"
    )


# -- the public paths: EcsTarget.observe and promote's live_image -----------------------------
def _observe(tmp_path: Path, svc: dict[str, Any], tags: dict[str, str] | None) -> Serving:
    ctx, _out = make_ctx(tmp_path, "staging", "http://127.0.0.1:9")
    clock = FakeClock()
    t = EcsTarget(ctx, clock=clock, sleep=clock.sleep)
    with Stubs(ctx) as stubs:
        stubs.describe(svc)
        if tags is not None:
            stubs.tags(OLD, **tags)
        observed = t.observe()
        stubs.done()
    return observed


def test_observe_reports_the_primary_set_and_the_codedeploy_deployment_under_way(
    tmp_path: Path, creds: None
) -> None:
    observed = _observe(tmp_path, TWO, {"version": "1.1.0", "digest": DIGEST})
    assert (observed.known, observed.release_id, observed.version, observed.digest) == (
        True,
        OLD,
        "1.1.0",
        DIGEST,
    )
    assert (observed.detail, observed.continuing) == (TWO_DETAIL, TWO_CONTINUING)
    assert observed.facts["serving"] == {NAME: OLD}
    assert observed.facts[UNDER_WAY] == ["d-NEW"]  # what inv wait follows


def test_observe_with_no_task_sets_reads_the_service_s_own_task_definition(
    tmp_path: Path, creds: None
) -> None:
    observed = _observe(tmp_path, bg(None), {"version": "1.1.0"})
    assert (observed.known, observed.release_id, observed.version) == (True, OLD, "1.1.0")
    assert (observed.detail, observed.continuing) == (f"{NAME}: {SHORT_OLD}", "")
    assert observed.facts[UNDER_WAY] == []


@pytest.mark.parametrize(
    ("svc", "detail"),
    [(NO_PRIMARY, NO_PRIMARY_DETAIL), (bg(None, taskDefinition=None), f"{NAME}: -")],
    ids=["no PRIMARY", "no task definition"],
)
def test_observe_cannot_tell_what_serves_without_a_primary_or_a_task_definition(
    tmp_path: Path, creds: None, svc: dict[str, Any], detail: str
) -> None:
    observed = _observe(tmp_path, svc, None)  # nothing to read the tags of
    assert (observed.known, observed.release_id, observed.detail) == (False, None, detail)
    assert observed.continuing == ""
    assert observed.facts["serving"] == {NAME: None}
    assert observed.facts[UNDER_WAY] == []


def test_promote_reads_the_image_of_the_primary_set_though_a_deployment_is_under_way(
    tmp_path: Path, creds: None
) -> None:
    """A blue/green deployment under way is no reason to refuse: production's traffic is the
    PRIMARY task set's, and that revision's image is what promote hands on."""
    ctx, _out = make_ctx(tmp_path, "staging", "http://127.0.0.1:9")
    with Stubs(ctx) as stubs:
        stubs.ecs.add_response(
            "describe_services", {"services": [TWO]}, {"cluster": CLUSTER, "services": [NAME]}
        )
        stubs.ecs.add_response(
            "describe_task_definition",
            {"taskDefinition": {"containerDefinitions": [{"name": "gamepulse", "image": IMAGE}]}},
            {"taskDefinition": OLD},
        )
        stubs.stubbers["ecr"].add_response(
            "describe_images",
            {"imageDetails": [{"imageDigest": DIGEST, "imageTags": ["1.1.0"]}]},
            {
                "repositoryName": "gamepulse",
                "imageIds": [{"imageDigest": DIGEST}],
            },
        )
        live = live_image(ctx)
        stubs.done()
    assert (live.repository, live.digest, live.tags) == ("gamepulse", DIGEST, ("1.1.0",))
    assert live.where == f"ecs service {NAME} ({OLD})"


@pytest.mark.parametrize(
    ("svc", "detail"),
    [(NO_PRIMARY, NO_PRIMARY_DETAIL), (bg(taskDefinition=None), f"{NAME}: -")],
    ids=["no PRIMARY", "no task definition"],
)
def test_promote_refuses_when_what_serves_cannot_be_told(
    tmp_path: Path, creds: None, svc: dict[str, Any], detail: str
) -> None:
    ctx, _out = make_ctx(tmp_path, "staging", "http://127.0.0.1:9")
    with Stubs(ctx) as stubs:
        stubs.ecs.add_response(
            "describe_services", {"services": [svc]}, {"cluster": CLUSTER, "services": [NAME]}
        )
        with pytest.raises(UsageError) as caught:
            live_image(ctx)
        stubs.done()
    assert str(caught.value) == f"cannot tell what {NAME} serves: {detail}"
    assert caught.value.hint == "see inv status"
