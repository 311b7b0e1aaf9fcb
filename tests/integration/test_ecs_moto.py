"""The stateful parts against moto in server mode, driven through the rollout engine
(shipyard.rollout.api): register, update, describe, tags as records, status and its mismatches,
rollback choice, revision pruning, the DynamoDB lock, alarms, metrics, several services, the
verify gate against a real local HTTP server.

moto's update_service starts no new deployment (it keeps the old record), so these tests use
tests.support.moto_rollforward.ecs_rollouts_complete(), which makes moto do what ECS does when a
rollout completes; test_plain_moto_* shows what happens without it.
"""

from __future__ import annotations

import io
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from shipyard.config import load_config
from shipyard.console import Console
from shipyard.context import Context
from shipyard.errors import (
    DeployFailed,
    LockHeld,
    RolledBack,
    ShipyardError,
    UsageError,
)
from shipyard.locking.dynamodb import DynamoDbLock
from shipyard.rollout import api
from shipyard.targets.base import Artifact, DeployOptions, DeployResult
from shipyard.targets.ecs import EcsTarget
from tests.conftest import MotoServer
from tests.support.moto_rollforward import ecs_rollouts_complete, push_image

REPO = Path(__file__).resolve().parents[2]
REGION = "ap-northeast-2"
ACCOUNT = "123456789012"
CLUSTER = "gamepulse-cluster"


