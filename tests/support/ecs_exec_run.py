"""The ECS side of inv exec and inv run as the tests drive it (test_ecs_run.py, test_ecs_exec.py):
a context on this repository's deploy config, the task definition it renders, and Stubs, botocore
Stubbers of the ECS and CloudWatch Logs clients that answer for the live service, its task and
the task's log stream."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

from botocore.stub import Stubber

from shipyard.config import load_config
from shipyard.console import Console
from shipyard.context import Context

REPO = Path(__file__).resolve().parents[2]
REGION = "ap-northeast-2"
ACCOUNT = "123456789012"
CLUSTER = "gamepulse-cluster"
SERVICE = "gamepulse-staging"
LIVE = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/gamepulse-staging:7"
TASK = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/0123456789abcdef0123456789abcdef"
NETWORK = {
    "awsvpcConfiguration": {
        "subnets": ["subnet-0aa"],
        "securityGroups": ["sg-0bb"],
        "assignPublicIp": "DISABLED",
    }
}


def make_ctx(tmp_path: Path, env: str = "staging", **environ: str) -> tuple[Context, io.StringIO]:
    root = tmp_path / "proj"
    if not root.exists():
        shutil.copytree(REPO / "deploy", root / "deploy")
        (root / "version.txt").write_text("1.1.0\n")
    config = load_config(env, root=root, environ={}, overrides={"aws.account_id": ACCOUNT})
    out = io.StringIO()
    console = Console(out=out, err=out)
    return Context(config=config, root=root, console=console, environ=environ), out


def rendered(ctx: Context) -> dict[str, Any]:
    from shipyard.operations import render

    return render.run(ctx).services[0].task_definition


class Stubs:
    def __init__(self, ctx: Context) -> None:
        self.ecs = Stubber(ctx.aws.client("ecs"))
        self.logs = Stubber(ctx.aws.client("logs"))
        self.ctx = ctx

    def __enter__(self) -> Stubs:
        self.ecs.activate()
        self.logs.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        self.ecs.deactivate()
        self.logs.deactivate()

    def done(self) -> None:
        self.ecs.assert_no_pending_responses()
        self.logs.assert_no_pending_responses()

    def live(self, svc: dict[str, Any]) -> None:
        """describe_services, then the live revision's definition."""
        svc = {"serviceName": SERVICE, "status": "ACTIVE", "taskDefinition": LIVE, **svc}
        self.ecs.add_response(
            "describe_services", {"services": [svc]}, {"cluster": CLUSTER, "services": [SERVICE]}
        )
        doc = {**rendered(self.ctx), "taskDefinitionArn": LIVE, "revision": 7}
        self.ecs.add_response(
            "describe_task_definition",
            {"taskDefinition": doc, "tags": []},
            {"taskDefinition": LIVE, "include": ["TAGS"]},
        )

    def described(self, **task: Any) -> None:
        body = {"taskArn": TASK, "taskDefinitionArn": LIVE, "group": f"service:{SERVICE}", **task}
        self.ecs.add_response(
            "describe_tasks", {"tasks": [body]}, {"cluster": CLUSTER, "tasks": [TASK]}
        )

    def log(self, *messages: str, after: str | None = None, then: str = "f/1") -> None:
        """One read of the task's stream from `after`: its events, then the same token back
        (the end of the stream)."""
        stream = f"gamepulse/gamepulse/{TASK.rsplit('/', 1)[-1]}"
        where = {
            "logGroupName": "/ecs/gamepulse-staging",
            "logStreamName": stream,
            "startFromHead": True,
        }
        events = [
            {"timestamp": 1_700_000_000_000 + i, "message": m} for i, m in enumerate(messages)
        ]
        first = {**where, "nextToken": after} if after else where
        self.logs.add_response(
            "get_log_events", {"events": events, "nextForwardToken": then}, first
        )
        self.logs.add_response(
            "get_log_events", {"events": [], "nextForwardToken": then}, {**where, "nextToken": then}
        )


FARGATE_SERVICE = {
    "launchType": "FARGATE",
    "platformVersion": "1.4.0",
    "networkConfiguration": NETWORK,
    "deployments": [],
}
