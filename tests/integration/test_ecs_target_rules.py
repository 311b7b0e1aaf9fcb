"""The rolling ECS target's exact rules, phase by phase as the engine calls them, against botocore's
Stubber (the real ECS service model): which revision each call names with which tags, what undo
decides per service and says, what the details record. Two services (gamepulse-staging and its
worker, each its own family) show the order. Clocks are fake: nothing waits."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from shipyard.config import load_config
from shipyard.console import Console
from shipyard.context import Context
from shipyard.errors import DeployFailed, StateUnknown, Superseded
from shipyard.rollout.model import Attempt, Serving
from shipyard.targets.base import Artifact
from shipyard.targets.ecs import EcsTarget
from shipyard.targets.ecs_watch import Move, Watched
from tests.support.ecs_stubs import (
    ARTIFACT,
    CLUSTER,
    REPO,
    FakeClock,
    Stubs,
    arn,
    creds,
    dep,
    service,
)

__all__ = ["creds"]  # the fixture these tests use

API, WORKER = "gamepulse-staging", "worker"
WORKER_FAMILY = "gamepulse-staging-worker"
API_OLD, API_NEW = arn(API, 4), arn(API, 5)
WORKER_OLD, WORKER_NEW = arn(WORKER_FAMILY, 7), arn(WORKER_FAMILY, 8)
BREAKER_ON = {"deploymentCircuitBreaker": {"enable": True, "rollback": True}}
RUN, DONE = "IN_PROGRESS", "COMPLETED"


def primary(dep_id: str, taskdef: str, state: str, **kw: Any) -> dict[str, Any]:
    return dep(dep_id, "PRIMARY", taskdef, state, 2 if state == DONE else 0, **kw)


def make_ctx(tmp_path: Path, **overrides: Any) -> tuple[Context, io.StringIO]:
    """Staging with two services: the API on the base task definition, the worker on its own
    family (a service overlay)."""
    root = tmp_path / "proj"
    shutil.copytree(REPO / "deploy", root / "deploy")
    (root / "version.txt").write_text("1.2.0\n")
    (root / "deploy" / "taskdef" / "worker.json").write_text(
        json.dumps({"family": "gamepulse-{{environment}}-worker"})
    )
    both = [{"name": API}, {"name": WORKER, "taskdef_overlay": "deploy/taskdef/worker.json"}]
    settings = {"verify.url": "https://staging.example.com", "target.services": both, **overrides}
    config = load_config("staging", root=root, overrides=settings, environ={})
    out = io.StringIO()
    return Context(config=config, root=root, console=Console(out=out, err=out), environ={}), out


def target(ctx: Context) -> EcsTarget:
    clock = FakeClock()
    return EcsTarget(ctx, clock=clock, sleep=clock.sleep)


def attempt(
    kind: str,
    serving: dict[str, str | None],
    artifact: Artifact = ARTIFACT,
    services: dict[str, dict[str, Any]] | None = None,
) -> Attempt:
    """An attempt as the engine starts it: `serving` is what observe saw serve."""
    facts = {"serving": serving, "services": services or {}, "events": {}}
    before = Serving(True, ",".join(v for v in serving.values() if v), facts=facts)
    return Attempt(kind, artifact, before, actor="alice")  # type: ignore[arg-type]


def describe(stubs: Stubs, *svcs: dict[str, Any]) -> None:
    stubs.ecs.add_response(
        "describe_services",
        {"services": list(svcs)},
        {"cluster": CLUSTER, "services": [s["serviceName"] for s in svcs]},
    )


def update(
    stubs: Stubs, name: str, taskdef: str, answer: dict[str, Any], config: Any = None
) -> None:
    params: dict[str, Any] = {"cluster": CLUSTER, "service": name, "taskDefinition": taskdef}
    if config is not None:
        params["deploymentConfiguration"] = config
    stubs.ecs.add_response("update_service", {"service": answer}, params)


def tags_of(version: str, name: str) -> list[dict[str, str]]:
    keys = ("version", "digest", "git-revision", "environment", "service", "actor", "outcome")
    values = (version, ARTIFACT.digest, ARTIFACT.revision, "staging", name, "alice", "pending")
    return [{"key": f"shipyard:{k}", "value": v} for k, v in zip(keys, values, strict=True)]


# -- prepare ---------------------------------------------------------------------------------
def test_prepare_registers_each_service_with_its_release_tags_in_service_order(
    tmp_path: Path, creds: None
) -> None:
    """Each service's rendered revision is registered with the release's tags (version, digest,
    git revision, environment, its own service name, the actor, outcome pending); the release
    id lists the new revisions in configuration order, and the details say the same."""
    ctx, out = make_ctx(tmp_path)
    t = target(ctx)
    docs = [t.render(s, ARTIFACT.image, ARTIFACT.version).document for s in t.cfg.services]
    a = attempt("deploy", {API: API_OLD, WORKER: None})
    with Stubs(ctx) as stubs:
        stubs.image()
        for doc, name, new in ((docs[0], API, API_NEW), (docs[1], WORKER, WORKER_NEW)):
            family, _rev = new.rsplit("/", 1)[1].rsplit(":", 1)
            stubs.ecs.add_response(
                "register_task_definition",
                {"taskDefinition": {"taskDefinitionArn": new, "family": family}},
                {**doc, "tags": tags_of("1.2.0", name)},
            )
        t.prepare(a)
        stubs.done()
    assert [d["family"] for d in docs] == [API, WORKER_FAMILY]
    assert a.release_id == f"{API_NEW},{WORKER_NEW}"
    assert [(m.service.name, m.previous, m.new) for m in t.moves(a)] == [
        (API, API_OLD, API_NEW),
        (WORKER, None, WORKER_NEW),
    ]
    assert t.records.tags(API_NEW)["shipyard:outcome"] == "pending"  # remembered, not re-read
    assert a.details == {
        "target": "ecs",
        "cluster": CLUSTER,
        "task_definition_arn": f"{API_NEW},{WORKER_NEW}",
        "deployment_id": ",",
        "services": {
            API: {"task_definition": API_NEW, "previous": API_OLD, "deployment": None},
            WORKER: {"task_definition": WORKER_NEW, "previous": None, "deployment": None},
        },
    }
    text = out.getvalue()
    assert "gamepulse-staging: registered gamepulse-staging:5 (was gamepulse-staging:4)" in text
    assert "worker: registered gamepulse-staging-worker:8 (was -)" in text


@pytest.mark.parametrize("restore", [API_OLD, f"{API_OLD},{WORKER_OLD},{arn(API, 1)}"])
def test_a_rollback_naming_the_wrong_number_of_revisions_changes_nothing(
    tmp_path: Path, creds: None, restore: str
) -> None:
    """A rollback must name one revision per service: one too few or too many is refused
    before any call, and the message says how many it named and for which services."""
    ctx, _ = make_ctx(tmp_path)
    back = Artifact("1.0.0", "", "sha256:" + "c" * 64, "", restore=restore)
    a = attempt("rollback", {API: API_NEW, WORKER: WORKER_NEW}, back)
    with Stubs(ctx) as stubs, pytest.raises(DeployFailed) as err:
        target(ctx).prepare(a)
    stubs.done()
    count = len(restore.split(","))
    assert err.value.message == (
        f"rollback names {count} revisions for ['gamepulse-staging', 'worker']"
    )
    assert a.release_id == ""


def test_a_rollback_returns_each_service_to_its_named_revision_and_registers_nothing(
    tmp_path: Path, creds: None
) -> None:
    """The restore list is split on commas, one revision per service in configuration order;
    no alarm check and no image check stand in the way back, and nothing is registered."""
    ctx, _ = make_ctx(tmp_path, **{"target.alarms": ["gamepulse-staging-5xx"]})
    t = target(ctx)
    back = Artifact("1.0.0", "", "sha256:" + "c" * 64, "", restore=f"{API_OLD},{WORKER_OLD}")
    a = attempt("rollback", {API: API_NEW, WORKER: WORKER_NEW}, back)
    with Stubs(ctx) as stubs:
        t.prepare(a)
        stubs.done()  # no describe_alarms, no describe_images, no register_task_definition
    assert [(m.previous, m.new) for m in t.moves(a)] == [
        (API_NEW, API_OLD),
        (WORKER_NEW, WORKER_OLD),
    ]
    assert a.release_id == f"{API_OLD},{WORKER_OLD}"
    assert a.details["task_definition_arn"] == f"{API_OLD},{WORKER_OLD}"


# -- shift -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("current", "sent"),
    [
        (None, BREAKER_ON),
        ({"maximumPercent": 200}, {"maximumPercent": 200, **BREAKER_ON}),
        ({"deploymentCircuitBreaker": {"enable": True, "rollback": False}}, BREAKER_ON),
        (BREAKER_ON, None),
    ],
)
def test_shift_updates_each_service_to_its_new_revision_with_the_circuit_breaker_on(
    tmp_path: Path, creds: None, current: dict[str, Any] | None, sent: dict[str, Any] | None
) -> None:
    """Each service is updated to its own new revision, in order. The circuit breaker with
    rollback is switched on, keeping the service's other deployment settings; a service where
    it already is on gets no deploymentConfiguration at all. The deployment id is the PRIMARY
    deployment of the new revision in UpdateService's answer: an ACTIVE one is not it."""
    ctx, out = make_ctx(tmp_path)
    t = target(ctx)
    old_svc = {"deploymentConfiguration": current} if current else {}
    a = attempt("deploy", {API: API_OLD, WORKER: WORKER_OLD}, services={API: old_svc})
    with Stubs(ctx) as stubs:
        stubs.image()
        stubs.register(API_NEW)
        stubs.register(WORKER_NEW)
        t.prepare(a)
        old, new = dep("o", "ACTIVE", API_OLD, DONE, 2), dep("w", "ACTIVE", WORKER_NEW, RUN)
        api = service([primary("ecs-svc/api-new", API_NEW, RUN), old], name=API)
        update(stubs, API, API_NEW, api, sent)  # ours is ACTIVE in the worker's answer:
        worker = service([primary("ecs-svc/worker-old", WORKER_OLD, DONE), new], name=WORKER)
        update(stubs, WORKER, WORKER_NEW, worker, BREAKER_ON)
        t.shift(a)
        stubs.done()
    assert stubs.updates == [API_NEW, WORKER_NEW]
    assert [(m.moved, m.deployment) for m in t.moves(a)] == [
        (True, "ecs-svc/api-new"),
        (True, None),
    ]
    assert a.details["deployment_id"] == "ecs-svc/api-new,"
    assert a.details["services"][API]["deployment"] == "ecs-svc/api-new"
    worker_said = a.details["services"][WORKER]
    assert worker_said == {
        "task_definition": WORKER_NEW,
        "previous": WORKER_OLD,
        "deployment": None,
    }
    text = out.getvalue()
    assert "gamepulse-staging: update_service -> deployment ecs-svc/api-new" in text
    assert "worker: update_service -> deployment ?" in text


