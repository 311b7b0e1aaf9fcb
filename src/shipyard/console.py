"""Everything shipyard prints goes through here: redacted, tabulated, and GitHub-aware.

Under GitHub Actions (GITHUB_ACTIONS=true) tables are also appended to $GITHUB_STEP_SUMMARY,
outputs go to $GITHUB_OUTPUT, errors become ::error:: annotations and long output is folded in
::group:: blocks. Elsewhere the same calls print plain text.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from tabulate import tabulate

from shipyard.secrets import redact

# With --json, stdout carries only the JSON document; tables and lines go to stderr.
_json_mode = False
_json_printed = False  # --json promises one document: a failure path must not add a second


def set_json_mode(on: bool) -> None:
    global _json_mode, _json_printed
    _json_mode = on
    _json_printed = False


def json_printed() -> bool:
    return _json_printed


def json_mode() -> bool:
    return _json_mode


def _on_github() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


class Console:
    def __init__(
        self,
        out: TextIO | None = None,
        err: TextIO | None = None,
        *,
        quiet: bool = False,
    ) -> None:
        self._out = out
        self._err = err
        self.quiet = quiet

    @property
    def out(self) -> TextIO:
        """Where human-readable output goes (stderr under --json)."""
        if self._out is not None:
            return self._out
        return sys.stderr if _json_mode else sys.stdout

    @property
    def err(self) -> TextIO:
        return self._err or sys.stderr

    # -- plain lines ---------------------------------------------------------------------
    def line(self, text: str = "") -> None:
        if not self.quiet:
            print(redact(text), file=self.out, flush=True)

    def info(self, text: str) -> None:
        self.line(text)

    def progress(self, text: str) -> None:
        """A line of progress for long work; on stderr so --json stdout stays clean."""
        if not self.quiet:
            stamp = time.strftime("%H:%M:%S")
            print(f"[{stamp}] {redact(text)}", file=self.err, flush=True)

    def warn(self, text: str) -> None:
        text = redact(text)
        if _on_github():
            print(f"::warning::{_escape_annotation(text)}", file=self.err, flush=True)
        else:
            print(f"warning: {text}", file=self.err, flush=True)

    def error(self, text: str) -> None:
        text = redact(text)
        if _on_github():
            print(f"::error::{_escape_annotation(text)}", file=self.err, flush=True)
        else:
            print(f"error: {text}", file=self.err, flush=True)

    # -- tables --------------------------------------------------------------------------
    def table(
        self,
        headers: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        title: str | None = None,
        summary: bool = True,
    ) -> str:
        """Print a table; under GitHub Actions also append it to the job summary."""
        clean_rows = [[redact(_cell(c)) for c in row] for row in rows]
        text = tabulate(clean_rows, headers=list(headers), tablefmt="simple")
        if not self.quiet:
            if title:
                print(redact(title), file=self.out)
            print(text, file=self.out, flush=True)
        if summary:
            self.step_summary(
                (f"### {redact(title)}\n\n" if title else "")
                + tabulate(clean_rows, headers=list(headers), tablefmt="github")
                + "\n"
            )
        return text

    def json(self, data: Any) -> None:
        global _json_printed
        text = redact(json.dumps(data, indent=2, sort_keys=True, default=str))
        print(text, file=self._out or sys.stdout, flush=True)
        _json_printed = True

    # -- GitHub Actions ------------------------------------------------------------------
    def step_summary(self, markdown: str) -> None:
        path = os.environ.get("GITHUB_STEP_SUMMARY")
        if _on_github() and path:
            with Path(path).open("a", encoding="utf-8") as fh:
                fh.write(redact(markdown) + "\n")

    def set_outputs(self, values: Mapping[str, Any]) -> None:
        path = os.environ.get("GITHUB_OUTPUT")
        if not (_on_github() and path):
            return
        with Path(path).open("a", encoding="utf-8") as fh:
            for key, value in values.items():
                text = redact("" if value is None else str(value))
                if "\n" in text:
                    delimiter = f"ghadelim_{uuid.uuid4().hex}"
                    fh.write(f"{key}<<{delimiter}\n{text}\n{delimiter}\n")
                else:
                    fh.write(f"{key}={text}\n")

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        if _on_github():
            print(f"::group::{redact(title)}", file=self.err, flush=True)
            try:
                yield
            finally:
                print("::endgroup::", file=self.err, flush=True)
        else:
            yield


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _escape_annotation(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"
