"""The stateful parts against moto in server mode, driven through the rollout engine
(shipyard.rollout.api): register, update, describe, tags as records, status and its mismatches,
rollback choice, revision pruning, alarms, metrics, the verify gate against a real local HTTP
server. Several services are in test_ecs_moto_services.py, the DynamoDB lock in
test_ecs_moto_lock.py; the moto helpers in tests/support/moto_ecs.py.

moto's update_service starts no new deployment (it keeps the old record), so these tests use
tests.support.moto_rollforward.ecs_rollouts_complete(), which makes moto do what ECS does when a
rollout completes; test_plain_moto_* shows what happens without it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from shipyard.errors import DeployFailed, RolledBack, ShipyardError, UsageError
from shipyard.locking.dynamodb import DynamoDbLock
from shipyard.operations.deploy import resolve_artifact
from shipyard.rollout import api
from shipyard.targets.base import Artifact
from shipyard.targets.ecs import EcsTarget
from tests.conftest import MotoServer
from tests.support.moto_ecs import (
    ACCOUNT,
    CLUSTER,
    REGION,
    App,
    active,
    app,
    client,
    deploy,
    fast,
    make_ctx,
    metric_sum,
    no_sleep,
    push,
    rollback,
    rollouts,
    serving,
    setup_env,
    tag,
    tags,
)

__all__ = ["app", "rollouts"]  # the fixtures these tests use


# -- deploy ---------------------------------------------------------------------------------------
def test_deploy_registers_rendered_revision_updates_verifies_and_records(
    tmp_path: Path, aws: MotoServer, rollouts: None, app: tuple[str, type[App]]
) -> None:
    setup_env(aws)
    release = push(aws, "1.1.0")
    ctx, _ = make_ctx(tmp_path, app[0])
    result = deploy(ctx, release)
    assert result.outcome == "succeeded"
    assert serving(aws) == "gamepulse-staging:2"
    assert result.serving["release_id"].endswith("task-definition/gamepulse-staging:2")
    doc = client("ecs", aws).describe_task_definition(taskDefinition="gamepulse-staging:2")[
        "taskDefinition"
    ]
    assert (doc["cpu"], doc["memory"]) == ("512", "1024")
    app_container = next(c for c in doc["containerDefinitions"] if c["name"] == "gamepulse")
    assert app_container["image"] == release.image  # pinned by digest
    assert app_container["logConfiguration"]["options"]["awslogs-group"] == "/ecs/gamepulse-staging"
    assert {c["name"] for c in doc["containerDefinitions"]} == {"gamepulse", "otel-collector"}
    recorded = tags(aws, "gamepulse-staging:2")
    assert recorded["shipyard:version"] == "1.1.0"
    assert recorded["shipyard:digest"] == release.digest
    assert recorded["shipyard:outcome"] == "succeeded"
    assert recorded["shipyard:deployed-at"]
    assert metric_sum(aws, "DeploySuccess") == 1
    assert metric_sum(aws, "DeployFailure") == 0
    report = fast(ctx).status()
    assert report.live is not None
    assert (report.live["version"], report.live["revision"], report.live["digest"]) == (
        "1.1.0",
        "gamepulse-staging:2",
        release.digest,
    )
    assert report.live["since"]
    assert report.observed["version"] == "1.1.0"
    assert report.observed["known"] is True
    assert report.mismatch == ""
    assert [r["live"] for r in report.history] == [True, False]
    # the lock was taken and given back
    assert (
        DynamoDbLock(
            ctx.aws, table="shipyard-locks", environment="staging", ttl_seconds=60
        ).status()
        is None
    )


def test_described_task_definition_deploys_as_is(
    tmp_path: Path, aws: MotoServer, rollouts: None, app: tuple[str, type[App]]
) -> None:
    setup_env(aws)
    described = client("ecs", aws).describe_task_definition(taskDefinition="gamepulse-staging:1")
    described["taskDefinition"]["memory"] = "1024"
    (tmp_path / "described.json").write_text(json.dumps(described, default=str))
    ctx, _ = make_ctx(tmp_path, app[0])
    shutil.copy(tmp_path / "described.json", ctx.root / "deploy" / "taskdef" / "base.json")
    (ctx.root / "deploy" / "taskdef" / "staging.json").write_text("{}")
    result = deploy(ctx, push(aws, "1.1.0"))
    assert result.outcome == "succeeded"
    assert serving(aws) == "gamepulse-staging:2"


def test_verify_failure_rolls_back_and_is_recorded(
    tmp_path: Path, aws: MotoServer, rollouts: None, app: tuple[str, type[App]]
) -> None:
    setup_env(aws)
    url, handler = app
    handler.healthy = 500
    ctx, _out = make_ctx(tmp_path, url)
    with pytest.raises(RolledBack) as err:
        deploy(ctx, push(aws, "1.1.0"))
    assert "verify failed" in err.value.message
    assert "1.0.0" in err.value.message
    assert serving(aws) == "gamepulse-staging:1"
    assert tags(aws, "gamepulse-staging:2")["shipyard:outcome"] == "rolled_back"
    assert metric_sum(aws, "DeployRollback") == 1
    assert metric_sum(aws, "DeploySuccess") == 0
    assert fast(ctx).status().mismatch == ""  # the records say what serves


def test_warmup_absorbs_brief_errors(
    tmp_path: Path, aws: MotoServer, rollouts: None, app: tuple[str, type[App]]
) -> None:
    setup_env(aws)
    url, handler = app
    handler.healthy = 502
    ctx, _ = make_ctx(tmp_path, url, **{"verify.warmup_seconds": 5, "verify.retries": 0})

    def heal_later(seconds: float) -> None:
        handler.healthy = 200  # the switch is over after the first pause

    result = deploy(
        ctx, push(aws, "1.1.0"), target=EcsTarget(ctx, sleep=heal_later), sleep=heal_later
    )
    assert result.outcome == "succeeded"


# -- pre-flight --------------------------------------------------------------------------------
def test_refuses_when_an_alarm_is_in_alarm_and_changes_nothing(
    tmp_path: Path, aws: MotoServer, rollouts: None, app: tuple[str, type[App]]
) -> None:
    setup_env(aws)
    cw = client("cloudwatch", aws)
    cw.put_metric_alarm(
        AlarmName="staging-5xx",
        MetricName="5xx",
        Namespace="App",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )
    cw.set_alarm_state(AlarmName="staging-5xx", StateValue="ALARM", StateReason="5xx above 1")
    ctx, _ = make_ctx(tmp_path, app[0], **{"target.alarms": ["staging-5xx"]})
    with pytest.raises(DeployFailed, match="staging-5xx is in ALARM"):
        deploy(ctx, push(aws, "1.1.0"))
    assert active(aws) == ["gamepulse-staging:1"]
    ctx, _ = make_ctx(tmp_path, app[0], **{"target.alarms": ["no-such-alarm"]})
    # a ConfigError in pre-flight; the engine reports the failed rollout's class (see report)
    with pytest.raises(ShipyardError, match="no-such-alarm"):
        deploy(ctx, push(aws, "1.1.0"))
    assert active(aws) == ["gamepulse-staging:1"]


def test_refuses_an_image_digest_the_registry_does_not_hold(
    tmp_path: Path, aws: MotoServer, rollouts: None, app: tuple[str, type[App]]
) -> None:
    setup_env(aws)
    ctx, _ = make_ctx(tmp_path, app[0])
    missing = "sha256:" + "0" * 64
    ghost = Artifact(
        "9.9.9", f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/gamepulse@{missing}", missing, "b" * 40
    )
    with pytest.raises(ShipyardError, match="has no image"):
        deploy(ctx, ghost)
    assert serving(aws) == "gamepulse-staging:1"
    assert active(aws) == ["gamepulse-staging:1"]


def test_a_digest_just_read_from_ecr_is_not_looked_up_again(
    tmp_path: Path, aws: MotoServer, rollouts: None, app: tuple[str, type[App]]
) -> None:
    setup_env(aws)
    release = push(aws, "1.1.0")
    ctx, _ = make_ctx(tmp_path, app[0])
    git = ["git", "-C", str(ctx.root), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "c"], check=True)
    artifact = resolve_artifact(ctx, "1.1.0")
    assert (artifact.digest, artifact.read_from_ecr) == (release.digest, True)
    calls: list[str] = []
    ctx.aws.client("ecr").meta.events.register(
        "before-call.ecr", lambda model, **_: calls.append(model.name)
    )
    assert deploy(ctx, artifact).outcome == "succeeded"
    assert calls == []  # the pre-flight image check trusts the look-up it follows
    assert serving(aws) == "gamepulse-staging:2"


def test_dry_run_changes_nothing(
    tmp_path: Path, aws: MotoServer, rollouts: None, app: tuple[str, type[App]]
) -> None:
    setup_env(aws)
    ctx, out = make_ctx(tmp_path, app[0])
    result = deploy(ctx, push(aws, "1.1.0"), dry_run=True)
    assert result.outcome == "planned"
    assert result.plan is not None
    result.plan.show(ctx.console)
    assert "update-service" in out.getvalue()
    assert serving(aws) == "gamepulse-staging:1"
    assert len(client("ecs", aws).list_task_definitions()["taskDefinitionArns"]) == 1
    planned = rollback(ctx, "1", dry_run=True)
    assert planned.plan is not None
    assert serving(aws) == "gamepulse-staging:1"


def test_plain_moto_is_not_called_a_success(
    tmp_path: Path, aws: MotoServer, app: tuple[str, type[App]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the rollout shim moto keeps the old deployment COMPLETED and 'stable': a count-
    based waiter says done; shipyard sees no deployment of the new revision and fails."""
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "2")
    setup_env(aws)
    ctx, _ = make_ctx(tmp_path, app[0])
    with pytest.raises(DeployFailed, match="ECS started no deployment"):
        deploy(ctx, push(aws, "1.1.0"))
    assert tags(aws, "gamepulse-staging:2")["shipyard:outcome"] != "succeeded"


