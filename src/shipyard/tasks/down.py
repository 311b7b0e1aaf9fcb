"""Taking away what runs: inv down (a local environment; AWS environments are refused) and
inv cleanup (old releases, never the live one or the rollback target)."""

# Invoke hands every task its context `c`; not all use it
# ruff: noqa: ARG001

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.tasks._common import context, report
from shipyard.tasks._flags import bind, dry_run_flag, env_flag, flag, task_options

if TYPE_CHECKING:
    from shipyard.operations.down import DownResult


@task_options
class DownFlags:
    env: str = env_flag()
    volumes: bool = flag(False, "also remove the environment's named volumes (their data is lost)")
    message: str = flag("", "why: stored with the lock and the down record")
    dry_run: bool = dry_run_flag()


@bind(DownFlags)
def down(c: Any, opts: DownFlags) -> None:
    """Stop and remove a local environment's containers, network and proxy; record it."""
    from shipyard.operations import down as op

    ctx = context(opts.env)
    options = op.DownOptions(volumes=opts.volumes, dry_run=opts.dry_run, message=opts.message)
    result = op.run(ctx, options)
    report(
        ctx.console,
        plan=result.plan,
        document=result.as_dict,
        human=lambda: ctx.console.line(_summary(result)),
        outputs={"changed": str(result.changed).lower()},
    )


def _summary(result: DownResult) -> str:
    if not result.changed:
        return f"{result.environment}: already down (nothing of it runs)"
    parts = [f"{len(result.containers)} container(s)"]
    if result.proxy:
        parts.append("the proxy")
    if result.network:
        parts.append(f"network {result.network}")
    if result.volumes:
        parts.append(f"{len(result.volumes)} volume(s)")
    return f"{result.environment}: took down {', '.join(parts)}; nothing serves"


@task_options
class CleanupFlags:
    env: str = env_flag()
    dry_run: bool = dry_run_flag()


@bind(CleanupFlags)
def cleanup(c: Any, opts: CleanupFlags) -> None:
    """Remove old release containers and images; never the live release or the rollback target."""
    ctx = context(opts.env)
    if ctx.config.target.kind != "local":
        from shipyard.operations import ecr_cleanup

        found = ecr_cleanup.run(ctx, ecr_cleanup.EcrCleanupOptions(dry_run=opts.dry_run))
        report(ctx.console, human=lambda: ecr_cleanup.show(found, ctx.console))
        return
    from shipyard.operations import cleanup as op

    result = op.run(ctx, op.CleanupOptions(dry_run=opts.dry_run))
    report(
        ctx.console, document=lambda: op.as_json(result), human=lambda: op.show(result, ctx.console)
    )
