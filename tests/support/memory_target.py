"""An in-memory deploy target for tests of the rollout engine's policy and of pipelines: it
keeps its own truth (what serves), moves it on `shift` and back on `undo`, and logs every call.
A phase named in `fail_at` raises `error`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from shipyard.errors import DeployFailed
from shipyard.locking import LockInfo
from shipyard.plan import Plan
from shipyard.rollout.model import Attempt, Mark, Outcome, Serving
from shipyard.targets.base import Artifact, StatusReport

NEW = Artifact("2.0.0", "repo@sha256:new", "sha256:new", "abc")
OLD = Serving(True, "old", "1.0.0", "sha256:old", "old serves")


class MemoryLock:
    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.held = False

    def acquire(self, message: str, *, wait: float = 0.0) -> LockInfo:
        assert not self.held, "acquired twice"
        self.held = True
        self.log.append("lock")
        return LockInfo(owner="me", since=0.0, message=message)

    def release(self) -> None:
        self.held = False
        self.log.append("unlock")

    def status(self) -> LockInfo | None:
        return None

    def force_release(self) -> LockInfo | None:
        return None

    def leftover(self) -> LockInfo | None:
        return None


@dataclass
class MemoryTarget:
    """Serves `serving`; `shift` moves it to the attempt, `undo` moves it back. A phase named
    in `fail_at` raises `error` (an exception instance or class)."""

    serving: Serving = OLD
    fail_at: str = ""
    error: BaseException | type[BaseException] = field(default_factory=lambda: DeployFailed("boom"))
    undo_fails: bool = False
    observe_fails_after: bool = False
    detaches: bool = False
    url: str | None = "http://memory"
    environment: str = "test"
    kind: str = "memory"
    log: list[str] = field(default_factory=list)
    records: list[tuple[str, str]] = field(default_factory=list)
    artifacts: list[Artifact] = field(default_factory=list)
    lock_obj: MemoryLock | None = None

    @property
    def bake_seconds(self) -> float:
        return 0.0

    @property
    def public_url(self) -> str | None:
        return self.url

    def lock(self) -> MemoryLock:
        self.lock_obj = self.lock_obj or MemoryLock(self.log)
        return self.lock_obj

    def observe(self) -> Serving:
        if self.observe_fails_after and "discard" in self.log:
            raise DeployFailed("engine unreachable")
        return self.serving

    def reconcile(self, observed: Serving, *, follow: str | None = None) -> list[str]:
        self.log.append("reconcile")
        return []

    def plan(self, attempt: Attempt) -> Plan:
        return Plan(f"deploy {attempt.artifact.version}")

    def _step(self, name: str) -> None:
        self.log.append(name)
        if self.fail_at == name:
            raise self.error

    def prepare(self, attempt: Attempt) -> None:
        attempt.release_id = "new"
        self.artifacts.append(attempt.artifact)
        attempt.details.update(
            task_definition_arn="arn:aws:ecs:x:1:task-definition/gp:7", deployment_id="d-ABCDEF123"
        )
        self._step("prepare")

    def start(self, attempt: Attempt) -> None:
        self._step("start")

    def wait_healthy(self, attempt: Attempt) -> None:
        self._step("wait_healthy")

    def direct_url(self, attempt: Attempt) -> str | None:
        return None

    def shift(self, attempt: Attempt) -> None:
        artifact = attempt.artifact
        self.serving = Serving(True, "new", artifact.version, artifact.digest, "new serves")
        self._step("shift")

    def wait_shifted(self, attempt: Attempt) -> None:
        self._step("wait_shifted")

    def bake(self, attempt: Attempt, until: float, probe: Callable[[], str | None]) -> None:
        self._step("bake")

    def finalize(self, attempt: Attempt) -> None:
        self._step("finalize")

    def undo(self, attempt: Attempt) -> str:
        self.log.append("undo")
        if self.undo_fails:
            raise DeployFailed("cannot switch back")
        self.serving = attempt.before
        return "switched back"

    def discard(self, attempt: Attempt) -> None:
        self.log.append("discard")

    def record(self, attempt: Attempt, mark: Mark) -> None:
        self.records.append((attempt.release_id, mark))

    def finish(self, attempt: Attempt, outcome: Outcome, after: Serving, message: str) -> None:
        self.records.append((attempt.release_id, outcome))
        self.log.append(f"finish:{outcome}:{after.release_id}")

    def rollback_artifact(self, observed: Serving, to: str | None) -> Artifact:
        self.log.append(f"choose:{observed.release_id}")
        return Artifact("0.9.0", "repo@sha256:older", "sha256:older", "def", restore="older")

    def status(self) -> StatusReport:
        return StatusReport("test", None, None, [])
