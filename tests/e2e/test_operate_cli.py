"""logs, exec, run and render through the real CLI, as a user types them: bad input refused
in one line (exit 2) before AWS or Docker is asked anything, --json as one document, render
with no AWS at all, and the ECS paths against moto in server mode."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator

import boto3
import pytest

from tests.conftest import MotoServer, Project

REGION = "ap-northeast-2"
ACCOUNT = "123456789012"
CLUSTER = "gamepulse-cluster"
SERVICE = "gamepulse-staging"
NO_AWS = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_REGION": REGION}


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("exec", "--env", "staging"), "inv exec needs a command after --"),
        (("run", "--env", "staging", "--", " "), "inv run needs a command after --"),
        (("logs", "--env", "staging", "--since", "a while"), "--since 'a while' is neither"),
        (("render", "--env", "staging", "--service", "api"), "has no service 'api'"),
        (("render", "--env", "nowhere"), "nowhere"),
    ],
)
def test_bad_input_is_one_line_exit_2_before_anything_is_asked(
    project: Project, args: tuple[str, ...], words: str
) -> None:
    # AWS is a closed port here: a call made before the check would fail with exit 1
    proc = project.inv(*args, extra_env=NO_AWS)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert words in lines[0]
    assert "Traceback" not in proc.stderr
    failed = project.inv(args[0], "--json", *args[1:], extra_env=NO_AWS)  # before any --
    document = json.loads(failed.stdout)
    assert document["exit_code"] == 2
    assert document["changed"] is False


def test_render_needs_no_aws_and_prints_json(project: Project) -> None:
    proc = project.inv("render", "--env", "staging", extra_env=NO_AWS, check=True)
    document = json.loads(proc.stdout)  # one service, rolling: the task definition alone
    assert document["family"] == "gamepulse-staging"
    assert "deploy/taskdef/base.json + deploy/taskdef/staging.json" in proc.stderr
    production = project.inv("render", "--env", "production", "--json", extra_env=NO_AWS)
    assert production.returncode == 0, production.stderr
    (service,) = json.loads(production.stdout)["services"]
    assert service["task_definition"]["family"] == "gamepulse-production"
    assert "TaskDefinition" in json.dumps(service["appspec"])


# -- against moto ---------------------------------------------------------------------------
@pytest.fixture
def tasks_stay_running(aws: MotoServer) -> Iterator[None]:
    """moto moves a task one state on at every describe_tasks; a service's tasks stay
    RUNNING in ECS while nobody stops them."""
    transition = {
        "model_name": "ecs::task",
        "transition": {"progression": "manual", "times": 10**6},
    }
    _moto_api(aws, "set-transition", transition)
    try:
        yield
    finally:
        _moto_api(aws, "unset-transition", {"model_name": "ecs::task"})


def _moto_api(aws: MotoServer, action: str, body: dict[str, object]) -> None:
    req = urllib.request.Request(
        f"{aws.endpoint}/moto-api/state-manager/{action}",
        data=json.dumps(body).encode(),
        method="POST",
    )
    urllib.request.urlopen(req, timeout=10).read()


def _staging(project: Project, aws: MotoServer) -> dict[str, str]:
    """The live revision (as inv render shows it; moto runs only bridge-mode tasks with
    container memory) and the service on moto, one task of it logging; the CLI's env."""
    env = {**aws.env(REGION), "AWS_ACCOUNT_ID": ACCOUNT}
    document = json.loads(project.inv("render", "--env", "staging", extra_env=env).stdout)
    document.pop("requiresCompatibilities")
    document["networkMode"] = "bridge"
    for c in document["containerDefinitions"]:
        c["memory"] = 256
    ecs = boto3.client("ecs", endpoint_url=aws.endpoint, region_name=REGION)
    ecs.create_cluster(clusterName=CLUSTER)
    arn = ecs.register_task_definition(**document)["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster=CLUSTER,
        serviceName=SERVICE,
        taskDefinition=arn,
        desiredCount=1,
        launchType="FARGATE",
    )
    task = ecs.run_task(
        cluster=CLUSTER, taskDefinition=arn, launchType="FARGATE", group=f"service:{SERVICE}"
    )["tasks"][0]["taskArn"]
    logs = boto3.client("logs", endpoint_url=aws.endpoint, region_name=REGION)
    stream = f"gamepulse/gamepulse/{task.rsplit('/', 1)[-1]}"
    logs.create_log_group(logGroupName="/ecs/gamepulse-staging")
    logs.create_log_stream(logGroupName="/ecs/gamepulse-staging", logStreamName=stream)
    logs.put_log_events(
        logGroupName="/ecs/gamepulse-staging",
        logStreamName=stream,
        logEvents=[{"timestamp": int(time.time() * 1000), "message": "GET /health 200"}],
    )
    return env


def test_logs_and_exec_dry_run_against_moto(
    project: Project, aws: MotoServer, tasks_stay_running: None
) -> None:
    env = _staging(project, aws)
    proc = project.inv("logs", "--env", "staging", extra_env=env)
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stdout.splitlines()
    assert line.startswith("gamepulse/")
    assert line.endswith(" | GET /health 200")
    planned = project.inv("exec", "--env", "staging", "--dry-run", "--", "ls", "/", extra_env=env)
    assert planned.returncode == 0, planned.stderr
    assert "ecs:ExecuteCommand" in planned.stdout
    assert "nothing was changed" in planned.stdout


def test_run_against_moto_exits_with_the_task_s_code(project: Project, aws: MotoServer) -> None:
    path = project.path / "deploy" / "environments" / "staging.toml"
    path.write_text(
        path.read_text().replace(
            "timeout_seconds = 900", "timeout_seconds = 900\npoll_seconds = 0.1"
        )
    )
    env = _staging(project, aws)
    proc = project.inv("run", "--env", "staging", "--json", "--", "echo", "hi", extra_env=env)
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert document["exit_code"] == 0
    assert document["command"] == ["echo", "hi"]
    assert document["task_definition"].endswith("task-definition/gamepulse-staging:1")
    assert "stopped" in proc.stderr
