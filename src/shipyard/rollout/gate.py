"""The verify gate of a rollout, in its two tempers.

Before traffic moves, a new release may still be warming up: each check retries with backoff
(rollout/checks.py). Once traffic has moved, every failed request is a user's: the checks run
concurrently, once each (past any configured warm-up), and the first failure ends the gate so
the engine can switch back at once. With [loadtest].after_deploy, a k6 load check follows
the live checks (load_check): it is part of the same gate, so a crossed threshold is undone by
the same switch back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from shipyard.adapters.http import HttpAnswer, get
from shipyard.config.model import HttpCheck, VerifyConfig
from shipyard.records import record
from shipyard.rollout import loadcheck
from shipyard.rollout.checks import judge
from shipyard.targets.base import CheckResult, VerifyResult

if TYPE_CHECKING:
    from shipyard.context import Context

WARMUP_PAUSE = 0.25


@record
class Gate:
    cfg: VerifyConfig
    fetch: Callable[[str, float], HttpAnswer] = get
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def _once(self, url: str, check: HttpCheck, version: str | None, until: float) -> CheckResult:
        started = self.clock()
        target = url.rstrip("/") + check.path
        attempts = 0
        while True:
            attempts += 1
            ok, detail = judge(check, self.fetch(target, self.cfg.timeout_seconds), version)
            if ok or self.clock() >= until:
                status = check.status if ok else None
                return CheckResult(
                    check.path, target, ok, status, detail, attempts, self.clock() - started
                )
            self.sleep(WARMUP_PAUSE)

    def live(self, url: str, version: str | None, *, warmup: float | None = None) -> VerifyResult:
        """Every check once, concurrently (retrying only inside the warm-up window); returns as
        soon as one fails, with the checks finished by then."""
        until = self.clock() + (self.cfg.warmup_seconds if warmup is None else warmup)
        checks = list(self.cfg.checks)
        pool = ThreadPoolExecutor(max_workers=max(1, len(checks)), thread_name_prefix="verify")
        try:
            pending: set[Future[CheckResult]] = {
                pool.submit(self._once, url, check, version, until) for check in checks
            }
            done: list[CheckResult] = []
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                done += [f.result() for f in finished]
                if any(not c.ok for c in done):
                    break
            return VerifyResult(url, tuple(done))
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def probe(self, url: str, version: str | None) -> str | None:
        """One round of the live checks: the first failure in words, or None."""
        result = self.live(url, version, warmup=0.0)
        bad = next((c for c in result.checks if not c.ok), None)
        return f"{bad.name} on {bad.url}: {bad.detail}" if bad else None


def load_check(ctx: Context, url: str, details: dict[str, Any]) -> None:
    """The gate's last part, once the live checks passed: with [loadtest].after_deploy, the k6
    load check (rollout/loadcheck.py) against the shifted traffic. A crossed threshold raises
    a VerifyFailed, so the engine undoes the shift exactly as for a failed check, while the
    previous release still runs; what k6 measured goes into the rollout's details."""
    if not ctx.config.loadtest.after_deploy:
        return
    details["loadtest"] = loadcheck.gate(ctx, url).brief()
