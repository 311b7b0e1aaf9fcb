"""Botocore Stubber helpers for the ECS targets' tests (test_ecs_stubber.py, test_ecs_rollout*.py,
test_ecs_watch_outcomes.py, test_ecs_bluegreen_*.py, and the Stubber side of test_ecs_run.py and
test_ecs_exec.py): fake credentials, a fake clock, the environment URL as a real HTTP server on
127.0.0.1, ECS service and deployment shapes, and Stubs, the stubbers of every client a rollout
uses, with what the calls asked for."""

from __future__ import annotations

import datetime as dt
import io
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from shipyard.adapters.http import get
from shipyard.config import load_config
from shipyard.console import Console
from shipyard.context import Context
from shipyard.rollout import api
from shipyard.targets.base import Artifact, DeployOptions, DeployResult
from shipyard.targets.ecs import EcsTarget

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
REGION = "ap-northeast-2"
DIGEST = "sha256:" + "ab" * 32
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/gamepulse@{DIGEST}"
ARTIFACT = Artifact("1.2.0", IMAGE, DIGEST, "c0ffee" * 6 + "c0ff")
CLUSTER = "gamepulse-cluster"
FAMILY = "gamepulse-staging"


def arn(family: str, rev: int) -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{family}:{rev}"


OLD = arn(FAMILY, 4)
NEW = arn(FAMILY, 5)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps = 0
        self.waits: list[float] = []  # what each sleep was asked for

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.waits.append(seconds)
        self.now += max(seconds, 0.001)


