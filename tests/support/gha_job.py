"""One job while the rehearsal runs it: _JobState (its workspace, environment, contexts and
the steps' results so far), the ActionHandler signature of an emulated action, and
StepFailed, raised when a step fails as the real action would."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.support.gha_events import Event
from tests.support.gha_results import JobRun, StepRun

if TYPE_CHECKING:
    from tests.support.gha_runner import Rehearsal

ActionHandler = Callable[["_JobState", StepRun, dict[str, str]], None]


class StepFailed(Exception):
    """An emulated action failed (as the real action would)."""


@dataclass
class _JobState:
    rehearsal: Rehearsal
    event: Event
    name: str
    job: Mapping[str, Any]
    run: JobRun
    workspace: Path
    temp: Path
    env: dict[str, str]  # workflow + job env (and GITHUB_ENV additions)
    path_prefix: list[str] = field(default_factory=list)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    contexts: dict[str, Any] = field(default_factory=dict)
    deadline: float = 0.0

    def permissions(self) -> dict[str, str]:
        perms = self.job.get("permissions")
        if perms is None:
            perms = self.rehearsal.workflow.get("permissions")
        if isinstance(perms, str):
            level = "write" if perms == "write-all" else "read"
            return {k: level for k in ("contents", "id-token", "actions")}
        return {str(k): str(v) for k, v in (perms or {}).items()}
