"""ECS tasks: diff (what a deploy would change against the live revision)."""

# ruff: noqa: ARG001

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from invoke.exceptions import Exit

from shipyard.tasks._common import context, report
from shipyard.tasks._flags import bind, env_flag, flag, task_options

if TYPE_CHECKING:
    from shipyard.context import Context
    from shipyard.targets.ecs import EcsTarget

# what target.diff() gives: per service, its name, the live revision and (field, live, desired)
Changes = list[tuple[str, str, list[tuple[str, Any, Any]]]]


@task_options
class DiffFlags:
    env: str = env_flag("staging")
    version: str | None = flag(
        None,
        "compare the image of this version (default: version.txt), resolved to its digest in ECR",
    )
    image: str | None = flag(
        None, "compare this image reference instead (e.g. <repository>@sha256:...)"
    )


@bind(DiffFlags)
def diff(c: Any, opts: DiffFlags) -> None:
    """Show what a deploy would change in each ECS service's task definition (fields and
    image) against the live revision: exit 0 when equal, 2 when different."""
    ctx = context(opts.env)
    target = _ecs_target(ctx)
    changes = target.diff(*_wanted_image(ctx, target, opts))
    report(
        ctx.console,
        document=lambda: _diff_document(changes),
        human=lambda: _show(ctx, changes),
        failure=Exit(code=2) if any(rows for _, _, rows in changes) else None,
    )


def _ecs_target(ctx: Context) -> EcsTarget:
    from shipyard.errors import UsageError
    from shipyard.targets import get_target
    from shipyard.targets.ecs import EcsTarget

    target = get_target(ctx)
    if not isinstance(target, EcsTarget):
        raise UsageError(
            f"inv diff compares ECS task definitions; {ctx.environment} deploys to "
            f"{ctx.config.target.kind}"
        )
    return target


def _wanted_image(ctx: Context, target: EcsTarget, opts: DiffFlags) -> tuple[str, str]:
    """The image a deploy of --version (or --image) would register, and its version."""
    from shipyard.adapters.ecs import EcrImages
    from shipyard.errors import RegistryError
    from shipyard.operations.version import read_current
    from shipyard.versioning import docker_tag, parse

    semantic = parse(opts.version, source="--version") if opts.version else read_current(ctx)
    wanted = str(semantic)
    if opts.image is not None:
        return opts.image, wanted
    repository = ctx.config.image.repository
    found = EcrImages(ctx.aws).digest_of(repository, docker_tag(semantic))
    if found is None:
        raise RegistryError(
            f"ECR repository {repository} has no image tagged {wanted}",
            hint="push it first (inv push), or pass --image <repository>@sha256:...",
        )
    digest, registry_id = found
    account = registry_id or target.account_id()
    return f"{account}.dkr.ecr.{ctx.aws.region}.amazonaws.com/{repository}@{digest}", wanted


def _diff_document(changes: Changes) -> Any:
    return [
        {
            "service": name,
            "live": live,
            "changes": [{"field": f, "live": a, "desired": b} for f, a, b in rows],
        }
        for name, live, rows in changes
    ]


def _show(ctx: Context, changes: Changes) -> None:
    for name, live, rows in changes:
        if not rows:
            ctx.console.line(f"{name}: no change against {live}")
            continue
        ctx.console.table(
            ["field", f"live ({live})", "after deploy"],
            [[f, _shown(a), _shown(b)] for f, a, b in rows],
            title=f"{name}: {len(rows)} change(s)",
        )


def _shown(value: Any) -> str:
    import json

    if value is None:
        return "(absent)"
    if isinstance(value, dict | list):
        text = json.dumps(value, sort_keys=True)
        return text if len(text) <= 80 else text[:77] + "..."
    return str(value)
