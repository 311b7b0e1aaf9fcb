"""What the console prints, exactly: JSON mode, GitHub outputs, annotations, tables, tracebacks.

* --json promises one document on stdout: human lines step aside to stderr, the document is
  indented and key-sorted, reaches the pipe at once, and is remembered as printed so a failure
  path adds no second one; the next task in the process starts afresh.
* $GITHUB_OUTPUT is written only under GitHub Actions with the variable set, in UTF-8 whatever
  the locale, one `key=value` line for a one-line value and a heredoc for any line break
  (LF, CR or both), whose delimiter never occurs in the value.
* Workflow-command data is escaped as GitHub documents: `%` first, so a literal `%0A` in a
  value stays text; a table cell under Actions shows its breaks as the two characters `\\n`.
* A --debug traceback is the whole chain, redacted, on stderr.
"""

from __future__ import annotations

import io
import json
import locale
import os
import re
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shipyard.console import Console, format_seconds, json_mode, json_printed, set_json_mode
from shipyard.secrets import MASK, Secret
from tests.support.secret_registry import secrets_forgotten_after

DELIMITER = r"ghadelim_[0-9a-f]{32}"


@pytest.fixture
def github(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Under GitHub Actions with $GITHUB_OUTPUT set; returns that file (not yet created)."""
    outputs = tmp_path / "outputs"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return outputs


@pytest.fixture
def json_on() -> Iterator[None]:
    """--json for this test only: the mode is process-wide, the next test must not inherit it."""
    set_json_mode(True)
    yield
    set_json_mode(False)


@pytest.fixture
def forget_secrets() -> Iterator[None]:
    """Secrets a test creates are forgotten afterwards, so they mask nothing elsewhere."""
    with secrets_forgotten_after():
        yield


# -- --json -------------------------------------------------------------------------------------
def test_under_json_only_the_document_is_on_stdout(
    json_on: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`inv ... --json | jq` must parse stdout: lines and tables go to stderr meanwhile."""
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    assert json_mode() is True
    console = Console()
    console.line("building 1.2.3")
    console.table(["step", "outcome"], [["build", "ok"]], summary=False)
    console.json({"version": "1.2.3"})
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"version": "1.2.3"}
    assert "building 1.2.3" in captured.err
    assert "build" in captured.err.splitlines()[-1]


def test_the_document_is_remembered_as_printed_until_the_next_task(json_on: None) -> None:
    """A failure after the document must not print a second one (json_printed), but the next
    task run in the same process has printed nothing yet."""
    assert json_printed() is False
    Console(io.StringIO(), io.StringIO()).json({"outcome": "ok"})
    assert json_printed() is True
    set_json_mode(True)
    assert json_printed() is False
    assert json_mode() is True


def test_the_document_is_indented_key_sorted_and_shows_paths_and_times_as_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The document's exact text: 2-space indent, sorted keys (stable across runs, diffable),
    and values JSON has no type for (a path, a timestamp) as their text, not a crash."""
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    out = io.StringIO()
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    Console(out, io.StringIO()).json({"b": [1, 2], "a": {"path": Path("/srv/app"), "at": when}})
    assert out.getvalue() == (
        "{\n"
        '  "a": {\n'
        '    "at": "2026-01-02 03:04:05+00:00",\n'
        '    "path": "/srv/app"\n'
        "  },\n"
        '  "b": [\n'
        "    1,\n"
        "    2\n"
        "  ]\n"
        "}\n"
    )


def test_under_github_a_legacy_command_in_the_document_is_written_as_its_json_escape(
    github: Path,
) -> None:
    """`##[` in a string becomes `##\\u005b` (the documented form): the same document, no
    legacy command for the runner."""
    out = io.StringIO()
    Console(out, io.StringIO()).json({"v": "a ##[error] b"})
    assert out.getvalue() == '{\n  "v": "a ##\\u005berror] b"\n}\n'
    assert json.loads(out.getvalue()) == {"v": "a ##[error] b"}


@contextmanager
def _pipe() -> Iterator[tuple[io.TextIOWrapper, int]]:
    """A block-buffered text stream on a pipe, as stdout is under `| jq`, and its read end
    (non-blocking: reading shows only what has reached the pipe)."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    stream = open(write_fd, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    try:
        yield stream, read_fd
    finally:
        stream.close()
        os.close(read_fd)


