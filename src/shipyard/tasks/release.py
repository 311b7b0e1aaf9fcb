"""inv release: version -> build -> tag -> push -> [scan] -> deploy -> verify -> [cleanup],
under the deploy lock, with notifications when configured (pipelines/release_stages.py)."""

# invoke hands every task its context `c` and the common flags; not all use them
# ruff: noqa: ARG001

from __future__ import annotations

from typing import Any

from shipyard.tasks._common import context, shipyard_task


@shipyard_task(
    help={
        "bump": "bump version.txt first: major | minor | patch | auto (default: release it as is)",
        "set": "set version.txt to this version first",
        "build_arg": "KEY=VALUE passed to the build (repeatable), e.g. HEALTHY=false",
        "rebuild": "build even when the registry holds this version built from this commit",
        "lock_wait": "wait up to SECONDS for another deploy's lock instead of failing at once",
        "message": "why: stored with the lock and the release record",
    },
    iterable=["build_arg"],
)
def release(
    c: Any,
    env: str = "local",
    bump: str | None = None,
    set: str | None = None,
    build_arg: list[str] | None = None,
    rebuild: bool = False,
    lock_wait: float = 0.0,
    message: str = "",
    dry_run: bool = False,
    debug: bool = False,
    json: bool = False,
) -> None:
    """Release: version, build, tag, push, [scan], deploy, verify, [cleanup]; one final table."""
    from shipyard.pipelines import release as pipeline
    from shipyard.pipelines.release_stages import notify_finish, standard_steps

    ctx = context(env)
    result = pipeline.run(
        ctx,
        pipeline.ReleaseOptions(
            bump=bump,
            set_version=set,
            build_args=tuple(build_arg or ()),
            rebuild=rebuild,
            dry_run=dry_run,
            lock_wait=lock_wait,
            message=message,
            extra_steps=standard_steps(ctx),
            on_finish=(notify_finish,),
        ),
    )
    if json and result.plan is None:
        ctx.console.json(result.as_json())
    else:
        pipeline.show(result, ctx)
    ctx.console.set_outputs(
        {
            "version": result.version,
            "digest": result.digest,
            "outcome": result.outcome,
            "release_id": result.release_id,
            "url": result.url,
        }
    )
    if result.error is not None:
        raise result.error
