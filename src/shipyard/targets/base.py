"""The deploy-target protocol. Every target speaks the same vocabulary:
prepare -> start new -> wait healthy -> verify -> shift traffic -> finalize, or roll back.

`local` runs on this machine's Docker engine behind nginx; `ecs` is a rolling update watched
through rolloutState and the circuit breaker; `ecs-bluegreen` shifts traffic with CodeDeploy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from shipyard.plan import Plan

Outcome = Literal["succeeded", "failed", "rolled_back", "unknown", "planned"]


@dataclass(frozen=True)
class Artifact:
    """What gets deployed: one image, pinned by digest."""

    version: str
    image: str  # pullable reference, <server>/<repository>@sha256:... where a registry holds it
    digest: str
    revision: str  # git commit


@dataclass(frozen=True)
class DeployOptions:
    dry_run: bool = False
    wait: bool = True  # --no-wait: register/start and return
    lock_wait: float = 0.0
    lock_held: bool = False  # the caller (a pipeline) already holds the environment lock
    message: str = ""
    actor: str = ""


@dataclass(frozen=True)
class DeployResult:
    environment: str
    version: str
    digest: str
    outcome: Outcome
    release_id: str = ""
    url: str | None = None
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)  # task definition ARN, deployment id
    plan: Plan | None = None
    message: str = ""


@dataclass(frozen=True)
class CheckResult:
    name: str
    url: str
    ok: bool
    status: int | None
    detail: str
    attempts: int
    seconds: float


@dataclass(frozen=True)
class VerifyResult:
    url: str
    checks: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


@dataclass(frozen=True)
class StatusReport:
    environment: str
    url: str | None
    live: dict[str, Any] | None  # version, digest, since, ... of what serves now
    history: list[dict[str, Any]]  # newest first


class Target(Protocol):
    def deploy(self, artifact: Artifact, opts: DeployOptions) -> DeployResult: ...

    def rollback(self, to: str | None, opts: DeployOptions) -> DeployResult: ...

    def status(self) -> StatusReport: ...