def _arrived(read_fd: int) -> bytes:
    """What has reached the pipe so far (nothing yet: b"")."""
    try:
        return os.read(read_fd, 65536)
    except BlockingIOError:
        return b""


PIPED: dict[str, tuple[bool, bool, Callable[[Console], object], bytes]] = {
    # name: (under Actions, on stderr, call, what must have reached the pipe)
    "json": (False, False, lambda c: c.json({"outcome": "ok"}), b'{\n  "outcome": "ok"\n}\n'),
    "line": (False, False, lambda c: c.line("settling"), b"settling\n"),
    "error": (False, True, lambda c: c.error("timed out"), b"error: timed out\n"),
    "warn": (False, True, lambda c: c.warn("slow"), b"warning: slow\n"),
    "error (actions)": (True, True, lambda c: c.error("timed out"), b"::error::timed out\n"),
    "warn (actions)": (True, True, lambda c: c.warn("slow"), b"::warning::slow\n"),
}


@pytest.mark.parametrize("name", PIPED)
def test_what_is_printed_reaches_the_pipe_when_the_call_returns(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CI shows a long rollout's lines as they happen, and a run killed afterwards (a CI
    timeout while it waits) has still delivered its document and its errors: nothing waits
    in a buffer for the process to end."""
    actions, on_stderr, act, expected = PIPED[name]
    if actions:
        monkeypatch.setenv("GITHUB_ACTIONS", "true")
    else:
        monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    with _pipe() as (stream, read_fd):
        act(Console(io.StringIO(), stream) if on_stderr else Console(stream, io.StringIO()))
        assert _arrived(read_fd) == expected


# -- $GITHUB_OUTPUT -----------------------------------------------------------------------------
@pytest.mark.parametrize("variable", ["GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"])
@pytest.mark.parametrize(
    ("actions", "file_named"),
    [(None, True), ("false", True), ("true", False)],
    ids=["not-actions", "actions-false", "no-file-named"],
)
def test_outputs_and_summary_are_written_only_under_actions_with_the_file_named(
    variable: str,
    actions: str | None,
    file_named: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A local run with a stale GITHUB_OUTPUT/GITHUB_STEP_SUMMARY in its shell writes nothing
    there; under Actions without the variable, outputs and summaries are a quiet no-op."""
    target = tmp_path / "file"
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    if actions is None:
        monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    else:
        monkeypatch.setenv("GITHUB_ACTIONS", actions)
    if file_named:
        monkeypatch.setenv(variable, str(target))
    console = Console(io.StringIO(), io.StringIO())
    console.set_outputs({"version": "1.0.0"})
    console.step_summary("**released**")
    console.table(["k"], [["v"]])
    assert not target.exists()


def test_one_line_values_are_key_value_and_any_line_break_makes_a_heredoc(github: Path) -> None:
    """The runner reads `key=value` to the end of the line: a value with LF, CR or CRLF must
    use the heredoc form, and a one-line value must not."""
    values = {"version": "1.0.0", "lf": "a\nb", "cr": "a\rb", "crlf": "a\r\nb", "empty": None}
    Console(io.StringIO(), io.StringIO()).set_outputs(values)
    text = github.read_bytes().decode()  # no newline translation
    expected = (
        r"version=1\.0\.0\n"
        rf"lf<<({DELIMITER})\na\nb\n\1\n"
        rf"cr<<({DELIMITER})\na\rb\n\2\n"
        rf"crlf<<({DELIMITER})\na\r\nb\n\3\n"
        r"empty=\n"
    )
    assert re.fullmatch(expected, text), repr(text)


