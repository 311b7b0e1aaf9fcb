"""AWS set-up tasks: setup-cicd (what CI needs to deploy, per environment) and doctor (whether
it is all there)."""

# Invoke passes the context `c` to each task; not all use it
# ruff: noqa: ARG001

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.tasks._common import context, json_wanted, report
from shipyard.tasks._flags import bind, dry_run_flag, env_flag, flag, task_options

if TYPE_CHECKING:
    from collections.abc import Sequence

    from shipyard.config.model import ShipyardConfig
    from shipyard.console import Console
    from shipyard.context import Context
    from shipyard.operations.doctor import DoctorReport
    from shipyard.operations.setup_cicd import SetupOptions, SetupResult

ROLE_PATTERN = "{project}-{environment}-deploy"


@task_options
class SetupCicdFlags:
    repo: str = flag("", "the GitHub repository whose workflow may assume the roles, owner/name")
    environments: str = flag(
        "",
        "environments to set up, comma-separated (default: every ecs and ecs-bluegreen "
        "environment in deploy/environments/)",
    )
    role_name: str = flag(
        ROLE_PATTERN, "each environment's role: a name pattern with {project} and {environment}"
    )
    policy_name: str = flag(
        ROLE_PATTERN, "each environment's policy: a name pattern like --role-name's"
    )
    dry_run: bool = dry_run_flag()

    def contexts(self, peers: Sequence[ShipyardConfig]) -> list[Context]:
        """The named environments' (default: every AWS environment's)."""
        names = [e.strip() for e in self.environments.split(",") if e.strip()]
        quiet = json_wanted()
        return [context(name, quiet=quiet) for name in names or [p.environment for p in peers]]

    def setup_options(self) -> SetupOptions:
        from shipyard.operations.setup_cicd import SetupOptions

        return SetupOptions(
            self.repo, role_name=self.role_name, policy_name=self.policy_name, dry_run=self.dry_run
        )


@bind(SetupCicdFlags)
def setup_cicd(c: Any, opts: SetupCicdFlags) -> None:
    """Per AWS environment: OIDC provider, role, policy, lock table, CodeDeploy; what changed."""
    import os

    from shipyard.config import find_root
    from shipyard.console import Console
    from shipyard.errors import UsageError
    from shipyard.operations.setup_cicd import aws_environments, run

    if not opts.repo:
        raise UsageError("--repo is required", hint="e.g. inv setup-cicd --repo acme/shop")
    peers = aws_environments(find_root(), os.environ)
    result = run(opts.contexts(peers), opts.setup_options(), peers)
    _setup_report(Console(quiet=json_wanted()), result, dry_run=opts.dry_run)


def _setup_report(console: Console, result: SetupResult, *, dry_run: bool) -> None:
    """The changes (or the plan), each role's ARN, the problems; exit 1 on one after a real run."""
    from shipyard.errors import ShipyardError

    report(
        console,
        document=lambda: {
            "roles": result.roles,
            "changed": result.changed,
            "complete": not result.problems,
            "problems": result.problems,
            "changes": [vars(ch) for ch in result.changes],
        },
        human=lambda: _show_setup(console, result),
        outputs={f"role_arn_{env}": arn for env, arn in result.roles.items()},
        human_under_json=True,
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


def _show_setup(console: Console, result: SetupResult) -> None:
    if result.plan is not None:  # a dry run goes on: the roles it would make, its problems
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


@task_options
class DoctorFlags:
    env: str = env_flag("staging")
    repo: str | None = flag(
        None, "check the role's OIDC trust for this repository (default: $GITHUB_REPOSITORY)"
    )
    role_name: str = flag(
        ROLE_PATTERN, "the environment's role: a name pattern with {project} and {environment}"
    )


@bind(DoctorFlags)
def doctor(c: Any, opts: DoctorFlags) -> None:
    """Check credentials, role/OIDC trust, repository, cluster, service, logs, secrets, alarms,
    CodeDeploy deployment group and hook functions."""
    from shipyard.errors import ShipyardError
    from shipyard.operations.doctor import DoctorOptions, run

    ctx = context(opts.env, quiet=json_wanted())
    checks = run(ctx, DoctorOptions(role_name=opts.role_name, github_repository=opts.repo))
    report(
        ctx.console,
        document=lambda: _doctor_document(checks),
        human=lambda: _show_checks(ctx.console, checks),
        human_under_json=True,
    )
    failed = [ch.name for ch in checks.checks if ch.status == "NG"]
    if failed:
        raise ShipyardError(f"doctor: {len(failed)} check(s) NG: {', '.join(failed)}")


def _doctor_document(checks: DoctorReport) -> Any:
    return {
        "environment": checks.environment,
        "ok": checks.ok,
        "checks": [vars(ch) for ch in checks.checks],
    }


def _show_checks(console: Console, checks: DoctorReport) -> None:
    console.table(
        ["check", "result", "detail"],
        [[ch.name, ch.status, ch.detail] for ch in checks.checks],
        title=f"doctor ({checks.environment})",
    )