@pytest.mark.parametrize("home", [WORKER, API])
def test_shift_leaves_a_service_already_on_its_revision_and_sends_no_breaker_when_off(
    tmp_path: Path, creds: None, home: str
) -> None:
    """A service whose new revision is the one it already runs is not updated (and not marked
    moved, so undo leaves it), first or last: the other is still updated. With the circuit
    breaker off, UpdateService carries no deploymentConfiguration."""
    ctx, out = make_ctx(tmp_path, **{"target.circuit_breaker": False})
    t = target(ctx)
    back = Artifact("1.0.0", "", "sha256:" + "c" * 64, "", restore=f"{API_OLD},{WORKER_OLD}")
    first = home == WORKER  # the API, first, is the one to move
    serving = {API: API_NEW, WORKER: WORKER_OLD} if first else {API: API_OLD, WORKER: WORKER_NEW}
    moving, to = (API, API_OLD) if first else (WORKER, WORKER_OLD)
    a = attempt("rollback", serving, back)
    with Stubs(ctx) as stubs:
        t.prepare(a)
        answer = service([dep("ecs-svc/back", "PRIMARY", to, "IN_PROGRESS")], name=moving)
        update(stubs, moving, to, answer)
        t.shift(a)
        stubs.done()
    assert stubs.updates == [to]
    assert [m.moved for m in t.moves(a)] == [first, not first]
    said = "worker: already on gamepulse-staging-worker:7" if first else f"{API}: already on {S4}"
    assert said in out.getvalue()
    assert a.details["deployment_id"] == ("ecs-svc/back," if first else ",ecs-svc/back")


