"""The Invoke namespace: every public module here contributes its tasks at the top level
(`inv build`, `inv release`, ...). Only invoke is imported at this point, so `inv --list` stays
fast; each task imports what it needs when it runs.

`for_command_line(argv)` is what tasks.py gives Invoke: only the tasks the command line names.
Invoke builds a parser context for every task of the namespace it is given, deep-copying each
task's flags, before it runs anything (about 25 ms of every `inv` process for ~40 tasks); a
command line that names its tasks plainly needs only theirs. Whatever it cannot read plainly
(core flags such as --list, --help or --complete, a name no task has) gets the whole namespace,
so Invoke's listing, help, completion and error messages stay exactly as they are."""

from __future__ import annotations

import atexit
import functools
import gc
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence

from invoke.collection import Collection
from invoke.tasks import Task

# Invoke's flags that read every task wherever they stand (task help lists the others too)
WHOLE_NAMESPACE = frozenset({"-h", "--help", "-l", "--list"})


@functools.cache
def _tasks() -> tuple[Task, ...]:  # type: ignore[type-arg]
    found: dict[str, Task] = {}  # type: ignore[type-arg]
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, Task) and value.name not in found:
                found[value.name] = value
    return tuple(found.values())


def _collection(tasks: Sequence[Task]) -> Collection:  # type: ignore[type-arg]
    ns = Collection()
    for task in tasks:
        ns.add_task(task)
    ns.configure({"run": {"echo": False}})
    return ns


def named_tasks(args: Sequence[str]) -> list[Task] | None:  # type: ignore[type-arg]
    """The tasks `args` (the command line after the program name) names, or None when it must
    be read by Invoke against every task: a core flag before the first task, a help or list
    flag anywhere, or a first word that names no task."""
    words = list(args[: args.index("--")] if "--" in args else args)
    if not words or words[0].startswith("-"):
        return None
    if any(w in WHOLE_NAMESPACE or w.startswith(("--help=", "--list=")) for w in words):
        return None
    by_name: dict[str, Task] = {}  # type: ignore[type-arg]
    for task in _tasks():
        for name in (task.name, *task.aliases):
            by_name[name] = by_name[name.replace("_", "-")] = task
    if words[0] not in by_name:
        return None
    chosen = {id(by_name[w]): by_name[w] for w in words if w in by_name}
    return list(chosen.values())


def for_command_line(argv: Sequence[str]) -> Collection:
    """The namespace for this process's command line (`argv` with the program name first)."""
    _cache_bytecode()
    _skip_the_final_collection()
    named = named_tasks(argv[1:])
    return _full_namespace() if named is None else _collection(named)


def _cache_bytecode() -> None:
    """Invoke turns writing bytecode off for its whole process (a habit from before
    __pycache__, to keep tasks.pyc out of projects), so every `inv` run compiled each shipyard
    module of an editable install from source again (40-140 ms). Their bytecode is cached as
    for any package, unless PYTHONDONTWRITEBYTECODE asks otherwise."""
    sys.dont_write_bytecode = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))


def _skip_the_final_collection() -> None:
    """At exit, after every other exit function has run, Python collects the whole heap once
    more before it tears the modules down: 50-90 ms of an `inv deploy` on AWS, whose botocore
    service models are tens of thousands of objects, all freed with the process anyway.
    Freezing the heap as the last exit function leaves that collection nothing to scan;
    every exit function (log and output flushes among them) still runs first, as before."""
    atexit.unregister(gc.freeze)  # once, however often a test process builds a namespace
    atexit.register(gc.freeze)


def __getattr__(name: str) -> Collection:
    if name == "namespace":  # every task: the docs, the tests and the listing read it
        return _full_namespace()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _full_namespace() -> Collection:
    return _collection(_tasks())
