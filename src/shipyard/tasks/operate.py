"""Operating what a release put live: logs, exec, run, render (docs/operate.md)."""

# invoke hands every task its context `c`; not all use it
# ruff: noqa: ARG001

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from shipyard.tasks._common import context, json_wanted, report
from shipyard.tasks._flags import bind, dry_run_flag, env_flag, flag, task_options

if TYPE_CHECKING:
    from shipyard.console import Console
    from shipyard.context import Context
    from shipyard.operations.exec_run import CommandOptions, CommandResult
    from shipyard.operations.logs import LogsOptions

CONTAINER_HELP = (
    "a container of the task definition (default: the app container, taskdef.container)"
)
SERVICE_HELP = "ECS: which of the environment's services (default: the first)"


def _command(c: Any) -> tuple[str, ...]:
    """The words after `--`. Invoke hands them over joined by spaces (c.remainder), which
    loses the quoting of `sh -c 'echo a b'`; argv still holds them as typed."""
    import shlex

    text = str(getattr(c, "remainder", "") or "")
    if "--" in sys.argv:
        words = sys.argv[sys.argv.index("--") + 1 :]
        if " ".join(words) == text:
            return tuple(words)
    return tuple(shlex.split(text))


def _command_options(c: Any, task: str, **flags: Any) -> CommandOptions:
    from shipyard.operations.exec_run import CommandOptions, check_command

    command = _command(c)
    check_command(command, task)  # before anything is looked at
    tty = sys.stdin.isatty() and sys.stdout.isatty() and not json_wanted()
    return CommandOptions(command, tty=tty, **flags)


def _report_command(result: CommandResult, console: Console) -> None:
    """The plan (--dry-run; under --json as a document), or under --json the result's
    document; then the command's exit code."""
    from invoke.exceptions import Exit

    report(
        console,
        plan=None if json_wanted() else result.plan,
        document=lambda: _command_document(result),
        failure=Exit(code=result.exit_code) if result.plan is None and result.exit_code else None,
    )


def _command_document(result: CommandResult) -> Any:
    plan = result.plan
    if plan is None:
        return result.as_dict()
    steps = [
        {"action": s.action, "detail": s.detail, "command": list(s.command)} for s in plan.steps
    ]
    return {**result.as_dict(), "dry_run": True, "steps": steps, "notes": plan.notes}


@task_options
class LogsFlags:
    env: str = env_flag()
    since: str | None = flag(
        None,
        "only lines from then on: 30s, 10m, 2h, 1d or an ISO time (default: all of a local "
        "release; the last 10m on ECS)",
    )
    follow: bool = flag(False, "keep printing new lines until Ctrl-C")
    container: str | None = flag(
        None, "only this container's lines (default: every container of the release)"
    )
    release: str | None = flag(
        None,
        "another release's containers (local: a release id; ECS: a task definition revision: "
        "12, family:12 or its ARN, stopped tasks included)",
    )
    service: str | None = flag(None, SERVICE_HELP)

    def logs_options(self, ctx: Context) -> LogsOptions:
        from shipyard.operations import logs as op

        since = self.since
        if since is None and ctx.config.target.kind != "local":
            since = op.DEFAULT_ECS_SINCE
        return op.LogsOptions(since, self.follow, self.container, self.release, self.service)


@bind(LogsFlags)
def logs(c: Any, opts: LogsFlags) -> None:
    """Print the logs of what serves: local from the live release's containers (docker logs),
    ECS from CloudWatch Logs across the service's running tasks, newest task first.
    --json: one document, or one JSON object per line with --follow."""
    from invoke.exceptions import Exit

    from shipyard.operations import logs as op

    ctx = context(opts.env)
    stream = op.open_logs(ctx, opts.logs_options(ctx))
    ctx.console.progress(f"logs of {stream.describe}")
    try:  # a stream, not one result: it prints its lines (its JSON objects) as they come
        op.show(ctx, stream, as_json=json_wanted())
    except KeyboardInterrupt:
        if not opts.follow:
            raise
        raise Exit(code=130) from None  # Ctrl-C is how a follow ends: as docker logs -f, 130


@task_options
class ExecFlags:
    env: str = env_flag()
    container: str | None = flag(None, CONTAINER_HELP)
    service: str | None = flag(None, SERVICE_HELP)
    raw: bool = flag(
        False,
        "ECS: send the command as is, not under /bin/sh (for images without a shell; the exit "
        "code is then the Session Manager plugin's)",
    )
    dry_run: bool = dry_run_flag("show the docker exec / execute_command call and change nothing")


@bind(ExecFlags, name="exec")
def exec_(c: Any, opts: ExecFlags) -> None:
    """Run the command after -- in a running container of the live release (local: docker
    exec; ECS: ECS Exec); exits with the command's exit code."""
    from shipyard.operations import exec_run as op

    options = _command_options(
        c,
        "exec",
        container=opts.container,
        service=opts.service,
        raw=opts.raw,
        dry_run=opts.dry_run,
    )
    ctx = context(opts.env)
    result = op.execute(ctx, options, sys.stderr if json_wanted() else None)
    _report_command(result, ctx.console)


@task_options
class RunFlags:
    env: str = env_flag()
    container: str | None = flag(None, CONTAINER_HELP)
    service: str | None = flag(None, SERVICE_HELP)
    dry_run: bool = dry_run_flag("show the docker / run_task calls and change nothing")


@bind(RunFlags)
def run(c: Any, opts: RunFlags) -> None:
    """Run the command after -- once, from the live release's definition (local: a container
    of the live image with its environment and secrets on the stack's network, removed
    afterwards; ECS: run_task on the service's network), and exit with its exit code."""
    from shipyard.operations import exec_run as op

    options = _command_options(
        c, "run", container=opts.container, service=opts.service, dry_run=opts.dry_run
    )
    ctx = context(opts.env)
    _report_command(op.run(ctx, options, sys.stderr if json_wanted() else None), ctx.console)


@task_options
class RenderFlags:
    env: str = env_flag()
    version: str | None = flag(None, "render for this version (default: version.txt)")
    image: str | None = flag(None, "set the app container's image to this reference instead")
    service: str | None = flag(None, "ECS: only this service")


@bind(RenderFlags)
def render(c: Any, opts: RenderFlags) -> None:
    """Print the task definition a deploy would register (and the AppSpec for blue/green) as
    JSON, secrets as references; needs no running service and asks AWS nothing."""
    from shipyard.operations import render as op

    ctx = context(opts.env)
    result = op.run(ctx, version=opts.version, image=opts.image, service=opts.service)
    report(ctx.console, document=result.as_dict, human=lambda: op.show(result, ctx.console))
