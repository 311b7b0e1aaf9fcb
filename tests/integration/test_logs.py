"""inv logs. Local: the real CLI against a live release on the real Docker engine (its app
writes to PID 1's stdout, as the service itself would). ECS: CloudWatch Logs on moto in server
mode, written where the awslogs driver writes for the live task definition, for tasks moto
runs (group service:NAME, as ECS gives a service's tasks)."""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from shipyard.config import load_config
from shipyard.console import Console
from shipyard.context import Context
from shipyard.errors import ConfigError, UsageError
from shipyard.operations import logs as op
from tests.conftest import VENV_BIN, MotoServer
from tests.support.live_release import live, log_line
from tests.support.localenv import LocalEnv

__all__ = ["live"]  # the fixture

REPO = Path(__file__).resolve().parents[2]
REGION = "ap-northeast-2"
ACCOUNT = "123456789012"
CLUSTER = "gamepulse-cluster"
SERVICE = "gamepulse-staging"
GROUP = "/ecs/gamepulse-staging"


# -- local: the real engine ---------------------------------------------------------------------
@pytest.mark.docker
@pytest.mark.registry
@pytest.mark.nginx
def test_local_logs_show_the_live_release_s_containers(live: LocalEnv) -> None:
    log_line(live, "hello-from-the-app")
    proc = live.project.inv("logs", "--env", "local", check=True)
    assert "gamepulse | hello-from-the-app" in proc.stdout.splitlines()
    assert "logs of release r" in proc.stderr
    document = json.loads(live.project.inv("logs", "--env", "local", "--json", check=True).stdout)
    line = next(x for x in document["lines"] if x["message"] == "hello-from-the-app")
    assert line["container"] == "gamepulse"
    assert line["timestamp"].endswith("Z")


@pytest.mark.docker
@pytest.mark.registry
@pytest.mark.nginx
def test_local_logs_since_a_time_and_by_container(live: LocalEnv) -> None:
    log_line(live, "before-the-mark")
    time.sleep(1.2)
    mark = dt.datetime.now(dt.UTC).isoformat()
    time.sleep(0.2)
    log_line(live, "after-the-mark")
    shown = live.project.inv("logs", "--env", "local", "--since", mark, check=True).stdout
    assert "after-the-mark" in shown
    assert "before-the-mark" not in shown
    relative = live.project.inv("logs", "--since", "1m", "--container", "gamepulse", check=True)
    assert "before-the-mark" in relative.stdout
    assert "after-the-mark" in relative.stdout


@pytest.mark.docker
@pytest.mark.registry
@pytest.mark.nginx
@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (("--since", "yesterday-ish"), "--since 'yesterday-ish' is neither"),
        (("--container", "nope"), "has no container 'nope' (its containers: gamepulse)"),
        (("--release", "r0"), "release r0 has no containers on this machine"),
        (("--service", "api"), "--service names an ECS service"),
    ],
)
def test_local_logs_refuse_bad_input_in_one_line(
    live: LocalEnv, flags: tuple[str, ...], words: str
) -> None:
    proc = live.project.inv("logs", "--env", "local", *flags)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert words in lines[0]
    assert "Traceback" not in proc.stderr


