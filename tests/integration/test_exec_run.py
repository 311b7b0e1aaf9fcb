"""inv exec and inv run.

Local: the real CLI against a live release on the real Docker engine. ECS run: moto in server
mode runs the one-off task (RUNNING to STOPPED as describe_tasks is asked) with its log on
moto's CloudWatch Logs; the request's placement, exit codes moto never produces, stop reasons
and Ctrl-C go through botocore's Stubber with the ECS service model. ECS exec: moto has no
execute_command, so the Stubber answers it, and a stand-in for the Session Manager plugin (an
executable on PATH) plays the container: it runs the command ECS was given with /bin/sh.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from shipyard.adapters import session_manager
from shipyard.config import load_config
from shipyard.console import Console
from shipyard.context import Context
from shipyard.errors import DeployFailed, ShipyardError, ToolUnavailable
from shipyard.operations.ecs_exec_run import ecs_exec, ecs_run, run_request
from shipyard.operations.exec_run import RUN_LABEL, CommandOptions
from tests.conftest import MotoServer
from tests.support.live_release import app_container, live
from tests.support.localenv import LocalEnv

__all__ = ["live"]  # the fixture

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


# -- local: the real engine ---------------------------------------------------------------------
@pytest.mark.docker
@pytest.mark.registry
@pytest.mark.nginx
def test_local_exec_runs_in_the_live_container_and_exits_with_its_code(live: LocalEnv) -> None:
    script = 'printf "%s|" "a  b" "$ENVIRONMENT"; hostname; exit 3'
    proc = live.project.inv("exec", "--env", "local", "--", "sh", "-c", script)
    assert proc.returncode == 3, proc.stderr
    inspected = subprocess.run(
        ["docker", "inspect", "--format", "{{.Config.Hostname}}", app_container(live)],
        capture_output=True,
        text=True,
        check=True,
    )
    # the quoting survived (two spaces, one argument) and it ran in the live container
    assert proc.stdout.strip() == f"a  b|local|{inspected.stdout.strip()}"
    document = json.loads(live.project.inv("exec", "--json", "--", "true", check=True).stdout)
    assert document["exit_code"] == 0
    assert document["where"] == app_container(live)


@pytest.mark.docker
@pytest.mark.registry
@pytest.mark.nginx
def test_local_exec_dry_run_shows_the_call(live: LocalEnv) -> None:
    proc = live.project.inv("exec", "--dry-run", "--", "touch", "/tmp/was-here", check=True)
    assert "docker container exec --interactive" in proc.stdout
    assert "nothing was changed" in proc.stdout
    ls = live.project.inv("exec", "--", "ls", "/tmp/was-here")
    assert ls.returncode == 1  # busybox ls: no such file


@pytest.mark.docker
@pytest.mark.registry
@pytest.mark.nginx
def test_local_run_is_a_one_off_with_the_environment_and_secrets_on_the_stack_network(
    live: LocalEnv,
) -> None:
    secret = (live.state / "secrets" / "db-password").read_text().strip()
    script = (
        'printf %s "$DB_PASSWORD" | sha256sum; echo "$ENVIRONMENT"; '
        "wget -q -O - http://gamepulse:8080/version; echo; exit 4"
    )
    proc = live.project.inv("run", "--env", "local", "--", "sh", "-c", script)
    assert proc.returncode == 4, proc.stderr
    digest, environment, version = proc.stdout.split("\n")[:3]
    assert digest.split()[0] == hashlib.sha256(secret.encode()).hexdigest()
    assert environment == "local"
    assert version == (live.project.path / "version.txt").read_text().strip()
    assert secret not in proc.stdout + proc.stderr
    left = subprocess.run(
        ["docker", "ps", "-a", "--filter", f"label={RUN_LABEL}", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert [n for n in left if n.startswith(live.project.repository)] == []
    assert list((live.state / "run").glob("*.env")) == []  # the env file is gone too


@pytest.mark.docker
@pytest.mark.registry
@pytest.mark.nginx
def test_local_run_dry_run_names_the_env_file_not_the_secret(live: LocalEnv) -> None:
    secret = (live.state / "secrets" / "db-password").read_text().strip()
    proc = live.project.inv("run", "--dry-run", "--json", "--", "true", check=True)
    document = json.loads(proc.stdout)
    create = document["steps"][0]["command"]
    assert create[create.index("--env-file") + 1] == "<0600 env file of DB_PASSWORD>"
    assert secret not in proc.stdout


@pytest.mark.docker
@pytest.mark.registry
@pytest.mark.nginx
def test_local_run_of_a_container_whose_image_is_not_here_pulls_nothing(live: LocalEnv) -> None:
    """The sidecar's image is not on this machine (the release skipped it): nothing is pulled
    from a registry the environment does not name."""
    proc = live.project.inv("run", "--container", "otel-collector", "--", "true")
    assert proc.returncode == 1, proc.stderr
    assert "image public.ecr.aws/aws-observability/aws-otel-collector" in proc.stderr
    assert "is not on this machine" in proc.stderr
    planned = live.project.inv("run", "--dry-run", "--json", "--", "true", check=True)
    create = json.loads(planned.stdout)["steps"][0]["command"]
    assert create[create.index("--pull") + 1] == "missing"  # the configured registry's image


@pytest.mark.docker
@pytest.mark.registry
@pytest.mark.nginx
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("exec",), "inv exec needs a command after --"),
        (("run", "--"), "inv run needs a command after --"),
        (("exec", "--container", "nope", "--", "true"), "has no container 'nope'"),
        (("run", "--container", "nope", "--", "true"), "has no container 'nope'"),
        (("exec", "--service", "api", "--", "true"), "--service names an ECS service"),
    ],
)
def test_local_exec_and_run_refuse_bad_input_in_one_line(
    live: LocalEnv, args: tuple[str, ...], words: str
) -> None:
    proc = live.project.inv(*args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert words in lines[0]
    assert "Traceback" not in proc.stderr


# -- ECS: shared -------------------------------------------------------------------------------
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


# -- ECS run on moto ----------------------------------------------------------------------------
def test_ecs_run_on_moto_waits_for_stopped_and_streams_the_task_s_log(
    tmp_path: Path, aws: MotoServer
) -> None:
    ctx, out = make_ctx(tmp_path)
    ecs = boto3.client("ecs", endpoint_url=aws.endpoint, region_name=REGION)
    logs = boto3.client("logs", endpoint_url=aws.endpoint, region_name=REGION)
    document = rendered(ctx)
    # moto runs bridge-mode tasks with container memory only (its awsvpc tasks get no ENI)
    document.pop("requiresCompatibilities")
    document["networkMode"] = "bridge"
    for c in document["containerDefinitions"]:
        c["memory"] = 256
    ec2 = boto3.client("ec2", endpoint_url=aws.endpoint, region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="app", Description="app", VpcId=vpc)["GroupId"]
    ecs.create_cluster(clusterName=CLUSTER)
    arn = ecs.register_task_definition(**document)["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster=CLUSTER,
        serviceName=SERVICE,
        taskDefinition=arn,
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}
        },
    )
    logs.create_log_group(logGroupName="/ecs/gamepulse-staging")
    polls: list[float] = []

    def sleep(seconds: float) -> None:
        """The task writes its output while shipyard waits (as the awslogs driver would)."""
        polls.append(seconds)
        if len(polls) == 1:
            (task,) = ecs.list_tasks(cluster=CLUSTER, startedBy="shipyard-run")["taskArns"]
            stream = f"gamepulse/gamepulse/{task.rsplit('/', 1)[-1]}"
            logs.create_log_stream(logGroupName="/ecs/gamepulse-staging", logStreamName=stream)
            events = [{"timestamp": int(time.time() * 1000), "message": "migrated 3"}]
            logs.put_log_events(
                logGroupName="/ecs/gamepulse-staging", logStreamName=stream, logEvents=events
            )

    opts = CommandOptions(("./manage.py", "migrate"))
    result = ecs_run(ctx, opts, sleep=sleep)
    assert result.exit_code == 0
    assert result.facts["task_definition"] == arn
    assert "migrated 3" in out.getvalue().splitlines()
    assert len(polls) == 3  # RUNNING -> DEACTIVATING -> STOPPING -> DEPROVISIONING -> STOPPED
    described = ecs.describe_tasks(cluster=CLUSTER, tasks=[result.where])["tasks"][0]
    assert described["overrides"]["containerOverrides"] == [
        {"name": "gamepulse", "command": ["./manage.py", "migrate"]}
    ]
    assert described["startedBy"] == "shipyard-run"


# -- ECS through the Stubber --------------------------------------------------------------------
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


def run_started(stubs: Stubs, expected: dict[str, Any]) -> None:
    stubs.ecs.add_response(
        "run_task",
        {"tasks": [{"taskArn": TASK, "lastStatus": "PROVISIONING"}], "failures": []},
        expected,
    )


def request(**extra: Any) -> dict[str, Any]:
    return {
        "cluster": CLUSTER,
        "taskDefinition": LIVE,
        "count": 1,
        "startedBy": "shipyard-run",
        "overrides": {"containerOverrides": [{"name": "gamepulse", "command": ["sh", "-c", "x"]}]},
        **extra,
    }


def never_sleep(_seconds: float) -> None:
    return None


def test_ecs_run_uses_the_service_s_network_and_exits_with_the_container_s_code(
    tmp_path: Path, creds: None
) -> None:
    ctx, out = make_ctx(tmp_path)
    with Stubs(ctx) as stubs:
        stubs.live(FARGATE_SERVICE)
        run_started(
            stubs,
            request(launchType="FARGATE", platformVersion="1.4.0", networkConfiguration=NETWORK),
        )
        stubs.described(lastStatus="RUNNING")
        stubs.log("starting")
        stubs.described(
            lastStatus="STOPPED",
            stopCode="EssentialContainerExited",
            stoppedReason="Essential container in task exited",
            containers=[{"name": "gamepulse", "exitCode": 3}],
        )
        stubs.log("failed: 3 rows", after="f/1", then="f/2")
        result = ecs_run(ctx, CommandOptions(("sh", "-c", "x")), sleep=never_sleep)
        stubs.done()
    assert result.exit_code == 3
    assert result.detail == "Essential container in task exited"
    shown = out.getvalue()
    assert "starting\n" in shown
    assert "failed: 3 rows\n" in shown
    assert "stopped: Essential container in task exited (gamepulse exited 3)" in shown


def test_ecs_run_of_a_task_that_never_ran_fails_with_its_reason(
    tmp_path: Path, creds: None
) -> None:
    ctx, _ = make_ctx(tmp_path)
    with Stubs(ctx) as stubs:
        stubs.live(FARGATE_SERVICE)
        run_started(
            stubs,
            request(launchType="FARGATE", platformVersion="1.4.0", networkConfiguration=NETWORK),
        )
        stubs.described(
            lastStatus="STOPPED",
            stopCode="TaskFailedToStart",
            stoppedReason="CannotPullContainerError: pull image manifest has been retried 5 times",
            containers=[{"name": "gamepulse", "lastStatus": "STOPPED"}],
        )
        stubs.logs.add_client_error("get_log_events", "ResourceNotFoundException", "no stream")
        with pytest.raises(DeployFailed, match="stopped before gamepulse ran: CannotPull") as err:
            ecs_run(ctx, CommandOptions(("sh", "-c", "x")), sleep=never_sleep)
        stubs.done()
    assert err.value.exit_code == 1


def test_ecs_run_places_as_the_service_does_capacity_providers_and_task_sets(
    tmp_path: Path, creds: None
) -> None:
    ctx, _ = make_ctx(tmp_path)
    from shipyard.operations.live import EcsService, ecs_target

    target = ecs_target(ctx)
    strategy = [{"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 0}]
    doc = rendered(ctx)

    def live_with(described: dict[str, Any]) -> EcsService:
        return EcsService(target, target.cfg.services[0], described, LIVE, doc)

    spot = run_request(live_with({"capacityProviderStrategy": strategy}), "gamepulse", ("x",))
    assert spot["capacityProviderStrategy"] == strategy
    assert "launchType" not in spot
    blue_green = {
        "taskSets": [
            {
                "status": "ACTIVE",
                "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["s-old"]}},
            },
            {"status": "PRIMARY", "launchType": "FARGATE", "networkConfiguration": NETWORK},
        ]
    }
    placed = run_request(live_with(blue_green), "gamepulse", ("x",))
    assert placed["networkConfiguration"] == NETWORK
    assert placed["launchType"] == "FARGATE"


def test_ecs_run_interrupted_stops_the_task(tmp_path: Path, creds: None) -> None:
    ctx, out = make_ctx(tmp_path)

    def ctrl_c(_seconds: float) -> None:
        raise KeyboardInterrupt

    with Stubs(ctx) as stubs:
        stubs.live(FARGATE_SERVICE)
        run_started(
            stubs,
            request(launchType="FARGATE", platformVersion="1.4.0", networkConfiguration=NETWORK),
        )
        stubs.described(lastStatus="RUNNING")
        stubs.logs.add_client_error("get_log_events", "ResourceNotFoundException", "no stream")
        stubs.ecs.add_response(
            "stop_task",
            {"task": {"taskArn": TASK}},
            {"cluster": CLUSTER, "task": TASK, "reason": "interrupted: stopped by inv run"},
        )
        with pytest.raises(KeyboardInterrupt):
            ecs_run(ctx, CommandOptions(("sh", "-c", "x")), sleep=ctrl_c)
        stubs.done()
    assert "stopped task 0123456789abcdef" in out.getvalue()


def test_ecs_run_that_ecs_cannot_place_fails_with_its_reason(tmp_path: Path, creds: None) -> None:
    ctx, _ = make_ctx(tmp_path)
    with Stubs(ctx) as stubs:
        stubs.live(FARGATE_SERVICE)
        stubs.ecs.add_response(
            "run_task",
            {"tasks": [], "failures": [{"reason": "RESOURCE:MEMORY", "detail": "no room"}]},
            {
                **request(
                    launchType="FARGATE", platformVersion="1.4.0", networkConfiguration=NETWORK
                ),
            },
        )
        with pytest.raises(DeployFailed, match="did not start the task: RESOURCE:MEMORY"):
            ecs_run(ctx, CommandOptions(("sh", "-c", "x")), sleep=never_sleep)
        stubs.done()


# -- ECS exec: Stubber and a stand-in plugin ------------------------------------------------------
NONCE = "0ddba11"
COMMAND = ("sh", "-c", 'echo "a  b"; exit 5')


def plugin(tmp_path: Path) -> Path:
    """session-manager-plugin as far as shipyard sees it: it records how it was started,
    then plays the container: the command ECS was given, run by /bin/sh."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "session-manager-plugin"
    remote = session_manager.wrapped(COMMAND, NONCE)
    script.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$@" > "{tmp_path}/plugin-args"\n'
        'echo "Starting session with SessionId: ecs-execute-command-1"\n'
        f"/bin/sh -c {session_manager.shlex.quote(remote)}\n"
        'echo "Exiting session with sessionId: ecs-execute-command-1."\n'
    )
    script.chmod(0o755)
    return bin_dir


