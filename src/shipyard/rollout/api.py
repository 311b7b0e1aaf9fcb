"""The rollouts shipyard runs, each through the engine: deploy an artifact, roll back to an
earlier release, wait for an environment to settle. Callers (tasks, release, promote) use
these and nothing below them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shipyard.rollout.engine import Rollout
from shipyard.rollout.model import UNDER_WAY, Kind, Request, Serving, Target
from shipyard.targets import get_target
from shipyard.targets.base import Artifact, DeployOptions, DeployResult

if TYPE_CHECKING:
    from shipyard.context import Context

Chooser = Callable[[Serving], Artifact]


def _target(ctx: Context, target: Target | None) -> Target:
    return target or get_target(ctx)


def _request(kind: Kind, choose: Chooser, opts: DeployOptions, message: str) -> Request:
    return Request(
        kind,
        choose,
        message=message,
        actor=opts.actor,
        wait=opts.wait,
        lock_wait=opts.lock_wait,
        notify=opts.notify,
        verify=opts.verify,
    )


def _planned(ctx: Context, engine: Rollout, request: Request) -> DeployResult:
    plan = engine.plan(request)
    return DeployResult(ctx.environment, "", "", "planned", url=engine.phases.public_url, plan=plan)


def deploy(
    ctx: Context,
    artifact: Artifact | Chooser,
    opts: DeployOptions,
    *,
    target: Target | None = None,
    **gate: Any,
) -> DeployResult:
    """Put `artifact` live (a callable is asked for it inside the lock, after observing)."""
    engine = Rollout(ctx, _target(ctx, target), **gate)
    choose: Chooser = artifact if callable(artifact) else (lambda _before: artifact)
    request = _request("deploy", choose, opts, opts.message)
    return _planned(ctx, engine, request) if opts.dry_run else engine.run(request)


def rollback(
    ctx: Context,
    to: str | None,
    opts: DeployOptions,
    *,
    target: Target | None = None,
    **gate: Any,
) -> DeployResult:
    """Return to the previous good release, or to `to`; chosen inside the lock."""
    chosen = _target(ctx, target)
    engine = Rollout(ctx, chosen, **gate)
    message = opts.message or f"rollback to {to or 'the previous good release'}"
    request = _request(
        "rollback", lambda before: chosen.rollback_artifact(before, to), opts, message
    )
    return _planned(ctx, engine, request) if opts.dry_run else engine.run(request)


def wait(
    ctx: Context, *, follow: str | None = None, target: Target | None = None, **gate: Any
) -> Serving:
    """Settle the environment (finish records a killed run left, follow a rollout left
    running) and return what serves. Without `follow`, a rollout found under way (one a
    --no-wait run left) is followed to its end too: waiting means until it is stable."""
    engine = Rollout(ctx, _target(ctx, target), **gate)
    serving = engine.settle(follow=follow)
    for rollout in [] if follow else serving.facts.get(UNDER_WAY, []):
        serving = engine.settle(follow=rollout)
    return serving