@pytest.mark.docker
@pytest.mark.registry
@pytest.mark.nginx
def test_local_follow_prints_new_lines_and_ends_on_ctrl_c_with_130(live: LocalEnv) -> None:
    """docker logs -f ends 130 on Ctrl-C, without a word: so does inv logs --follow. With
    --json each line is one JSON object."""
    proc = subprocess.Popen(
        [str(VENV_BIN / "inv"), "logs", "--env", "local", "--follow", "--json", "--since", "1s"],
        cwd=live.project.path,
        env=live.project.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(2.5)  # the follower runs
        log_line(live, "while-following")
        time.sleep(1.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    objects = [json.loads(line) for line in out.splitlines()]
    assert any(o["message"] == "while-following" for o in objects)
    assert "Traceback" not in err
    assert "error" not in err
    left = subprocess.run(["pgrep", "-f", "docker container logs"], capture_output=True, text=True)
    assert str(live.project.repository) not in left.stdout


# -- ECS: CloudWatch Logs on moto -----------------------------------------------------------------
def _client(name: str, aws: MotoServer) -> Any:
    return boto3.client(name, endpoint_url=aws.endpoint, region_name=REGION)


def _ctx(tmp_path: Path) -> tuple[Context, io.StringIO]:
    root = tmp_path / "proj"
    if not root.exists():
        shutil.copytree(REPO / "deploy", root / "deploy")
        (root / "version.txt").write_text("1.1.0\n")
    config = load_config("staging", root=root, environ={}, overrides={"aws.account_id": ACCOUNT})
    out = io.StringIO()
    return Context(config=config, root=root, console=Console(out=out, err=out), environ={}), out


def live_taskdef(ctx: Context) -> dict[str, Any]:
    """The task definition a deploy registers, as inv render shows it; moto runs it only as
    bridge-mode tasks with container memory (its awsvpc tasks fail to get an ENI)."""
    from shipyard.operations import render

    document = render.run(ctx).services[0].task_definition
    document.pop("requiresCompatibilities", None)
    document["networkMode"] = "bridge"
    for container in document["containerDefinitions"]:
        container["memory"] = 256
    return document


def ecs_service(aws: MotoServer, ctx: Context) -> str:
    """The cluster and the service on the live revision; its ARN."""
    ecs = _client("ecs", aws)
    ecs.create_cluster(clusterName=CLUSTER)
    arn = ecs.register_task_definition(**live_taskdef(ctx))["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster=CLUSTER,
        serviceName=SERVICE,
        taskDefinition=arn,
        desiredCount=2,
        launchType="FARGATE",
    )
    return str(arn)


def start_task(aws: MotoServer, arn: str, *, group: str = f"service:{SERVICE}") -> str:
    """A task as the service starts them (moto starts none for a service); its id."""
    from moto.ecs.models import ecs_backends

    ecs = _client("ecs", aws)
    task = ecs.run_task(cluster=CLUSTER, taskDefinition=arn, launchType="FARGATE", group=group)
    task_arn = str(task["tasks"][0]["taskArn"])
    # moto records no start time; ECS does, and the newest task's lines come first
    held = ecs_backends[ACCOUNT][REGION].tasks[CLUSTER][task_arn]
    held.started_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=len(_started))
    _started.append(task_arn)
    return task_arn.rsplit("/", 1)[-1]


_started: list[str] = []  # each task starts a second after the one before


def write_logs(aws: MotoServer, stream: str, *lines: tuple[float, str]) -> None:
    """Events (seconds ago, message) in `stream`, as the awslogs driver writes them."""
    logs = _client("logs", aws)
    if not logs.describe_log_groups(logGroupNamePrefix=GROUP)["logGroups"]:
        logs.create_log_group(logGroupName=GROUP)
    if not logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix=stream)["logStreams"]:
        logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    now = time.time()
    events = [{"timestamp": int((now - ago) * 1000), "message": text} for ago, text in lines]
    events.sort(key=lambda e: e["timestamp"])  # as the driver sends them: in order
    logs.put_log_events(logGroupName=GROUP, logStreamName=stream, logEvents=events)


def test_ecs_logs_read_the_live_task_definition_s_streams_newest_task_first(
    tmp_path: Path, aws: MotoServer
) -> None:
    ctx, _ = _ctx(tmp_path)
    arn = ecs_service(aws, ctx)
    older = start_task(aws, arn)
    newer = start_task(aws, arn)
    one_off = start_task(aws, arn, group="family:gamepulse-staging")
    write_logs(aws, f"gamepulse/gamepulse/{older}", (120, "old-1"), (60, "old-2"))
    write_logs(aws, f"otel/otel-collector/{older}", (90, "otel-of-old"))
    write_logs(aws, f"gamepulse/gamepulse/{newer}", (30, "new-1"), (20 * 60, "too-old"))
    write_logs(aws, f"gamepulse/gamepulse/{one_off}", (10, "not-the-service-s"))
    stream = op.open_logs(ctx, op.LogsOptions(since="10m"))
    lines = list(stream.lines())
    assert [x.message for x in lines] == ["new-1", "old-1", "otel-of-old", "old-2"]
    assert lines[0].source == f"gamepulse/{newer[:8]}"
    assert lines[2].source == f"otel-collector/{older[:8]}"
    assert lines[0].task == newer
    only = op.open_logs(ctx, op.LogsOptions(since="10m", container="otel-collector"))
    assert [x.message for x in only.lines()] == ["otel-of-old"]
    everything = op.open_logs(ctx, op.LogsOptions(since="1h"))
    assert "too-old" in [x.message for x in everything.lines()]