def exec_stubs(stubs: Stubs, *, exec_enabled: bool = True) -> None:
    stubs.live(FARGATE_SERVICE)
    stubs.ecs.add_response(
        "list_tasks",
        {"taskArns": [TASK]},
        {"cluster": CLUSTER, "serviceName": SERVICE, "desiredStatus": "RUNNING"},
    )
    stubs.described(
        lastStatus="RUNNING",
        enableExecuteCommand=exec_enabled,
        containers=[{"name": "gamepulse", "runtimeId": "0123abcd-1234567890"}],
    )


SESSION = {"sessionId": "ecs-execute-command-1", "streamUrl": "wss://x", "tokenValue": "tok3nv4lue"}


def test_ecs_exec_starts_the_plugin_as_the_aws_cli_does_and_exits_with_the_command_s_code(
    tmp_path: Path, creds: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_manager, "new_nonce", lambda: NONCE)
    bin_dir = plugin(tmp_path)
    ctx, out = make_ctx(tmp_path, PATH=f"{bin_dir}:/usr/bin:/bin")
    screen = io.TextIOWrapper(io.BytesIO(), write_through=True)
    with Stubs(ctx) as stubs:
        exec_stubs(stubs)
        stubs.ecs.add_response(
            "execute_command",
            {
                "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}",
                "containerName": "gamepulse",
                "interactive": True,
                "session": SESSION,
                "taskArn": TASK,
            },
            {
                "cluster": CLUSTER,
                "task": TASK,
                "container": "gamepulse",
                "command": session_manager.wrapped(COMMAND, NONCE),
                "interactive": True,
            },
        )
        result = ecs_exec(ctx, CommandOptions(COMMAND), screen)
        stubs.done()
    assert result.exit_code == 5
    shown = screen.buffer.getvalue().decode()  # type: ignore[attr-defined]
    assert shown.splitlines() == [
        "Starting session with SessionId: ecs-execute-command-1",
        "a  b",
        "Exiting session with sessionId: ecs-execute-command-1.",
    ]
    args = (tmp_path / "plugin-args").read_text().splitlines()
    assert json.loads(args[0]) == SESSION
    assert args[1:4] == [REGION, "StartSession", ""]
    target = f"ecs:{CLUSTER}_0123456789abcdef0123456789abcdef_0123abcd-1234567890"
    assert json.loads(args[4]) == {"Target": target}
    assert args[5].startswith("https://ecs.ap-northeast-2.amazonaws.com")
    assert "tok3nv4lue" not in out.getvalue()


