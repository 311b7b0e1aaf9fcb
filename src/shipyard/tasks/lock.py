"""inv lock: show or free an environment's deploy lock (the lock comes from get_lock(ctx))."""

# invoke hands every task its context `c`; not all use it
# ruff: noqa: ARG001

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.tasks._common import context, report
from shipyard.tasks._flags import bind, env_flag, flag, task_options

if TYPE_CHECKING:
    from shipyard.context import Context
    from shipyard.locking import Lock, LockInfo


@task_options
class LockFlags:
    env: str = env_flag()
    release: bool = flag(
        False,
        "free the lock if this run holds it (in CI: this job attempt; elsewhere: you on this "
        "host); another run's lock is left, with a line saying whose",
    )
    force: bool = flag(
        False, "with --release: free the lock whoever holds it (when its owner is gone)"
    )
    status: bool = flag(False, "show who holds the lock (the default)")


@bind(LockFlags)
def lock(c: Any, opts: LockFlags) -> None:
    """Show or free an environment's deploy lock."""
    from shipyard.locking import get_lock

    if opts.force and not opts.release:
        from shipyard.errors import UsageError

        raise UsageError("--force only goes with --release", hint="inv lock --release --force")
    ctx = context(opts.env)
    if opts.release:
        _release_lock(ctx, get_lock(ctx), force=opts.force)
    else:
        _show_lock(ctx, get_lock(ctx))


def _show_lock(ctx: Context, the_lock: Lock) -> None:
    env = ctx.environment
    info = the_lock.status()
    stale = the_lock.leftover() if info is None else None
    report(
        ctx.console,
        document=lambda: {
            "environment": env,
            "held": info is not None,
            "holder": info.as_dict() if info else None,
            "stale": stale.as_dict() if stale else None,
        },
        human=lambda: _show_holder(ctx, info, stale),
    )


def _show_holder(ctx: Context, info: LockInfo | None, stale: LockInfo | None) -> None:
    import time

    env = ctx.environment
    if info is None:
        extra = f" (stale entry of {stale.owner}, whose process is gone)" if stale else ""
        ctx.console.line(f"{env}: not locked{extra}")
        return
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.since))
    ctx.console.table(
        ["environment", "holder", "since", "message"],
        [[env, info.owner, since, info.message]],
        title="lock",
    )


def _release_lock(ctx: Context, the_lock: Lock, *, force: bool) -> None:
    """Free this run's lock (or anyone's, forced). Another run's lock left alone is not a
    failure: the workflow's always() cleanup step must not fail the job for it."""
    env = ctx.environment
    result = the_lock.free(force=force)
    freed, kept = result.freed, result.kept
    report(
        ctx.console,
        document=lambda: {
            "environment": env,
            "released": freed.as_dict() if freed else None,
            "left": kept.as_dict() if kept else None,
        },
        human=lambda: ctx.console.line(_release_line(env, freed, kept)),
    )


def _release_line(env: str, freed: LockInfo | None, kept: LockInfo | None) -> str:
    if freed:
        why = f": {freed.message}" if freed.message else ""
        return f"released the {env} lock held by {freed.owner}{why}"
    if kept:
        why = f" ({kept.message})" if kept.message else ""
        return (
            f"left the {env} lock of {kept.owner}{why}: not this run's "
            f"(inv lock --env {env} --release --force frees it)"
        )
    return f"the {env} lock was not held"
