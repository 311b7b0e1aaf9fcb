"""The rollout engine: the one place that keeps shipyard's promise. A failed or interrupted
rollout leaves the previous release serving, and what shipyard says is what it observed.

    lock (re-entrant) -> observe -> reconcile records -> choose the artifact (inside the lock)
    -> prepare -> start -> wait healthy -> verify new -> shift -> wait shifted -> verify -> bake
    -> finalize
    on a failure or signal at any phase: undo (when traffic may have moved), discard, observe,
    then record, notify and exit FROM what was observed, never from what was intended.

Targets provide the phases (rollout/model.py: Phases) and hold no policy.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

from shipyard import interrupts
from shipyard.adapters.http import HttpAnswer, get
from shipyard.errors import (
    DeployFailed,
    Interrupted,
    RolledBack,
    ShipyardError,
    StateUnknown,
    Superseded,
    VerifyFailed,
)
from shipyard.notify import NotifyInfo, notify
from shipyard.rollout import checks as verify_op
from shipyard.rollout import faults
from shipyard.rollout.gate import Gate, load_check
from shipyard.rollout.lock import holding
from shipyard.rollout.model import (
    PHASES,
    Attempt,
    Outcome,
    Phase,
    Phases,
    Request,
    Serving,
)
from shipyard.rollout.model import serving_dict as serving_dict  # `inv status --json` shows it
from shipyard.targets.base import DeployResult

if TYPE_CHECKING:
    from shipyard.context import Context
    from shipyard.plan import Plan

_ERRORS: dict[str, type[ShipyardError]] = {
    "failed": DeployFailed,
    "rolled_back": RolledBack,
    "interrupted": Interrupted,
    "unknown": StateUnknown,
    "superseded": Superseded,
}


class Rollout:
    def __init__(
        self,
        ctx: Context,
        phases: Phases,
        *,
        fetch: Callable[[str, float], HttpAnswer] = get,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.ctx = ctx
        self.phases = phases
        self.console = ctx.console
        self.clock = clock
        self.gate = Gate(ctx.config.verify, fetch=fetch, clock=clock, sleep=sleep)

    # -- entry points ----------------------------------------------------------------------
    def plan(self, request: Request) -> Plan:
        """What `run` would do, touching nothing (no lock, no record)."""
        before = self.phases.observe()
        attempt = Attempt(request.kind, request.choose(before), before, message=request.message)
        return self.phases.plan(attempt)

    def run(self, request: Request) -> DeployResult:
        with holding(
            self.phases.lock(),
            root=self.ctx.root,
            environment=self.ctx.environment,
            message=request.message or f"{request.kind} {self.ctx.environment}",
            wait=request.lock_wait,
            console=self.console,
        ):
            before = self._settled()
            artifact = request.choose(before)
            attempt = Attempt(
                request.kind, artifact, before, message=request.message, actor=request.actor
            )
            started = self.clock()
            self._notify(request, "start", attempt)
            try:
                self._phases(attempt, request)
            except BaseException as exc:
                self._after_failure(request, attempt, exc, started)
            return self._after_success(request, attempt, started)

    def settle(self, *, follow: str | None = None) -> Serving:
        """Under the lock: put the records straight (following the rollout `follow` names to
        its end) and return what serves (inv wait)."""
        with holding(
            self.phases.lock(),
            root=self.ctx.root,
            environment=self.ctx.environment,
            message=f"wait {self.ctx.environment}",
            console=self.console,
        ):
            return self._settled(follow=follow)

    # -- the phases ------------------------------------------------------------------------
    def _settled(self, *, follow: str | None = None) -> Serving:
        observed = self.phases.observe()
        warnings = self.phases.reconcile(observed, follow=follow)
        for line in warnings:
            self.console.warn(line)
        return self.phases.observe() if warnings else observed

    def _phases(self, attempt: Attempt, request: Request) -> None:
        for phase in PHASES:
            if not request.wait and self.phases.detaches and phase == "wait_shifted":
                return
            if not request.verify and phase in ("verify_new", "verify"):
                continue
            faults.point(f"before:{phase}")
            attempt.phase = phase
            if phase == "shift":
                attempt.shifted = True  # recorded before any traffic can move
                self.phases.record(attempt, "shifting")
            elif phase == "finalize":
                self.phases.record(attempt, "finalizing")
            self._phase(phase, attempt, request)
            if phase == "prepare":
                self.phases.record(attempt, "begin")
            faults.point(f"after:{phase}")

    def _phase(self, phase: Phase, attempt: Attempt, request: Request) -> None:
        p = self.phases
        version = attempt.artifact.version
        if phase == "verify_new":
            url = p.direct_url(attempt)
            if url:
                self._gate_before(url, version)
        elif phase == "verify":
            if p.public_url:
                self._gate_after(p.public_url, version)
                if request.kind == "deploy":  # a load threshold must never block the way back
                    load_check(self.ctx, p.public_url, attempt.details)
            else:
                self.console.warn("verify.url is not set: the release is not checked over HTTP")
        elif phase == "bake":
            url = p.public_url if request.verify else None
            probe: Callable[[], str | None] = (
                (lambda: self.gate.probe(url, version)) if url else (lambda: None)
            )
            p.bake(attempt, self.clock() + p.bake_seconds, probe)
        else:
            steps: dict[str, Callable[[Attempt], None]] = {
                "prepare": p.prepare,
                "start": p.start,
                "wait_healthy": p.wait_healthy,
                "shift": p.shift,
                "wait_shifted": p.wait_shifted,
                "finalize": p.finalize,
            }
            steps[phase](attempt)

    def _gate_before(self, url: str, version: str) -> None:
        result = verify_op.run(
            verify_op.VerifyOptions(url, version, warmup_seconds=0),
            self.ctx.config.verify,
            console=self.console,
            fetch=self.gate.fetch,
            clock=self.gate.clock,
            sleep=self.gate.sleep,
        )
        if not result.ok:
            verify_op.show(result, self.console, title=f"verify {url} (new release, direct)")
            bad = next(c for c in result.checks if not c.ok)
            raise VerifyFailed(f"the new release failed {bad.name} on {url}: {bad.detail}")

    def _gate_after(self, url: str, version: str) -> None:
        self.console.progress(f"verify {url} ({len(self.ctx.config.verify.checks)} checks)")
        result = self.gate.live(url, version)
        verify_op.show(result, self.console, title=f"verify {url}")
        bad = next((c for c in result.checks if not c.ok), None)
        if bad is not None:
            raise VerifyFailed(f"verify failed: {bad.name} on {bad.url}: {bad.detail}")

    # -- endings ---------------------------------------------------------------------------
    def _after_success(self, request: Request, attempt: Attempt, started: float) -> DeployResult:
        after = self._observe()
        if not request.wait and self.phases.detaches:
            # verify and bake were not run: whatever ECS says, this is not a success yet
            what = after.continuing or f"{after.describe()} serves, not verified (--no-wait)"
            message = f"{what} (follow it: inv wait --env {self.ctx.environment})"
            self.console.warn(message)
            self.phases.finish(attempt, "in_progress", after, message)
            return self._result(attempt, "in_progress", after, message, started)
        if after.known and after.release_id == attempt.release_id:
            message = f"{attempt.artifact.version} serves ({after.detail})"
            self.phases.finish(attempt, "succeeded", after, message)
            self._notify(request, "success", attempt, seconds=self.clock() - started)
            return self._result(attempt, "succeeded", after, message, started)
        outcome: Outcome = "unknown" if not after.known else "failed"
        # _message names the release and what serves: the reason says only what went wrong
        exc = DeployFailed("the rollout finished, but its release is not seen serving")
        return self._end(request, attempt, outcome, after, exc, started)

    def _after_failure(
        self, request: Request, attempt: Attempt, exc: BaseException, started: float
    ) -> NoReturn:
        with interrupts.cleanup_section():
            notes = self._undo(attempt, exc)
            after = self._observe()
            outcome = _classify(exc, attempt, after)
            self._end(request, attempt, outcome, after, exc, started, notes)

    def _undo(self, attempt: Attempt, exc: BaseException) -> list[str]:
        notes: list[str] = []
        if attempt.shifted and not isinstance(exc, Superseded):
            try:
                notes.append(self.phases.undo(attempt))
            except ShipyardError as err:
                notes.append(f"could not return to {attempt.before.describe()}: {err.one_line()}")
                self.console.error(notes[-1])
        try:
            self.phases.discard(attempt)
        except ShipyardError as err:
            self.console.warn(
                f"could not remove what {attempt.kind} started: {err.one_line()} "
                f"(`inv wait --env {self.ctx.environment}` removes it once that answers)"
            )
        return [n for n in notes if n]

    def _observe(self) -> Serving:
        try:
            return self.phases.observe()
        except ShipyardError as exc:
            return Serving(False, detail=exc.one_line())

    def _end(
        self,
        request: Request,
        attempt: Attempt,
        outcome: Outcome,
        after: Serving,
        exc: BaseException,
        started: float,
        notes: list[str] | None = None,
    ) -> NoReturn:
        message = _message(attempt, outcome, after, exc, notes or [])
        with contextlib.suppress(ShipyardError, OSError):
            self.phases.finish(attempt, outcome, after, message)
        event = "rollback" if outcome == "rolled_back" else "failure"
        self._notify(request, event, attempt, reason=message, seconds=self.clock() - started)
        result = self._result(attempt, outcome, after, message, started)
        error = _ERRORS[outcome]
        hint = exc.hint if isinstance(exc, ShipyardError) and outcome == "failed" else None
        if isinstance(exc, ShipyardError) and outcome == "failed" and not attempt.shifted:
            error = type(exc)  # a refusal keeps its class, hence its exit code (2 for bad input)
        raise error(message, hint=hint, result=result) from exc

    def _result(
        self, attempt: Attempt, outcome: Outcome, after: Serving, message: str, started: float
    ) -> DeployResult:
        return DeployResult(
            environment=self.ctx.environment,
            version=attempt.artifact.version,
            digest=attempt.artifact.digest,
            outcome=outcome,
            release_id=attempt.release_id,
            url=self.phases.public_url,
            seconds=self.clock() - started,
            details={"kind": attempt.kind, "phase": attempt.phase, **attempt.details},
            message=message,
            serving=serving_dict(after),
        )

    def _notify(
        self,
        request: Request,
        event: str,
        attempt: Attempt,
        *,
        reason: str = "",
        seconds: float | None = None,
    ) -> None:
        if not request.notify or not self.ctx.config.notify.enabled:
            return

        info = NotifyInfo(
            version=attempt.artifact.version,
            environment=self.ctx.environment,
            digest=attempt.artifact.digest,
            pipeline=attempt.kind,
            reason=reason,
            duration=seconds,
            actor=attempt.actor,
            url=self.phases.public_url,
        )
        notify(self.ctx, event, info)  # type: ignore[arg-type]


def _classify(exc: BaseException, attempt: Attempt, after: Serving) -> Outcome:
    if not after.known:
        return "unknown"
    if isinstance(exc, Superseded):
        return "superseded"
    if interrupts.is_interrupt(exc):
        return "interrupted"
    if after.same_release(attempt.before) and attempt.shifted:
        return "rolled_back"
    return "failed"


def _message(
    attempt: Attempt, outcome: Outcome, after: Serving, exc: BaseException, notes: list[str]
) -> str:
    what = f"{attempt.kind} of {attempt.artifact.version}"
    if interrupts.is_interrupt(exc):
        reason = f"{what} interrupted during {attempt.phase or 'start-up'}"
    else:
        detail = exc.message if isinstance(exc, ShipyardError) else f"{type(exc).__name__}: {exc}"
        reason = f"{what} failed: {detail}"
    extra = f" [{'; '.join(notes)}]" if notes and outcome != "rolled_back" else ""
    later = f"; {after.continuing}" if after.continuing and after.continuing not in reason else ""
    if outcome == "unknown":
        return f"{reason}; what serves cannot be told: {after.detail}{extra}"
    if after.same_release(attempt.before):
        still = "serves again" if attempt.shifted else "still serves"
        serving = f"{after.describe()} {still}" if after.release_id else "nothing serves, as before"
    elif after.release_id is not None and after.release_id == attempt.release_id:
        serving = f"{after.describe()} (the new release) serves: it could not be undone"
    else:
        serving = f"{after.describe()} serves now"
    return f"{reason}; {serving}{later}{extra}"