# -- the shifting mark -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "mark", "tagged"),
    [
        ("deploy", "shifting", [API_NEW, WORKER_NEW]),
        ("rollback", "shifting", []),
        ("deploy", "", []),
    ],
)
def test_only_a_deploy_marks_its_new_revisions_shifting(
    tmp_path: Path, creds: None, kind: str, mark: str, tagged: list[str]
) -> None:
    """The shifting mark tags every new revision of a deploy with outcome=shifting (and
    nothing else); a rollback's revisions keep their own records, other marks tag nothing."""
    ctx, _ = make_ctx(tmp_path)
    t = target(ctx)
    a = attempt(kind, {API: API_OLD, WORKER: WORKER_OLD})
    t.moves(a).extend([_move(t, 0, API_OLD, API_NEW), _move(t, 1, WORKER_OLD, WORKER_NEW)])
    with Stubs(ctx) as stubs:
        for new in tagged:
            stubs.tag(new)
        t.record(a, mark)  # type: ignore[arg-type]
        stubs.done()
    assert stubs.tagged == [(new, {"shipyard:outcome": "shifting"}) for new in tagged]


def _move(t: EcsTarget, i: int, previous: str | None, new: str, **kw: Any) -> Move:
    scfg = t.cfg.services[i]
    return Move(scfg, t.container_of(scfg), previous, new, **kw)


