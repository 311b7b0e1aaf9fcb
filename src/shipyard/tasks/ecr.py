"""ECR tasks: scan (the vulnerability gate, or hadolint with --local) and ecr-repo."""
# ruff: noqa: ARG001 - Invoke passes the context to every task

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.tasks._common import context, report
from shipyard.tasks._flags import bind, dry_run_flag, env_flag, flag, task_options

if TYPE_CHECKING:
    from shipyard.operations.ecr_repository import EcrRepositoryResult
    from shipyard.operations.scan import ScanOptions, ScanResult


@task_options
class ScanFlags:
    env: str = env_flag()
    local: bool = flag(False, "lint the Dockerfile with hadolint (the same check nox -s lint runs)")
    version: str | None = flag(None, "scan the image of this version instead of version.txt's")
    tag: str | None = flag(None, "scan the image with this tag")
    # a text flag (Invoke types a flag by its default, here None), read as seconds below
    timeout: str | None = flag(None, "seconds to wait for the scan (default: scan.timeout_seconds)")
    dry_run: bool = dry_run_flag()

    def scan_options(self) -> ScanOptions:
        from shipyard.operations.scan import ScanOptions

        return ScanOptions(
            version=self.version,
            tag=self.tag,
            local=self.local,
            dry_run=self.dry_run,
            timeout_seconds=_seconds(self.timeout),
        )


def _seconds(text: str | None) -> float | None:
    if not text:  # as unset: scan.timeout_seconds
        return None
    try:
        return float(text)
    except ValueError:
        from shipyard.errors import UsageError

        raise UsageError(f"--timeout {text!r} is no number of seconds") from None


@bind(ScanFlags)
def scan(c: Any, opts: ScanFlags) -> None:
    """Vulnerability gate on the pushed ECR image; fails on findings at scan.fail_on or worse."""
    from shipyard.operations.scan import gate, run, show

    ctx = context(opts.env)
    result = run(ctx, opts.scan_options())
    report(
        ctx.console,
        # a dry run's plan is shown by show(), and the gate's output is set for it too
        document=None if result.plan is not None else lambda: _scan_document(result),
        human=lambda: show(result, ctx.console),
        outputs={"scan_passed": str(result.passed).lower()},
    )
    gate(result)


def _scan_document(result: ScanResult) -> Any:
    return {
        "image": result.image,
        "status": result.status,
        "passed": result.passed,
        "fail_on": result.fail_on,
        "counts": result.counts(),
        "blocking": [f.id for f in result.blocking],
        "expired_allowlist": [e.id for e in result.expired],
        "lint": [vars(f) for f in result.lint] if result.lint is not None else None,
    }


@task_options
class EcrRepoFlags:
    env: str = env_flag("staging")
    latest: bool = flag(False, "`latest` will be pushed too (checked against tag mutability)")
    dry_run: bool = dry_run_flag()


@bind(EcrRepoFlags, name="ecr-repo")
def ecr_repo(c: Any, opts: EcrRepoFlags) -> None:
    """Create or update the ECR repository: scan on push, tag mutability, lifecycle policy."""
    from shipyard.operations.ecr_repository import EcrRepositoryOptions, run, show

    ctx = context(opts.env)
    result = run(ctx, EcrRepositoryOptions(dry_run=opts.dry_run, latest=opts.latest or None))
    report(
        ctx.console,
        document=lambda: _repository_document(result),
        human=lambda: show(result, ctx.console),
    )


def _repository_document(result: EcrRepositoryResult) -> Any:
    return {
        "repository": result.repository,
        "created": result.created,
        "changed": result.changed,
        "dry_run": result.dry_run,
        "settings": [vars(change) for change in result.changes],
        "policy_diff": list(result.policy_diff),
    }
