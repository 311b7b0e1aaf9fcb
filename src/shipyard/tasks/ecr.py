"""ECR tasks: scan (the vulnerability gate, or hadolint with --local) and ecr-repo."""
# ruff: noqa: ARG001 - Invoke passes the context and the common flags to every task

from __future__ import annotations

from typing import Any

from shipyard.tasks._common import context, shipyard_task


@shipyard_task(
    help={
        "local": "lint the Dockerfile with hadolint (the same check nox -s lint runs)",
        "version": "scan the image of this version instead of version.txt's",
        "tag": "scan the image with this tag",
        "timeout": "seconds to wait for the scan (default: scan.timeout_seconds)",
    }
)
def scan(
    c: Any,
    env: str = "local",
    local: bool = False,
    version: str | None = None,
    tag: str | None = None,
    timeout: float | None = None,
    dry_run: bool = False,
    debug: bool = False,
    json: bool = False,
) -> None:
    """Vulnerability gate on the pushed ECR image; fails on findings at scan.fail_on or worse."""
    from shipyard.operations.scan import ScanOptions, gate, run, show

    ctx = context(env)
    result = run(
        ctx,
        ScanOptions(
            version=version, tag=tag, local=local, dry_run=dry_run, timeout_seconds=timeout
        ),
    )
    if json and result.plan is None:
        ctx.console.json(
            {
                "image": result.image,
                "status": result.status,
                "passed": result.passed,
                "fail_on": result.fail_on,
                "counts": result.counts(),
                "blocking": [f.id for f in result.blocking],
                "expired_allowlist": [e.id for e in result.expired],
                "lint": [vars(f) for f in result.lint] if result.lint is not None else None,
            }
        )
    else:
        show(result, ctx.console)
    ctx.console.set_outputs({"scan_passed": str(result.passed).lower()})
    gate(result)


@shipyard_task(
    name="ecr-repo",
    help={"latest": "`latest` will be pushed too (checked against tag mutability)"},
)
def ecr_repo(
    c: Any,
    env: str = "staging",
    latest: bool = False,
    dry_run: bool = False,
    debug: bool = False,
    json: bool = False,
) -> None:
    """Create or update the ECR repository: scan on push, tag mutability, lifecycle policy."""
    from shipyard.operations.ecr_repository import EcrRepositoryOptions, run, show

    ctx = context(env)
    result = run(ctx, EcrRepositoryOptions(dry_run=dry_run, latest=latest or None))
    if json:
        ctx.console.json(
            {
                "repository": result.repository,
                "created": result.created,
                "changed": result.changed,
                "dry_run": result.dry_run,
                "settings": [vars(c) for c in result.changes],
                "policy_diff": list(result.policy_diff),
            }
        )
        return
    show(result, ctx.console)
