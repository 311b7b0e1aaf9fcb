"""Environment tasks: deploy, verify, status, rollback, lock, cleanup. Each works for every
environment: the target comes from get_target(ctx), the lock from get_lock(ctx)."""

# invoke hands every task its context `c` and the common flags; not all use them
# ruff: noqa: ARG001

from __future__ import annotations

from typing import Any

from shipyard.tasks._common import context, emit, shipyard_task

LOCK_WAIT_HELP = "wait up to SECONDS for another deploy's lock instead of failing at once"


@shipyard_task(
    help={
        "version": "deploy this version (default: version.txt); it must be in the registry",
        "lock_wait": LOCK_WAIT_HELP,
        "message": "why: stored with the lock and the release record",
        "no_wait": "start the rollout and return (ECS: with the deployment id; "
        "follow it with inv wait)",
    }
)
def deploy(
    c: Any,
    env: str = "local",
    version: str | None = None,
    lock_wait: float = 0.0,
    message: str = "",
    no_wait: bool = False,
    dry_run: bool = False,
    debug: bool = False,
    json: bool = False,
) -> None:
    """Deploy a pushed image (pinned by digest) to an environment and wait until it serves."""
    from shipyard.operations import deploy as op
    from shipyard.targets.base import DeployOptions

    ctx = context(env)
    opts = DeployOptions(dry_run=dry_run, wait=not no_wait, lock_wait=lock_wait, message=message)
    report_rollout(ctx, op.run(ctx, version, opts), "deploy", json)


def report_rollout(ctx: Any, result: Any, title: str, as_json: bool) -> None:
    """Plan, JSON or table of a rollout's result, then the GitHub outputs."""
    from shipyard.operations import deploy as op

    if result.plan is not None:
        result.plan.show(ctx.console)
        return
    if as_json:
        ctx.console.json(op.as_json(result))
    else:
        op.show(result, ctx.console, title=title)
    ctx.console.set_outputs(
        {
            "version": result.version,
            "digest": result.digest,
            "url": result.url,
            "outcome": result.outcome,
            "deployment_id": result.details.get("deployment_id"),
        }
    )


@shipyard_task(help={"deployment": "follow this deployment (an ECS deployment id) until it ends"})
def wait(
    c: Any,
    env: str = "local",
    deployment: str | None = None,
    debug: bool = False,
    json: bool = False,
) -> None:
    """Wait until an environment is settled (a rollout left running ends; records a killed run
    left are finished) and say what serves. Exit codes as for deploy."""
    from shipyard.errors import StateUnknown
    from shipyard.rollout import api
    from shipyard.rollout.engine import serving_dict

    ctx = context(env)
    serving = api.wait(ctx, follow=deployment)
    if json:
        ctx.console.json({"environment": env, "serving": serving_dict(serving)})
    else:
        ctx.console.line(f"{env}: {serving.describe()} serves ({serving.detail})")
    if not serving.known:
        raise StateUnknown(f"what serves in {env} cannot be told: {serving.detail}")


@shipyard_task(
    help={
        "url": "check this URL instead of the environment's (config verify.url / the proxy)",
        "version": "the version the checks expect (default: what is live, else version.txt)",
    }
)
def verify(
    c: Any,
    env: str = "local",
    url: str | None = None,
    version: str | None = None,
    debug: bool = False,
    json: bool = False,
) -> None:
    """Run the configured HTTP checks against what is live; print an OK/NG table."""
    from shipyard.errors import VerifyFailed
    from shipyard.operations import verify as op
    from shipyard.operations.version import read_current
    from shipyard.targets import get_target

    ctx = context(env)
    report = None
    if url is None or version is None:
        report = get_target(ctx).status()
    target_url = url or (report.url if report else None) or ctx.config.verify.url
    if not target_url:
        from shipyard.errors import ConfigError

        raise ConfigError(f"no URL to verify {env} at", hint="set verify.url or pass --url")
    expected = (
        version
        or ((report.live or {}).get("version") if report else None)
        or str(read_current(ctx))
    )
    result = op.run(op.VerifyOptions(target_url, expected), ctx.config.verify, console=ctx.console)
    bad = [c_.name for c_ in result.checks if not c_.ok]
    failure = VerifyFailed(f"{len(bad)} check(s) NG at {target_url}: {', '.join(bad)}")
    emit(
        ctx,
        json=json,
        document=lambda: {
            "url": result.url,
            "ok": result.ok,
            "outcome": "succeeded" if result.ok else "failed",
            "error": "" if result.ok else failure.one_line(),
            "exit_code": 0 if result.ok else failure.exit_code,
            "version": expected,
            "checks": [c_.__dict__ for c_ in result.checks],
        },
        human=lambda: op.show(result, ctx.console, title=f"verify {env} ({target_url})"),
        outputs={"verified": str(result.ok).lower()},
    )
    if not result.ok:
        raise failure