class App(BaseHTTPRequestHandler):
    """The environment URL: /health/ answers `healthy`'s status, /version the version."""

    healthy = 200
    version = "1.1.0"

    def do_GET(self) -> None:
        status, body = (
            (self.healthy, "ok") if self.path.startswith("/health") else (200, self.version)
        )
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def app() -> Iterator[tuple[str, type[App]]]:
    handler = type("AppHandler", (App,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()


@pytest.fixture
def rollouts(aws: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "2")
    with ecs_rollouts_complete():
        yield


def client(name: str, aws: MotoServer) -> Any:
    return boto3.client(name, endpoint_url=aws.endpoint, region_name=REGION)


def push(aws: MotoServer, tag: str) -> Artifact:
    ecr = client("ecr", aws)
    try:
        digest = push_image(ecr, "gamepulse", tag)
    except ecr.exceptions.ImageAlreadyExistsException:
        digest = ecr.describe_images(repositoryName="gamepulse", imageIds=[{"imageTag": tag}])[
            "imageDetails"
        ][0]["imageDigest"]
    image = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/gamepulse@{digest}"
    return Artifact(tag, image, digest, "a" * 40)


def make_ctx(
    tmp_path: Path, url: str, services: tuple[str, ...] = ("gamepulse-staging",), **overrides: Any
) -> tuple[Context, io.StringIO]:
    root = tmp_path / "proj"
    if not root.exists():
        shutil.copytree(REPO / "deploy", root / "deploy")
        (root / "version.txt").write_text("1.1.0\n")
        for name in services[1:]:  # the other services get their own family
            (root / "deploy" / "taskdef" / f"{name}.json").write_text(
                json.dumps({"family": f"gamepulse-{{{{environment}}}}-{name}"})
            )
    config = load_config(
        "staging",
        root=root,
        environ={},
        overrides={
            "verify.url": url,
            "verify.warmup_seconds": 0,
            "verify.retries": 1,
            "verify.backoff_seconds": 0,
            "target.services": [
                {"name": services[0]},
                *({"name": n, "taskdef_overlay": f"deploy/taskdef/{n}.json"} for n in services[1:]),
            ],
            **overrides,
        },
    )
    out = io.StringIO()
    return Context(config=config, root=root, console=Console(out=out, err=out), environ={}), out


def setup_env(aws: MotoServer, services: tuple[str, ...] = ("gamepulse-staging",)) -> Artifact:
    """Cluster, repository, services on a first release 1.0.0 deployed by shipyard."""
    client("ecs", aws).create_cluster(clusterName=CLUSTER)
    client("ecr", aws).create_repository(repositoryName="gamepulse")
    first = push(aws, "1.0.0")
    ecs = client("ecs", aws)
    for name in services:
        family = "gamepulse-staging" if name == services[0] else f"gamepulse-staging-{name}"
        arn = ecs.register_task_definition(
            family=family,
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="512",
            memory="1024",
            containerDefinitions=[{"name": "gamepulse", "image": first.image}],
            tags=[
                {"key": "shipyard:version", "value": "1.0.0"},
                {"key": "shipyard:outcome", "value": "succeeded"},
                {"key": "shipyard:digest", "value": first.digest},
            ],
        )["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(cluster=CLUSTER, serviceName=name, taskDefinition=arn, desiredCount=2)
    return first


def serving(aws: MotoServer, name: str = "gamepulse-staging") -> str:
    svc = client("ecs", aws).describe_services(cluster=CLUSTER, services=[name])["services"][0]
    return str(svc["taskDefinition"]).rsplit("/", 1)[-1]


def tags(aws: MotoServer, ref: str) -> dict[str, str]:
    arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{ref}"
    return {
        t["key"]: t["value"]
        for t in client("ecs", aws).list_tags_for_resource(resourceArn=arn)["tags"]
    }


def metric_sum(aws: MotoServer, name: str, service: str = "gamepulse-staging") -> float:
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    points = client("cloudwatch", aws).get_metric_statistics(
        Namespace="Shipyard",
        MetricName=name,
        Statistics=["Sum"],
        Period=3600,
        StartTime=now - dt.timedelta(hours=1),
        EndTime=now + dt.timedelta(minutes=5),
        Dimensions=[
            {"Name": "Environment", "Value": "staging"},
            {"Name": "Service", "Value": service},
        ],
    )["Datapoints"]
    return sum(p["Sum"] for p in points)


def no_sleep(_seconds: float) -> None:
    return None


def fast(ctx: Context) -> EcsTarget:
    return EcsTarget(ctx, sleep=no_sleep)


def deploy(
    ctx: Context,
    artifact: Artifact,
    target: EcsTarget | None = None,
    sleep: Any = no_sleep,
    **opts: Any,
) -> DeployResult:
    return api.deploy(ctx, artifact, DeployOptions(**opts), target=target or fast(ctx), sleep=sleep)


def rollback(
    ctx: Context, to: str | None, target: EcsTarget | None = None, **opts: Any
) -> DeployResult:
    return api.rollback(ctx, to, DeployOptions(**opts), target=target or fast(ctx), sleep=no_sleep)


def tag(aws: MotoServer, ref: str, **values: str) -> None:
    client("ecs", aws).tag_resource(
        resourceArn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{ref}",
        tags=[{"key": f"shipyard:{k}", "value": v} for k, v in values.items()],
    )


def active(aws: MotoServer, family: str = "gamepulse-staging") -> list[str]:
    arns = client("ecs", aws).list_task_definitions(familyPrefix=family, status="ACTIVE")[
        "taskDefinitionArns"
    ]
    return [a.rsplit("/", 1)[-1] for a in arns]


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


# -- several services ------------------------------------------------------------------------
def test_several_services_one_digest_and_a_failure_rolls_back_the_switched_ones(
    tmp_path: Path,
    aws: MotoServer,
    rollouts: None,
    app: tuple[str, type[App]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    names = ("api", "worker")
    setup_env(aws, names)
    ctx, _ = make_ctx(tmp_path, app[0], names)
    ok = deploy(ctx, push(aws, "1.1.0"))
    assert ok.outcome == "succeeded"
    assert (serving(aws, "api"), serving(aws, "worker")) == (
        "gamepulse-staging:2",
        "gamepulse-staging-worker:2",
    )
    api_doc = client("ecs", aws).describe_task_definition(taskDefinition="gamepulse-staging:2")[
        "taskDefinition"
    ]
    worker_doc = client("ecs", aws).describe_task_definition(
        taskDefinition="gamepulse-staging-worker:2"
    )["taskDefinition"]
    assert (
        api_doc["containerDefinitions"][0]["image"]
        == worker_doc["containerDefinitions"][0]["image"]
    )

    # next release: the worker's rollout never gets tasks running and the deployment FAILS
    from moto.ecs.models import EC2ContainerServiceBackend

    shimmed = EC2ContainerServiceBackend.update_service

    def worker_fails(self: Any, props: dict[str, Any]) -> Any:
        svc = shimmed(self, props)
        if svc.name == "worker" and str(svc.task_definition).endswith(":3"):
            svc.deployments[0].update(
                rolloutState="FAILED",
                runningCount=0,
                failedTasks=2,
                rolloutStateReason="tasks failed to start",
            )
        return svc

    # undone at the block's end, before `rollouts` restores moto's own update_service: the
    # test's monkeypatch (set up first, by `rollouts`) would otherwise put the shim back after
    # it and leave it for every later test in the process
    with monkeypatch.context() as patch:
        patch.setattr(EC2ContainerServiceBackend, "update_service", worker_fails)
        with pytest.raises(DeployFailed) as err:
            deploy(ctx, push(aws, "1.2.0"))
    assert "worker" in err.value.message
    assert (serving(aws, "api"), serving(aws, "worker")) == (
        "gamepulse-staging:2",
        "gamepulse-staging-worker:2",
    )
    assert tags(aws, "gamepulse-staging:3")["shipyard:outcome"] == "rolled_back"
    assert tags(aws, "gamepulse-staging-worker:3")["shipyard:outcome"] == "rolled_back"
    assert metric_sum(aws, "DeployFailure", "api") == 1


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


# -- the lock --------------------------------------------------------------------------------------
def test_dynamodb_lock_conditional_write_owner_release_and_expiry(aws: MotoServer) -> None:
    from shipyard.adapters.aws import AwsClients
    from shipyard.config.aws import AwsConfig

    now = [1000.0]
    clients = AwsClients(AwsConfig(region=REGION))
    first = DynamoDbLock(
        clients,
        table="locks",
        environment="staging",
        ttl_seconds=60,
        owner="alice",
        clock=lambda: now[0],
        sleep=lambda _s: None,
    )
    second = DynamoDbLock(
        clients,
        table="locks",
        environment="staging",
        ttl_seconds=60,
        owner="bob",
        clock=lambda: now[0],
        sleep=lambda _s: None,
    )
    info = first.acquire("deploy 1.1.0")  # creates the table on first use
    assert info.owner == "alice"
    with pytest.raises(LockHeld, match="held by alice") as err:
        second.acquire("deploy 1.2.0")
    assert "deploy 1.1.0" in err.value.message
    second.release()  # bob holds nothing: alice's lock stays
    held = second.status()
    assert held is not None
    assert held.owner == "alice"
    assert held.message == "deploy 1.1.0"
    assert held.expires == pytest.approx(1060.0)
    # other environments are independent
    DynamoDbLock(
        clients, table="locks", environment="production", ttl_seconds=60, owner="carol"
    ).acquire("x")

    now[0] = 1061.0  # alice's lock expired: bob takes over
    assert second.status() is None
    assert second.acquire("deploy 1.2.0").owner == "bob"
    first.release()  # alice's late release must not free bob's lock
    still = first.status()
    assert still is not None
    assert still.owner == "bob"
    freed = first.force_release()
    assert freed is not None
    assert freed.owner == "bob"
    assert first.status() is None


def test_deploy_waits_for_or_refuses_a_held_lock(
    tmp_path: Path, aws: MotoServer, rollouts: None, app: tuple[str, type[App]]
) -> None:
    setup_env(aws)
    ctx, _ = make_ctx(tmp_path, app[0])
    other = DynamoDbLock(
        ctx.aws, table="shipyard-locks", environment="staging", ttl_seconds=60, owner="ci"
    )
    other.acquire("deploy from CI")
    with pytest.raises(LockHeld, match="held by ci"):
        deploy(ctx, push(aws, "1.1.0"))
    assert serving(aws) == "gamepulse-staging:1"
    other.release()
    assert deploy(ctx, push(aws, "1.1.0")).outcome == "succeeded"


def test_refuses_while_a_deployment_is_in_progress(
    tmp_path: Path, aws: MotoServer, app: tuple[str, type[App]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "0")  # moto's own deployment stays IN_PROGRESS
    setup_env(aws)
    ctx, _ = make_ctx(tmp_path, app[0])
    with pytest.raises(LockHeld, match="already in progress"):
        deploy(ctx, push(aws, "1.1.0"), lock_wait=0)
    with pytest.raises(LockHeld, match="already in progress"):
        deploy(ctx, push(aws, "1.1.0"), lock_wait=0.05)
    assert serving(aws) == "gamepulse-staging:1"
    assert active(aws) == ["gamepulse-staging:1"]