def test_a_heredoc_delimiter_found_in_the_value_is_replaced_by_another(
    github: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A value containing the delimiter drawn first would end the heredoc early (and what
    follows would become outputs of its own): another is drawn until none occurs in it."""
    drawn = iter([bytes(15) + b"\x01", bytes(15) + b"\x02"])
    monkeypatch.setattr(os, "urandom", lambda _size: next(drawn))
    first, second = f"ghadelim_{'0' * 31}1", f"ghadelim_{'0' * 31}2"
    value = f"start\n{first}\ninjected=1"
    Console(io.StringIO(), io.StringIO()).set_outputs({"notes": value})
    assert github.read_bytes().decode() == f"notes<<{second}\n{value}\n{second}\n"


def test_outputs_and_summary_are_utf8_whatever_the_locale(
    github: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runner reads both files as UTF-8; under an ASCII (C) locale a non-ASCII value is
    still written, as UTF-8, not refused or mis-encoded."""
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    saved = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")
    try:
        console = Console(io.StringIO(), io.StringIO())
        console.set_outputs({"title": "café ✓"})
        console.step_summary("café ✓")
    finally:
        locale.setlocale(locale.LC_CTYPE, saved)
    assert github.read_bytes() == "title=café ✓\n".encode()
    assert summary.read_bytes() == "café ✓\n".encode()


# -- workflow-command data, table cells ---------------------------------------------------------
@pytest.mark.parametrize("kind", ["error", "warning"])
def test_annotation_data_escapes_percent_first(kind: str, github: Path) -> None:
    """`%` becomes %25 before breaks become %0D/%0A: a value quoting `%0A` literally stays
    those three characters for the runner, and a real break cannot end the annotation."""
    err = io.StringIO()
    console = Console(io.StringIO(), err)
    (console.error if kind == "error" else console.warn)("100% of %0A\r\nnext")
    assert err.getvalue() == f"::{kind}::100%25 of %250A%0D%0Anext\n"


def test_a_group_title_is_escaped_data_too(github: Path) -> None:
    err = io.StringIO()
    with Console(io.StringIO(), err).group("50% done\nnext"):
        pass
    assert err.getvalue() == "::group::50%25 done%0Anext\n::endgroup::\n"


def test_under_github_a_table_cell_shows_its_breaks_as_backslash_escapes(github: Path) -> None:
    """One row stays one line; the runner shows plain log lines verbatim, so `\\n` and `\\r`
    (two characters each) read as the breaks they stand for."""
    out = io.StringIO()
    text = Console(out, io.StringIO()).table(
        ["k", "v"], [["a\nb", "c\rd"], ["e\r\nf", "g"]], summary=False
    )
    lines = text.splitlines()
    assert len(lines) == 4  # header, rule, two rows
    assert lines[2].split() == [r"a\nb", r"c\rd"]
    assert lines[3].split() == [r"e\r\nf", "g"]
    assert out.getvalue() == text + "\n"


def test_the_job_summary_table_is_markdown_with_breaks_as_br_and_pipes_escaped(
    github: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The summary's exact text: a heading from the title on one line, `<br>` for a break in a
    cell, `\\|` for a pipe, `-` for a missing value, floats to one decimal."""
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    rows = [["build", "a\nb|c", 3.14159], ["push", None, 2]]
    Console(io.StringIO(), io.StringIO()).table(
        ["step", "detail", "seconds"], rows, title="Release\n1.2.3"
    )
    assert summary.read_text() == (
        "### Release 1.2.3\n"
        "\n"
        "| step   | detail    |   seconds |\n"
        "|--------|-----------|-----------|\n"
        "| build  | a<br>b\\|c |       3.1 |\n"
        "| push   | -         |       2   |\n"
        "\n"
    )


def test_under_github_a_printed_line_keeps_its_text_with_commands_made_inert(
    github: Path,
) -> None:
    """Only the first colon of a `::` line becomes %3A and `##[` becomes `##%5B`, as the
    docstring of `inert` says: the rest of the value is shown as it is, breaks included."""
    out = io.StringIO()
    Console(out, io.StringIO()).line("  ::error::boom\r\n##[warning]x ##[y]\n\t::z")
    assert out.getvalue() == "  %3A:error::boom\r\n##%5Bwarning]x ##%5By]\n\t%3A:z\n"


def test_a_table_prints_its_title_then_its_rows_on_the_console_s_stream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Off Actions: the title, then the table, on the stream the console was given (stderr
    under --json), a missing value shown as `-`."""
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    out = io.StringIO()
    text = Console(out, io.StringIO()).table(["step", "outcome"], [["build", None]], title="Plan")
    assert text == "step    outcome\n------  ---------\nbuild   -"
    assert out.getvalue() == f"Plan\n{text}\n"


def test_a_table_without_a_title_has_no_heading_in_the_summary(
    github: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    Console(io.StringIO(), io.StringIO()).table(["k"], [["v"]])
    assert summary.read_text() == "| k   |\n|-----|\n| v   |\n\n"


def test_quiet_prints_no_lines_or_tables_but_errors_and_the_summary_still_count(
    github: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--quiet silences progress, lines and tables, never a warning or an error; the job
    summary is a record, written all the same."""
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    out, err = io.StringIO(), io.StringIO()
    console = Console(out, err, quiet=True)
    console.line("building")
    console.info("built")
    console.progress("pushing")
    assert console.table(["k"], [["v"]], title="T") == "k\n---\nv"
    console.warn("slow")
    console.error("failed")
    assert out.getvalue() == ""
    assert err.getvalue() == "::warning::slow\n::error::failed\n"
    assert summary.read_text().startswith("### T\n")


def test_progress_is_a_timestamped_line_on_stderr_and_line_alone_is_blank(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    out, err = io.StringIO(), io.StringIO()
    console = Console(out, err)
    console.progress("waiting for 2/3 tasks")
    console.line()
    assert re.fullmatch(r"\[\d\d:\d\d:\d\d\] waiting for 2/3 tasks\n", err.getvalue())
    assert out.getvalue() == "\n"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0.0s"),
        (59.9, "59.9s"),
        (60, "1m00s"),
        (60.5, "1m00s"),
        (125, "2m05s"),
        (3600, "60m00s"),
    ],
)
def test_durations_under_a_minute_in_seconds_from_a_minute_in_minutes(
    seconds: float, shown: str
) -> None:
    assert format_seconds(seconds) == shown


# -- --debug traceback --------------------------------------------------------------------------
def test_a_debug_traceback_is_the_whole_chain_redacted_on_stderr(forget_secrets: None) -> None:
    """Exactly the traceback Python would print, causes included, with a secret quoted in
    any message masked; on stderr, so --json stdout stays one document."""
    secret = Secret("s3cr3t-token-value")
    try:
        try:
            raise KeyError(f"lookup of {secret.reveal()}")
        except KeyError as cause:
            raise RuntimeError(f"the SDK said: {secret.reveal()}") from cause
    except RuntimeError as exc:
        caught = exc
    out, err = io.StringIO(), io.StringIO()
    Console(out, err).show_traceback(caught)
    expected = "".join(traceback.format_exception(caught)).replace(secret.reveal(), MASK)
    assert err.getvalue() == expected
    assert out.getvalue() == ""
    assert "The above exception was the direct cause" in expected
    assert f"RuntimeError: the SDK said: {MASK}" in expected
    assert secret.reveal() not in err.getvalue()


def test_a_debug_traceback_keeps_a_message_ending_in_spaces_as_python_prints_it() -> None:
    """Only the final line break is dropped (print adds its own): the message's own trailing
    spaces are part of what was raised."""
    try:
        raise ValueError("padded  ")
    except ValueError as exc:
        caught = exc
    out, err = io.StringIO(), io.StringIO()
    Console(out, err).show_traceback(caught)
    assert err.getvalue() == "".join(traceback.format_exception(caught))
    assert err.getvalue().endswith("ValueError: padded  \n")