def test_ecs_follow_reads_only_what_came_since_until_ctrl_c(
    tmp_path: Path, aws: MotoServer
) -> None:
    ctx, _ = _ctx(tmp_path)
    arn = ecs_service(aws, ctx)
    first = start_task(aws, arn)
    write_logs(aws, f"gamepulse/gamepulse/{first}", (5, "before"))
    polls: list[float] = []
    later: list[str] = []

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 1:  # a new line, and a task the service started meanwhile
            write_logs(aws, f"gamepulse/gamepulse/{first}", (0, "after"))
            later.append(start_task(aws, arn))
            write_logs(aws, f"gamepulse/gamepulse/{later[0]}", (0, "from-the-new-task"))
        elif len(polls) == 3:
            raise KeyboardInterrupt

    stream = op.open_logs(ctx, op.LogsOptions(since="1m", follow=True), sleep=sleep)
    seen, interrupted = _until_interrupted(stream)
    assert interrupted
    assert sorted(seen[1:]) == ["after", "from-the-new-task"]
    assert seen[0] == "before"
    assert len(seen) == 3  # nothing twice
    assert polls == [op.FOLLOW_POLL_SECONDS] * 3


def _until_interrupted(stream: op.EcsLogs | op.LocalLogs) -> tuple[list[str], bool]:
    seen: list[str] = []
    try:
        for line in stream.lines():
            seen.append(line.message)
    except KeyboardInterrupt:
        return seen, True
    return seen, False


def test_ecs_logs_of_another_revision_include_its_stopped_tasks(
    tmp_path: Path, aws: MotoServer
) -> None:
    ctx, _ = _ctx(tmp_path)
    arn = ecs_service(aws, ctx)
    task = start_task(aws, arn)
    _client("ecs", aws).stop_task(cluster=CLUSTER, task=task, reason="scaled in")
    write_logs(aws, f"gamepulse/gamepulse/{task}", (30, "of-a-stopped-task"))
    assert [x.message for x in op.open_logs(ctx, op.LogsOptions(since="10m")).lines()] == []
    revision = op.open_logs(ctx, op.LogsOptions(since="10m", release="1"))
    assert [x.message for x in revision.lines()] == ["of-a-stopped-task"]
    with pytest.raises(UsageError, match="--release 9"):
        op.open_logs(ctx, op.LogsOptions(release="9"))


def test_ecs_logs_refuse_what_cannot_be_read(tmp_path: Path, aws: MotoServer) -> None:
    ctx, _ = _ctx(tmp_path)
    ecs_service(aws, ctx)
    with pytest.raises(UsageError, match=r"no container 'nope' \(its containers: gamepulse, otel"):
        op.open_logs(ctx, op.LogsOptions(container="nope"))
    with pytest.raises(UsageError, match="has no service 'api'"):
        op.open_logs(ctx, op.LogsOptions(service="api"))
    with pytest.raises(UsageError, match="--since"):
        op.open_logs(ctx, op.LogsOptions(since="10 minutes"))
    document = live_taskdef(ctx)
    for container in document["containerDefinitions"]:
        container["logConfiguration"] = {"logDriver": "json-file"}
    revision = _client("ecs", aws).register_task_definition(**document)["taskDefinition"]
    with pytest.raises(ConfigError, match="logs to CloudWatch"):
        op.open_logs(ctx, op.LogsOptions(release=str(revision["revision"])))