# -- undo ------------------------------------------------------------------------------------
THEIRS = arn(API, 6)


def one_moved(tmp_path: Path) -> tuple[EcsTarget, Attempt]:
    """The API service alone, told to move from :4 to :5 by deployment ecs-svc/api-new."""
    ctx, _ = make_ctx(tmp_path, **{"target.services": [{"name": API}]})
    t = target(ctx)
    a = attempt("deploy", {API: API_OLD})
    t.moves(a).append(_move(t, 0, API_OLD, API_NEW, deployment="ecs-svc/api-new", moved=True))
    return t, a


S4, S6 = "gamepulse-staging:4", "gamepulse-staging:6"
UNDO_CASES = {  # what ECS shows as PRIMARY -> what undo says; "update" back, "watch" it
    "returning": ([primary("brk", API_OLD, RUN)], f"ECS is returning to {S4} (brk)", "watch"),
    "returned": ([primary("brk", API_OLD, DONE)], f"ECS had already returned to {S4}", ""),
    "none listed, :4 set": ([], f"ECS had already returned to {S4}", ""),
    "theirs": ([primary("x", THEIRS, RUN)], f"{S6} is PRIMARY, not ours: left alone", ""),
    "ours": ([primary("y", API_NEW, RUN)], f"rolled back to {S4} (b)", "update watch"),
}


@pytest.mark.parametrize("case", list(UNDO_CASES))
def test_undo_decides_per_service_from_what_ecs_shows_and_says_so(
    tmp_path: Path, creds: None, case: str
) -> None:
    """Undo looks first: ECS already on the old revision is left (or watched while its own
    rollback finishes, naming that deployment); another team's revision PRIMARY is left alone;
    only our revision PRIMARY is updated back, with no deploymentConfiguration, and that
    rollback is watched and named by its deployment id."""
    deployments, note, does = UNDO_CASES[case]
    updates = "update" in does
    t, a = one_moved(tmp_path)
    back_id = "b" if updates else "brk"
    with Stubs(t.ctx) as stubs:
        describe(stubs, service(deployments, name=API))
        if updates:
            ours = dep("ecs-svc/api-new", "ACTIVE", API_NEW, "IN_PROGRESS")
            answer = service([primary("b", API_OLD, "IN_PROGRESS"), ours], name=API)
            update(stubs, API, API_OLD, answer)
        if "watch" in does:
            describe(stubs, service([primary(back_id, API_OLD, "COMPLETED")], name=API))
        assert t.undo(a) == f"gamepulse-staging: {note}"
        stubs.done()
    assert stubs.updates == ([API_OLD] if updates else [])


