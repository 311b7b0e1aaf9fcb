"""Every `inv …` command the README and the pages under docs/ show names a real task and real
flags (as Invoke's own parser reads them), the quickstart is exactly the two commands the
project promises (and .ci/run runs the second), and the README stays a short front door that
links every page."""

from __future__ import annotations

import re
import shlex

from tests.conftest import REPO
from tests.unit.test_docs_generated import GENDOCS

README = (REPO / "README.md").read_text()
PAGES = {"README.md": README} | {
    f"docs/{page.name}": page.read_text() for page in sorted((REPO / "docs").glob("*.md"))
}


def _commands(text: str) -> list[str]:
    """`inv` command lines in code blocks and inline code, comments and [optional] marks
    removed (an optional flag is still checked)."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)
    lines = [ln for block in blocks for ln in block.splitlines()]
    lines += re.findall(r"`([^`\n]*\binv [^`\n]*)`", text)
    found = []
    for line in lines:
        match = re.search(r"(?:^|\s|\()inv ([a-z].*)$", line)
        if not match or line.lstrip().startswith("#"):
            continue
        text = match.group(1).split(" #")[0].replace("[", " ").replace("]", " ")
        found.append("inv " + text.strip())
    return found


def _problems(command: str, tasks: dict[str, set[str]]) -> list[str]:
    words = [w for w in shlex.split(command.replace("|", " "))[1:] if w]
    task = None
    problems = []
    for word in words:
        if word == "--":
            break  # the rest is the command `inv exec` / `inv run` passes on
        if word in tasks:
            task = word
        elif word.startswith("-"):
            flag = word.split("=")[0]
            if task is None or flag not in tasks[task]:
                problems.append(f"{command!r}: {flag} is not a flag of {task}")
        elif task is None:
            problems.append(f"{command!r}: {word!r} is not a task")
            break
    return problems


def test_the_readme_and_the_docs_show_inv_commands() -> None:
    assert len(_commands(README)) >= 10
    assert sum(len(_commands(text)) for text in PAGES.values()) > 150


def test_every_inv_command_in_the_readme_and_the_docs_exists() -> None:
    tasks = GENDOCS.task_flags()
    problems = [
        f"{page}: {problem}"
        for page, text in PAGES.items()
        for command in _commands(text)
        for problem in _problems(command, tasks)
    ]
    assert not problems, "\n".join(problems)


def test_a_wrong_flag_or_task_is_noticed() -> None:
    tasks = GENDOCS.task_flags()
    assert _problems("inv release --env local --bump patch --dry-run", tasks) == []
    assert _problems("inv release --no-such-flag", tasks) != []
    assert _problems("inv relase --env local", tasks) != []


def test_the_quickstart_is_the_two_promised_commands() -> None:
    quickstart = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    assert "scripts/bootstrap.sh inv release --env local" in quickstart
    assert "scripts/bootstrap.sh nox" in quickstart
    ci = (REPO / ".ci" / "run").read_text()
    assert "exec scripts/bootstrap.sh nox\n" in ci


def test_the_readme_is_a_short_front_door_linking_every_page() -> None:
    assert len(README.splitlines()) <= 200
    for heading in ("## Quickstart", "## A short tour", "## Speed", "## Documentation"):
        assert heading in README
    linked = set(re.findall(r"\]\((docs/[\w.-]+\.md)\)", README))
    pages = {f"docs/{page.name}" for page in (REPO / "docs").glob("*.md")}
    assert pages - linked == set(), "pages the README does not link"
    speed = README.split("## Speed", 1)[1].split("\n## ", 1)[0]
    assert "nox -s bench" in speed
    assert "docs/benchmarks.md" in speed
    assert len(speed.strip().splitlines()) <= 12
