"""Plans: what an operation will do, as data. --dry-run prints them and touches nothing."""

from __future__ import annotations

from dataclasses import field

from shipyard.commands import Command
from shipyard.console import Console
from shipyard.records import record


@record
class PlanStep:
    action: str
    detail: str = ""
    command: tuple[str, ...] = ()
    stdin: str | None = None  # what the command reads on stdin, by name

    def shown_command(self) -> str:
        if not self.command:
            return ""
        return Command(self.command, self.stdin).shown()


@record(frozen=False)
class Plan:
    title: str
    steps: list[PlanStep] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(
        self, action: str, detail: str = "", command: Command | list[str] | tuple[str, ...] = ()
    ) -> None:
        """A step; a Command is kept as the adapter will run it (argv and what goes on stdin)."""
        if isinstance(command, Command):
            self.steps.append(PlanStep(action, detail, command.argv, command.stdin))
        else:
            self.steps.append(PlanStep(action, detail, tuple(command)))

    def extend(self, other: Plan) -> None:
        self.steps.extend(other.steps)
        self.notes.extend(other.notes)

    def show(self, console: Console) -> None:
        rows = [
            [i, s.action, s.detail, s.shown_command()] for i, s in enumerate(self.steps, start=1)
        ]
        console.table(["#", "step", "detail", "command"], rows, title=f"dry run: {self.title}")
        for note in self.notes:
            console.line(f"note: {note}")
        console.line("dry run: nothing was changed")
