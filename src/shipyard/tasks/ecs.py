"""ECS tasks: diff (what a deploy would change against the live revision)."""

# ruff: noqa: ARG001

from __future__ import annotations

from typing import Any

from invoke.exceptions import Exit

from shipyard.tasks._common import context, shipyard_task


@shipyard_task(
    help={
        "version": "compare the image of this version (default: version.txt), "
        "resolved to its digest in ECR",
        "image": "compare this image reference instead (e.g. <repository>@sha256:...)",
    }
)
def diff(
    c: Any,
    env: str = "staging",
    version: str | None = None,
    image: str | None = None,
    debug: bool = False,
    json: bool = False,
) -> None:
    """Show what a deploy would change in each ECS service's task definition (fields and
    image) against the live revision: exit 0 when equal, 2 when different."""
    from shipyard.adapters.ecs import EcrImages
    from shipyard.errors import RegistryError, UsageError
    from shipyard.operations.version import read_current
    from shipyard.targets import get_target
    from shipyard.targets.ecs import EcsTarget
    from shipyard.versioning import docker_tag, parse

    ctx = context(env)
    target = get_target(ctx)
    if not isinstance(target, EcsTarget):
        raise UsageError(
            f"inv diff compares ECS task definitions; {env} deploys to {ctx.config.target.kind}"
        )
    semantic = parse(version, source="--version") if version else read_current(ctx)
    wanted = str(semantic)
    if image is None:
        repository = ctx.config.image.repository
        found = EcrImages(ctx.aws).digest_of(repository, docker_tag(semantic))
        if found is None:
            raise RegistryError(
                f"ECR repository {repository} has no image tagged {wanted}",
                hint="push it first (inv push), or pass --image <repository>@sha256:...",
            )
        digest, registry_id = found
        account = registry_id or target.account_id()
        image = f"{account}.dkr.ecr.{ctx.aws.region}.amazonaws.com/{repository}@{digest}"
    changes = target.diff(image, wanted)
    if json:
        ctx.console.json(
            [
                {
                    "service": name,
                    "live": live,
                    "changes": [{"field": f, "live": a, "desired": b} for f, a, b in rows],
                }
                for name, live, rows in changes
            ]
        )
    else:
        for name, live, rows in changes:
            if not rows:
                ctx.console.line(f"{name}: no change against {live}")
                continue
            ctx.console.table(
                ["field", f"live ({live})", "after deploy"],
                [[f, _shown(a), _shown(b)] for f, a, b in rows],
                title=f"{name}: {len(rows)} change(s)",
            )
    if any(rows for _, _, rows in changes):
        raise Exit(code=2)


def _shown(value: Any) -> str:
    import json as json_

    if value is None:
        return "(absent)"
    if isinstance(value, dict | list):
        text = json_.dumps(value, sort_keys=True)
        return text if len(text) <= 80 else text[:77] + "..."
    return str(value)