@shipyard_task()
def status(c: Any, env: str = "local", debug: bool = False, json: bool = False) -> None:
    """What is live in an environment and what came before."""
    from shipyard.operations import status as op

    ctx = context(env)
    report = op.run(ctx)
    if json:
        ctx.console.json(op.as_json(report))
    else:
        op.show(report, ctx.console)


@shipyard_task(
    help={
        "to": "roll back to this version (it must have succeeded in this environment)",
        "lock_wait": LOCK_WAIT_HELP,
        "message": "why: stored with the lock and the release record",
        "no_wait": "start the rollback and return (ECS); follow it with inv wait",
    }
)
def rollback(
    c: Any,
    env: str = "local",
    to: str | None = None,
    lock_wait: float = 0.0,
    message: str = "",
    no_wait: bool = False,
    dry_run: bool = False,
    debug: bool = False,
    json: bool = False,
) -> None:
    """Return an environment to its previous good release (or --to VERSION)."""
    from shipyard.operations import rollback as op
    from shipyard.targets.base import DeployOptions

    ctx = context(env)
    opts = DeployOptions(dry_run=dry_run, wait=not no_wait, lock_wait=lock_wait, message=message)
    report_rollout(ctx, op.run(ctx, to, opts), "rollback", json)


@shipyard_task(
    help={
        "release": "free the lock if this run holds it (in CI: this job attempt; elsewhere: "
        "you on this host); another run's lock is left, with a line saying whose",
        "force": "with --release: free the lock whoever holds it (when its owner is gone)",
        "status": "show who holds the lock (the default)",
    }
)
def lock(
    c: Any,
    env: str = "local",
    release: bool = False,
    force: bool = False,
    status: bool = False,
    debug: bool = False,
    json: bool = False,
) -> None:
    """Show or free an environment's deploy lock."""
    from shipyard.locking import get_lock

    if force and not release:
        from shipyard.errors import UsageError

        raise UsageError("--force only goes with --release", hint="inv lock --release --force")
    ctx = context(env)
    the_lock = get_lock(ctx)
    if release:
        _release_lock(ctx, the_lock, force=force, as_json=json)
        return
    info = the_lock.status()
    stale = the_lock.leftover() if info is None else None
    if json:
        ctx.console.json(
            {
                "environment": env,
                "held": info is not None,
                "holder": info.as_dict() if info else None,
                "stale": stale.as_dict() if stale else None,
            }
        )
        return
    if info is None:
        extra = f" (stale entry of {stale.owner}, whose process is gone)" if stale else ""
        ctx.console.line(f"{env}: not locked{extra}")
        return
    import time

    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.since))
    ctx.console.table(
        ["environment", "holder", "since", "message"],
        [[env, info.owner, since, info.message]],
        title="lock",
    )


def _release_lock(ctx: Any, the_lock: Any, *, force: bool, as_json: bool) -> None:
    """Free this run's lock (or anyone's, forced). Another run's lock left alone is not a
    failure: the workflow's always() cleanup step must not fail the job for it."""
    env = ctx.environment
    result = the_lock.free(force=force)
    freed, kept = result.freed, result.kept
    if as_json:
        ctx.console.json(
            {
                "environment": env,
                "released": freed.as_dict() if freed else None,
                "left": kept.as_dict() if kept else None,
            }
        )
    elif freed:
        why = f": {freed.message}" if freed.message else ""
        ctx.console.line(f"released the {env} lock held by {freed.owner}{why}")
    elif kept:
        why = f" ({kept.message})" if kept.message else ""
        ctx.console.line(
            f"left the {env} lock of {kept.owner}{why}: not this run's "
            f"(inv lock --env {env} --release --force frees it)"
        )
    else:
        ctx.console.line(f"the {env} lock was not held")


@shipyard_task()
def cleanup(
    c: Any, env: str = "local", dry_run: bool = False, debug: bool = False, json: bool = False
) -> None:
    """Remove old release containers and images; never the live release or the rollback target."""
    ctx = context(env)
    if ctx.config.target.kind != "local":
        from shipyard.operations import ecr_cleanup

        ecr_result = ecr_cleanup.run(ctx, ecr_cleanup.EcrCleanupOptions(dry_run=dry_run))
        ecr_cleanup.show(ecr_result, ctx.console)
        return
    from shipyard.operations import cleanup as op

    result = op.run(ctx, op.CleanupOptions(dry_run=dry_run))
    if json:
        ctx.console.json(op.as_json(result))
    else:
        op.show(result, ctx.console)
