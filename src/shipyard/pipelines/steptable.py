"""The step table every pipeline ends with: one row per step with its time and outcome.

    steps = StepLog(console)
    with steps.step("build") as step:
        ...; step.detail = "shop:1.4.0"
    steps.skip("push", "feature branch: pull requests and feature branches only test")
    steps.show("ci")

A step that raises is recorded as failed with the error's one line and the exception goes on;
steps never reached are shown as "not run" so a reader sees where the pipeline stopped.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any, Literal

from shipyard.console import Console, format_seconds
from shipyard.errors import ShipyardError
from shipyard.records import record
from shipyard.secrets import redact

StepOutcome = Literal["ok", "failed", "skipped", "not run", "interrupted"]


@record(frozen=False)
class StepRecord:
    name: str
    outcome: StepOutcome
    seconds: float = 0.0
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 2)
        return data


class StepHandle:
    """What a running step may add to its row."""

    def __init__(self) -> None:
        self.detail = ""


class StepLog:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.records: list[StepRecord] = []
        self.started = time.monotonic()

    @contextmanager
    def step(self, name: str) -> Iterator[StepHandle]:
        handle = StepHandle()
        begun = time.monotonic()
        self.console.progress(f"step {name}")
        try:
            yield handle
        except (KeyboardInterrupt, SystemExit) as exc:
            self.records.append(
                StepRecord(name, "interrupted", time.monotonic() - begun, type(exc).__name__)
            )
            raise
        except BaseException as exc:
            reason = exc.one_line() if isinstance(exc, ShipyardError) else redact(str(exc))
            self.records.append(
                StepRecord(name, "failed", time.monotonic() - begun, reason or type(exc).__name__)
            )
            raise
        self.records.append(StepRecord(name, "ok", time.monotonic() - begun, handle.detail))

    def skip(self, name: str, why: str) -> None:
        self.records.append(StepRecord(name, "skipped", 0.0, why))

    def not_run(self, names: Sequence[str]) -> None:
        done = {r.name for r in self.records}
        self.records.extend(StepRecord(n, "not run") for n in names if n not in done)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    @property
    def failed(self) -> bool:
        return any(r.outcome in ("failed", "interrupted") for r in self.records)

    def show(self, title: str) -> None:
        """The table on stdout (and in the GitHub job summary)."""
        rows = [[r.name, format_seconds(r.seconds), r.outcome, r.detail] for r in self.records]
        rows.append(["total", format_seconds(self.seconds), "failed" if self.failed else "ok", ""])
        self.console.table(["step", "time", "outcome", "detail"], rows, title=title)

    def as_list(self) -> list[dict[str, Any]]:
        return [r.as_dict() for r in self.records]