def test_ecs_exec_without_the_plugin_says_how_to_install_it_before_any_session(
    tmp_path: Path, creds: None
) -> None:
    ctx, _ = make_ctx(tmp_path, PATH=str(tmp_path / "nothing-here"))
    with Stubs(ctx) as stubs:
        exec_stubs(stubs)  # and no execute_command: no session is opened
        with pytest.raises(ToolUnavailable) as err:
            ecs_exec(ctx, CommandOptions(COMMAND), None)
        stubs.done()
    assert "session-manager-plugin" in err.value.one_line()
    assert "session-manager-working-with-install-plugin" in err.value.one_line()
    assert err.value.exit_code == 1


def test_ecs_exec_into_a_task_started_without_ecs_exec_says_how_to_turn_it_on(
    tmp_path: Path, creds: None
) -> None:
    ctx, _ = make_ctx(tmp_path)
    with Stubs(ctx) as stubs:
        exec_stubs(stubs, exec_enabled=False)
        with pytest.raises(ShipyardError, match="started without ECS Exec") as err:
            ecs_exec(ctx, CommandOptions(COMMAND), None)
        stubs.done()
    assert "--enable-execute-command" in (err.value.hint or "")


def test_ecs_exec_dry_run_shows_the_call_and_opens_no_session(
    tmp_path: Path, creds: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_manager, "new_nonce", lambda: NONCE)
    ctx, _ = make_ctx(tmp_path, PATH=str(tmp_path / "nothing-here"))
    with Stubs(ctx) as stubs:
        exec_stubs(stubs)
        result = ecs_exec(ctx, CommandOptions(COMMAND, dry_run=True), None)
        stubs.done()
    assert result.plan is not None
    step = result.plan.steps[0]
    assert step.action == "execute-command"
    assert json.loads(step.detail.split(" ", 1)[1])["command"] == session_manager.wrapped(
        COMMAND, NONCE
    )
    assert any("not on PATH" in note for note in result.plan.notes)


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
