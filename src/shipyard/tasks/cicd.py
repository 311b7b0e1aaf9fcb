"""CI/CD tasks: ci, promote, setup-cicd, doctor."""

# Invoke passes the context `c` and every flag (--debug is read by shipyard_task) to each task.
# ruff: noqa: ARG001

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.tasks._common import context, shipyard_task

if TYPE_CHECKING:
    from shipyard.console import Console
    from shipyard.context import Context
    from shipyard.operations.setup_cicd import SetupResult
    from shipyard.pipelines.steptable import StepLog


def _report(
    ctx: Context, title: str, data: dict[str, Any], steps: StepLog | None, as_json: bool
) -> None:
    """The step table (stdout and job summary), the GitHub outputs, and --json for machines."""
    if steps is not None:
        steps.show(title)
    ctx.console.set_outputs(
        {
            k: data.get(k) or ""
            for k in (
                "version",
                "digest",
                "image",
                "task_definition_arn",
                "deployment_id",
                "outcome",
            )
        }
    )
    if as_json:
        ctx.console.json(data)


@shipyard_task(
    help={
        "version": "build this version instead of version.txt's",
        "skip": "stages to skip (comma-separated): lint,typecheck,tests,dockerfile,build,tag,"
        "push,scan",
        "only": "comma-separated stages to run (all others skipped)",
        "push": "push and scan even if this branch does not deploy",
        "no_push": "never push or scan, whatever the branch",
    }
)
def ci(
    c: Any,
    env: str = "local",
    version: str | None = None,
    skip: str | None = None,
    only: str | None = None,
    push: bool = False,
    no_push: bool = False,
    dry_run: bool = False,
    debug: bool = False,
    json: bool = False,
) -> None:
    """Lint, typecheck, tests (nox), Dockerfile lint, build, tag; on deploy branches push + scan."""
    from shipyard.errors import UsageError
    from shipyard.pipelines import ci as pipeline

    if push and no_push:
        raise UsageError("--push and --no-push contradict each other")
    opts = pipeline.CiOptions(
        version=version,
        skip=pipeline.parse_stage_list(skip, "--skip"),
        only=pipeline.parse_stage_list(only, "--only"),
        push=True if push else (False if no_push else None),
        dry_run=dry_run,
    )
    ctx = context(env, quiet=json)
    result = pipeline.CiResult(branch=None)
    try:
        pipeline.run(ctx, opts, result)
    finally:
        if result.plan is not None:
            result.plan.show(ctx.console)
        else:
            _report(
                ctx,
                f"ci ({result.branch or 'detached HEAD'})",
                result.as_dict(),
                result.steps,
                json,
            )


@shipyard_task(
    help={
        "from": "the environment whose live image is promoted (e.g. staging)",
        "to": "the environment to deploy it to (e.g. production)",
        "version": "the release tag to add (default: the live version; a prerelease needs one)",
        "digest": "refuse unless --from serves exactly this digest (CI: the build job's output)",
        "commit": "refuse unless the image was built from this commit (CI: $GITHUB_SHA)",
        "no_scan": "skip the scan gate on the image before it is promoted",
        "no_verify": "skip the HTTP checks after the deploy",
        "no_wait": "start the deployment and return without waiting",
        "lock_wait": "seconds to wait for the target's deploy lock",
    }
)
def promote(
    c: Any,
    from_: str = "staging",
    to: str = "production",
    version: str | None = None,
    digest: str | None = None,
    commit: str | None = None,
    no_scan: bool = False,
    no_verify: bool = False,
    no_wait: bool = False,
    lock_wait: int = 0,
    dry_run: bool = False,
    debug: bool = False,
    json: bool = False,
) -> None:
    """Deploy the exact digest live in --from to --to (never rebuilt), adding the release tag."""
    from shipyard.pipelines import promote as pipeline

    source_ctx = context(from_, quiet=json)
    target_ctx = context(to, quiet=json)
    opts = pipeline.PromoteOptions(
        source=from_,
        target=to,
        release_tag=version,
        digest=digest or None,
        commit=commit or None,
        scan=not no_scan,
        verify=not no_verify,
        wait=not no_wait,
        lock_wait=float(lock_wait),
        dry_run=dry_run,
    )
    result = pipeline.PromoteResult(from_, to)
    try:
        pipeline.run(source_ctx, target_ctx, opts, result)
    finally:
        if result.plan is not None:
            result.plan.show(target_ctx.console)
            if json:
                target_ctx.console.json(result.as_dict())
        else:
            _report(target_ctx, f"promote {from_} -> {to}", result.as_dict(), result.steps, json)


