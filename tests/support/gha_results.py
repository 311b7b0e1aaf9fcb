"""What a rehearsed workflow run leaves: WorkflowRun, its JobRuns (result, outputs, logs,
credentials asked for, artifacts, warnings) and their StepRuns, each with ways to find a
step and read its log."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.gha_events import Event


@dataclass
class StepRun:
    index: int
    name: str
    id: str | None
    kind: str  # run | uses
    line: str  # the run line, or the action
    outcome: str = "skipped"  # success | failure | skipped
    conclusion: str = "skipped"
    exit_code: int | None = None
    log: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    env: dict[str, str] = field(default_factory=dict)  # what the step's own env: evaluated to
    github: dict[str, str] = field(default_factory=dict)  # the GITHUB_*/RUNNER_* it ran with
    with_: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    replaced: str | None = None  # the run line the rehearsal ran instead (narrowed)
    notes: list[str] = field(default_factory=list)


@dataclass
class Credentials:
    """What one configure-aws-credentials step asked for."""

    role: str
    session_name: str
    region: str
    subject: str  # the OIDC `sub` this job presents


@dataclass
class JobRun:
    name: str
    result: str = "skipped"  # success | failure | skipped
    outputs: dict[str, str] = field(default_factory=dict)
    steps: list[StepRun] = field(default_factory=list)
    environment: str | None = None
    workspace: Path | None = None
    credentials: list[Credentials] = field(default_factory=list)
    artifacts: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    path: list[str] = field(default_factory=list)  # what steps put on GITHUB_PATH, in order
    workspace_env: dict[str, str] = field(default_factory=dict)  # from prepare_workspace
    seconds: float = 0.0
    if_value: bool | None = None

    def step(self, name_or_id: str) -> StepRun:
        """The step with this id, name, action (`actions/checkout`) or run line."""
        for step in self.steps:
            if name_or_id in (step.id, step.name, step.line, step.line.split("@")[0]):
                return step
        raise KeyError(f"{self.name}: no step {name_or_id!r}")

    def ran(self, command: str) -> StepRun:
        """The one step that ran (not skipped) whose run line starts with `command`."""
        found = [
            s
            for s in self.steps
            if s.kind == "run" and s.outcome != "skipped" and s.line.strip().startswith(command)
        ]
        if len(found) != 1:
            raise KeyError(f"{self.name}: {len(found)} steps running {command!r} ran")
        return found[0]

    def running(self, command: str) -> StepRun:
        """The step whose run line is `command`, else the one that starts with it."""
        runs = [s for s in self.steps if s.kind == "run"]
        found = [s for s in runs if s.line.strip() == command] or [
            s for s in runs if s.line.strip().startswith(command)
        ]
        if len(found) != 1:
            raise KeyError(f"{self.name}: {len(found)} steps run {command!r}")
        return found[0]

    def log(self) -> str:
        return "\n".join(
            f"--- {self.name} / {s.name}: {s.outcome} (exit {s.exit_code}, {s.seconds:.1f}s)\n"
            f"{s.log}"
            for s in self.steps
            if s.outcome != "skipped"
        )

    def summary(self) -> str:
        return "".join(s.summary for s in self.steps)


@dataclass
class WorkflowRun:
    event: Event
    jobs: dict[str, JobRun]
    workflow: dict[str, Any] = field(default_factory=dict)  # as read from the event's commit
    seconds: float = 0.0

    def needs_context(self, names: list[str]) -> dict[str, Any]:
        return {n: {"result": self.jobs[n].result, "outputs": self.jobs[n].outputs} for n in names}

    def report(self) -> str:
        """One line per job and the log of every job that did not succeed."""
        lines = [f"{self.event.name} {self.event.ref} ({self.seconds:.0f}s)"]
        for job in self.jobs.values():
            lines.append(f"  {job.name}: {job.result} ({job.seconds:.1f}s) {job.outputs}")
        for job in self.jobs.values():
            if job.result == "failure":
                lines.append(job.log()[-6000:])
        return "\n".join(lines)
