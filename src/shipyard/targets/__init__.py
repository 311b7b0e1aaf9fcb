"""Deploy targets, chosen by config `target.kind` (imported lazily)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.errors import UsageError

if TYPE_CHECKING:
    from shipyard.context import Context
    from shipyard.rollout.model import Target


def get_target(ctx: Context) -> Target:
    kind = ctx.config.target.kind
    if kind == "local":
        from shipyard.targets.local import LocalTarget

        return LocalTarget(ctx)
    if kind == "ecs":
        from shipyard.targets.ecs import EcsTarget

        return EcsTarget(ctx)
    if kind == "ecs-bluegreen":
        from shipyard.targets.ecs_bluegreen import EcsBlueGreenTarget

        return EcsBlueGreenTarget(ctx)
    raise UsageError(f"unknown target kind {kind!r}")
