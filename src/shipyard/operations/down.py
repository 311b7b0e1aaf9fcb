"""inv down --env local: take a local environment down — its containers, network, proxy, port
rules and (asked for) volumes — under the deploy lock, and record it. Idempotent: a second run
finds nothing and records nothing. AWS environments are refused: shipyard never deletes a
cloud service."""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING

from shipyard.adapters.containers import LABEL_STACK, remove_env_files
from shipyard.errors import UsageError
from shipyard.history import Release, current_actor, new_release_id, now_iso
from shipyard.plan import Plan
from shipyard.records import record
from shipyard.rollout.lock import holding
from shipyard.targets.local import LocalTarget

if TYPE_CHECKING:
    from shipyard.context import Context
    from shipyard.targets.local import LocalTarget


@record
class DownOptions:
    volumes: bool = False
    dry_run: bool = False
    message: str = ""


@record(frozen=False)
class DownResult:
    environment: str
    containers: list[str] = field(default_factory=list)
    proxy: bool = False  # a running proxy was stopped
    network: str | None = None
    volumes: list[str] = field(default_factory=list)
    rules: int = 0  # port isolation rules removed
    was_live: str | None = None  # the release that served before
    recorded: str | None = None  # the history record of this down
    plan: Plan | None = None

    @property
    def changed(self) -> bool:
        return bool(self.containers or self.proxy or self.network or self.volumes or self.rules)

    def as_dict(self) -> dict[str, object]:
        return {
            "environment": self.environment,
            "containers": self.containers,
            "proxy_stopped": self.proxy,
            "network": self.network,
            "volumes": self.volumes,
            "rules": self.rules,
            "was_live": self.was_live,
            "recorded": self.recorded,
            "changed": self.changed,
        }


def _local_target(ctx: Context) -> LocalTarget:
    kind = ctx.config.target.kind
    if kind != "local":
        raise UsageError(
            f"{ctx.environment} runs on {kind}: shipyard does not delete cloud services",
            hint="scale or delete the ECS service yourself (aws ecs delete-service) if you mean it",
        )

    return LocalTarget(ctx)


def run(ctx: Context, opts: DownOptions) -> DownResult:
    target = _local_target(ctx)
    result = _found(target, opts)
    if opts.dry_run:
        result.plan = _plan(result)
        return result

    with holding(
        target.lock(),
        root=ctx.root,
        environment=ctx.environment,
        message=opts.message or "down",
        console=ctx.console,
    ):
        result = _found(target, opts)  # again, under the lock: a deploy may have just ended
        _take_down(target, result)
    return result


def _found(target: LocalTarget, opts: DownOptions) -> DownResult:
    containers = [c.name for c in target.containers.list({LABEL_STACK: target.stack})]
    labels = target.containers.network_labels(target.network)
    ours = labels is not None and labels.get(LABEL_STACK) == target.stack
    return DownResult(
        environment=target.environment,
        containers=sorted(containers),
        proxy=target.proxy.pid() is not None,
        network=target.network if ours else None,
        volumes=target.containers.volumes(LABEL_STACK, target.stack) if opts.volumes else [],
        was_live=target.history.read().live if target.history.path.exists() else None,
    )


def _take_down(target: LocalTarget, result: DownResult) -> None:
    target.proxy.stop()  # first: nothing is routed to a container that is going away
    target.containers.remove(result.containers)
    if result.network:
        target.containers.remove_network(result.network)
    target.containers.remove_volumes(result.volumes)
    if target.isolation.needed():
        result.rules = target.isolation.remove()
    remove_env_files(target.state_path / "run")
    if result.changed or result.was_live:
        result.recorded = _record(target)


def _record(target: LocalTarget) -> str:
    live = target.history.read().live_release if target.history.path.exists() else None
    release_id = new_release_id()
    target.history.begin(
        Release(
            release_id=release_id,
            version=live.version if live else "",
            digest=live.digest if live else "",
            image=live.image if live else "",
            taskdef_hash="",
            commit="",
            actor=current_actor(target.ctx.environ),
            started_at=now_iso(),
            kind="down",
            outcome="succeeded",
            replaces=live.release_id if live else None,
        )
    )
    target.history.finish(release_id, "succeeded", message="taken down", live=None)
    return release_id


def _plan(result: DownResult) -> Plan:
    plan = Plan(f"down {result.environment}")
    plan.add("proxy", "stop nginx" if result.proxy else "not running")
    plan.add("containers", ", ".join(result.containers) or "none")
    plan.add("network", result.network or "none of this stack's")
    plan.add("volumes", ", ".join(result.volumes) or "kept (pass --volumes to remove them)")
    plan.add("record", "a down record in the history; nothing is live afterwards")
    return plan
