"""inv loadtest: the k6 load check of an environment (operations/loadtest.py)."""

# invoke hands every task its context `c` and the common flags; not all use them
# ruff: noqa: ARG001

from __future__ import annotations

from typing import Any

from shipyard.tasks._common import context, emit, shipyard_task


@shipyard_task(
    help={
        "url": "load this URL instead of the environment's (verify.url / the local proxy)",
        "vus": "virtual users (default: loadtest.vus in config)",
        "duration": "how long, as k6 writes it: 30s, 1m30s (default: loadtest.duration)",
    }
)
def loadtest(
    c: Any,
    env: str = "local",
    url: str | None = None,
    vus: str | None = None,
    duration: str | None = None,
    dry_run: bool = False,
    debug: bool = False,
    json: bool = False,
) -> None:
    """Run k6 against an environment: a table of requests, failure rate, p50/p95/p99 and each
    threshold; k6's JSON summary in reports/loadtest-ENV.json; exit 1 when a threshold fails."""
    from shipyard.operations import loadtest as op

    ctx = context(env)
    opts = op.LoadOptions(
        url=url or op.environment_url(ctx), vus=op.parse_vus(vus), duration=duration
    )
    if dry_run:
        op.plan(ctx, opts).show(ctx.console)
        return
    result = op.run(ctx, opts)
    failure = op.failure(result)
    emit(
        ctx,
        json=json,
        document=lambda: result.as_json(failure),
        human=lambda: op.show(
            result, ctx.console, title=f"load check {env} ({result.command.url})"
        ),
        outputs={
            "loadtest_passed": str(result.ok).lower(),
            "loadtest_summary": result.command.summary,
        },
    )
    if failure is not None:
        raise failure
