"""inv exec and inv run on ECS.

exec: ECS Exec (execute_command) into a running task of the service, preferring one of the
live revision, carried by the Session Manager plugin; the command runs under /bin/sh so its
exit status comes back (adapters/session_manager.py). The plugin is looked for before the
session is opened.

run: run_task of the live task definition with the command as the container's override, on
the service's network configuration and launch type or capacity provider strategy (a
blue/green service's: its PRIMARY task set's); then describe_tasks until STOPPED, its awslogs
stream printed meanwhile, and the container's exit code. Ctrl-C stops the task.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TextIO

from shipyard.adapters import session_manager as ssm
from shipyard.adapters.ecs_tasks import STARTED_BY, EcsTasks, task_id
from shipyard.adapters.logs import CloudWatchLogs, stream_name
from shipyard.console import format_seconds
from shipyard.errors import DeployFailed, ShipyardError, StateUnknown
from shipyard.operations.command_types import CommandOptions, CommandResult
from shipyard.operations.live import ecs_service
from shipyard.operations.logs import aws_log
from shipyard.plan import Plan

if TYPE_CHECKING:
    from shipyard.context import Context
    from shipyard.operations.live import EcsService

_RUN_FIELDS = ("networkConfiguration", "capacityProviderStrategy", "launchType", "platformVersion")


def _short(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


# -- exec -------------------------------------------------------------------------------------
def exec_task(api: EcsTasks, live: EcsService) -> dict[str, Any]:
    """A running task of the service to exec into: the newest of the live revision."""
    running = [
        t
        for t in api.of_service(live.cluster, live.service.name)
        if t.get("lastStatus") == "RUNNING"
    ]
    ours = [t for t in running if t.get("taskDefinitionArn") == live.taskdef_arn] or running
    if not ours:
        raise ShipyardError(
            f"{live.service.name} has no running task to exec into",
            hint=f"inv status --env {live.target.environment} shows the service",
        )
    return ours[0]


def ecs_exec(ctx: Context, opts: CommandOptions, out: TextIO | None) -> CommandResult:
    live = ecs_service(ctx, opts.service)
    container = live.container(opts.container)
    api = EcsTasks(ctx.aws)
    task = exec_task(api, live)
    arn = str(task["taskArn"])
    nonce = ssm.new_nonce()
    command = shlex.join(opts.command) if opts.raw else ssm.wrapped(opts.command, nonce)
    result = CommandResult(ctx.environment, container, task_id(arn), opts.command)
    result.facts.update(service=live.service.name, task_definition=live.taskdef_arn)
    request = {
        "cluster": live.cluster,
        "task": arn,
        "container": container,
        "command": command,
        "interactive": True,
    }
    if opts.dry_run:
        result.plan = _exec_plan(ctx, request)
        return result
    if not task.get("enableExecuteCommand"):
        raise ShipyardError(
            f"task {task_id(arn)} of {live.service.name} was started without ECS Exec",
            hint="turn it on for the service (aws ecs update-service --enable-execute-command "
            "--force-new-deployment) and deploy again",
        )
    plugin = ssm.find_plugin(ctx.environ)  # before a session is opened for nothing
    answer = api.execute_command(live.cluster, arn, container, command)
    result.exit_code = _session(ctx, api, plugin, answer, task, container, nonce, out, opts.raw)
    return result


def _session(
    ctx: Context,
    api: EcsTasks,
    plugin: str,
    answer: Mapping[str, Any],
    task: Mapping[str, Any],
    container: str,
    nonce: str,
    out: TextIO | None,
    raw: bool,
) -> int:
    """Carry the session through the plugin; the command's exit code (--raw: the plugin's)."""

    runtime = next(
        (str(c.get("runtimeId", "")) for c in task.get("containers", []) if c["name"] == container),
        "",
    )
    argv = ssm.plugin_argv(
        plugin,
        answer,
        region=ctx.aws.region,
        profile=ctx.config.aws.profile,
        runtime_id=runtime,
        endpoint=api.endpoint,
    )
    stream = (out or sys.stdout).buffer

    def write(data: bytes) -> None:
        stream.write(data)
        stream.flush()

    plugin_code, code = ssm.run_session(argv, nonce, write)
    if raw:
        return plugin_code
    if code is None:
        ctx.console.warn(
            "the command's exit status did not come back (is there a /bin/sh in the container? "
            "--raw sends the command as is, without it)"
        )
        return plugin_code or 1
    return code


def _exec_plan(ctx: Context, request: Mapping[str, Any]) -> Plan:
    plan = Plan(f"exec in {ctx.environment}")
    plan.add("execute-command", f"ecs:ExecuteCommand {json.dumps(dict(request), sort_keys=True)}")
    plan.add("session", f"{ssm.PLUGIN} StartSession to the task's {request['container']} container")
    try:
        ssm.find_plugin(ctx.environ)
    except ShipyardError as exc:
        plan.notes.append(exc.one_line())
    return plan


# -- run --------------------------------------------------------------------------------------
def run_request(live: EcsService, container: str, command: tuple[str, ...]) -> dict[str, Any]:
    """run_task's request: the live revision, placed and networked as the service is."""
    described = live.described
    sets = [s for s in described.get("taskSets", []) if s.get("status") == "PRIMARY"]
    placed = sets[0] if sets else described  # blue/green: the PRIMARY task set holds them
    request: dict[str, Any] = {
        "cluster": live.cluster,
        "taskDefinition": live.taskdef_arn,
        "count": 1,
        "startedBy": STARTED_BY,
        "overrides": {"containerOverrides": [{"name": container, "command": list(command)}]},
    }
    for key in _RUN_FIELDS:
        if placed.get(key) and not (key == "launchType" and "capacityProviderStrategy" in request):
            request[key] = placed[key]
    return request


