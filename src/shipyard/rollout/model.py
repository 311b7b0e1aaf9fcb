"""The data a rollout passes between the engine and a target's phases.

A target observes what serves (`Serving`), and carries one rollout's facts in an `Attempt`;
the engine decides what happens next. Nothing here talks to an engine, a proxy or AWS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args

from shipyard.records import record
from shipyard.targets.base import Artifact, StatusReport

if TYPE_CHECKING:
    from shipyard.locking import Lock
    from shipyard.plan import Plan

Kind = Literal["deploy", "rollback"]
Phase = Literal[
    "prepare",
    "start",
    "wait_healthy",
    "verify_new",
    "shift",
    "wait_shifted",
    "verify",
    "bake",
    "finalize",
]
PHASES: tuple[Phase, ...] = get_args(Phase)  # in the order they run
# What a record ends as; "in_progress", "shifting" and "finalizing" mark a rollout under way.
Outcome = Literal[
    "succeeded", "failed", "rolled_back", "interrupted", "unknown", "superseded", "in_progress"
]
Mark = Literal["begin", "shifting", "finalizing"]


@record
class Serving:
    """What serves, as observed; `known` is False when it could not be told."""

    known: bool
    release_id: str | None = None  # the target's name for it: a release id, task definition ARNs
    version: str | None = None
    digest: str | None = None
    detail: str = ""  # what was seen, in words
    continuing: str = ""  # a rollout under way that this process does not finish
    facts: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        if not self.known:
            return f"unknown ({self.detail})" if self.detail else "unknown"
        if self.release_id is None:
            return "nothing"
        what = self.version or "?"
        return f"{what} ({self.release_id})"

    def same_release(self, other: Serving) -> bool:
        return self.known and other.known and self.release_id == other.release_id


NOTHING = Serving(True, detail="nothing is live")
# Serving.facts key: the ids of rollouts under way that reconcile(follow=ID) can follow to their
# end (an ECS deployment a --no-wait run left); inv wait follows each before it settles
UNDER_WAY = "under_way"


@record(frozen=False)
class Attempt:
    """One rollout: what it puts live and how far it got."""

    kind: Kind
    artifact: Artifact
    before: Serving
    message: str = ""
    actor: str = ""
    release_id: str = ""  # given by the target in prepare
    phase: Phase | None = None
    shifted: bool = False  # traffic may have moved: set before the shift starts
    state: dict[str, Any] = field(default_factory=dict)  # the target's own working data
    details: dict[str, Any] = field(default_factory=dict)  # shown in results and JSON


@record
class Request:
    """What a caller asks the engine for. `choose` runs inside the lock, after observing."""

    kind: Kind
    choose: Callable[[Serving], Artifact]
    message: str = ""
    actor: str = ""
    wait: bool = True
    lock_wait: float = 0.0
    notify: bool = True
    verify: bool = True


class Phases(Protocol):
    """What a target provides to the engine. Every method returns data or raises a
    ShipyardError; none decides what happens after a failure."""

    environment: str
    kind: str
    # the rollout goes on without this process once shifted (ECS), so --no-wait may return
    detaches: bool

    @property
    def bake_seconds(self) -> float: ...

    @property
    def public_url(self) -> str | None: ...

    def lock(self) -> Lock: ...

    def observe(self) -> Serving: ...

    def reconcile(self, observed: Serving, *, follow: str | None = None) -> list[str]:
        """Bring the records in line with what serves (after a kill, a lost state file, or a
        rollout left running by --no-wait); called holding the lock before anything changes.
        `follow` (inv wait --deployment ID) names a rollout to watch until it ends; raise
        DeployFailed when it failed, StateUnknown when it did not end in time. Returns
        warnings to show."""

    def plan(self, attempt: Attempt) -> Plan: ...

    def prepare(self, attempt: Attempt) -> None: ...

    def start(self, attempt: Attempt) -> None: ...

    def wait_healthy(self, attempt: Attempt) -> None: ...

    def direct_url(self, attempt: Attempt) -> str | None:
        """Where the new release answers before traffic moves (None: not reachable alone)."""

    def shift(self, attempt: Attempt) -> None: ...

    def wait_shifted(self, attempt: Attempt) -> None: ...

    def bake(self, attempt: Attempt, until: float, probe: Callable[[], str | None]) -> None:
        """Watch the new release until the monotonic time `until`; raise when it fails.
        `probe` runs the public checks once and returns a failure reason or None."""

    def finalize(self, attempt: Attempt) -> None: ...

    def undo(self, attempt: Attempt) -> str:
        """Return traffic to what served before; works from observation, not from flags."""

    def discard(self, attempt: Attempt) -> None:
        """Remove what the attempt started that does not serve."""

    def record(self, attempt: Attempt, mark: Mark) -> None: ...

    def finish(self, attempt: Attempt, outcome: Outcome, after: Serving, message: str) -> None: ...


class Target(Phases, Protocol):
    """A deploy target: the phases, plus what `inv rollback` and `inv status` ask of it."""

    def rollback_artifact(self, observed: Serving, to: str | None) -> Artifact:
        """The release to return to (the previous good one, or `to`: a version or the target's
        own release name); UsageError when there is none. Runs inside the lock."""

    def status(self) -> StatusReport:
        """What is observed to serve, the records, and any mismatch between them."""


def serving_dict(serving: Serving) -> dict[str, Any]:
    return {
        "known": serving.known,
        "release_id": serving.release_id,
        "version": serving.version,
        "digest": serving.digest,
        "detail": serving.detail,
        "continuing": serving.continuing,
    }