def test_undo_returns_services_in_reverse_order_and_leaves_unmoved_and_unknown_ones(
    tmp_path: Path, creds: None
) -> None:
    """The last service switched goes back first; each note is joined in that order. A service
    never told to move is not even described; one with no previous revision is left as it is."""
    ctx, out = make_ctx(tmp_path, **{"target.services": [{"name": API}, {"name": WORKER}]})
    t = target(ctx)
    a = attempt("deploy", {API: API_OLD, WORKER: WORKER_OLD})
    t.moves(a).append(_move(t, 0, API_OLD, API_NEW, deployment="ecs-svc/api-new", moved=True))
    t.moves(a).append(_move(t, 1, WORKER_OLD, WORKER_NEW, deployment="w-new", moved=True))
    ours_api = service([primary("ecs-svc/api-new", API_NEW, RUN)], name=API)
    ours_worker = service([primary("w-new", WORKER_NEW, DONE)], name=WORKER)
    last_first = ((WORKER, WORKER_OLD), (API, API_OLD))
    with Stubs(ctx) as stubs:
        describe(stubs, ours_api, ours_worker)
        for name, old in last_first:
            update(stubs, name, old, service([primary(f"{name}-b", old, RUN)], name=name))
        describe(stubs, *(service([primary(f"{n}-b", o, DONE)], name=n) for n, o in last_first))
        assert t.undo(a) == (
            "worker: rolled back to gamepulse-staging-worker:7 (worker-b); "
            "gamepulse-staging: rolled back to gamepulse-staging:4 (gamepulse-staging-b)"
        )
        stubs.done()
    assert stubs.updates == [WORKER_OLD, API_OLD]
    assert "worker: rolling back to gamepulse-staging-worker:7" in out.getvalue()

    t.moves(a)[0].previous = None  # the API had nothing before; the worker was never moved
    t.moves(a)[1].moved = False
    with Stubs(ctx) as stubs:
        describe(stubs, ours_api)
        assert t.undo(a) == "gamepulse-staging: no previous revision to return to"
        stubs.done()
    t.moves(a)[0].moved = False
    with Stubs(ctx) as stubs:
        assert t.undo(a) == ""  # nothing moved: nothing asked
        stubs.done()


def test_a_way_back_that_fails_is_a_deploy_failure_saying_so(tmp_path: Path, creds: None) -> None:
    """When the update back to what served itself FAILS, undo raises naming the service and
    that it was returning to what served."""
    t, a = one_moved(tmp_path)
    with Stubs(t.ctx) as stubs:
        describe(stubs, service([primary("ecs-svc/api-new", API_NEW, "COMPLETED")], name=API))
        update(stubs, API, API_OLD, service([primary("b", API_OLD, "IN_PROGRESS")], name=API))
        failed = primary("b", API_OLD, "FAILED", reason="tasks failed to start")
        describe(stubs, service([failed], name=API))
        stubs.no_stopped_tasks()
        with pytest.raises(DeployFailed) as err:
            t.undo(a)
        stubs.done()
    assert err.value.message == (
        "gamepulse-staging: returning to what served: deployment b FAILED: tasks failed to start"
    )


