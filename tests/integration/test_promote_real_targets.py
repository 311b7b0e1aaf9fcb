"""`inv promote`'s verify-then-rollback with the real ECS target on moto server (issue 13: "the
promote and release tests run the real targets"; item 14).

test_promote.py checks the pipeline's own contract with an in-memory target. Here the
pipeline picks its target itself, as `inv promote` does: production (made a rolling ECS
environment in this throwaway project: the CodeDeploy switch is tested in
test_ecs_rollout_bluegreen.py) deploys the staging digest on moto, with the roll-forward shim
(tests/support/moto_rollforward.py) making moto's update_service start and complete a deployment as
ECS does. The environment URL is a real HTTP server that answers 5xx, or the old version.
What must hold after: the previous task definition serves again (read from moto), the
records say so (revision tags), the lock is free and the error is the rollback's (exit 1).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest

from shipyard.errors import RolledBack
from shipyard.pipelines.promote import PromoteOptions, PromoteResult, run
from shipyard.targets.ecs import EcsTarget
from tests.conftest import MotoServer, Project
from tests.integration.test_promote import (
    REGION,
    RELEASE,
    SERVER,
    ctx_for,
    live_in_staging,
    put,
)
from tests.support.moto_rollforward import ecs_rollouts_complete

CLUSTER = "gamepulse-cluster"
SERVICE = "gamepulse-production"
PREVIOUS = "1.4.0"
ROLLING_PRODUCTION = f"""
[target]
kind = "ecs"
cluster = "{CLUSTER}"
services = [{{ name = "{SERVICE}", container_port = 8080 }}]
timeout_seconds = 120
poll_seconds = 1
alarms = ["gamepulse-production-5xx"]
"""


def client(name: str, aws: MotoServer) -> Any:
    return boto3.client(name, endpoint_url=aws.endpoint, region_name=REGION)


@pytest.fixture
def broken_production() -> Iterator[tuple[str, dict[str, Any]]]:
    """production's URL: /health/ answers `health`, /version the version in `serving` (the
    test sets what the release answers)."""
    state: dict[str, Any] = {"health": 200, "version": PREVIOUS, "hits": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state["hits"] += 1
            if self.path.startswith("/health"):
                status, body = int(state["health"]), "ok"
            else:
                status, body = 200, f"gamepulse {state['version']}"
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", state
    server.shutdown()
    server.server_close()


def production_on(project: Project, aws: MotoServer) -> str:
    """production: a rolling ECS service running 1.4.0, deployed by shipyard before; its alarm
    exists and is not in ALARM. Returns the serving revision's ARN."""
    path = project.path / "deploy" / "environments" / "production.toml"
    text = path.read_text()
    head, rest = text.split("[target]", 1)
    tail = rest[rest.index("[verify]") :]  # drops [target] and [target.codedeploy]
    path.write_text(head + ROLLING_PRODUCTION.strip() + "\n\n" + tail)
    old = put(aws, project.repository, PREVIOUS, _manifest(PREVIOUS))
    ecs = client("ecs", aws)
    arn = str(
        ecs.register_task_definition(
            family=SERVICE,
            containerDefinitions=[
                {"name": "gamepulse", "image": f"{SERVER}/{project.repository}@{old}"}
            ],
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="1024",
            memory="2048",
            tags=[
                {"key": "shipyard:version", "value": PREVIOUS},
                {"key": "shipyard:outcome", "value": "succeeded"},
                {"key": "shipyard:digest", "value": old},
            ],
        )["taskDefinition"]["taskDefinitionArn"]
    )
    ecs.create_service(cluster=CLUSTER, serviceName=SERVICE, taskDefinition=arn, desiredCount=2)
    client("cloudwatch", aws).put_metric_alarm(
        AlarmName="gamepulse-production-5xx",
        MetricName="HTTPCode_Target_5XX_Count",
        Namespace="AWS/ApplicationELB",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )
    return arn


def _manifest(version: str) -> dict[str, Any]:
    from tests.integration.test_promote import MANIFEST

    config = {**MANIFEST["config"], "size": 1000 + len(version), "digest": "sha256:" + "4" * 64}
    return {**MANIFEST, "config": config}


