"""Everything shipyard prints goes through here: redacted, tabulated, and GitHub-aware.

Under GitHub Actions (GITHUB_ACTIONS=true) tables are also appended to $GITHUB_STEP_SUMMARY,
outputs go to $GITHUB_OUTPUT, errors become ::error:: annotations and long output is folded in
::group:: blocks. Elsewhere the same calls print plain text.

Printed values are data, never workflow commands. The runner takes a command from any line
that starts with `::` after leading whitespace, and a legacy `##[command]` from anywhere in a
line, splitting lines at CR, LF and CRLF; so under Actions every printed line is made inert
(`inert`), table cells keep their line breaks as `\n`/`\r` (one row stays one line), the data of
shipyard's own commands is escaped as GitHub documents (%25 %0D %0A), summary table cells escape
`|` as `\\|`, and outputs with a line break use the heredoc form. Redaction always comes first.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

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
            _emit(self.out, text)

    def info(self, text: str) -> None:
        self.line(text)

    def progress(self, text: str) -> None:
        """A line of progress for long work; on stderr so --json stdout stays clean."""
        if not self.quiet:
            _emit(self.err, f"[{time.strftime('%H:%M:%S')}] {text}")

    def warn(self, text: str) -> None:
        self._annotate("warning", text)

    def error(self, text: str) -> None:
        self._annotate("error", text)

    def _annotate(self, kind: str, text: str) -> None:
        text = redact(text)
        if _on_github():
            print(f"::{kind}::{escape_data(text)}", file=self.err, flush=True)
        else:
            print(f"{kind}: {text}", file=self.err, flush=True)

    def show_traceback(self, exc: BaseException) -> None:
        """The traceback of `exc` (--debug), redacted like every other line: the exception's
        message, and those of the exceptions it was raised from, may quote a secret."""
        _emit(self.err, "".join(traceback.format_exception(exc)).rstrip("\n"))

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
        from tabulate import tabulate  # only commands that print a table pay for it

        clean_rows = [[redact(_cell(c)) for c in row] for row in rows]
        clean_headers = [redact(h) for h in headers]
        if _on_github():  # one row, one line: a break inside a cell could start a command
            shown_rows = [[_one_line(c) for c in row] for row in clean_rows]
            shown_headers = [_one_line(h) for h in clean_headers]
        else:
            shown_rows, shown_headers = clean_rows, clean_headers
        text = tabulate(shown_rows, headers=shown_headers, tablefmt="simple")
        if not self.quiet:
            if title:
                _emit(self.out, title)
            _emit(self.out, text)
        if summary:
            md_rows = [[_md_cell(c) for c in row] for row in clean_rows]
            self.step_summary(
                (f"### {_md_heading(redact(title))}\n\n" if title else "")
                + tabulate(md_rows, headers=[_md_cell(h) for h in clean_headers], tablefmt="github")
                + "\n"
            )
        return text

    def json(self, data: Any) -> None:
        global _json_printed
        text = redact(json.dumps(data, indent=2, sort_keys=True, default=str))
        if _on_github():
            # `##[` can only stand inside a JSON string here: \u005b is the same document
            text = text.replace("##[", "##\\u005b")
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
        for key in values:
            if not re.fullmatch(_OUTPUT_NAME, key):
                raise ValueError(f"{key!r} cannot be a GitHub output name")
        with Path(path).open("a", encoding="utf-8") as fh:
            for key, value in values.items():
                text = redact("" if value is None else str(value))
                if "\n" in text or "\r" in text:
                    delimiter = f"ghadelim_{os.urandom(16).hex()}"
                    while delimiter in text:  # never in practice; then the value cannot end it
                        delimiter = f"ghadelim_{os.urandom(16).hex()}"
                    fh.write(f"{key}<<{delimiter}\n{text}\n{delimiter}\n")
                else:
                    fh.write(f"{key}={text}\n")

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        if _on_github():
            print(f"::group::{escape_data(redact(title))}", file=self.err, flush=True)
            try:
                yield
            finally:
                print("::endgroup::", file=self.err, flush=True)
        else:
            yield


_OUTPUT_NAME = r"[A-Za-z_][A-Za-z0-9_-]*"
_BREAK = r"\r\n|\r|\n"  # where the runner splits lines


def _emit(stream: TextIO, text: str) -> None:
    print(inert(redact(text)), file=stream, flush=True)


def inert(text: str) -> str:
    """Under GitHub Actions: `text` with no line the runner would take as a workflow command.
    A line starting with `::` (after whitespace) gets its first colon escaped as %3A; a legacy
    `##[` becomes `##%5B`. Elsewhere `text` unchanged."""
    if not _on_github():
        return text
    parts = re.split(r"(\r\n|\r|\n)", text)
    for i in range(0, len(parts), 2):  # the even parts are lines, the odd ones their breaks
        line = parts[i]
        body = line.lstrip()
        if body.startswith("::"):
            line = line[: len(line) - len(body)] + "%3A" + body[1:]
        parts[i] = line.replace("##[", "##%5B")
    return "".join(parts)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _one_line(text: str) -> str:
    """A cell on one line: the runner does not unescape plain log lines, so its own %0A would
    show verbatim; `\n` reads as the line break it stands for."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _md_cell(text: str) -> str:
    """A cell of a GitHub markdown table: `|` would end it and a line break the row."""
    return re.sub(_BREAK, "<br>", text.replace("|", "\\|"))


def _md_heading(text: str) -> str:
    return re.sub(_BREAK, " ", text)


def escape_data(text: str) -> str:
    """The data of a workflow command (::error::DATA), as GitHub documents it. (shipyard's
    commands carry no properties, title=... and the like, which would also need %3A and %2C.)"""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"
