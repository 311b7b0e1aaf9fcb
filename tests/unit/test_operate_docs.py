"""docs/operate.md shows each operating task with an example: every `inv` line in its code
blocks names a real task and real flags, and each of logs, exec, run, wait and render has one."""

from __future__ import annotations

import re
import shlex

from tests.conftest import REPO
from tests.unit.test_docs_generated import GENDOCS

DOC = (REPO / "docs" / "operate.md").read_text()


def _flags() -> dict[str, set[str]]:
    """Each task's flags as Invoke's parser reads them (`--no-…` only where it accepts one)."""
    return GENDOCS.task_flags()


def _examples() -> list[list[str]]:
    blocks = re.findall(r"```[a-z]*\n(.*?)```", DOC, flags=re.S)
    lines = [ln.split("  #", 1)[0].strip() for b in blocks for ln in b.splitlines()]
    # the words shipyard reads: up to a command's `--`
    return [shlex.split(ln)[1:] for ln in lines if ln.startswith("inv ")]


def test_every_example_is_a_real_task_with_real_flags() -> None:
    flags = _flags()
    problems = []
    for words in _examples():
        task, *rest = words
        if task not in flags:
            problems.append(f"{task}: not a task")
            continue
        for word in rest[: rest.index("--")] if "--" in rest else rest:
            if word.startswith("--") and word.split("=")[0] not in flags[task]:
                problems.append(f"inv {task}: {word} is not one of its flags")
    assert not problems, "\n".join(problems)


def test_each_operating_task_has_an_example() -> None:
    shown = {words[0] for words in _examples()}
    assert {"logs", "exec", "run", "wait", "render"} <= shown
