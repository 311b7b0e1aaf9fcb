"""Which tasks Invoke is given for a command line (shipyard.tasks.for_command_line): the tasks
it names when it names them plainly, every task otherwise, so that listing, help, completion
and Invoke's own errors are exactly those of the whole namespace."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shipyard.tasks import for_command_line, named_tasks, namespace
from tests.conftest import REPO


def names(args: list[str]) -> set[str] | None:
    found = named_tasks(args)
    return None if found is None else {t.name for t in found}


@pytest.mark.parametrize(
    ("args", "chosen"),
    [
        (["version"], {"version"}),
        (["build", "tag", "push", "--env", "local"], {"build", "tag", "push"}),
        (["release", "--env", "staging", "--bump", "patch"], {"release"}),
        (["setup-cicd", "--env", "staging"], {"setup_cicd"}),  # Invoke's dashed form
        (["setup_cicd"], {"setup_cicd"}),
        (["ecr-repo"], {"ecr-repo"}),
        (["deploy", "--env", "status"], {"deploy", "status"}),  # a value naming a task: more
        (["version", "--", "build"], {"version"}),  # after --: arguments, not tasks
    ],
)
def test_a_command_line_naming_its_tasks_gets_only_them(args: list[str], chosen: set[str]) -> None:
    assert names(args) == chosen


@pytest.mark.parametrize(
    "args",
    [
        [],  # inv alone: Invoke's help
        ["-l"],
        ["--list"],
        ["--list=de"],
        ["version", "--help"],
        ["version", "-h"],
        ["--help=version"],
        ["-e", "version"],  # any core flag first: read by Invoke with every task
        ["-c", "tasks", "version"],
        ["--complete", "--", "inv", "ver"],
        ["nosuch"],  # Invoke's own "No idea what 'nosuch' is!"
        ["--", "version"],
    ],
)
def test_what_cannot_be_read_plainly_gets_every_task(args: list[str]) -> None:
    assert named_tasks(args) is None
    assert set(for_command_line(["inv", *args]).task_names) == set(namespace.task_names)


def test_the_whole_namespace_holds_every_task_once() -> None:
    listed = namespace.task_names
    assert {"version", "release"} <= set(listed)
    assert len(listed) == len(set(listed))
    assert list(for_command_line(["inv", "version"]).task_names) == ["version"]


@pytest.mark.parametrize(
    "args",
    [["nosuch"], ["version", "nosuch"], ["version", "--nosuch"], ["--list"]],
)
def test_invoke_answers_as_it_does_with_every_task(tmp_path: Path, args: list[str]) -> None:
    """The same words and exit code whichever namespace the command line got; the reference
    is a tasks file holding the whole namespace, loaded with -r/-c."""
    (tmp_path / "whole.py").write_text("from shipyard.tasks import namespace as ns\n")
    inv = [sys.executable, "-m", "invoke"]
    chosen = subprocess.run([*inv, *args], cwd=REPO, capture_output=True, text=True, check=False)
    whole = subprocess.run(
        [*inv, "-r", str(tmp_path), "-c", "whole", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (chosen.returncode, chosen.stdout, chosen.stderr) == (
        whole.returncode,
        whole.stdout,
        whole.stderr,
    )


@pytest.mark.parametrize(("dont_write", "cached"), [("", True), ("1", False)])
def test_inv_caches_the_bytecode_of_what_it_imports_unless_told_not_to(
    tmp_path: Path, dont_write: str, cached: bool
) -> None:
    """Invoke switches bytecode writing off for its process; shipyard switches it back on for
    its own modules (an editable install would otherwise compile them on every command),
    unless PYTHONDONTWRITEBYTECODE is set. The cache goes to PYTHONPYCACHEPREFIX here, so the
    checkout's own __pycache__ is not touched."""
    env = {
        **os.environ,
        "PYTHONPYCACHEPREFIX": str(tmp_path),
        "PYTHONDONTWRITEBYTECODE": dont_write,
    }
    inv = [sys.executable, "-m", "invoke", "version"]
    subprocess.run(inv, cwd=REPO, env=env, capture_output=True, check=True)
    written = {p.name for p in tmp_path.rglob("*.pyc") if "shipyard" in p.parts}
    assert ("model.cpython-311.pyc" in written) == cached, sorted(written)
    assert ("version.cpython-311.pyc" in written) == cached  # imported when the task runs


def test_an_inv_process_freezes_its_heap_after_every_other_exit_function() -> None:
    """Python's last full collection at exit is skipped by freezing the heap as the last exit
    function: an exit function registered before the namespace is built runs after it (exit
    functions run last registered first) and sees the heap frozen; one registered after it,
    as the run's own are, runs before and sees it not yet frozen."""
    script = (
        "import atexit, gc\n"
        "atexit.register(lambda: print('after', gc.get_freeze_count() > 0))\n"
        "from shipyard.tasks import for_command_line\n"
        "for_command_line(['inv', 'version'])\n"
        "for_command_line(['inv', 'version'])\n"
        "atexit.register(lambda: print('before', gc.get_freeze_count() > 0))\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert ran.stdout.splitlines() == ["before False", "after True"]
