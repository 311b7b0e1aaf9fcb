"""What both ECS targets share below the rollout phases: the AWS adapters, rendering task
definitions, the pre-flight refusals and the field diff against the live revision."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from shipyard.adapters.cloudwatch import CloudWatch
from shipyard.adapters.ecs import EcrImages, EcsApi, parse_ecr_image, short_arn
from shipyard.config.targets import EcsServiceConfig, EcsTargetConfig
from shipyard.errors import ConfigError, DeployFailed, RegistryError, UsageError
from shipyard.targets.base import Artifact
from shipyard.targets.ecs_records import TAG, Records, tag_safe
from shipyard.targets.ecs_watch import Follower
from shipyard.taskdef import Rendered, render
from shipyard.taskdef import diff as field_diff

if TYPE_CHECKING:
    from shipyard.context import Context


class EcsBase:
    kind = "ecs"
    detaches = True  # a deployment goes on in ECS without us: --no-wait may return after shift

    def __init__(
        self,
        ctx: Context,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not isinstance(ctx.config.target, EcsTargetConfig):
            raise ConfigError(f"target kind {ctx.config.target.kind!r} is not an ECS target")
        self.ctx = ctx
        self.environment = ctx.environment
        self.cfg: EcsTargetConfig = ctx.config.target
        self.console = ctx.console
        self.clock = clock
        self.sleep = sleep
        self.ecs = EcsApi(ctx.aws)
        self.cloudwatch = CloudWatch(ctx.aws)
        self.ecr = EcrImages(ctx.aws)
        self.records = Records(self.ecs, self.console)
        self.follower = Follower(self.ecs, self.cloudwatch, self.cfg, self.console, clock, sleep)
        self._account: str | None = None

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.cfg.services]

    @property
    def bake_seconds(self) -> float:
        return self.cfg.bake_seconds

    @property
    def public_url(self) -> str | None:
        return self.ctx.config.verify.url

    def deadline(self) -> float:
        return self.clock() + self.cfg.timeout_seconds

    # -- rendering -------------------------------------------------------------------------
    def container_of(self, service: EcsServiceConfig) -> str:
        return service.container or self.ctx.config.taskdef.container

    def overlays(self, service: EcsServiceConfig) -> list[str]:
        tcfg = self.ctx.config.taskdef
        result = []
        env_overlay = tcfg.overlay or f"deploy/taskdef/{self.ctx.environment}.json"
        if tcfg.overlay or (self.ctx.root / env_overlay).is_file():
            result.append(env_overlay)
        if service.taskdef_overlay:
            result.append(service.taskdef_overlay)
        return result

    def account_id(self, image: str | None = None) -> str:
        if self._account is None:
            registry_id = parse_ecr_image(image)[0] if image else None
            self._account = (
                self.ctx.config.aws.account_id or registry_id or self.ctx.aws.account_id()
            )
        return self._account

    def render(self, service: EcsServiceConfig, image: str | None, version: str) -> Rendered:
        """base + environment overlay (+ service overlay) + the image, placeholders filled."""
        return render(
            self.ctx.root,
            base=self.ctx.config.taskdef.base,
            overlays=self.overlays(service),
            container=self.container_of(service),
            image=image,
            variables={
                "environment": self.ctx.environment,
                "region": self.ctx.aws.region,
                "account_id": self.account_id(image),
                "version": version,
                "service": service.name,
            },
        )

    def release_tags(
        self, artifact: Artifact, scfg: EcsServiceConfig, actor: str
    ) -> dict[str, str]:
        return {
            f"{TAG}version": tag_safe(artifact.version),
            f"{TAG}digest": tag_safe(artifact.digest),
            f"{TAG}git-revision": tag_safe(artifact.revision or "-"),
            f"{TAG}environment": tag_safe(self.ctx.environment),
            f"{TAG}service": tag_safe(scfg.name),
            f"{TAG}actor": tag_safe(actor or "-"),
            f"{TAG}outcome": "pending",
        }

    # -- pre-flight ------------------------------------------------------------------------
    def check_alarms(self) -> None:
        """Refuse while a configured alarm is in ALARM; a name CloudWatch does not know is a
        configuration error (a typo must not switch the check off)."""
        alarming = [
            a
            for a in self.cloudwatch.alarms(self.cfg.alarms)
            if a.state not in ("OK", "INSUFFICIENT_DATA")
        ]
        if not alarming:
            return
        first = alarming[0]
        if first.state == "MISSING":
            raise ConfigError(
                f"CloudWatch alarm {first.name!r} does not exist",
                hint="fix target.alarms in the environment file",
            )
        raise DeployFailed(
            f"alarm {first.name} is in {first.state}: {first.reason}".rstrip(": "),
            hint="deploying now would hide the cause; fix it or wait until the alarm is OK",
        )

    def check_image(self, artifact: Artifact) -> None:
        if not artifact.digest.startswith("sha256:"):
            raise UsageError(
                f"image {artifact.image} is not pinned by digest",
                hint="deploy what `inv push` reported (<repository>@sha256:...)",
            )
        if artifact.read_from_ecr:
            self.console.progress(f"image check: {artifact.digest[:19]} was just read from ECR")
            return
        registry_id, repository, _ = parse_ecr_image(artifact.image)
        if registry_id is None and self.ctx.config.registry.kind == "ecr":
            repository = self.ctx.config.image.repository
        if registry_id is None and self.ctx.config.registry.kind != "ecr":
            self.console.progress(f"image check: {artifact.image} is not in ECR; skipped")
            return
        if not self.ecr.holds(repository, artifact.digest, registry_id=registry_id):
            raise RegistryError(
                f"ECR repository {repository} has no image {artifact.digest}",
                hint="push it first (inv push), or check the digest and the AWS account/region",
            )

    # -- diff ------------------------------------------------------------------------------
    def diff(self, image: str, version: str) -> list[tuple[str, str, list[tuple[str, Any, Any]]]]:
        """(service, live revision, changes) of each service: the live task definition
        against what a deploy of `image` would register."""

        services = self.ecs.describe_services(self.cfg.cluster, self.names)
        result = []
        for scfg in self.cfg.services:
            desired = self.render(scfg, image, version).document
            arn = self.serving_of(services[scfg.name])
            live: dict[str, Any] = {}
            if arn:
                live, _ = self.ecs.describe_task_definition(arn)
            changes = field_diff(without_defaults(live, desired), desired)
            result.append((scfg.name, short_arn(arn), changes))
        return result

    def serving_of(self, svc: Mapping[str, Any]) -> str | None:
        """The task definition that carries the service's traffic (overridden per kind)."""
        raise NotImplementedError


