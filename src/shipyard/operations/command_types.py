"""What `inv exec` / `inv run` take and return, on either target (operations/exec_run.py for
local containers, operations/ecs_exec_run.py for ECS tasks)."""

from __future__ import annotations

from dataclasses import field
from typing import Any

from shipyard.plan import Plan
from shipyard.records import record


@record
class CommandOptions:
    command: tuple[str, ...]
    container: str | None = None
    service: str | None = None  # ECS: which of the environment's services
    dry_run: bool = False
    tty: bool = False  # the terminal is one: give the command a TTY
    raw: bool = False  # ECS exec: send the command as is, without the exit-status wrapper


@record(frozen=False)
class CommandResult:
    environment: str
    container: str
    where: str  # the container's or task's name
    command: tuple[str, ...]
    exit_code: int | None = None
    detail: str = ""  # a stopped task's reason
    plan: Plan | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "container": self.container,
            "where": self.where,
            "command": list(self.command),
            "exit_code": self.exit_code,
            "detail": self.detail,
            **self.facts,
        }