def ecs_run(
    ctx: Context,
    opts: CommandOptions,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> CommandResult:
    live = ecs_service(ctx, opts.service)
    container = live.container(opts.container)
    request = run_request(live, container, opts.command)
    result = CommandResult(ctx.environment, container, "", opts.command)
    result.facts.update(service=live.service.name, task_definition=live.taskdef_arn)
    if opts.dry_run:
        result.plan = Plan(f"run in {ctx.environment}")
        result.plan.add("run-task", f"ecs:RunTask {json.dumps(request, sort_keys=True)}")
        result.plan.add("wait", f"describe-tasks until STOPPED; its {container} log streams here")
        return result
    api = EcsTasks(ctx.aws)
    task = api.run(request)
    arn = str(task["taskArn"])
    result.where = task_id(arn)
    ctx.console.progress(
        f"task {task_id(arn)} of {_short(live.taskdef_arn)} started; waiting for it to stop"
    )
    watcher = _Watcher(ctx, live, container, arn)
    try:
        final = watcher.until_stopped(api, sleep, clock)
    except KeyboardInterrupt:
        api.stop(live.cluster, arn, "interrupted: stopped by inv run")
        ctx.console.warn(f"stopped task {task_id(arn)}")
        raise
    return _ended(ctx, result, final, container)


def _ended(
    ctx: Context, result: CommandResult, final: Mapping[str, Any], container: str
) -> CommandResult:
    reason = str(final.get("stoppedReason") or "")
    result.detail = reason
    result.facts["stop_code"] = final.get("stopCode")
    mine: Mapping[str, Any] = next(
        (c for c in final.get("containers", []) if c.get("name") == container), {}
    )
    code = mine.get("exitCode")
    ctx.console.progress(
        f"task {result.where} stopped: {reason or 'no reason given'}"
        + (f" ({container} exited {code})" if code is not None else "")
    )
    if code is None:
        why = mine.get("reason") or reason or "no reason given"
        raise DeployFailed(f"task {result.where} stopped before {container} ran: {why}")
    result.exit_code = int(code)
    return result


class _Watcher:
    """Polls the one-off task until STOPPED, printing its container's new log lines."""

    def __init__(self, ctx: Context, live: EcsService, container: str, arn: str) -> None:
        self.ctx, self.live, self.arn = ctx, live, arn
        self.log = aws_log(live, container, ctx.aws.region)
        self.reader = CloudWatchLogs(ctx.aws.for_region(self.log.region)) if self.log else None
        self.stream = stream_name(self.log.prefix, container, task_id(arn)) if self.log else ""
        self.token: str | None = None
        if self.log is None:
            ctx.console.warn(f"{container} does not log to CloudWatch: its output is not shown")

    def until_stopped(
        self, api: EcsTasks, sleep: Callable[[float], None], clock: Callable[[], float]
    ) -> dict[str, Any]:
        cfg = self.live.target.cfg
        deadline = clock() + cfg.timeout_seconds
        while True:
            task = api.describe_one(self.live.cluster, self.arn)
            stopped = task.get("lastStatus") == "STOPPED"
            self.show_new()
            if stopped:
                return task
            if clock() >= deadline:
                raise StateUnknown(
                    f"task {task_id(self.arn)} is still {task.get('lastStatus')} after "
                    f"{format_seconds(cfg.timeout_seconds)}; it goes on",
                    hint=f"aws ecs stop-task --cluster {self.live.cluster} "
                    f"--task {task_id(self.arn)}",
                )
            sleep(cfg.poll_seconds)

    def show_new(self) -> None:
        if self.reader is None or self.log is None:
            return
        read = self.reader.read(self.log.group, self.stream, token=self.token)
        self.token = read.token
        for event in read.events:
            self.ctx.console.line(event.message)  # stdout; stderr under --json
