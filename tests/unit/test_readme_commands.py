"""Every `inv …` command the README shows names a real task and real flags, and the quickstart
is exactly the two commands the project promises (and .ci/run runs the second)."""

from __future__ import annotations

import inspect
import re
import shlex

from tests.conftest import REPO

README = (REPO / "README.md").read_text()


def _task_flags() -> dict[str, set[str]]:
    from shipyard.tasks import namespace

    flags: dict[str, set[str]] = {}
    for name in namespace.task_names:
        params = list(inspect.signature(namespace[name].body).parameters)[1:]
        names = {p.strip("_").replace("_", "-") for p in params}
        flags[name] = {f"--{n}" for n in names} | {f"--no-{n}" for n in names} | {"--help"}
    return flags


def _commands() -> list[str]:
    """`inv` command lines in code blocks and inline code, comments and [optional] marks
    removed (an optional flag is still checked)."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", README, flags=re.S)
    lines = [ln for block in blocks for ln in block.splitlines()]
    lines += re.findall(r"`([^`\n]*\binv [^`\n]*)`", README)
    found = []
    for line in lines:
        match = re.search(r"(?:^|\s|\()inv ([a-z].*)$", line)
        if not match or line.lstrip().startswith("#"):
            continue
        text = match.group(1).split(" #")[0].replace("[", " ").replace("]", " ")
        found.append("inv " + text.strip())
    return found


def test_the_readme_shows_inv_commands() -> None:
    assert len(_commands()) > 40


def test_every_inv_command_in_the_readme_exists() -> None:
    tasks = _task_flags()
    problems = []
    for command in _commands():
        words = [w for w in shlex.split(command.replace("|", " "))[1:] if w]
        task = None
        for word in words:
            if word == "--":
                break  # the rest is the command `inv exec` / `inv run` passes on
            if word in tasks:
                task = word
            elif word.startswith("--"):
                flag = word.split("=")[0]
                if task is None or flag not in tasks[task]:
                    problems.append(f"{command!r}: {flag} is not a flag of {task}")
            elif task is None:
                problems.append(f"{command!r}: {word!r} is not a task")
                break
    assert not problems, "\n".join(problems)


def test_the_quickstart_is_the_two_promised_commands() -> None:
    quickstart = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    assert "scripts/bootstrap.sh inv release --env local" in quickstart
    assert "scripts/bootstrap.sh nox" in quickstart
    ci = (REPO / ".ci" / "run").read_text()
    assert "exec scripts/bootstrap.sh nox\n" in ci