# What ECS fills in when a registered definition leaves it out; not a change worth showing.
CONTAINER_DEFAULTS: dict[str, Any] = {
    "cpu": 0,
    "essential": True,
    "privileged": False,
    "readonlyRootFilesystem": False,
    "interactive": False,
    "pseudoTerminal": False,
    "disableNetworking": False,
}


def without_defaults(live: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """`live` minus the values ECS filled in by default where `desired` says nothing."""
    result = dict(live)
    wanted = {c.get("name"): c for c in desired.get("containerDefinitions", [])}
    containers = []
    for container in live.get("containerDefinitions", []):
        want = wanted.get(container.get("name"), {})
        clean = {
            k: v
            for k, v in container.items()
            if k in want or k not in CONTAINER_DEFAULTS or CONTAINER_DEFAULTS[k] != v
        }
        if "portMappings" in container:
            clean["portMappings"] = _ports(container["portMappings"], want.get("portMappings", []))
        containers.append(clean)
    if "containerDefinitions" in live:
        result["containerDefinitions"] = containers
    return result


def _ports(live: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ports = []
    for i, mapping in enumerate(live):
        asked = wanted[i] if i < len(wanted) else {}
        m = dict(mapping)
        if "hostPort" not in asked and m.get("hostPort") == m.get("containerPort"):
            m.pop("hostPort", None)
        if "protocol" not in asked and m.get("protocol") == "tcp":
            m.pop("protocol", None)
        ports.append(m)
    return ports
