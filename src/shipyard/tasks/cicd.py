"""CI/CD tasks: ci, promote, ci-summary."""

# Invoke passes the context `c` to each task; not all use it
# ruff: noqa: ARG001

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from shipyard.tasks._common import context, json_wanted, report
from shipyard.tasks._flags import bind, dry_run_flag, env_flag, flag, task_options

if TYPE_CHECKING:
    from shipyard.console import Console
    from shipyard.pipelines.ci import CiOptions
    from shipyard.pipelines.promote import PromoteOptions, PromoteResult
    from shipyard.pipelines.steptable import StepLog

# what a pipeline's job hands the next ones (GitHub outputs), under these names
PIPELINE_OUTPUTS = ("version", "digest", "image", "task_definition_arn", "deployment_id", "outcome")


def _report_pipeline(
    console: Console, title: str, data: dict[str, Any], steps: StepLog | None
) -> None:
    """The step table (stdout and job summary), --json for machines, the GitHub outputs."""
    report(
        console,
        document=lambda: data,
        human=lambda: steps.show(title) if steps is not None else None,
        outputs={k: data.get(k) or "" for k in PIPELINE_OUTPUTS},
        human_under_json=True,
    )


@task_options
class CiFlags:
    env: str = env_flag()
    version: str | None = flag(None, "build this version instead of version.txt's")
    skip: str | None = flag(
        None,
        "stages to skip (comma-separated): lint,typecheck,tests,dockerfile,build,tag,push,scan",
    )
    only: str | None = flag(None, "comma-separated stages to run (all others skipped)")
    push: bool = flag(False, "push and scan even if this branch does not deploy")
    no_push: bool = flag(False, "never push or scan, whatever the branch")
    dry_run: bool = dry_run_flag()

    def ci_options(self) -> CiOptions:
        from shipyard.errors import UsageError
        from shipyard.pipelines.ci import CiOptions, parse_stage_list

        if self.push and self.no_push:
            raise UsageError("--push and --no-push contradict each other")
        return CiOptions(
            version=self.version,
            skip=parse_stage_list(self.skip, "--skip"),
            only=parse_stage_list(self.only, "--only"),
            push=True if self.push else (False if self.no_push else None),
            dry_run=self.dry_run,
        )


@bind(CiFlags)
def ci(c: Any, opts: CiFlags) -> None:
    """Lint, typecheck, tests (nox), Dockerfile lint, build, tag; on deploy branches push + scan."""
    from shipyard.pipelines import ci as pipeline

    options = opts.ci_options()
    ctx = context(opts.env, quiet=json_wanted())
    result = pipeline.CiResult(branch=None)
    try:
        pipeline.run(ctx, options, result)
    finally:
        if result.plan is not None:
            report(ctx.console, plan=result.plan)
        else:
            title = f"ci ({result.branch or 'detached HEAD'})"
            _report_pipeline(ctx.console, title, result.as_dict(), result.steps)


@task_options
class PromoteFlags:
    # promote names two environments: not the common --env
    source: str = flag(
        "staging", "the environment whose live image is promoted (e.g. staging)", name="from"
    )
    to: str = flag("production", "the environment to deploy it to (e.g. production)")
    version: str | None = flag(
        None, "the release tag to add (default: the live version; a prerelease needs one)"
    )
    digest: str | None = flag(
        None, "refuse unless --from serves exactly this digest (CI: the build job's output)"
    )
    commit: str | None = flag(
        None, "refuse unless the image was built from this commit (CI: $GITHUB_SHA)"
    )
    no_scan: bool = flag(False, "skip the scan gate on the image before it is promoted")
    no_verify: bool = flag(False, "skip the HTTP checks after the deploy")
    no_wait: bool = flag(False, "start the deployment and return without waiting")
    lock_wait: int = flag(0, "seconds to wait for the target's deploy lock")
    dry_run: bool = dry_run_flag()

    def promote_options(self) -> PromoteOptions:
        from shipyard.pipelines.promote import PromoteOptions

        return PromoteOptions(
            source=self.source,
            target=self.to,
            release_tag=self.version,
            digest=self.digest or None,
            commit=self.commit or None,
            scan=not self.no_scan,
            verify=not self.no_verify,
            wait=not self.no_wait,
            lock_wait=float(self.lock_wait),
            dry_run=self.dry_run,
        )


@bind(PromoteFlags)
def promote(c: Any, opts: PromoteFlags) -> None:
    """Deploy the exact digest live in --from to --to (never rebuilt), adding the release tag."""
    from shipyard.pipelines import promote as pipeline

    source_ctx = context(opts.source, quiet=json_wanted())
    target_ctx = context(opts.to, quiet=json_wanted())
    options = opts.promote_options()
    result = pipeline.PromoteResult(opts.source, opts.to)
    try:
        pipeline.run(source_ctx, target_ctx, options, result)
    finally:
        _report_promote(target_ctx.console, result)


def _report_promote(console: Console, result: PromoteResult) -> None:
    plan = result.plan
    if plan is None:
        title = f"promote {result.source} -> {result.target}"
        _report_pipeline(console, title, result.as_dict(), result.steps)
    else:  # under --json, the plan's document follows it
        show_plan = functools.partial(plan.show, console)
        report(console, document=result.as_dict, human=show_plan, human_under_json=True)


@task_options
class CiSummaryFlags:
    # the workflow's last job: it names no environment
    needs_file: str | None = flag(
        None, "read the job results from this file instead of $NEEDS_JSON"
    )

    def needs_text(self) -> str | None:
        """The workflow's `toJSON(needs)`."""
        import os
        from pathlib import Path

        return (
            Path(self.needs_file).read_text() if self.needs_file else os.environ.get("NEEDS_JSON")
        )


@bind(CiSummaryFlags)
def ci_summary(c: Any, opts: CiSummaryFlags) -> None:
    """The workflow's closing table: every job's result, the version and the digest."""
    from shipyard.console import Console
    from shipyard.pipelines.ci import load_needs, summarize_needs

    console = Console(quiet=json_wanted())
    rows, overall = summarize_needs(load_needs(opts.needs_text()))
    report(
        console,
        document=lambda: {
            "outcome": overall,
            "jobs": [dict(zip(JOB_COLUMNS, r, strict=True)) for r in rows],
        },
        human=lambda: _show_summary(console, rows, overall),
        outputs={"outcome": overall},
        human_under_json=True,
    )


JOB_COLUMNS = ("job", "result", "version", "digest")


def _show_summary(console: Console, rows: list[list[str]], overall: str) -> None:
    import os

    from shipyard.notify import ci_run_url

    # the workflow's own name under GitHub Actions, so the summary says which one ran
    console.table(list(JOB_COLUMNS), rows, title=os.environ.get("GITHUB_WORKFLOW") or "ci")
    run_url = ci_run_url(os.environ)
    if run_url:
        console.step_summary(f"[CI run]({run_url})\n")
    console.line(f"overall: {overall}")
