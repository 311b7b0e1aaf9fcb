"""Under GitHub Actions no printed value becomes a workflow command or breaks the job summary.

The runner reads a command from any line that starts with `::` after leading whitespace, and
a legacy `##[command]` anywhere in a line; a value carrying a newline can start such a line.
Hostile values go through every console path (and through `inv` itself); the only command
lines allowed are the ones shipyard emits deliberately (::error::, ::warning::, ::group::,
::endgroup::), each on one line with its data escaped as GitHub documents (%25 %0D %0A).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from shipyard.console import Console
from shipyard.plan import Plan
from tests.conftest import Project

HOSTILE = "1.0.0\n::error title=spoof::boom|x\r  ::warning::w ##[error]legacy|y\r\n::set-output"
DELIBERATE = re.compile(r"^::(error|warning|group)::[^\r\n]*$|^::endgroup::$")
PHYSICAL = re.compile(r"\r\n|\r|\n")  # the runner splits output lines on all three


def command_lines(text: str) -> list[str]:
    """Every line the runner would take as a workflow command."""
    return [ln for ln in PHYSICAL.split(text) if ln.lstrip().startswith("::") or "##[" in ln]


def unescape_data(data: str) -> str:
    return data.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def summary_rows(markdown: str) -> list[list[str]]:
    """The cells of every markdown table row (an escaped `\\|` stays inside its cell)."""
    rows = []
    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = re.split(r"(?<!\\)\|", line)[1:-1]
            rows.append([c.strip() for c in cells])
    return rows


def parse_outputs(text: str) -> dict[str, str]:
    """$GITHUB_OUTPUT as the runner reads it: key=value, or key<<DELIMITER ... DELIMITER."""
    values: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delimiter = line.split("<<", 1)
            body: list[str] = []
            while lines[i] != delimiter:
                body.append(lines[i])
                i += 1
            i += 1
            values[key] = "\n".join(body)
        else:
            key, value = line.split("=", 1)
            values[key] = value
    return values


@pytest.fixture
def github(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    return summary, outputs


def _plan(console: Console) -> None:
    plan = Plan(HOSTILE)
    plan.add("build", HOSTILE, ["docker", "build", "--build-arg", f"X={HOSTILE}"])
    plan.notes.append(HOSTILE)
    plan.show(console)


def _group(console: Console) -> None:
    with console.group(HOSTILE):
        console.line(HOSTILE)


PATHS: dict[str, tuple[Callable[[Console], object], list[str]]] = {
    "line": (lambda c: c.line(HOSTILE), []),
    "info": (lambda c: c.info(HOSTILE), []),
    "progress": (lambda c: c.progress(HOSTILE), []),
    "warn": (lambda c: c.warn(HOSTILE), ["warning"]),
    "error": (lambda c: c.error(HOSTILE), ["error"]),
    "table": (lambda c: c.table(["a", HOSTILE], [[HOSTILE, HOSTILE]], title=HOSTILE), []),
    "json": (lambda c: c.json({"v": HOSTILE, "list": [HOSTILE]}), []),
    "plan": (_plan, []),
    "group": (_group, ["group", "endgroup"]),
}


@pytest.mark.parametrize("path", PATHS)
def test_a_hostile_value_never_becomes_a_workflow_command(
    path: str, github: tuple[Path, Path]
) -> None:
    act, deliberate = PATHS[path]
    out, err = io.StringIO(), io.StringIO()
    act(Console(out, err))
    printed = out.getvalue() + err.getvalue()
    commands = command_lines(printed)
    assert [DELIBERATE.match(c) is not None for c in commands] == [True] * len(commands), printed
    assert [re.match(r"::(\w+)::", c).group(1) for c in commands] == deliberate  # type: ignore[union-attr]
    for command in commands:
        if command.startswith(("::error::", "::warning::")):
            assert unescape_data(command.split("::", 2)[2]) == HOSTILE
    assert HOSTILE.splitlines()[0] in printed  # the value is shown, made inert, not dropped


def test_the_json_document_keeps_the_value_exactly(github: tuple[Path, Path]) -> None:
    import json

    out = io.StringIO()
    Console(out, io.StringIO()).json({"v": HOSTILE})
    assert command_lines(out.getvalue()) == []
    assert json.loads(out.getvalue()) == {"v": HOSTILE}


def test_summary_tables_keep_their_columns(github: tuple[Path, Path]) -> None:
    summary, _ = github
    rows = [["1.0.0|x", HOSTILE, "ok"], ["a\nb", "|", None]]
    Console(io.StringIO(), io.StringIO()).table(["#", "step|name", "outcome"], rows, title=HOSTILE)
    markdown = summary.read_text()
    table = summary_rows(markdown)
    assert len(table) == 1 + 1 + len(rows)  # header, separator, one line per row
    assert {len(r) for r in table} == {3}
    assert table[0][1] == r"step\|name"
    assert table[2][0] == r"1.0.0\|x"
    assert [ln for ln in markdown.splitlines() if ln.startswith("#")] == [
        "### " + " ".join(PHYSICAL.split(HOSTILE))
    ]


def test_outputs_with_line_breaks_use_a_heredoc_that_cannot_end_early(
    github: tuple[Path, Path],
) -> None:
    _, outputs = github
    values = {"version": "1.0.0", "hostile": HOSTILE, "cr": "a\rb", "empty": None}
    Console(io.StringIO(), io.StringIO()).set_outputs(values)
    parsed = parse_outputs(outputs.read_bytes().decode())  # no newline translation
    assert parsed == {"version": "1.0.0", "hostile": HOSTILE, "cr": "a\rb", "empty": ""}


def test_an_output_name_that_could_inject_is_refused(github: tuple[Path, Path]) -> None:
    with pytest.raises(ValueError, match="output name"):
        Console(io.StringIO(), io.StringIO()).set_outputs({"a\nb": "1"})


# -- through inv, as CI runs it -----------------------------------------------------------------
def _gha_env(project: Project) -> tuple[dict[str, str], Path]:
    summary = project.path.parent / "summary.md"
    return {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}, summary


def test_a_hostile_build_arg_in_a_dry_run_plan(project: Project) -> None:
    env, summary = _gha_env(project)
    proc = project.inv("build", "--dry-run", "--build-arg", f"X={HOSTILE}", extra_env=env)
    assert proc.returncode == 0, proc.stderr
    assert command_lines(proc.stdout + proc.stderr) == []
    table = summary_rows(summary.read_text())
    assert len(table) == 3  # header, separator, the one build step
    assert {len(r) for r in table} == {4}  # #, step, detail, command


def test_a_hostile_version_is_one_escaped_error_annotation(project: Project) -> None:
    env, _ = _gha_env(project)
    proc = project.inv("version", "--set", HOSTILE, extra_env=env)
    assert proc.returncode == 2, proc.stderr
    commands = command_lines(proc.stdout + proc.stderr)
    assert len(commands) == 1
    assert commands[0].startswith("::error::")
    assert DELIBERATE.match(commands[0])