# -- failures and who made the revision that superseded ours ---------------------------------
BOB = "arn:aws:iam::123456789012:user/bob"
V, BY = "shipyard:version", "shipyard:actor"
WHO_CASES = {  # describe_task_definition's answer (doc, tags) for THEIRS -> what is added
    "release, actor, principal": (
        ({"registeredBy": BOB}, {V: "1.3.0", BY: "bob"}),
        f" ({S6}: shipyard release 1.3.0 by bob; registered by {BOB})",
    ),
    "release only": (({}, {V: "1.3.0"}), f" ({S6}: shipyard release 1.3.0)"),
    "principal only": (({"registeredBy": BOB}, {BY: "bob"}), f" ({S6}: registered by {BOB})"),
    "nothing known": (({}, {}), ""),
    "unreadable": ("AccessDeniedException", ""),
    "no revision named": (None, ""),
}


@pytest.mark.parametrize("case", list(WHO_CASES))
def test_superseded_names_who_made_the_revision_that_took_over(
    tmp_path: Path, creds: None, case: str
) -> None:
    """A superseded rollout names the other revision's shipyard release and actor and the
    principal that registered it, as far as they are known: nothing is appended when nothing
    is known or the revision cannot be read. Theirs is left alone; tags read are remembered."""
    answer, said = WHO_CASES[case]
    ctx, _ = make_ctx(tmp_path)
    t = target(ctx)
    with Stubs(ctx) as stubs:
        if isinstance(answer, str):
            stubs.ecs.add_client_error("describe_task_definition", answer)
        elif answer is not None:
            doc, tags = answer
            stubs.ecs.add_response(
                "describe_task_definition",
                {
                    "taskDefinition": {"taskDefinitionArn": THEIRS, "family": API, **doc},
                    "tags": [{"key": k, "value": v} for k, v in tags.items()],
                },
                {"taskDefinition": THEIRS, "include": ["TAGS"]},
            )
        with pytest.raises(Superseded) as err:
            t.fail(Watched("superseded", API, "ours was superseded", answer and THEIRS))
        stubs.done()
        if isinstance(answer, tuple):
            assert t.records.tags(THEIRS) == answer[1]  # remembered: no second look-up
    assert err.value.message == f"gamepulse-staging: ours was superseded{said}"
    assert err.value.hint == "theirs is left alone: shipyard does not roll back another deployment"


def test_a_timeout_is_unknown_with_the_commands_to_look_and_a_failure_names_what_was_done(
    tmp_path: Path, creds: None
) -> None:
    """Running out of time is StateUnknown with the describe-services and inv wait commands
    for that service; any other end is a DeployFailed saying what was being done."""
    ctx, _ = make_ctx(tmp_path)
    t = target(ctx)
    with pytest.raises(StateUnknown) as unknown:
        t.fail(Watched("timeout", WORKER, "deployment d still IN_PROGRESS after 15m00s"))
    assert unknown.value.message == "worker: deployment d still IN_PROGRESS after 15m00s"
    assert unknown.value.hint == (
        "aws ecs describe-services --cluster gamepulse-cluster --services worker; "
        "inv wait --env staging follows it"
    )
    with pytest.raises(DeployFailed) as failed:
        t.fail(Watched("gone", WORKER, "deployment d disappeared"), "while baking: ")
    assert failed.value.message == "worker: while baking: deployment d disappeared"


# -- the dry-run plan ------------------------------------------------------------------------
def test_a_rollback_plan_names_each_services_way_back_in_order(tmp_path: Path) -> None:
    """Each service's step shows what serves (- when nothing was observed) and the revision
    the restore list names for it, split on commas in configuration order."""
    ctx, _ = make_ctx(tmp_path, **{"target.circuit_breaker": False})
    back = Artifact("1.0.0", "", "sha256:" + "c" * 64, "", restore=f"{API_OLD},{WORKER_OLD}")
    a = Attempt("rollback", back, Serving(True, f"{API_NEW},{WORKER_NEW}"))
    steps = [(s.action, s.detail) for s in target(ctx).plan(a).steps]
    assert [s for s in steps if s[0] in ("rollback", "update-service")] == [
        ("rollback", "gamepulse-staging: - -> gamepulse-staging:4"),
        ("update-service", "gamepulse-cluster/gamepulse-staging"),
        ("rollback", "worker: - -> gamepulse-staging-worker:7"),
        ("update-service", "gamepulse-cluster/worker"),
    ]
