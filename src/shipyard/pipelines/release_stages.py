"""The stages `inv release` adds around the core steps, per environment:

ECR environments: scan gate after push (a blocking finding stops the release before deploy),
                  ECR cleanup after verify (its failure is a warning: the release stands).
[loadtest].after_deploy: the k6 load check after verify. It runs inside the rollout's verify
                  gate (rollout/gate.py), where a crossed threshold is undone like a failed
                  check; this step reports what it measured.
every environment with notify configured: start after version, and success / failure /
                  rollback when the release ends (a Slack outage never fails a release).
"""

from __future__ import annotations

from shipyard.context import Context
from shipyard.errors import ShipyardError
from shipyard.notify import NotifyInfo, notify
from shipyard.operations import ecr_cleanup, scan
from shipyard.pipelines.release import ExtraStep, ReleaseResult, ReleaseState, verify_url
from shipyard.plan import Plan
from shipyard.rollout import loadcheck


def standard_steps(ctx: Context) -> tuple[ExtraStep, ...]:
    steps: list[ExtraStep] = []
    if _notifying(ctx):
        steps.append(ExtraStep("notify", after="version", run=_announce, plan=_announce_plan))
    if ctx.config.registry.kind == "ecr":
        steps.append(ExtraStep("scan", after="push", run=_scan, plan=_scan_plan))
    if ctx.config.loadtest.after_deploy:
        _loadtest_can_run(ctx)
        steps.append(ExtraStep("loadtest", after="verify", run=_loadtest, plan=_loadtest_plan))
    if ctx.config.registry.kind == "ecr":
        steps.append(ExtraStep("cleanup", after="verify", run=_cleanup, plan=_cleanup_plan))
    return tuple(steps)


def _notifying(ctx: Context) -> bool:
    return ctx.config.notify.enabled


def _announce(ctx: Context, state: ReleaseState) -> str:
    sent = notify(ctx, "start", NotifyInfo(version=state.version or "?"))
    return f"start sent to {', '.join(sent)}" if sent else "start: no channel accepted it"


def _announce_plan(ctx: Context, _state: ReleaseState) -> Plan:
    p = Plan("notify")
    channels = [c for c in ("slack", "sns") if getattr(ctx.config.notify, c) is not None]
    p.add("notify", f"start, then success/failure/rollback to {', '.join(channels)}")
    return p


def notify_finish(ctx: Context, result: ReleaseResult) -> None:
    if not _notifying(ctx):
        return

    event = {"succeeded": "success", "rolled_back": "rollback"}.get(result.outcome, "failure")
    reason = ""
    if isinstance(result.error, ShipyardError):
        reason = result.error.one_line()
    elif result.error is not None:
        reason = "interrupted" if result.outcome == "interrupted" else type(result.error).__name__
    details = result.state.deploy.details if result.state and result.state.deploy else {}
    notify(
        ctx,
        event,  # type: ignore[arg-type]
        NotifyInfo(
            version=result.version or "?",
            digest=result.digest or "",
            duration=result.seconds,
            reason=reason,
            url=result.url,
            task_definition_arn=str(details.get("task_definition_arn", "")),
            deployment_id=str(details.get("deployment_id", "")),
        ),
    )


def _scan(ctx: Context, state: ReleaseState) -> str:
    result = scan.run(ctx, scan.ScanOptions(version=state.version))
    if not result.passed:
        scan.show(result, ctx.console)
    scan.gate(result)
    counts = ", ".join(f"{n} {sev.lower()}" for sev, n in result.counts().items() if n)
    return f"{result.status}: {counts or 'no findings'} (gate: {result.fail_on})"


def _scan_plan(ctx: Context, state: ReleaseState) -> Plan:
    return scan.plan(ctx, scan.ScanOptions(version=state.version))


def _cleanup(ctx: Context, _state: ReleaseState) -> str:
    try:
        result = ecr_cleanup.run(ctx, ecr_cleanup.EcrCleanupOptions())
        ecr_cleanup.show(result, ctx.console)
    except ShipyardError as exc:
        ctx.console.warn(f"cleanup after the release did not finish: {exc.one_line()}")
        return f"not finished: {exc.one_line()} (the release stands)"
    return f"{len(result.to_delete)} image(s) deleted"


def _cleanup_plan(ctx: Context, _state: ReleaseState) -> Plan:
    p = Plan("cleanup")
    p.add(
        "cleanup",
        f"ECR: keep {ctx.config.cleanup.keep_releases} newest releases, every deployed image "
        f"and latest; delete the rest in batches of 100 (a failure here is only a warning)",
    )
    return p


def _loadtest_can_run(ctx: Context) -> None:
    """Refuse the release at once (exit 2) when the load check could not run: found only
    after the traffic moved, it would roll back a release nothing was wrong with."""

    loadcheck.preflight(ctx)


def _loadtest(_ctx: Context, state: ReleaseState) -> str:
    measured = state.deploy.details.get("loadtest") if state.deploy else None
    if not measured:
        return "not run: the rollout had no URL to load (set verify.url)"
    return f"{measured}, in the rollout's verify gate"


def _loadtest_plan(ctx: Context, state: ReleaseState) -> Plan:
    where = "in the verify gate after the shift: a crossed threshold rolls back"
    return loadcheck.plan(ctx, loadcheck.LoadOptions(verify_url(ctx, state)), where=where)
