"""inv rollback: return an environment to its previous good release, or to a version that
succeeded there before (--to). A version that never succeeded in the environment is refused."""

from __future__ import annotations

from shipyard.context import Context
from shipyard.rollout import api
from shipyard.targets.base import DeployOptions, DeployResult


def run(ctx: Context, to: str | None, opts: DeployOptions) -> DeployResult:
    return api.rollback(ctx, to, opts)
