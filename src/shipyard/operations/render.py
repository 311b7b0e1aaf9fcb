"""inv render: the task definition a deploy would register (and, for blue/green, the AppSpec
it would hand CodeDeploy), rendered by the target's own code from deploy/taskdef/.

It needs no running service and asks AWS nothing: the account id is the configured one
(aws.account_id, AWS_ACCOUNT_ID, the ECR registry's) or the pre-flight's placeholder, said so
in a note. Secrets stay references (valueFrom), as the files hold them. The image is the
version's tag; a deploy pins the digest the registry holds for it.
"""

from __future__ import annotations

import re
from dataclasses import field
from typing import TYPE_CHECKING, Any

from shipyard.config.model import EcrRegistryConfig, OciRegistryConfig
from shipyard.errors import UsageError
from shipyard.operations.live import ecs_target, service_config
from shipyard.operations.version import read_current
from shipyard.preflight import PLACEHOLDER_ACCOUNT
from shipyard.records import record
from shipyard.targets.ecs_bluegreen import EcsBlueGreenTarget
from shipyard.targets.local import LocalTarget
from shipyard.versioning import docker_tag, parse

if TYPE_CHECKING:
    from shipyard.console import Console
    from shipyard.context import Context
    from shipyard.taskdef import Rendered

REVISION_PLACEHOLDER = "<the revision this deploy registers>"


@record
class RenderedService:
    service: str
    sources: tuple[str, ...]
    task_definition: dict[str, Any]
    appspec: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "service": self.service,
            "family": self.task_definition.get("family"),
            "sources": list(self.sources),
            "task_definition": self.task_definition,
        }
        if self.appspec is not None:
            doc["appspec"] = self.appspec
        return doc


@record(frozen=False)
class RenderResult:
    environment: str
    kind: str
    version: str
    image: str
    services: list[RenderedService] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "kind": self.kind,
            "version": self.version,
            "image": self.image,
            "services": [s.as_dict() for s in self.services],
            "notes": self.notes,
        }


def run(
    ctx: Context,
    *,
    version: str | None = None,
    image: str | None = None,
    service: str | None = None,
) -> RenderResult:
    semantic = parse(version, source="--version") if version else read_current(ctx)
    tag = docker_tag(semantic)
    if ctx.config.target.kind == "local":
        if service:
            raise UsageError("--service names an ECS service; a local environment has none")
        return _local(
            ctx, str(semantic), image or f"{_oci_server(ctx)}/{ctx.config.image.repository}:{tag}"
        )
    return _ecs(ctx, str(semantic), tag, image, service)


def _oci_server(ctx: Context) -> str:
    registry = ctx.config.registry
    url = registry.url if isinstance(registry, OciRegistryConfig) else ""
    return re.sub(r"^https?://", "", url).rstrip("/") or "registry"


def _local(ctx: Context, version: str, image: str) -> RenderResult:
    target = LocalTarget(ctx)
    rendered = target.rendered(image)
    result = RenderResult(ctx.environment, "local", version, image)
    result.services.append(RenderedService(target.stack, rendered.sources, rendered.document))
    result.notes.append(f"a deploy pins {image} by the digest the registry holds for it")
    return result


def _ecs(
    ctx: Context, version: str, tag: str, image: str | None, service: str | None
) -> RenderResult:
    target = ecs_target(ctx)
    registry = ctx.config.registry
    ecr_cfg = registry if isinstance(registry, EcrRegistryConfig) else None
    account = ctx.config.aws.account_id or (ecr_cfg.account_id if ecr_cfg else None)
    region = (ecr_cfg.region if ecr_cfg else None) or ctx.aws.region
    # an ECR reference: the target takes the account from it instead of asking STS
    server = f"{account or PLACEHOLDER_ACCOUNT}.dkr.ecr.{region}.amazonaws.com"
    ecr = f"{server}/{ctx.config.image.repository}:{tag}"
    shown = image or ecr
    result = RenderResult(ctx.environment, target.kind, version, shown)
    if account is None:
        result.notes.append(
            f"account id unknown without asking AWS: {PLACEHOLDER_ACCOUNT} stands for it "
            "(set AWS_ACCOUNT_ID or aws.account_id)"
        )
    result.notes.append(f"a deploy pins {shown} by the digest the registry holds for it")
    chosen = [service_config(target, service)] if service else target.cfg.services
    for scfg in chosen:
        rendered = target.render(scfg, ecr, version)
        document = _with_image(rendered, target.container_of(scfg), shown)
        spec = (
            target.appspec(scfg, REVISION_PLACEHOLDER)
            if isinstance(target, EcsBlueGreenTarget)
            else None
        )
        result.services.append(RenderedService(scfg.name, rendered.sources, document, spec))
    return result


def _with_image(rendered: Rendered, container: str, image: str) -> dict[str, Any]:
    document = rendered.document
    for c in document.get("containerDefinitions", []):
        if c.get("name") == container:
            c["image"] = image
    return document


def show(result: RenderResult, console: Console) -> None:
    """Each document as JSON on stdout (one service's task definition alone can be piped to
    `aws ecs register-task-definition --cli-input-json`); what it is, on stderr."""
    for item in result.services:
        console.progress(f"{item.service}: task definition from {' + '.join(item.sources)}")
        console.json(item.task_definition)
        if item.appspec is not None:
            console.progress(f"{item.service}: AppSpec for CodeDeploy")
            console.json(item.appspec)
    for note in result.notes:
        console.progress(f"note: {note}")
