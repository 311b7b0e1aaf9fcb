"""moto in server mode set up as the ECS tests need it, and driven through the rollout engine
(shipyard.rollout.api): a cluster, repository and services on a first release deployed by
shipyard, pushed images, a context whose verify gate talks to a real local HTTP server (the
`app` fixture), and readers of what ECS, its tags and CloudWatch hold afterwards.

moto's update_service starts no new deployment (it keeps the old record), so the `rollouts`
fixture uses tests.support.moto_rollforward.ecs_rollouts_complete(), which makes moto do what
ECS does when a rollout completes."""

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
