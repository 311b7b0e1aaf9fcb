"""HTTP verification: the configured checks, with retries, backoff and a warm-up window.

The warm-up window absorbs the brief 5xx/connection errors of a traffic switch: attempts that
fail inside it are not counted; after it, each check has `retries` further attempts with
exponential backoff. The same checks run in `inv verify` and inside every release.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from shipyard.adapters.http import HttpAnswer, get
from shipyard.config.model import HttpCheck, VerifyConfig
from shipyard.console import Console
from shipyard.records import record
from shipyard.targets.base import CheckResult, VerifyResult

MAX_BACKOFF = 10.0


@record
class VerifyOptions:
    url: str
    version: str | None = None  # replaces {version} in `contains`
    warmup_seconds: float | None = None  # None: from config


def expected_text(check: HttpCheck, version: str | None) -> str | None:
    if check.contains is None:
        return None
    if "{version}" in check.contains:
        if version is None:
            return None  # nothing to compare against: status alone decides
        return check.contains.replace("{version}", version)
    return check.contains


def judge(check: HttpCheck, answer: HttpAnswer, version: str | None) -> tuple[bool, str]:
    if answer.status is None:
        return False, f"no answer: {answer.error}"
    if answer.status != check.status:
        return False, f"HTTP {answer.status}, expected {check.status}"
    want = expected_text(check, version)
    if want is not None and want not in answer.body:
        shown = answer.body.strip()[:60]
        return False, f"body {shown!r} lacks {want!r}"
    return True, f"HTTP {answer.status}" + (f", contains {want!r}" if want else "")


def run_check(
    base_url: str,
    check: HttpCheck,
    cfg: VerifyConfig,
    *,
    version: str | None,
    warmup_until: float,
    fetch: Callable[[str, float], HttpAnswer] = get,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> CheckResult:
    url = base_url.rstrip("/") + check.path
    started = clock()
    attempts = 0
    counted = 0
    delay = cfg.backoff_seconds
    while True:
        attempts += 1
        ok, detail = judge(check, fetch(url, cfg.timeout_seconds), version)
        if ok:
            return CheckResult(
                check.path, url, True, check.status, detail, attempts, clock() - started
            )
        in_warmup = clock() < warmup_until
        if not in_warmup:
            counted += 1
            if counted > cfg.retries:
                return CheckResult(
                    check.path, url, False, None, detail, attempts, clock() - started
                )
        pause = min(delay, MAX_BACKOFF)
        if in_warmup:
            pause = min(pause, max(0.0, warmup_until - clock())) or min(delay, 0.5)
        else:
            delay = min(delay * 2, MAX_BACKOFF) if delay else 0.0
        sleep(pause)


def run(
    opts: VerifyOptions,
    cfg: VerifyConfig,
    checks: Sequence[HttpCheck] | None = None,
    *,
    console: Console | None = None,
    fetch: Callable[[str, float], HttpAnswer] = get,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> VerifyResult:
    warmup = cfg.warmup_seconds if opts.warmup_seconds is None else opts.warmup_seconds
    warmup_until = clock() + warmup
    results = []
    for check in checks if checks is not None else cfg.checks:
        if console:
            console.progress(f"verify {opts.url.rstrip('/')}{check.path}")
        results.append(
            run_check(
                opts.url,
                check,
                cfg,
                version=opts.version,
                warmup_until=warmup_until,
                fetch=fetch,
                clock=clock,
                sleep=sleep,
            )
        )
    return VerifyResult(opts.url, tuple(results))


def show(result: VerifyResult, console: Console, *, title: str = "verify") -> None:
    console.table(
        ["check", "url", "result", "detail", "attempts", "time"],
        [
            [c.name, c.url, "OK" if c.ok else "NG", c.detail, c.attempts, f"{c.seconds:.1f}s"]
            for c in result.checks
        ],
        title=title,
    )
