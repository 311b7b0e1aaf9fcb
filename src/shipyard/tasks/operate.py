"""Operating what a release put live: logs, exec, run, render (docs/operate.md)."""

# invoke hands every task its context `c` and the common flags; not all use them
# ruff: noqa: ARG001

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from shipyard.tasks._common import context, emit, shipyard_task

if TYPE_CHECKING:
    from shipyard.context import Context
    from shipyard.operations.exec_run import CommandOptions, CommandResult

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


def _options(c: Any, task: str, **flags: Any) -> CommandOptions:
    from shipyard.operations.exec_run import CommandOptions, check_command

    command = _command(c)
    check_command(command, task)  # before anything is looked at
    as_json = flags.pop("json")
    tty = sys.stdin.isatty() and sys.stdout.isatty() and not as_json
    return CommandOptions(command, tty=tty, **flags)


def _report(ctx: Context, result: CommandResult, as_json: bool) -> None:
    """The plan (--dry-run), or the JSON document; then the command's exit code."""
    from invoke.exceptions import Exit

    if result.plan is not None:
        plan = result.plan
        if as_json:
            steps = [
                {"action": s.action, "detail": s.detail, "command": list(s.command)}
                for s in plan.steps
            ]
            ctx.console.json(
                {**result.as_dict(), "dry_run": True, "steps": steps, "notes": plan.notes}
            )
        else:
            plan.show(ctx.console)
        return
    if as_json:
        ctx.console.json(result.as_dict())
    if result.exit_code:
        raise Exit(code=result.exit_code)


@shipyard_task(
    help={
        "since": "only lines from then on: 30s, 10m, 2h, 1d or an ISO time (default: all of a "
        "local release; the last 10m on ECS)",
        "follow": "keep printing new lines until Ctrl-C",
        "container": "only this container's lines (default: every container of the release)",
        "release": "another release's containers (local: a release id; ECS: a task definition "
        "revision: 12, family:12 or its ARN, stopped tasks included)",
        "service": SERVICE_HELP,
    }
)
def logs(
    c: Any,
    env: str = "local",
    since: str | None = None,
    follow: bool = False,
    container: str | None = None,
    release: str | None = None,
    service: str | None = None,
    debug: bool = False,
    json: bool = False,
) -> None:
    """Print the logs of what serves: local from the live release's containers (docker logs),
    ECS from CloudWatch Logs across the service's running tasks, newest task first.
    --json: one document, or one JSON object per line with --follow."""
    from invoke.exceptions import Exit

    from shipyard.operations import logs as op

    ctx = context(env)
    if since is None and ctx.config.target.kind != "local":
        since = op.DEFAULT_ECS_SINCE
    stream = op.open_logs(ctx, op.LogsOptions(since, follow, container, release, service))
    ctx.console.progress(f"logs of {stream.describe}")
    try:
        op.show(ctx, stream, as_json=json)
    except KeyboardInterrupt:
        if not follow:
            raise
        raise Exit(code=130) from None  # Ctrl-C is how a follow ends: as docker logs -f, 130


@shipyard_task(
    name="exec",
    help={
        "container": CONTAINER_HELP,
        "service": SERVICE_HELP,
        "raw": "ECS: send the command as is, not under /bin/sh (for images without a shell; "
        "the exit code is then the Session Manager plugin's)",
        "dry_run": "show the docker exec / execute_command call and change nothing",
    },
)
def exec_(
    c: Any,
    env: str = "local",
    container: str | None = None,
    service: str | None = None,
    raw: bool = False,
    dry_run: bool = False,
    debug: bool = False,
    json: bool = False,
) -> None:
    """Run the command after -- in a running container of the live release (local: docker
    exec; ECS: ECS Exec); exits with the command's exit code."""
    from shipyard.operations import exec_run as op

    opts = _options(
        c, "exec", container=container, service=service, raw=raw, dry_run=dry_run, json=json
    )
    ctx = context(env)
    _report(ctx, op.execute(ctx, opts, sys.stderr if json else None), json)


@shipyard_task(
    help={
        "container": CONTAINER_HELP,
        "service": SERVICE_HELP,
        "dry_run": "show the docker / run_task calls and change nothing",
    }
)
def run(
    c: Any,
    env: str = "local",
    container: str | None = None,
    service: str | None = None,
    dry_run: bool = False,
    debug: bool = False,
    json: bool = False,
) -> None:
    """Run the command after -- once, from the live release's definition (local: a container
    of the live image with its environment and secrets on the stack's network, removed
    afterwards; ECS: run_task on the service's network), and exit with its exit code."""
    from shipyard.operations import exec_run as op

    opts = _options(c, "run", container=container, service=service, dry_run=dry_run, json=json)
    ctx = context(env)
    _report(ctx, op.run(ctx, opts, sys.stderr if json else None), json)


@shipyard_task(
    help={
        "version": "render for this version (default: version.txt)",
        "image": "set the app container's image to this reference instead",
        "service": "ECS: only this service",
    }
)
def render(
    c: Any,
    env: str = "local",
    version: str | None = None,
    image: str | None = None,
    service: str | None = None,
    debug: bool = False,
    json: bool = False,
) -> None:
    """Print the task definition a deploy would register (and the AppSpec for blue/green) as
    JSON, secrets as references; needs no running service and asks AWS nothing."""
    from shipyard.operations import render as op

    ctx = context(env)
    result = op.run(ctx, version=version, image=image, service=service)
    emit(ctx, json=json, document=result.as_dict, human=lambda: op.show(result, ctx.console))
