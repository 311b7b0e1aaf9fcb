"""inv loadtest: the k6 load check of an environment (operations/loadtest.py)."""

# invoke hands every task its context `c`; not all use it
# ruff: noqa: ARG001

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.tasks._common import context, report
from shipyard.tasks._flags import bind, dry_run_flag, env_flag, flag, task_options

if TYPE_CHECKING:
    from shipyard.context import Context
    from shipyard.operations.loadtest import LoadOptions, LoadResult


@task_options
class LoadtestFlags:
    env: str = env_flag()
    url: str | None = flag(
        None, "load this URL instead of the environment's (verify.url / the local proxy)"
    )
    vus: str | None = flag(None, "virtual users (default: loadtest.vus in config)")
    duration: str | None = flag(
        None, "how long, as k6 writes it: 30s, 1m30s (default: loadtest.duration)"
    )
    dry_run: bool = dry_run_flag()

    def load_options(self, ctx: Context) -> LoadOptions:
        from shipyard.operations import loadtest as op

        url = self.url or op.environment_url(ctx)
        return op.LoadOptions(url=url, vus=op.parse_vus(self.vus), duration=self.duration)


@bind(LoadtestFlags)
def loadtest(c: Any, opts: LoadtestFlags) -> None:
    """Run k6 against an environment: a table of requests, failure rate, p50/p95/p99 and each
    threshold; k6's JSON summary in reports/loadtest-ENV.json; exit 1 when a threshold fails."""
    from shipyard.operations import loadtest as op

    ctx = context(opts.env)
    load = opts.load_options(ctx)
    if opts.dry_run:
        report(ctx.console, plan=op.plan(ctx, load))
        return
    result = op.run(ctx, load)
    report(
        ctx.console,
        document=lambda: result.as_json(op.failure(result)),
        human=lambda: _show_load(ctx, opts.env, result),
        outputs=_load_outputs(result),
        failure=op.failure(result),
    )


def _show_load(ctx: Context, env: str, result: LoadResult) -> None:
    from shipyard.operations import loadtest as op

    op.show(result, ctx.console, title=f"load check {env} ({result.command.url})")


def _load_outputs(result: LoadResult) -> dict[str, str]:
    return {
        "loadtest_passed": str(result.ok).lower(),
        "loadtest_summary": result.command.summary,
    }
