"""inv exec and inv run: a command in what serves, or beside it.

exec: into a running container of the live release (local: `docker exec`; ECS: ECS Exec on a
running task of the service, operations/ecs_exec_run.py). run: a one-off from the live
release's definition (local: a container of the live image with the same environment and
secrets on the stack's network, removed afterwards; ECS: run_task). Both end with the
command's exit code. Neither takes the deploy lock: they change no release.
"""

from __future__ import annotations

import secrets as pysecrets
from typing import TYPE_CHECKING, TextIO

from shipyard.adapters.containers import LABEL_CONTAINER, LABEL_ENV, LABEL_VERSION, write_env_file
from shipyard.adapters.docker_streams import attached, quiet
from shipyard.commands import Command
from shipyard.container_run import (
    Placement,
    docker_create,
    docker_exec,
    docker_remove,
    docker_start_attached,
)
from shipyard.errors import DeployFailed, ShipyardError, UsageError
from shipyard.operations.command_types import CommandOptions as CommandOptions
from shipyard.operations.command_types import CommandResult as CommandResult
from shipyard.operations.ecs_exec_run import ecs_exec, ecs_run
from shipyard.operations.live import choose, local_release
from shipyard.plan import Plan

if TYPE_CHECKING:
    from shipyard.context import Context
    from shipyard.targets.local import LocalTarget
    from shipyard.taskdef_local import ContainerSpec

RUN_LABEL = "dev.shipyard.run-of"  # a one-off's stack: not LABEL_STACK, no release owns it


def check_command(command: tuple[str, ...], task: str) -> None:
    if not command or not any(part.strip() for part in command):
        raise UsageError(
            f"inv {task} needs a command after --",
            hint=f"e.g. inv {task} --env local -- /bin/sh -c 'echo hello'",
        )


def execute(ctx: Context, opts: CommandOptions, out: TextIO | None) -> CommandResult:
    check_command(opts.command, "exec")
    if ctx.config.target.kind != "local":
        return ecs_exec(ctx, opts, out)
    return _local_exec(ctx, opts, out)


def run(ctx: Context, opts: CommandOptions, out: TextIO | None) -> CommandResult:
    check_command(opts.command, "run")
    if ctx.config.target.kind != "local":
        return ecs_run(ctx, opts)  # its log lines come through ctx.console
    return _local_run(ctx, opts, out)


def _no_service(opts: CommandOptions) -> None:
    if opts.service:
        raise UsageError("--service names an ECS service; a local environment has none")


# -- local ------------------------------------------------------------------------------------
def _local_exec(ctx: Context, opts: CommandOptions, out: TextIO | None) -> CommandResult:
    _no_service(opts)
    release = local_release(ctx)
    info = release.named(opts.container)
    name = info.labels.get(LABEL_CONTAINER, info.name)
    result = CommandResult(ctx.environment, name, info.name, opts.command)
    result.facts["release_id"] = release.release_id
    argv = docker_exec(info.name, opts.command, tty=opts.tty)
    if opts.dry_run:
        result.plan = Plan(f"exec in {ctx.environment}")
        result.plan.add("exec", f"{name} of release {release.release_id}", argv)
        return result
    if info.status != "running":
        raise ShipyardError(
            f"container {info.name} of release {release.release_id} is {info.status}: "
            "there is nothing to exec into",
            hint=f"inv status --env {ctx.environment} shows what runs",
        )
    result.exit_code = attached(argv, stdout=out)
    return result


def _local_run(ctx: Context, opts: CommandOptions, out: TextIO | None) -> CommandResult:
    _no_service(opts)
    release = local_release(ctx)
    target = release.target
    task = target.task(target.document(release.release_id))
    names = [spec.name for spec in task.containers]
    chosen = choose(names, opts.container, target.app, f"release {release.release_id}")
    spec = task.container(chosen)
    name = f"{target.stack}-run-{pysecrets.token_hex(4)}"
    version = (
        release.containers[target.app].labels.get(LABEL_VERSION, "")
        if target.app in release.containers
        else ""
    )
    labels = {RUN_LABEL: target.stack, LABEL_ENV: ctx.environment, LABEL_CONTAINER: chosen}
    if version:
        labels[LABEL_VERSION] = version
    result = CommandResult(ctx.environment, chosen, name, opts.command)
    result.facts.update(release_id=release.release_id, image=spec.image)
    if opts.dry_run:
        keys = ", ".join(key for key, _ in spec.secrets)
        shown = f"<0600 env file of {keys}>" if keys else None
        create = _create_command(target, spec, opts, name, labels, shown)
        result.plan = _local_run_plan(ctx, release.release_id, chosen, create, name)
        return result
    if not (target.containers.image_present(spec.image) or target.runtime.pullable(spec.image)):
        raise DeployFailed(
            f"container {chosen!r}: image {spec.image} is not on this machine and shipyard "
            "pulls only from the configured registry here",
            hint="load it with docker, or set target.pull_missing_images = true",
        )
    result.exit_code = _run_once(target, spec, opts, name, labels, out)
    return result


def _create_command(
    target: LocalTarget,
    spec: ContainerSpec,
    opts: CommandOptions,
    name: str,
    labels: dict[str, str],
    env_file: str | None = None,
) -> Command:
    where = Placement(
        name=name,
        network=target.network,
        labels=labels,
        host_ports=[],
        env_file=env_file,
        pull=target.runtime.pullable(spec.image),
    )
    return docker_create(spec, opts.command, where, tty=opts.tty)


def _local_run_plan(
    ctx: Context, release_id: str, container: str, create: Command, name: str
) -> Plan:
    plan = Plan(f"run in {ctx.environment}")
    plan.add("create", f"{container} of release {release_id}, secrets in a 0600 env file", create)
    plan.add(
        "start",
        "attached: its output here, its exit code is inv run's",
        docker_start_attached(name),
    )
    plan.add("remove", "afterwards, whatever happened", docker_remove(name))
    return plan


def _run_once(
    target: LocalTarget,
    spec: ContainerSpec,
    opts: CommandOptions,
    name: str,
    labels: dict[str, str],
    out: TextIO | None,
) -> int:
    """Create the container (its secrets through an env file deleted once Docker read it),
    run it attached, remove it."""

    resolved = {key: target.runtime.resolve(ref) for key, ref in spec.secrets}
    env_file = write_env_file(target.runtime.env_dir, resolved) if resolved else None
    try:
        code, why = quiet(
            _create_command(target, spec, opts, name, labels, str(env_file) if env_file else None)
        )
    finally:
        if env_file is not None:
            env_file.unlink(missing_ok=True)
    if code != 0:
        raise DeployFailed(f"docker create {name} failed: {why}")
    try:
        return attached(docker_start_attached(name), stdout=out)
    finally:
        quiet(docker_remove(name))