# -- rollback and revisions ----------------------------------------------------------------------
def test_rollback_to_last_good_then_to_version_and_revision(
    tmp_path: Path, aws: MotoServer, rollouts: None, app: tuple[str, type[App]]
) -> None:
    setup_env(aws)
    url, handler = app
    ctx, _ = make_ctx(tmp_path, url)
    target = fast(ctx)
    for version in ("1.1.0", "1.2.0"):
        handler.version = version
        deploy(ctx, push(aws, version), target)
    assert serving(aws) == "gamepulse-staging:3"

    handler.version = "1.1.0"
    back = rollback(ctx, None, target)
    assert back.outcome == "succeeded"
    assert back.version == "1.1.0"
    assert serving(aws) == "gamepulse-staging:2"
    left = tags(aws, "gamepulse-staging:3")
    assert left["shipyard:rolled-back-at"]
    assert left["shipyard:outcome"] == "succeeded"  # its own rollout did succeed
    assert metric_sum(aws, "DeployRollback") == 1

    handler.version = "1.0.0"
    assert rollback(ctx, None, target).version == "1.0.0"  # not back to 1.2.0
    assert serving(aws) == "gamepulse-staging:1"

    handler.version = "1.1.0"
    rollback(ctx, "1.1.0", target)
    assert serving(aws) == "gamepulse-staging:2"
    handler.version = "1.0.0"
    rollback(ctx, "1", target)
    assert serving(aws) == "gamepulse-staging:1"
    with pytest.raises(UsageError, match=r"carries version '7\.7\.7'"):
        rollback(ctx, "7.7.7", target)
    assert fast(ctx).status().mismatch == ""