class Interrupting(FakeClock):
    """A clock whose `sleep` raises KeyboardInterrupt (Ctrl-C) on its `at`-th call, once."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        if self.sleeps == self.at:
            raise KeyboardInterrupt


# -- the environment URL: a real HTTP server --------------------------------------------------
class App(BaseHTTPRequestHandler):
    """/health answers `health` (status), /version answers `version` (body)."""

    health = 200
    version = "1.2.0"

    def do_GET(self) -> None:
        if self.path.startswith("/health"):
            status, body = self.health, "ok"
        else:
            status, body = 200, f"gamepulse {self.version}"
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        return


@dataclass
class Site:
    url: str
    app: type[App]


@pytest.fixture
def site() -> Iterator[Site]:
    handler = type("Handler", (App,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield Site(f"http://127.0.0.1:{server.server_address[1]}", handler)
    server.shutdown()
    server.server_close()


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def make_ctx(tmp_path: Path, env: str, url: str, **overrides: Any) -> tuple[Context, io.StringIO]:
    root = tmp_path / "proj"
    shutil.copytree(REPO / "deploy", root / "deploy")
    (root / "version.txt").write_text("1.2.0\n")
    settings = {
        "verify.url": url,
        "verify.warmup_seconds": 0,
        "verify.retries": 0,
        "verify.backoff_seconds": 0,
        **overrides,
    }
    config = load_config(env, root=root, overrides=settings, environ={})
    out = io.StringIO()
    return Context(config=config, root=root, console=Console(out=out, err=out), environ={}), out


# -- ECS shapes -------------------------------------------------------------------------------
def service(
    deployments: list[dict[str, Any]],
    events: list[dict[str, Any]] | None = None,
    *,
    name: str = FAMILY,
) -> dict[str, Any]:
    primary = [d["taskDefinition"] for d in deployments if d["status"] == "PRIMARY"]
    return {
        "serviceName": name,
        "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}",
        "status": "ACTIVE",
        "desiredCount": 2,
        "runningCount": 2,
        "taskDefinition": primary[0] if primary else OLD,
        "deployments": deployments,
        "events": events or [],
    }


def dep(
    dep_id: str,
    status: str,
    taskdef: str,
    state: str,
    running: int = 0,
    failed: int = 0,
    reason: str = "",
    minute: int = 0,
) -> dict[str, Any]:
    return {
        "id": dep_id,
        "status": status,
        "taskDefinition": taskdef,
        "rolloutState": state,
        "desiredCount": 2,
        "runningCount": running,
        "pendingCount": 2 - running,
        "failedTasks": failed,
        "rolloutStateReason": reason or f"ECS deployment {dep_id} {state.lower()}.",
        "createdAt": dt.datetime(2026, 1, 1, 0, minute, tzinfo=dt.UTC),
    }


def event(n: int, text: str) -> dict[str, Any]:
    return {
        "id": f"ev-{n}",
        "createdAt": dt.datetime(2026, 1, 1, 0, n, tzinfo=dt.UTC),
        "message": text,
    }


def steady(taskdef: str = OLD, dep_id: str = "ecs-svc/old") -> dict[str, Any]:
    return service([dep(dep_id, "PRIMARY", taskdef, "COMPLETED", 2)], [event(1, "steady")])


def rolling(new: str = NEW, old: str = OLD, running: int = 0, **kw: Any) -> dict[str, Any]:
    return service(
        [
            dep("ecs-svc/new", "PRIMARY", new, "IN_PROGRESS", running, minute=5, **kw),
            dep("ecs-svc/old", "ACTIVE", old, "COMPLETED", 2),
        ]
    )


class Stubs:
    """Stubbers for every client a rollout uses, and what the calls asked for."""

    NAMES = ("ecs", "ecr", "cloudwatch", "logs", "codedeploy", "dynamodb")

    def __init__(self, ctx: Context) -> None:
        clients = {n: ctx.aws.client(n) for n in self.NAMES}
        self.stubbers = {n: Stubber(c) for n, c in clients.items()}
        self.updates: list[str] = []
        self.tagged: list[tuple[str, dict[str, str]]] = []
        self.created: list[dict[str, Any]] = []
        self.stops: list[str] = []
        events = clients["ecs"].meta.events
        events.register(
            "provide-client-params.ecs.UpdateService",
            lambda params, **_: self.updates.append(params["taskDefinition"]),
        )
        events.register(
            "provide-client-params.ecs.TagResource",
            lambda params, **_: self.tagged.append(
                (params["resourceArn"], {t["key"]: t["value"] for t in params["tags"]})
            ),
        )
        cd = clients["codedeploy"].meta.events
        cd.register(
            "provide-client-params.codedeploy.CreateDeployment",
            lambda params, **_: self.created.append(dict(params)),
        )
        cd.register(
            "provide-client-params.codedeploy.StopDeployment",
            lambda params, **_: self.stops.append(params["deploymentId"]),
        )

    def __enter__(self) -> Stubs:
        for s in self.stubbers.values():
            s.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        for s in self.stubbers.values():
            s.deactivate()

    def done(self) -> None:
        for s in self.stubbers.values():
            s.assert_no_pending_responses()

    @property
    def ecs(self) -> Stubber:
        return self.stubbers["ecs"]

    @property
    def cd(self) -> Stubber:
        return self.stubbers["codedeploy"]

    @property
    def cw(self) -> Stubber:
        return self.stubbers["cloudwatch"]

    def outcomes(self, taskdef: str) -> list[str]:
        return [t["shipyard:outcome"] for a, t in self.tagged if a == taskdef]

    # -- calls -----------------------------------------------------------------------------
    def lock(self) -> None:
        """The DynamoDB deploy lock: taken, then given back (its own call order)."""
        self.stubbers["dynamodb"].add_response("put_item", {}, None)
        self.stubbers["dynamodb"].add_response("delete_item", {}, None)

    def describe(self, svc: dict[str, Any]) -> None:
        self.ecs.add_response(
            "describe_services",
            {"services": [svc]},
            {"cluster": CLUSTER, "services": [svc["serviceName"]]},
        )

    def tags(self, taskdef: str, **tags: str) -> None:
        listed = [{"key": f"shipyard:{k}", "value": v} for k, v in tags.items()]
        self.ecs.add_response("list_tags_for_resource", {"tags": listed}, {"resourceArn": taskdef})

    def revisions(self, family: str, *arns: str) -> None:
        self.ecs.add_response(
            "list_task_definitions",
            {"taskDefinitionArns": list(arns)},
            {"familyPrefix": family, "status": "ACTIVE", "sort": "DESC"},
        )

    def settled(self, svc: dict[str, Any], serving: str, version: str = "1.1.0") -> None:
        """observe + reconcile before a rollout: nothing newer than what serves."""
        self.describe(svc)
        self.tags(serving, version=version, outcome="succeeded")
        self.revisions(serving.rsplit("/", 1)[1].rsplit(":", 1)[0], serving)

    def image(self) -> None:
        self.stubbers["ecr"].add_response(
            "describe_images",
            {"imageDetails": [{"registryId": ACCOUNT, "imageDigest": DIGEST}]},
            {
                "repositoryName": "gamepulse",
                "imageIds": [{"imageDigest": DIGEST}],
                "registryId": ACCOUNT,
            },
        )

    def register(self, taskdef: str) -> None:
        family, rev = taskdef.rsplit("/", 1)[1].rsplit(":", 1)
        self.ecs.add_response(
            "register_task_definition",
            {
                "taskDefinition": {
                    "taskDefinitionArn": taskdef,
                    "family": family,
                    "revision": int(rev),
                }
            },
            None,
        )

    def tag(self, taskdef: str) -> None:
        self.ecs.add_response("tag_resource", {}, {"resourceArn": taskdef, "tags": ANY})

    def update(self, taskdef: str, svc: dict[str, Any], *, breaker: bool = True) -> None:
        params: dict[str, Any] = {"cluster": CLUSTER, "service": FAMILY, "taskDefinition": taskdef}
        if breaker:
            params["deploymentConfiguration"] = {
                "deploymentCircuitBreaker": {"enable": True, "rollback": True}
            }
        self.ecs.add_response("update_service", {"service": svc}, params)

    def metrics(self) -> None:
        self.cw.add_response("put_metric_data", {}, {"Namespace": "Shipyard", "MetricData": ANY})

    def no_stopped_tasks(self) -> None:
        self.ecs.add_response(
            "list_tasks",
            {"taskArns": []},
            {"cluster": CLUSTER, "serviceName": FAMILY, "desiredStatus": "STOPPED"},
        )

    def start(self, old: str = OLD, new: str = NEW) -> None:
        """Lock, observe, reconcile, pre-flight, register `new`, record shifting, update."""
        self.lock()
        self.settled(steady(old), old)
        self.image()
        self.register(new)
        self.tag(new)  # shifting
        self.update(new, rolling(new, old))


def rolling_target(ctx: Context, clock: FakeClock) -> EcsTarget:
    return EcsTarget(ctx, clock=clock, sleep=clock.sleep)


def deploy(ctx: Context, clock: FakeClock, target: EcsTarget, **opts: Any) -> DeployResult:
    return api.deploy(
        ctx,
        ARTIFACT,
        DeployOptions(**opts),
        target=target,
        fetch=get,
        clock=clock,
        sleep=clock.sleep,
    )


# -- the way back: undo's update to :4 and the end of a rollout ---------------------------------
BACK = service(
    [
        dep("ecs-svc/back", "PRIMARY", OLD, "IN_PROGRESS", 0, minute=9),
        dep("ecs-svc/new", "ACTIVE", NEW, "COMPLETED", 2, minute=5),
    ]
)
BACK_DONE = service([dep("ecs-svc/back", "PRIMARY", OLD, "COMPLETED", 2, minute=9)])
DONE = service([dep("ecs-svc/new", "PRIMARY", NEW, "COMPLETED", 2, minute=5)])


def revert(stubs: Stubs, before: dict[str, Any]) -> None:
    """undo: observe `before` (ours PRIMARY), update back to :4, watch it COMPLETE."""
    stubs.describe(before)
    stubs.update(OLD, BACK, breaker=False)
    stubs.describe(BACK_DONE)


def ended(stubs: Stubs, after: dict[str, Any]) -> None:
    """Observed at the end, then the outcome tag and the metrics."""
    stubs.describe(after)
    stubs.tag(NEW)
    stubs.metrics()
