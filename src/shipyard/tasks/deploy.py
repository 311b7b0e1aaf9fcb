"""Environment tasks: deploy, wait, verify, status, rollback. Each works for every
environment: the target comes from get_target(ctx), the lock from get_lock(ctx)."""

# invoke hands every task its context `c`; not all use it
# ruff: noqa: ARG001

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.tasks._common import context, report
from shipyard.tasks._flags import bind, dry_run_flag, env_flag, flag, task_options

if TYPE_CHECKING:
    from shipyard.context import Context
    from shipyard.errors import VerifyFailed
    from shipyard.targets.base import DeployOptions, DeployResult, VerifyResult

LOCK_WAIT_HELP = "wait up to SECONDS for another deploy's lock instead of failing at once"
MESSAGE_HELP = "why: stored with the lock and the release record"


def report_rollout(ctx: Context, result: DeployResult, title: str) -> None:
    """Plan, JSON or table of a rollout's result, then the GitHub outputs."""
    from shipyard.operations import deploy as op

    report(
        ctx.console,
        plan=result.plan,
        document=lambda: op.as_json(result),
        human=lambda: op.show(result, ctx.console, title=title),
        outputs={
            "version": result.version,
            "digest": result.digest,
            "url": result.url,
            "outcome": result.outcome,
            "deployment_id": result.details.get("deployment_id"),
        },
    )


@task_options
class DeployFlags:
    env: str = env_flag()
    version: str | None = flag(
        None, "deploy this version (default: version.txt); it must be in the registry"
    )
    lock_wait: float = flag(0.0, LOCK_WAIT_HELP)
    message: str = flag("", MESSAGE_HELP)
    no_wait: bool = flag(
        False, "start the rollout and return (ECS: with the deployment id; follow it with inv wait)"
    )
    dry_run: bool = dry_run_flag()


def _rollout_options(opts: DeployFlags | RollbackFlags) -> DeployOptions:
    from shipyard.targets.base import DeployOptions

    return DeployOptions(
        dry_run=opts.dry_run, wait=not opts.no_wait, lock_wait=opts.lock_wait, message=opts.message
    )


@bind(DeployFlags)
def deploy(c: Any, opts: DeployFlags) -> None:
    """Deploy a pushed image (pinned by digest) to an environment and wait until it serves."""
    from shipyard.operations import deploy as op

    ctx = context(opts.env)
    report_rollout(ctx, op.run(ctx, opts.version, _rollout_options(opts)), "deploy")


@task_options
class WaitFlags:
    env: str = env_flag()
    deployment: str | None = flag(
        None, "follow this deployment (an ECS deployment id) until it ends"
    )


@bind(WaitFlags)
def wait(c: Any, opts: WaitFlags) -> None:
    """Wait until an environment is settled (a rollout left running ends; records a killed run
    left are finished) and say what serves. Exit codes as for deploy."""
    from shipyard.errors import StateUnknown
    from shipyard.rollout import api
    from shipyard.rollout.engine import serving_dict

    ctx = context(opts.env)
    serving = api.wait(ctx, follow=opts.deployment)
    line = f"{opts.env}: {serving.describe()} serves ({serving.detail})"
    unknown = StateUnknown(f"what serves in {opts.env} cannot be told: {serving.detail}")
    report(
        ctx.console,
        document=lambda: {"environment": opts.env, "serving": serving_dict(serving)},
        human=lambda: ctx.console.line(line),
        failure=None if serving.known else unknown,
    )


@task_options
class VerifyFlags:
    env: str = env_flag()
    url: str | None = flag(
        None, "check this URL instead of the environment's (config verify.url / the proxy)"
    )
    version: str | None = flag(
        None, "the version the checks expect (default: what is live, else version.txt)"
    )


@bind(VerifyFlags)
def verify(c: Any, opts: VerifyFlags) -> None:
    """Run the configured HTTP checks against what is live; print an OK/NG table."""
    from shipyard.operations import verify as op

    ctx = context(opts.env)
    target_url, expected = _verify_target(ctx, opts)
    result = op.run(op.VerifyOptions(target_url, expected), ctx.config.verify, console=ctx.console)
    failure = _verify_failure(result, target_url)
    report(
        ctx.console,
        document=lambda: _verify_document(result, expected, failure),
        human=lambda: op.show(result, ctx.console, title=f"verify {opts.env} ({target_url})"),
        outputs={"verified": str(result.ok).lower()},
        failure=None if result.ok else failure,
    )


def _verify_target(ctx: Context, opts: VerifyFlags) -> tuple[str, str]:
    """The URL to check and the version expected there: the flags', else what is live, else
    the config's URL and version.txt."""
    from shipyard.operations.version import read_current
    from shipyard.targets import get_target

    live = get_target(ctx).status() if opts.url is None or opts.version is None else None
    target_url = opts.url or (live.url if live else None) or ctx.config.verify.url
    if not target_url:
        from shipyard.errors import ConfigError

        raise ConfigError(f"no URL to verify {opts.env} at", hint="set verify.url or pass --url")
    expected = (
        opts.version
        or ((live.live or {}).get("version") if live else None)
        or str(read_current(ctx))
    )
    return target_url, expected


def _verify_failure(result: VerifyResult, target_url: str) -> VerifyFailed:
    from shipyard.errors import VerifyFailed

    bad = [check.name for check in result.checks if not check.ok]
    return VerifyFailed(f"{len(bad)} check(s) NG at {target_url}: {', '.join(bad)}")


def _verify_document(result: VerifyResult, expected: str, failure: VerifyFailed) -> Any:
    return {
        "url": result.url,
        "ok": result.ok,
        "outcome": "succeeded" if result.ok else "failed",
        "error": "" if result.ok else failure.one_line(),
        "exit_code": 0 if result.ok else failure.exit_code,
        "version": expected,
        "checks": [check.__dict__ for check in result.checks],
    }


@task_options
class StatusFlags:
    env: str = env_flag()


@bind(StatusFlags)
def status(c: Any, opts: StatusFlags) -> None:
    """What is live in an environment and what came before."""
    from shipyard.operations import status as op

    ctx = context(opts.env)
    result = op.run(ctx)
    report(
        ctx.console, document=lambda: op.as_json(result), human=lambda: op.show(result, ctx.console)
    )


@task_options
class RollbackFlags:
    env: str = env_flag()
    to: str | None = flag(
        None, "roll back to this version (it must have succeeded in this environment)"
    )
    lock_wait: float = flag(0.0, LOCK_WAIT_HELP)
    message: str = flag("", MESSAGE_HELP)
    no_wait: bool = flag(False, "start the rollback and return (ECS); follow it with inv wait")
    dry_run: bool = dry_run_flag()


@bind(RollbackFlags)
def rollback(c: Any, opts: RollbackFlags) -> None:
    """Return an environment to its previous good release (or --to VERSION)."""
    from shipyard.operations import rollback as op

    ctx = context(opts.env)
    report_rollout(ctx, op.run(ctx, opts.to, _rollout_options(opts)), "rollback")