def metric_sums(aws: MotoServer) -> dict[str, float]:
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    sums = {}
    for name in ("DeploySuccess", "DeployFailure", "DeployRollback"):
        points = client("cloudwatch", aws).get_metric_statistics(
            Namespace="Shipyard",
            MetricName=name,
            Statistics=["Sum"],
            Period=3600,
            StartTime=now - dt.timedelta(hours=1),
            EndTime=now + dt.timedelta(minutes=5),
            Dimensions=[
                {"Name": "Environment", "Value": "production"},
                {"Name": "Service", "Value": SERVICE},
            ],
        )["Datapoints"]
        sums[name] = sum(p["Sum"] for p in points)
    return sums


def tags_of(aws: MotoServer, arn: str) -> dict[str, str]:
    listed = client("ecs", aws).list_tags_for_resource(resourceArn=arn)["tags"]
    return {t["key"]: t["value"] for t in listed}


@pytest.mark.parametrize("broken", ["5xx", "wrong version"])
def test_promote_that_fails_verification_rolls_production_back_to_the_previous_revision(
    project: Project,
    aws: MotoServer,
    monkeypatch: pytest.MonkeyPatch,
    broken_production: tuple[str, dict[str, Any]],
    broken: str,
) -> None:
    url, answers = broken_production
    if broken == "5xx":
        answers["health"] = 503  # the new release falls over
        answers["version"] = RELEASE
    # else: /version still answers 1.4.0: the release is not what serves
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "2")  # deployments complete (2 of 2 run)
    digest = live_in_staging(project, aws)
    previous = production_on(project, aws)
    staging = ctx_for(project, "staging")
    production = ctx_for(
        project,
        "production",
        **{
            "verify.url": url,
            "verify.retries": 0,
            "verify.warmup_seconds": 0,
            "verify.backoff_seconds": 0,
        },
    )
    result = PromoteResult("staging", "production")

    with ecs_rollouts_complete(), pytest.raises(RolledBack) as err:
        run(staging, production, PromoteOptions("staging", "production", RELEASE), result)

    # the exit path: a rollback, exit 1, saying what failed and what serves again
    assert err.value.exit_code == 1
    message = err.value.message
    assert message.startswith(f"deploy of {RELEASE} failed: verify failed")
    assert ("HTTP 503" if broken == "5xx" else f"lacks '{RELEASE}'") in message
    assert f"{PREVIOUS} ({previous}) serves again" in message

    # what serves, read from ECS: the previous task definition, its deployment PRIMARY and done
    svc = client("ecs", aws).describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]
    assert svc["taskDefinition"] == previous
    (primary,) = [d for d in svc["deployments"] if d["status"] == "PRIMARY"]
    assert (primary["taskDefinition"], primary["rolloutState"]) == (previous, "COMPLETED")
    revisions = client("ecs", aws).list_task_definitions(familyPrefix=SERVICE)["taskDefinitionArns"]
    new = next(a for a in revisions if a != previous)

    # the records: the promoted revision carries the staging digest and its rollback; the
    # previous one is still the good release it was
    recorded = tags_of(aws, new)
    assert recorded["shipyard:outcome"] == "rolled_back"
    assert recorded["shipyard:digest"] == digest
    assert recorded["shipyard:version"] == RELEASE
    assert tags_of(aws, previous)["shipyard:outcome"] == "succeeded"
    report = EcsTarget(production).status()
    assert report.observed["release_id"] == previous
    assert report.observed["version"] == PREVIOUS
    assert report.mismatch == ""

    # and so do the deploy metrics: one failure, one rollback, no success
    assert metric_sums(aws) == {"DeploySuccess": 0, "DeployFailure": 1, "DeployRollback": 1}

    # the pipeline's result says the same, step by step
    assert result.outcome == "rolled_back"
    data = result.as_dict()
    assert data["serving"]["release_id"] == previous
    assert data["serving"]["version"] == PREVIOUS
    outcomes = {s["name"]: s["outcome"] for s in data["steps"]}
    assert outcomes == {"locate": "ok", "tag": "ok", "deploy": "failed", "verify": "not run"}
    assert answers["hits"] >= 1  # the gate asked the environment itself

    # the deploy lock was given back: the next promote may take it
    items = client("dynamodb", aws).scan(TableName=production.config.lock.table)["Items"]
    assert items == []
