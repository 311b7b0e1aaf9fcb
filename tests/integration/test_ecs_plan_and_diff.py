"""What the ECS targets say before they change anything: `inv diff` (the live task definition
against what a deploy would register, read from moto) and the dry-run plans of the rolling and
blue/green targets (every step a deploy or rollback would take, touching nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.rollout.model import Attempt, Serving
from shipyard.targets.base import Artifact
from shipyard.targets.ecs import EcsTarget
from shipyard.targets.ecs_bluegreen import EcsBlueGreenTarget
from tests.conftest import MotoServer
from tests.integration.test_ecs_moto import (
    App,
    app,
    client,
    make_ctx,
    push,
    rollouts,
    setup_env,
)
from tests.integration.test_ecs_stubber import ARTIFACT, arn
from tests.integration.test_ecs_stubber import make_ctx as stub_ctx

__all__ = ["app", "rollouts"]  # the fixtures these tests use


def test_diff_shows_what_a_deploy_would_change_on_the_live_revision(
    tmp_path: Path, aws: MotoServer, rollouts: None, app: tuple[str, type[App]]
) -> None:
    first = setup_env(aws)  # :1 serves 1.0.0, registered by hand (no logging, no sidecar)
    release = push(aws, "1.1.0")
    ctx, _ = make_ctx(tmp_path, app[0])
    ((service, live, changes),) = EcsTarget(ctx).diff(release.image, "1.1.0")
    assert (service, live) == ("gamepulse-staging", "gamepulse-staging:1")
    by_path = {path: (was, will) for path, was, will in changes}
    assert by_path["containerDefinitions[gamepulse].image"] == (first.image, release.image)
    assert "containerDefinitions[otel-collector]" in by_path  # the sidecar is new
    assert by_path["containerDefinitions[otel-collector]"][0] is None
    # what ECS filled in by default where the rendered definition says nothing is no change
    assert not any(path.endswith(".essential") for path in by_path)


def test_diff_of_the_release_that_serves_shows_nothing(
    tmp_path: Path, aws: MotoServer, rollouts: None, app: tuple[str, type[App]]
) -> None:
    from tests.integration.test_ecs_moto import deploy

    setup_env(aws)
    release = push(aws, "1.1.0")
    url, handler = app
    handler.version = "1.1.0"
    ctx, _ = make_ctx(tmp_path, url)
    deploy(ctx, release)
    ((_, live, changes),) = EcsTarget(ctx).diff(release.image, "1.1.0")
    assert live == "gamepulse-staging:2"
    assert changes == []
    svc = client("ecs", aws).describe_services(
        cluster="gamepulse-cluster", services=["gamepulse-staging"]
    )["services"][0]
    assert EcsTarget(ctx).serving_of(svc).endswith("gamepulse-staging:2")  # type: ignore[union-attr]


# -- dry-run plans --------------------------------------------------------------------------------
def attempt(kind: str, artifact: Artifact, serving: dict[str, str | None]) -> Attempt:
    before = Serving(True, ",".join(v for v in serving.values() if v), facts={"serving": serving})
    return Attempt(kind, artifact, before)  # type: ignore[arg-type]


def steps(plan: object) -> list[tuple[str, str]]:
    return [(s.action, s.detail) for s in plan.steps]  # type: ignore[attr-defined]


def test_the_rolling_plan_names_every_step(tmp_path: Path) -> None:
    ctx, _ = stub_ctx(tmp_path, "staging", "https://staging.example.com")
    target = EcsTarget(ctx)
    old = arn("gamepulse-staging", 4)
    plan = target.plan(attempt("deploy", ARTIFACT, {"gamepulse-staging": old}))
    assert plan.title == "deploy 1.2.0 to staging (ecs)"
    shown = dict(steps(plan))
    assert shown["lock"] == "DynamoDB shipyard-locks item staging"
    assert shown["pre-flight"] == "no rollout under way; alarms not in ALARM: (none configured)"
    assert shown["register"].startswith("gamepulse-staging: deploy/taskdef/base.json")
    assert shown["register"].endswith(f"gamepulse = {ARTIFACT.image}")
    assert shown["update-service"] == (
        "gamepulse-cluster/gamepulse-staging with circuit breaker (rollback)"
    )
    assert shown["watch"] == "the new deployment until COMPLETED and PRIMARY (timeout 15m00s)"
    assert shown["verify"].startswith("https://staging.example.com; on failure or interrupt")
    assert shown["record"] == "tag revisions with the outcome; keep 10 revisions"
    assert "bake" not in shown


def test_the_rolling_plan_of_a_rollback_names_both_revisions(tmp_path: Path) -> None:
    ctx, _ = stub_ctx(tmp_path, "staging", "https://staging.example.com")
    old, older = arn("gamepulse-staging", 5), arn("gamepulse-staging", 3)
    back = Artifact("1.0.0", "", "sha256:" + "c" * 64, "", restore=older)
    plan = EcsTarget(ctx).plan(attempt("rollback", back, {"gamepulse-staging": old}))
    assert plan.title == "rollback 1.0.0 to staging (ecs)"
    assert ("rollback", "gamepulse-staging: gamepulse-staging:5 -> gamepulse-staging:3") in (
        steps(plan)
    )
    assert not [s for s in steps(plan) if s[0] == "register"]


@pytest.mark.parametrize("hooks", [False, True])
def test_the_blue_green_plan_names_the_codedeploy_deployment_and_its_undo(
    tmp_path: Path, hooks: bool
) -> None:
    extra = (
        {"target.codedeploy.hooks": {"AfterAllowTestTraffic": "gp-smoke", "BeforeInstall": "gp"}}
        if hooks
        else {}
    )
    ctx, _ = stub_ctx(tmp_path, "production", "https://gamepulse.example.com", **extra)
    target = EcsBlueGreenTarget(ctx)
    plan = target.plan(attempt("deploy", ARTIFACT, {"gamepulse-production": None}))
    shown = dict(steps(plan))
    detail = (
        "gamepulse/gamepulse-production CodeDeployDefault.ECSCanary10Percent5Minutes, "
        "gamepulse:8080, auto-rollback on failure and alarm"
    )
    if hooks:
        detail += ", hooks BeforeInstall, AfterAllowTestTraffic"  # in lifecycle order
    assert shown["codedeploy"] == detail
    assert shown["watch"] == "get_deployment and lifecycle events (timeout 30m00s)"
    assert shown["undo"] == "on failure or interrupt: stop_deployment with rollback, watched"
    assert shown["pre-flight"] == (
        "no rollout under way; alarms not in ALARM: gamepulse-production-5xx"
    )
