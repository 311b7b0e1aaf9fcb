"""ECS rollout and CodeDeploy lifecycle sequences that moto cannot produce, fed through botocore's
Stubber (every request and response is checked against the AWS service model), driven through
the rollout engine (shipyard.rollout.api) as every caller drives it. Clocks and sleeps are
injected, so the timeout cases take no time; verify talks HTTP to a real server on 127.0.0.1.

The helpers here (Stubs, service/dep builders, the App server) are shared with
test_ecs_rollout*.py."""

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
from shipyard.errors import DeployFailed, RolledBack, StateUnknown
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

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
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


# -- the rolling target -----------------------------------------------------------------------
def test_in_progress_then_completed_is_success_and_shows_new_events(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, out = make_ctx(tmp_path, "staging", site.url)
    clock = FakeClock()
    with Stubs(ctx) as stubs:
        stubs.start()
        stubs.describe(
            service(
                [
                    dep("ecs-svc/new", "PRIMARY", NEW, "IN_PROGRESS", 1, minute=5),
                    dep("ecs-svc/old", "ACTIVE", OLD, "COMPLETED", 2),
                ],
                [event(2, "has started 1 tasks"), event(1, "steady")],
            )
        )
        done = service(
            [dep("ecs-svc/new", "PRIMARY", NEW, "COMPLETED", 2)],
            [
                event(3, "has reached a steady state"),
                event(2, "has started 1 tasks"),
                event(1, "steady"),
            ],
        )
        stubs.describe(done)
        stubs.describe(done)  # observed at the end
        stubs.tag(NEW)  # succeeded
        stubs.metrics()
        result = deploy(ctx, clock, rolling_target(ctx, clock))
        stubs.done()
    assert result.outcome == "succeeded"
    assert result.release_id == NEW
    assert result.serving["release_id"] == NEW
    assert result.details["services"][FAMILY]["deployment"] == "ecs-svc/new"
    assert stubs.outcomes(NEW) == ["shifting", "succeeded"]
    assert stubs.updates == [NEW]
    text = out.getvalue()
    assert "IN_PROGRESS running 1/2" in text
    assert "has started 1 tasks" in text
    assert "has reached a steady state" in text
    assert "event: steady" not in text  # events from before the deploy are not replayed
    assert text.index("has started 1 tasks") < text.index("has reached a steady state")


def test_failed_with_circuit_breaker_rollback_is_rolled_back_with_task_reasons(
    tmp_path: Path, creds: None, site: Site
) -> None:
    """ECS's circuit breaker returned the service to :4 itself: undo watches that rollback to
    its end and changes nothing (no update_service back)."""
    ctx, out = make_ctx(tmp_path, "staging", site.url)
    clock = FakeClock()
    task_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/0123abcd"
    stopped = {
        "tasks": [
            {
                "taskArn": task_arn,
                "taskDefinitionArn": NEW,
                "lastStatus": "STOPPED",
                "stoppedReason": "Essential container in task exited",
                "containers": [{"name": "gamepulse", "exitCode": 1}],
            }
        ]
    }
    with Stubs(ctx) as stubs:
        stubs.start()
        stubs.describe(rolling(failed=1))

        def stopped_tasks(with_log: bool) -> None:
            stubs.ecs.add_response(
                "list_tasks",
                {"taskArns": [task_arn]},
                {"cluster": CLUSTER, "serviceName": FAMILY, "desiredStatus": "STOPPED"},
            )
            stubs.ecs.add_response(
                "describe_tasks", stopped, {"cluster": CLUSTER, "tasks": [task_arn]}
            )
            if with_log:
                stubs.stubbers["logs"].add_response(
                    "get_log_events",
                    {"events": [{"timestamp": 1, "message": "panic: DB_PASSWORD rejected"}]},
                    {
                        "logGroupName": "/ecs/gamepulse-staging",
                        "logStreamName": "gamepulse/gamepulse/0123abcd",
                        "limit": 20,
                        "startFromHead": False,
                    },
                )

        stopped_tasks(with_log=True)  # failures appeared: reasons and log tail
        # the circuit breaker gave up: our deployment FAILED and ECS rolls back to :4, while
        # the service still looks "stable" (2/2 running)
        breaker = service(
            [
                dep("ecs-svc/rollback", "PRIMARY", OLD, "IN_PROGRESS", 2, minute=9),
                dep(
                    "ecs-svc/new",
                    "ACTIVE",
                    NEW,
                    "FAILED",
                    0,
                    failed=3,
                    reason="ECS deployment circuit breaker: tasks failed to start.",
                ),
            ]
        )
        stubs.describe(breaker)
        stopped_tasks(with_log=False)  # looked at again, nothing new to print
        stubs.describe(breaker)  # undo observes: ECS is already returning to :4
        back = service([dep("ecs-svc/rollback", "PRIMARY", OLD, "COMPLETED", 2)])
        stubs.describe(back)  # ...and is watched until that COMPLETED
        stubs.describe(back)  # observed at the end
        stubs.tag(NEW)
        stubs.metrics()
        with pytest.raises(RolledBack) as err:
            deploy(ctx, clock, rolling_target(ctx, clock))
        stubs.done()
    assert err.value.exit_code == 1
    assert "circuit breaker" in err.value.message
    assert "gamepulse-staging:4" in err.value.message
    assert "serves again" in err.value.message
    assert stubs.updates == [NEW]  # nothing of ours was needed to return
    assert stubs.outcomes(NEW) == ["shifting", "rolled_back"]
    text = out.getvalue()
    assert "Essential container in task exited" in text
    assert "panic: DB_PASSWORD rejected" in text


def test_deployment_disappearing_is_failure_even_though_the_service_is_stable(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, _ = make_ctx(tmp_path, "staging", site.url)
    clock = FakeClock()
    with Stubs(ctx) as stubs:
        stubs.start()
        gone = service([dep("ecs-svc/rollback", "PRIMARY", OLD, "COMPLETED", 2)])
        stubs.describe(gone)  # watch: ecs-svc/new is not listed any more
        stubs.describe(gone)  # undo observes: :4 is PRIMARY and COMPLETED, nothing to do
        stubs.describe(gone)  # observed at the end
        stubs.tag(NEW)
        stubs.metrics()
        with pytest.raises(DeployFailed) as err:
            deploy(ctx, clock, rolling_target(ctx, clock))
        stubs.done()
    assert "ecs-svc/new disappeared" in err.value.message
    assert err.value.exit_code == 1
    assert stubs.updates == [NEW]


def test_stuck_rollout_times_out_and_is_rolled_back_and_watched(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, _ = make_ctx(
        tmp_path, "staging", site.url, **{"target.timeout_seconds": 30, "target.poll_seconds": 5}
    )
    clock = FakeClock()
    with Stubs(ctx) as stubs:
        stubs.start()
        for _ in range(7):  # t = 0, 5, ... 30 s
            stubs.describe(rolling(running=1))
        stubs.describe(rolling(running=1))  # undo observes: ours is PRIMARY
        stubs.update(
            OLD,
            service(
                [
                    dep("ecs-svc/back", "PRIMARY", OLD, "IN_PROGRESS", 0, minute=9),
                    dep("ecs-svc/new", "ACTIVE", NEW, "IN_PROGRESS", 1),
                ]
            ),
            breaker=False,
        )
        back = service([dep("ecs-svc/back", "PRIMARY", OLD, "COMPLETED", 2)])
        stubs.describe(back)
        stubs.describe(back)
        stubs.tag(NEW)
        stubs.metrics()
        with pytest.raises(RolledBack) as err:
            deploy(ctx, clock, rolling_target(ctx, clock))
        stubs.done()
    assert "still IN_PROGRESS after 30" in err.value.message
    assert "serves again" in err.value.message
    assert stubs.updates == [NEW, OLD]
    assert stubs.outcomes(NEW) == ["shifting", "rolled_back"]


def test_stuck_rollout_whose_rollback_is_stuck_too_is_unknown_exit_3(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, _ = make_ctx(
        tmp_path, "staging", site.url, **{"target.timeout_seconds": 10, "target.poll_seconds": 5}
    )
    clock = FakeClock()
    both = service(
        [
            dep("ecs-svc/back", "PRIMARY", OLD, "IN_PROGRESS", 1, minute=9),
            dep("ecs-svc/new", "ACTIVE", NEW, "IN_PROGRESS", 1),
        ]
    )
    with Stubs(ctx) as stubs:
        stubs.start()
        for _ in range(3):  # t = 0, 5, 10
            stubs.describe(rolling(running=1))
        stubs.describe(rolling(running=1))
        stubs.update(OLD, both, breaker=False)
        for _ in range(3):
            stubs.describe(both)
        stubs.describe(both)  # observed: two unfinished rollouts, nothing to tell
        stubs.tag(NEW)
        stubs.metrics()
        with pytest.raises(StateUnknown) as err:
            deploy(ctx, clock, rolling_target(ctx, clock))
        stubs.done()
    assert err.value.exit_code == 3
    assert "cannot be told" in err.value.message
    assert stubs.outcomes(NEW) == ["shifting", "unknown"]
    result = err.value.result
    assert isinstance(result, DeployResult)
    assert result.serving["known"] is False
    assert "ecs-svc/back" in result.serving["continuing"]


def test_no_wait_returns_after_the_update_with_the_deployment_id(
    tmp_path: Path, creds: None, site: Site
) -> None:
    ctx, out = make_ctx(tmp_path, "staging", site.url)
    clock = FakeClock()
    with Stubs(ctx) as stubs:
        stubs.start()
        stubs.describe(rolling())  # observed: ours continues, :4 still carries the traffic
        result = deploy(ctx, clock, rolling_target(ctx, clock), wait=False)
        stubs.done()
    assert result.outcome == "in_progress"
    assert result.details["deployment_id"] == "ecs-svc/new"
    assert "deployment ecs-svc/new of gamepulse-staging continues" in result.message
    assert "inv wait --env staging" in result.message
    assert result.serving["release_id"] == OLD
    assert stubs.outcomes(NEW) == ["shifting"]  # left for `inv wait` to settle
    assert "continues" in out.getvalue()
