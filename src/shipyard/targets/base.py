"""The values deploy targets and their callers exchange: the artifact, options and results.
The targets' interface itself (the rollout phases) is rollout/model.py's `Target`.

`local` runs on this machine's Docker engine behind nginx; `ecs` is a rolling update watched
through rolloutState and the circuit breaker; `ecs-bluegreen` shifts traffic with CodeDeploy.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any, Literal

from shipyard.plan import Plan
from shipyard.records import record

Outcome = Literal[
    "succeeded",
    "failed",
    "rolled_back",
    "interrupted",
    "superseded",
    "unknown",
    "in_progress",
    "planned",
]


@record
class Artifact:
    """What gets deployed: one image, pinned by digest."""

    version: str
    image: str  # pullable reference, <server>/<repository>@sha256:... where a registry holds it
    digest: str
    revision: str  # git commit
    restore: str = ""  # a rollback: the target's name of the release to return to
    # the digest was read from this environment's ECR moments ago: no second look-up is needed
    # to know ECR holds it
    read_from_ecr: bool = False


@record
class DeployOptions:
    dry_run: bool = False
    wait: bool = True  # --no-wait: start the shift and return
    lock_wait: float = 0.0
    notify: bool = True  # a pipeline that reports the outcome itself turns this off
    verify: bool = True  # --no-verify: no HTTP gate (the target's own health checks still hold)
    message: str = ""
    actor: str = ""


@record
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
    serving: dict[str, Any] = field(default_factory=dict)  # observed at the end


@record
class CheckResult:
    name: str
    url: str
    ok: bool
    status: int | None
    detail: str
    attempts: int
    seconds: float


@record
class VerifyResult:
    url: str
    checks: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


@record
class StatusReport:
    environment: str
    url: str | None
    live: dict[str, Any] | None  # version, digest, since, ... of what the records say is live
    history: list[dict[str, Any]]  # newest first
    observed: dict[str, Any] = field(default_factory=dict)  # what serves, measured now
    mismatch: str = ""  # where the records and the observation disagree, in words
