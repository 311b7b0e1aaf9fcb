"""inv down: take a local environment down (AWS environments are refused)."""

# Invoke hands every task its context `c` and the common flags; not all use them
# ruff: noqa: ARG001

from __future__ import annotations

from typing import Any

from shipyard.tasks._common import context, emit, shipyard_task


@shipyard_task(
    help={
        "volumes": "also remove the environment's named volumes (their data is lost)",
        "message": "why: stored with the lock and the down record",
    }
)
def down(
    c: Any,
    env: str = "local",
    volumes: bool = False,
    message: str = "",
    dry_run: bool = False,
    debug: bool = False,
    json: bool = False,
) -> None:
    """Stop and remove a local environment's containers, network and proxy; record it."""
    from shipyard.operations import down as op

    ctx = context(env)
    result = op.run(ctx, op.DownOptions(volumes=volumes, dry_run=dry_run, message=message))
    if result.plan is not None:
        result.plan.show(ctx.console)
        return
    emit(
        ctx,
        json=json,
        document=result.as_dict,
        human=lambda: ctx.console.line(_summary(result)),
        outputs={"changed": str(result.changed).lower()},
    )


def _summary(result: Any) -> str:
    if not result.changed:
        return f"{result.environment}: already down (nothing of it runs)"
    parts = [f"{len(result.containers)} container(s)"]
    if result.proxy:
        parts.append("the proxy")
    if result.network:
        parts.append(f"network {result.network}")
    if result.volumes:
        parts.append(f"{len(result.volumes)} volume(s)")
    return f"{result.environment}: took down {', '.join(parts)}; nothing serves"
