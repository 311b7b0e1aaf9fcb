"""What `inv logs`, `inv exec` and `inv run` act on: the live release of an environment,
found as `inv status` finds it (the local target's observation, an ECS service's serving task
definition), and the container named by --container. Everything here only reads; a bad name
is a UsageError (exit 2) before anything happens."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shipyard.adapters.containers import LABEL_CONTAINER, LABEL_RELEASE, LABEL_STACK
from shipyard.errors import AwsError, ShipyardError, StateUnknown, UsageError
from shipyard.records import record
from shipyard.targets import get_target
from shipyard.targets.ecs_base import EcsBase
from shipyard.targets.local import LocalTarget

if TYPE_CHECKING:
    from shipyard.adapters.containers import ContainerInfo
    from shipyard.config.targets import EcsServiceConfig
    from shipyard.context import Context
    from shipyard.targets.ecs_base import EcsBase
    from shipyard.targets.local import LocalTarget


def choose(names: Sequence[str], wanted: str | None, default: str, where: str) -> str:
    """`wanted` when it is one of `names`; without it the default (the app container)."""
    if wanted is None:
        return default if default in names or not names else names[0]
    if wanted not in names:
        raise UsageError(
            f"{where} has no container {wanted!r} (its containers: {', '.join(names) or 'none'})",
            hint="pass one of them to --container",
        )
    return wanted


def nothing_live(ctx: Context, detail: str) -> ShipyardError:
    env = ctx.environment
    return ShipyardError(
        f"nothing is live in {env}: {detail}", hint=f"release first: inv release --env {env}"
    )


# -- local ------------------------------------------------------------------------------------
@record
class LocalRelease:
    target: LocalTarget
    release_id: str
    containers: dict[str, ContainerInfo]  # by the task definition's container name

    def named(self, wanted: str | None) -> ContainerInfo:
        where = f"release {self.release_id}"
        return self.containers[choose(list(self.containers), wanted, self.target.app, where)]


def local_release(ctx: Context, release: str | None = None) -> LocalRelease:
    """The live release (or `release`) with its containers on this machine."""

    target = LocalTarget(ctx)
    if release is None:
        serving = target.observe()
        if not serving.known:
            raise StateUnknown(f"what serves in {ctx.environment} cannot be told: {serving.detail}")
        if serving.release_id is None:
            raise nothing_live(ctx, serving.detail)
        release = serving.release_id
    listed = target.containers.list({LABEL_STACK: target.stack, LABEL_RELEASE: release})
    if not listed:
        everything = target.containers.list({LABEL_STACK: target.stack})
        known = sorted({c.release for c in everything if c.release}, reverse=True)
        raise UsageError(
            f"release {release} has no containers on this machine",
            hint=f"releases that have: {', '.join(known) or 'none'} (inv status --env "
            f"{ctx.environment} lists the history)",
        )
    by_name = {c.labels.get(LABEL_CONTAINER, c.name): c for c in listed}
    return LocalRelease(target, release, by_name)


# -- ECS --------------------------------------------------------------------------------------
@record
class EcsService:
    target: EcsBase
    service: EcsServiceConfig
    described: dict[str, Any]  # describe_services' answer for it
    taskdef_arn: str  # the live revision, or the one --release named
    taskdef: dict[str, Any]

    @property
    def cluster(self) -> str:
        return self.target.cfg.cluster

    @property
    def container_names(self) -> list[str]:
        return [str(c.get("name")) for c in self.taskdef.get("containerDefinitions", [])]

    def container(self, wanted: str | None) -> str:
        where = f"task definition {self.taskdef_arn.rsplit('/', 1)[-1]}"
        return choose(self.container_names, wanted, self.target.container_of(self.service), where)


def ecs_target(ctx: Context) -> EcsBase:
    target = get_target(ctx)
    if not isinstance(target, EcsBase):
        raise UsageError(f"environment {ctx.environment} is not an ECS environment")
    return target


def service_config(target: EcsBase, name: str | None) -> EcsServiceConfig:
    services = target.cfg.services
    if name is None:
        return services[0]
    for scfg in services:
        if scfg.name == name:
            return scfg
    raise UsageError(
        f"{target.environment} has no service {name!r} "
        f"(its services: {', '.join(s.name for s in services)})",
        hint="pass one of them to --service",
    )


def ecs_service(ctx: Context, service: str | None, release: str | None = None) -> EcsService:
    """The service, its live task definition (or the revision `release` names: an ARN,
    family:revision or a revision number) and that definition's content."""
    target = ecs_target(ctx)
    scfg = service_config(target, service)
    described = target.ecs.describe_service(target.cfg.cluster, scfg.name)
    live = target.serving_of(described)
    if release is None and live is None:
        raise nothing_live(ctx, f"{scfg.name} runs no task definition that can be told")
    ref = str(live) if release is None else _revision_ref(release, str(live or ""))
    try:
        document, _ = target.ecs.describe_task_definition(ref)
    except AwsError as exc:
        # ECS answers a revision that does not exist with ClientException
        if release is None or not any(f": {c}" in exc.message for c in _NO_SUCH_REVISION):
            raise
        raise UsageError(f"--release {release}: {exc.message}") from None
    arn = str(document.get("taskDefinitionArn") or ref)
    return EcsService(target, scfg, described, arn, document)


_NO_SUCH_REVISION = ("ClientException", "InvalidParameterException")


def _revision_ref(release: str, live: str) -> str:
    if release.isdigit():
        if not live:
            raise UsageError(f"--release {release}: no live revision to take the family from")
        return f"{live.rsplit('/', 1)[-1].rsplit(':', 1)[0]}:{release}"
    return release