def test_rollback_never_picks_a_newer_revision(
    tmp_path: Path, aws: MotoServer, rollouts: None, app: tuple[str, type[App]]
) -> None:
    """Issue 13 item 6: from :2, with :3 recorded succeeded (newer) and :1 succeeded (older),
    `inv rollback` returns to :1; from :1 there is nothing earlier, whatever is newer."""
    setup_env(aws)
    url, handler = app
    ctx, _ = make_ctx(tmp_path, url)
    for version in ("1.1.0", "1.2.0"):
        handler.version = version
        deploy(ctx, push(aws, version))
    handler.version = "1.1.0"
    rollback(ctx, "2")  # :2 serves; :3 is newer, and recorded succeeded
    assert tags(aws, "gamepulse-staging:3")["shipyard:outcome"] == "succeeded"
    handler.version = "1.0.0"
    assert rollback(ctx, None).release_id.endswith("gamepulse-staging:1")
    with pytest.raises(UsageError, match="no earlier revision"):
        rollback(ctx, None)
    assert serving(aws) == "gamepulse-staging:1"


def test_rollback_skips_a_revision_an_earlier_rollback_left(
    tmp_path: Path, aws: MotoServer, rollouts: None, app: tuple[str, type[App]]
) -> None:
    """1.2.0 (:3) was rolled back from; after 1.3.0 (:4) the previous good release is 1.1.0
    (:2), not 1.2.0. Returning to :3 by name clears the mark."""
    setup_env(aws)
    url, handler = app
    ctx, _ = make_ctx(tmp_path, url)
    for version in ("1.1.0", "1.2.0"):
        handler.version = version
        deploy(ctx, push(aws, version))
    handler.version = "1.1.0"
    rollback(ctx, None)  # :3 left
    handler.version = "1.3.0"
    deploy(ctx, push(aws, "1.3.0"))  # :4
    handler.version = "1.1.0"
    assert rollback(ctx, None).release_id.endswith("gamepulse-staging:2")
    handler.version = "1.2.0"
    rollback(ctx, "3")
    assert tags(aws, "gamepulse-staging:3")["shipyard:rolled-back-at"] == ""
    assert tags(aws, "gamepulse-staging:2")["shipyard:rolled-back-at"]