@shipyard_task(help={"needs_file": "read the job results from this file instead of $NEEDS_JSON"})
def ci_summary(
    c: Any,
    needs_file: str | None = None,
    debug: bool = False,
    json: bool = False,
) -> None:
    """The workflow's closing table: every job's result, the version and the digest."""
    import os
    from pathlib import Path

    from shipyard.console import Console
    from shipyard.notify import ci_run_url
    from shipyard.pipelines.ci import load_needs, summarize_needs

    console = Console(quiet=json)
    text = Path(needs_file).read_text() if needs_file else os.environ.get("NEEDS_JSON")
    rows, overall = summarize_needs(load_needs(text))
    console.table(["job", "result", "version", "digest"], rows, title="gamepulse-ci-cd")
    run_url = ci_run_url(os.environ)
    if run_url:
        console.step_summary(f"[CI run]({run_url})\n")
    console.line(f"overall: {overall}")
    console.set_outputs({"outcome": overall})
    if json:
        console.json(
            {
                "outcome": overall,
                "jobs": [
                    dict(zip(("job", "result", "version", "digest"), r, strict=True)) for r in rows
                ],
            }
        )


# promote names two environments (--from/--to) and ci-summary none: not the common --env/--dry-run
promote.help.pop("env", None)
ci_summary.help.pop("dry_run", None)
ci_summary.help.pop("env", None)


@shipyard_task(
    help={
        "repo": "the GitHub repository whose workflow may assume the roles, owner/name",
        "environments": "environments to set up, comma-separated (default: every ecs and "
        "ecs-bluegreen environment in deploy/environments/)",
        "role_name": "each environment's role: a name pattern with {project} and {environment}",
        "policy_name": "each environment's policy: a name pattern like --role-name's",
    }
)
def setup_cicd(
    c: Any,
    repo: str = "",
    environments: str = "",
    role_name: str = "{project}-{environment}-deploy",
    policy_name: str = "{project}-{environment}-deploy",
    dry_run: bool = False,
    debug: bool = False,
    json: bool = False,
) -> None:
    """Per AWS environment: OIDC provider, role, policy, lock table, CodeDeploy; what changed."""
    import os

    from shipyard.config import find_root
    from shipyard.console import Console
    from shipyard.errors import UsageError
    from shipyard.operations.setup_cicd import SetupOptions, aws_environments, run

    if not repo:
        raise UsageError("--repo is required", hint="e.g. inv setup-cicd --repo acme/gamepulse")
    root = find_root()
    peers = aws_environments(root, os.environ)
    names = [e.strip() for e in environments.split(",") if e.strip()]
    contexts = [context(name, quiet=json) for name in names or [p.environment for p in peers]]
    opts = SetupOptions(repo, role_name=role_name, policy_name=policy_name, dry_run=dry_run)
    result = run(contexts, opts, peers)
    _setup_report(Console(quiet=json), result, as_json=json, dry_run=dry_run)


def _setup_report(console: Console, result: SetupResult, *, as_json: bool, dry_run: bool) -> None:
    """The changes (or the plan), each role's ARN, the problems; exit 1 on one after a real run."""
    from shipyard.errors import ShipyardError

    if result.plan is not None:
        result.plan.show(console)
    else:
        console.table(
            ["environment", "resource", "name", "change", "detail"],
            [
                [ch.environment or "-", ch.resource, ch.name, ch.change, ch.detail]
                for ch in result.changes
            ],
            title="setup-cicd",
        )
    for env, arn in result.roles.items():
        console.line(f"{env}: role {arn} (the AWS_ROLE_ARN variable of GitHub environment {env})")
    console.set_outputs({f"role_arn_{env}": arn for env, arn in result.roles.items()})
    if as_json:
        console.json(
            {
                "roles": result.roles,
                "changed": result.changed,
                "complete": not result.problems,
                "problems": result.problems,
                "changes": [vars(ch) for ch in result.changes],
            }
        )
    if dry_run:
        # the plan lists them as notes; the real run is the one that fails on them
        for problem in result.problems:
            console.warn(problem)
        return
    for problem in result.problems:
        console.error(problem)
    if result.problems:
        raise ShipyardError(
            f"setup-cicd: incomplete: {len(result.problems)} problem(s) above that it cannot "
            "fix by itself; everything else is set up"
        )


@shipyard_task(
    help={
        "repo": "check the role's OIDC trust for this repository (default: $GITHUB_REPOSITORY)",
        "role_name": "the environment's role: a name pattern with {project} and {environment}",
    }
)
def doctor(
    c: Any,
    env: str = "staging",
    repo: str | None = None,
    role_name: str = "{project}-{environment}-deploy",
    debug: bool = False,
    json: bool = False,
) -> None:
    """Check credentials, role/OIDC trust, repository, cluster, service, logs, secrets, alarms,
    CodeDeploy deployment group and hook functions."""
    from shipyard.errors import ShipyardError
    from shipyard.operations.doctor import DoctorOptions, run

    ctx = context(env, quiet=json)
    report = run(ctx, DoctorOptions(role_name=role_name, github_repository=repo))
    ctx.console.table(
        ["check", "result", "detail"],
        [[ch.name, ch.status, ch.detail] for ch in report.checks],
        title=f"doctor ({env})",
    )
    if json:
        ctx.console.json(
            {"environment": env, "ok": report.ok, "checks": [vars(ch) for ch in report.checks]}
        )
    failed = [ch.name for ch in report.checks if ch.status == "NG"]
    if failed:
        raise ShipyardError(f"doctor: {len(failed)} check(s) NG: {', '.join(failed)}")


doctor.help.pop("dry_run", None)
