"""ECS: `inv deploy --env staging` against fabfuel's `ecs deploy`, both as typed, on moto.

Both CLIs run as subprocesses against one moto server served from this process, so the
roll-forward shim (tests/support/moto_rollforward.py: update_service starts a deployment that
completes, as ECS does) applies to both; a WSGI middleware in front of moto counts every AWS
request each run makes. Each round deploys a new image to a fresh service per tool (same task
definition, same desired count), in alternating order. Targets: shipyard's median wall time
<= 1.0x ecs-deploy's, and no more AWS calls, or (as issue 16 allows) the table names each call
shipyard makes that ecs-deploy does not with the feature it buys: an extra call that buys no
named feature misses the target.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.moto_rollforward import ecs_rollouts_complete, push_image

from benchmarks._harness import BIN, INV, Row, Sample, alternate, project, row, run

REGION = "ap-northeast-2"
ACCOUNT = "123456789012"
DESIRED = 2
CLUSTER = "gamepulse-cluster"


# -- moto, counted ---------------------------------------------------------------------------
class CountingMoto:
    """moto's WSGI app in a thread, behind a middleware counting API calls by operation."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()
        self._server: Any = None

    def _operation(self, environ: dict[str, Any]) -> str:
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            return str(target).rsplit(".", 1)[-1]
        path = str(environ.get("PATH_INFO", ""))
        if "/operation/" in path:  # smithy rpc-v2-cbor
            return path.rsplit("/", 1)[-1]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        from urllib.parse import parse_qs

        action = parse_qs(body.decode("utf-8", "replace")).get("Action") or parse_qs(
            str(environ.get("QUERY_STRING", ""))
        ).get("Action")
        return action[0] if action else f"{environ.get('REQUEST_METHOD')} {path}"

    def start(self) -> str:
        from moto.moto_server.threaded_moto_server import MotoRequestHandler
        from moto.server import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        app = DomainDispatcherApplication(create_backend_app)

        def counted(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            if not str(environ.get("PATH_INFO", "")).startswith("/moto-api"):
                op = self._operation(environ)
                with self.lock:
                    self.calls[op] += 1
            return app(environ, start_response)

        class Quiet(MotoRequestHandler):  # type: ignore[misc]
            def log_request(self, *args: Any) -> None:  # noqa: ARG002
                return

        self._server = make_server("127.0.0.1", 0, counted, True, request_handler=Quiet)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()

    def take(self) -> Counter[str]:
        with self.lock:
            taken, self.calls = self.calls, Counter()
        return taken


# -- the environment both tools deploy to ------------------------------------------------------
class Health(BaseHTTPRequestHandler):
    version = "0.0.0"

    def do_GET(self) -> None:
        body = b"ok\n" if self.path.startswith("/health") else f"{self.version}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:  # noqa: ARG002
        return


def prepare(endpoint: str, services: list[str]) -> str:
    """Cluster, ECR images 1.0.0 and 1.1.0, one service per name on a revision running 1.0.0,
    the lock table; returns the image to deploy (by digest). Not counted."""
    import boto3

    session = boto3.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's fake credentials
        region_name=REGION,
    )
    ecs = session.client("ecs", endpoint_url=endpoint)
    ecr = session.client("ecr", endpoint_url=endpoint)
    ecs.create_cluster(clusterName=CLUSTER)
    ecr.create_repository(repositoryName="gamepulse")
    old = push_image(ecr, "gamepulse", "1.0.0")
    new = push_image(ecr, "gamepulse", "1.1.0")
    server = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/gamepulse"
    for name in services:
        arn = ecs.register_task_definition(
            family=f"bench-{name}",
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="512",
            memory="1024",
            containerDefinitions=[
                {
                    "name": "gamepulse",
                    "image": f"{server}@{old}",
                    "essential": True,
                    "portMappings": [{"containerPort": 8080}],
                }
            ],
        )["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(
            cluster=CLUSTER,
            serviceName=name,
            taskDefinition=arn,
            desiredCount=DESIRED,
            launchType="FARGATE",
        )
    session.client("dynamodb", endpoint_url=endpoint).create_table(
        TableName="shipyard-locks",
        AttributeDefinitions=[{"AttributeName": "lock_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "lock_id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return f"{server}@{new}"


def staging_project(base: Path, service: str, verify_url: str) -> tuple[Path, dict[str, str]]:
    """The sample at version 1.1.0 whose staging environment names `service` and `verify_url`."""
    base.mkdir(parents=True)
    (base / "seed").mkdir()
    path, env = project(base / "seed")
    (path / "version.txt").write_text("1.1.0\n")
    staging = path / "deploy" / "environments" / "staging.toml"
    staging.write_text(
        staging.read_text()
        .replace('name = "gamepulse-staging"', f'name = "{service}"')
        .replace("https://staging.gamepulse.example.com", verify_url)
        .replace("warmup_seconds = 30", "warmup_seconds = 0")
    )
    (path / "deploy" / "taskdef" / "staging.json").write_text(
        json.dumps({"family": f"bench-{service}", "cpu": "512", "memory": "1024"})
    )
    run(["git", "commit", "-qam", "staging for the benchmark"], path, env)
    return path, env


def aws_env(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing-secret-key-value",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCOUNT_ID": ACCOUNT,
    }


def by_operation(calls: list[Counter[str]]) -> Counter[str]:
    """The operations of the run with the most calls (the first one takes extra look-ups)."""
    return max(calls, key=lambda c: sum(c.values())) if calls else Counter()


# The feature each call buys that ecs-deploy does not make (see docs/benchmarks.md).
WHY: dict[str, str] = {
    "BatchGetImage": "version -> digest",
    "DescribeImages": "version -> digest",
    "GetItem": "deploy lock",
    "PutItem": "deploy lock",
    "DeleteItem": "deploy lock",
    "UpdateItem": "deploy lock",
    "ListTaskDefinitions": "reconcile: revisions an interrupted run left",
    "ListTagsForResource": "release record of the serving revision",
    "TagResource": "release record: outcome, and the revision left",
    "PutMetricData": "deploy metrics",
    "ListServices": "service check",
}


def call_notes(ours: Counter[str], theirs: Counter[str]) -> str:
    """Each call shipyard makes beyond ecs-deploy's, with the feature it buys ('?': none)."""
    extra = ours - theirs
    return "; ".join(f"+{n} {op} ({WHY.get(op, '?')})" for op, n in sorted(extra.items()))


def calls_accounted(ours: Counter[str], theirs: Counter[str]) -> bool:
    """The issue's calls target, where shipyard makes more calls: every extra operation
    buys a feature named in WHY."""
    return all(op in WHY for op in ours - theirs)


def rows() -> list[Row]:
    moto = CountingMoto()
    endpoint = moto.start()
    health = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    Health.version = "1.1.0"
    threading.Thread(target=health.serve_forever, daemon=True).start()
    verify_url = f"http://127.0.0.1:{health.server_address[1]}"
    saved = os.environ.get("MOTO_ECS_SERVICE_RUNNING")
    os.environ["MOTO_ECS_SERVICE_RUNNING"] = str(DESIRED)  # read by the shim, in this process
    try:
        with tempfile.TemporaryDirectory(prefix="shipyard-bench-ecs-") as tmp:
            return [measure(moto, endpoint, verify_url, Path(tmp))]
    finally:
        if saved is None:
            os.environ.pop("MOTO_ECS_SERVICE_RUNNING", None)
        else:
            os.environ["MOTO_ECS_SERVICE_RUNNING"] = saved
        health.shutdown()
        moto.stop()


def measure(moto: CountingMoto, endpoint: str, verify_url: str, tmp: Path) -> Row:
    from benchmarks._harness import ROUNDS

    ours_names = [f"bench-shipyard-{i}" for i in range(ROUNDS)]
    theirs_names = [f"bench-ecsdeploy-{i}" for i in range(ROUNDS)]
    image = prepare(endpoint, [*ours_names, *theirs_names])
    projects = [staging_project(tmp / n, n, verify_url) for n in ours_names]
    aws = aws_env(endpoint)
    ours_calls: list[Counter[str]] = []
    theirs_calls: list[Counter[str]] = []

    def counted(argv: list[str], cwd: Path, env: dict[str, str], into: list[Counter[str]]) -> int:
        moto.take()
        run(argv, cwd, env)
        into.append(moto.take())
        return sum(into[-1].values())

    def shipyard(i: int) -> int:
        path, env = projects[i]
        return counted([INV, "deploy", "--env", "staging"], path, {**env, **aws}, ours_calls)

    def ecs_deploy(i: int) -> int:
        path, env = projects[i]
        argv = [str(BIN / "ecs"), "deploy", CLUSTER, theirs_names[i], "--image", "gamepulse",
                image, "--region", REGION, "--timeout", "60"]  # fmt: skip
        return counted(argv, path, {**env, **aws}, theirs_calls)

    # Each round's project names a fresh service, so its configuration is new: validated once
    # beforehand (untimed), as the build and push before a user's deploy do.
    for path, env in projects:
        run([INV, "version", "--env", "staging"], path, {**env, **aws})
    with ecs_rollouts_complete():
        samples: tuple[Sample, Sample] = alternate(shipyard, ecs_deploy)
    ours_ops, theirs_ops = by_operation(ours_calls), by_operation(theirs_calls)
    calls = (
        f"{median_int(samples[0].extra)} (max {max(samples[0].extra)}) vs "
        f"{median_int(samples[1].extra)} (max {max(samples[1].extra)})"
    )
    notes = call_notes(ours_ops, theirs_ops)
    fewer_calls = max(samples[0].extra) <= max(samples[1].extra)
    accounted = fewer_calls or calls_accounted(ours_ops, theirs_ops)
    if not fewer_calls:
        notes += "; more calls than ecs-deploy, " + (
            "each buying the feature named" if accounted else "SOME NAMING NO FEATURE"
        )
    answer = row(
        "ECS rolling deploy (moto, roll-forward shim)",
        ("inv deploy --env staging", f"ecs deploy {CLUSTER} SERVICE --image gamepulse IMAGE"),
        samples,
        1.0,
        calls=calls,
        notes=notes.strip("; "),
    )
    answer.operations = {"shipyard": dict(ours_ops), "ecs-deploy": dict(theirs_ops)}
    answer.calls_met = accounted
    return answer


def median_int(values: list[int]) -> int:
    return sorted(values)[len(values) // 2]