def test_rollback_to_a_version_never_returns_to_a_failed_rollout_of_it(
    tmp_path: Path, aws: MotoServer, rollouts: None, app: tuple[str, type[App]]
) -> None:
    """Issue 13 item 7: 1.2.0's only revision failed verify: `--to 1.2.0` is refused. Once a
    good revision of 1.2.0 exists, it is that one, never a newer failed one of 1.2.0."""
    setup_env(aws)
    url, handler = app
    ctx, _ = make_ctx(tmp_path, url)
    handler.version = "1.1.0"  # 1.2.0 is not what answers: verify fails, rolled back
    with pytest.raises(RolledBack):
        deploy(ctx, push(aws, "1.2.0"))
    assert tags(aws, "gamepulse-staging:2")["shipyard:outcome"] == "rolled_back"
    with pytest.raises(UsageError, match=r"whose rollout succeeded carries version '1\.2\.0'"):
        rollback(ctx, "1.2.0")
    handler.version = "1.2.0"
    deploy(ctx, push(aws, "1.2.0"))  # :3, good
    client("ecs", aws).register_task_definition(  # :4, a failed rollout of 1.2.0
        family="gamepulse-staging",
        containerDefinitions=[{"name": "gamepulse", "image": "x:1", "memory": 128}],
        tags=[
            {"key": "shipyard:version", "value": "1.2.0"},
            {"key": "shipyard:outcome", "value": "failed"},
        ],
    )
    handler.version = "1.0.0"
    rollback(ctx, "1")
    handler.version = "1.2.0"
    assert rollback(ctx, "1.2.0").release_id.endswith("gamepulse-staging:3")


def test_keeps_n_revisions_but_never_the_rollback_target(
    tmp_path: Path, aws: MotoServer, rollouts: None, app: tuple[str, type[App]]
) -> None:
    setup_env(aws)
    url, handler = app
    ctx, _ = make_ctx(tmp_path, url, **{"target.keep_revisions": 2})
    target = fast(ctx)
    handler.version = "1.1.0"
    deploy(ctx, push(aws, "1.1.0"), target)  # :2 good
    ecs = client("ecs", aws)
    for n in range(3):  # three failed registrations in between
        ecs.register_task_definition(
            family="gamepulse-staging",
            containerDefinitions=[{"name": "gamepulse", "image": f"x:{n}", "memory": 128}],
            tags=[{"key": "shipyard:outcome", "value": "failed"}],
        )
    handler.version = "1.2.0"
    deploy(ctx, push(aws, "1.2.0"), target)  # :6
    kept = active(aws)
    assert "gamepulse-staging:6" in kept
    assert "gamepulse-staging:2" in kept
    assert "gamepulse-staging:3" not in kept
    assert "gamepulse-staging:4" not in kept
    handler.version = "1.1.0"
    assert rollback(ctx, None, target).version == "1.1.0"


