"""inv release: version -> build -> tag -> push -> [scan] -> deploy -> verify -> [cleanup],
under the deploy lock, with notifications when configured (pipelines/release_stages.py)."""

# invoke hands every task its context `c`; not all use it
# ruff: noqa: ARG001

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.tasks._common import context, report
from shipyard.tasks._flags import bind, dry_run_flag, env_flag, flag, task_options

if TYPE_CHECKING:
    from collections.abc import Sequence

    from shipyard.context import Context
    from shipyard.pipelines.release import ReleaseOptions, ReleaseResult


@task_options
class ReleaseFlags:
    env: str = env_flag()
    bump: str | None = flag(
        None, "bump version.txt first: major | minor | patch | auto (default: release it as is)"
    )
    set_version: str | None = flag(None, "set version.txt to this version first", name="set")
    build_arg: Sequence[str] | None = flag(
        None, "KEY=VALUE passed to the build (repeatable), e.g. HEALTHY=false", iterable=True
    )
    rebuild: bool = flag(
        False, "build even when the registry holds this version built from this commit"
    )
    lock_wait: float = flag(
        0.0, "wait up to SECONDS for another deploy's lock instead of failing at once"
    )
    message: str = flag("", "why: stored with the lock and the release record")
    dry_run: bool = dry_run_flag()

    def release_options(self, ctx: Context) -> ReleaseOptions:
        from shipyard.pipelines.release import ReleaseOptions
        from shipyard.pipelines.release_stages import notify_finish, standard_steps

        return ReleaseOptions(
            bump=self.bump,
            set_version=self.set_version,
            build_args=tuple(self.build_arg or ()),
            rebuild=self.rebuild,
            dry_run=self.dry_run,
            lock_wait=self.lock_wait,
            message=self.message,
            extra_steps=standard_steps(ctx),
            on_finish=(notify_finish,),
        )


@bind(ReleaseFlags)
def release(c: Any, opts: ReleaseFlags) -> None:
    """Release: version, build, tag, push, [scan], deploy, verify, [cleanup]; one final table."""
    from shipyard.pipelines import release as pipeline

    ctx = context(opts.env)
    result = pipeline.run(ctx, opts.release_options(ctx))
    report(
        ctx.console,
        # pipeline.show() shows a dry run's plan; its outputs are set all the same
        document=None if result.plan is not None else result.as_json,
        human=lambda: pipeline.show(result, ctx),
        outputs=_release_outputs(result),
        failure=result.error,
    )


def _release_outputs(result: ReleaseResult) -> dict[str, Any]:
    return {
        "version": result.version,
        "digest": result.digest,
        "outcome": result.outcome,
        "release_id": result.release_id,
        "url": result.url,
    }