# -- status and reconcile ------------------------------------------------------------------------
def test_status_flags_records_that_disagree_with_what_serves(
    tmp_path: Path, aws: MotoServer, rollouts: None, app: tuple[str, type[App]]
) -> None:
    setup_env(aws)
    url, handler = app
    ctx, _ = make_ctx(tmp_path, url)
    handler.version = "1.1.0"
    deploy(ctx, push(aws, "1.1.0"))
    tag(aws, "gamepulse-staging:2", outcome="failed")
    report = fast(ctx).status()
    assert "gamepulse-staging:2 serves but is recorded failed" in report.mismatch
    # a revision left "shifting" (a killed run) that no rollout runs
    tag(aws, "gamepulse-staging:2", outcome="succeeded")
    client("ecs", aws).register_task_definition(
        family="gamepulse-staging",
        containerDefinitions=[{"name": "gamepulse", "image": "x:1", "memory": 128}],
        tags=[{"key": "shipyard:outcome", "value": "shifting"}],
    )
    report = fast(ctx).status()
    assert "gamepulse-staging:3 is recorded shifting but no rollout runs it" in report.mismatch
    # inv wait settles it, from what serves
    serving_now = api.wait(ctx, target=fast(ctx), sleep=no_sleep)
    assert serving_now.release_id is not None
    assert serving_now.release_id.endswith("gamepulse-staging:2")
    assert tags(aws, "gamepulse-staging:3")["shipyard:outcome"] == "failed"
    assert fast(ctx).status().mismatch == ""


def test_status_of_a_service_not_deployed_by_shipyard(
    tmp_path: Path, aws: MotoServer, rollouts: None, app: tuple[str, type[App]]
) -> None:
    setup_env(aws)
    ecs = client("ecs", aws)
    foreign = ecs.register_task_definition(
        family="gamepulse-staging",
        containerDefinitions=[
            {"name": "gamepulse", "image": "registry/app@sha256:" + "1" * 64, "memory": 128}
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster=CLUSTER, service="gamepulse-staging", taskDefinition=foreign)
    ctx, _ = make_ctx(tmp_path, app[0])
    report = fast(ctx).status()
    assert report.live is not None
    assert report.live["digest"] == "sha256:" + "1" * 64
    assert "not deployed by shipyard" in report.mismatch


def test_no_wait_leaves_the_rollout_to_inv_wait(
    tmp_path: Path,
    aws: MotoServer,
    rollouts: None,
    app: tuple[str, type[App]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    setup_env(aws)
    ctx, out = make_ctx(tmp_path, app[0])
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "0")  # the new deployment stays IN_PROGRESS
    result = deploy(ctx, push(aws, "1.1.0"), wait=False)
    assert result.outcome == "in_progress"
    dep_id = result.details["deployment_id"]
    assert f"deployment {dep_id} of gamepulse-staging continues" in result.message
    assert tags(aws, "gamepulse-staging:2")["shipyard:outcome"] == "shifting"
    assert fast(ctx).status().mismatch == ""  # a rollout under way is no mismatch

    def rollout_completes(_seconds: float) -> None:
        """While inv wait watches, the deployment completes (moto's never does by itself)."""
        from moto.ecs.models import ecs_backends

        svc = ecs_backends[ACCOUNT][REGION]._get_service(CLUSTER, "gamepulse-staging")
        for d in svc.deployments:
            d.update(rolloutState="COMPLETED", runningCount=d["desiredCount"], pendingCount=0)

    # inv wait waits until it is stable: it follows the rollout to its end and records it
    serving = api.wait(ctx, target=EcsTarget(ctx, sleep=rollout_completes), sleep=no_sleep)
    assert "continues" in out.getvalue()
    assert str(serving.release_id).endswith("gamepulse-staging:2")
    assert tags(aws, "gamepulse-staging:2")["shipyard:outcome"] == "succeeded"
