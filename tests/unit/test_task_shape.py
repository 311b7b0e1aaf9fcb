"""The shape of the Invoke tasks: thin bodies (parse, call, report), each flag declared once on
its task's options (with its help), no name that hides a builtin, and every flag explained."""

from __future__ import annotations

import ast
import builtins
import copy
import dataclasses
import inspect
from collections.abc import Sequence
from typing import Any

import pytest
from invoke.parser.argument import Argument
from invoke.parser.context import ParserContext
from invoke.parser.parser import Parser
from invoke.tasks import Task

from shipyard.tasks import namespace
from shipyard.tasks._flags import (
    as_dataclass,
    bind,
    dry_run_flag,
    flag,
    flag_of,
    flags_of,
    task_options,
)
from tests.conftest import REPO

TASKS_DIR = REPO / "src" / "shipyard" / "tasks"
TASK_MODULES = sorted(TASKS_DIR.glob("*.py"))
BUILTIN_NAMES = set(dir(builtins))
MAX_BODY_LINES = 15


def _task_functions() -> list[tuple[str, ast.FunctionDef]]:
    """Every function decorated as a task (@bind or @shipyard_task) in tasks/."""
    found = []
    for path in TASK_MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and any(
                _decorator_name(d) in {"bind", "shipyard_task", "task"} for d in node.decorator_list
            ):
                found.append((f"{path.name}:{node.name}", node))
    return found


def _decorator_name(node: ast.expr) -> str:
    target = node.func if isinstance(node, ast.Call) else node
    return target.id if isinstance(target, ast.Name) else getattr(target, "attr", "")


def _body_lines(fn: ast.FunctionDef) -> int:
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    if not body:
        return 0
    return (body[-1].end_lineno or body[-1].lineno) - body[0].lineno + 1


TASK_FUNCTIONS = _task_functions()


def test_every_task_of_the_namespace_is_found_in_the_sources() -> None:
    assert len(TASK_FUNCTIONS) == len(namespace.task_names)


@pytest.mark.parametrize(("where", "fn"), TASK_FUNCTIONS, ids=[w for w, _ in TASK_FUNCTIONS])
def test_task_bodies_are_thin(where: str, fn: ast.FunctionDef) -> None:
    lines = _body_lines(fn)
    assert lines <= MAX_BODY_LINES, f"{where}: {lines} lines (at most {MAX_BODY_LINES})"


def test_no_function_or_dataclass_field_in_tasks_hides_a_builtin() -> None:
    hidden = []
    for path in TASK_MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                args = node.args
                params = args.posonlyargs + args.args + args.kwonlyargs
                params += [a for a in (args.vararg, args.kwarg) if a is not None]
                hidden += [f"{path.name}: {a.arg}" for a in params if a.arg in BUILTIN_NAMES]
            if isinstance(node, ast.ClassDef):
                fields = [s.target for s in node.body if isinstance(s, ast.AnnAssign)]
                hidden += [
                    f"{path.name}: {node.name}.{f.id}"
                    for f in fields
                    if isinstance(f, ast.Name) and f.id in BUILTIN_NAMES
                ]
    assert hidden == []


def test_no_task_writes_a_help_dict_by_hand() -> None:
    """A flag's help lives on its options field; a `help=` dict would declare it again."""
    offenders = []
    for path in TASK_MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and _decorator_name(node) in {"shipyard_task", "task"}:
                offenders += [
                    f"{path.name}:{node.lineno}"
                    for k in node.keywords
                    if k.arg == "help" and isinstance(k.value, ast.Dict)
                ]
    assert offenders == []


def _bound_options(name: str) -> type:
    options = getattr(namespace[name].body, "options", None)
    assert options is not None, f"{name} is not bound to an options type"
    return as_dataclass(options)


@pytest.mark.parametrize("name", sorted(namespace.task_names))
def test_every_flag_is_an_options_field_with_help(name: str) -> None:
    task = namespace[name]
    options = _bound_options(name)
    for field in dataclasses.fields(options):
        assert flag_of(field).text.strip(), f"{name}: --{field.name} has no help"
    parameters = list(inspect.signature(task.body).parameters)[1:]
    assert parameters == list(flags_of(options))
    unexplained = [a.name for a in _arguments(task) if not a.help]
    assert unexplained == [], f"inv {name}: flags without help: {unexplained}"


def _arguments(task: Task[Any]) -> list[Argument]:
    """The task's arguments as Invoke parses them, on a copy: Invoke consumes `help` doing it."""
    probe = copy.copy(task)
    probe.help = dict(task.help)
    return probe.get_arguments()


@pytest.mark.parametrize("name", sorted(namespace.task_names))
def test_task_parameters_come_from_the_options(name: str) -> None:
    """Only --debug and --json, which every task has, are not fields of the task's options."""
    options = _bound_options(name)
    parameters = list(inspect.signature(namespace[name].body).parameters)[1:]
    assert parameters[-2:] == ["debug", "json"]
    assert len(parameters) - 2 == len(dataclasses.fields(options))


def test_task_modules_import_nothing_heavy_at_module_level() -> None:
    light = ("invoke", "shipyard.tasks", "shipyard.records", "__future__")  # records: stdlib only
    heavy = []
    for path in TASK_MODULES:
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module:
                module = node.module
            elif isinstance(node, ast.Import):
                module = node.names[0].name
            else:
                continue
            top = module.split(".")[0]
            if not (module.startswith(light) or top in _stdlib()):
                heavy.append(f"{path.name}: {module}")
    assert heavy == []


def _stdlib() -> frozenset[str]:
    import sys

    return frozenset(sys.stdlib_module_names)


@task_options
class ProbeFlags:
    source: str = flag("staging", "where the image comes from", name="from")
    set_to: str | None = flag(None, "the version to set", name="set")
    build_arg: Sequence[str] | None = flag(None, "KEY=VALUE (repeatable)", iterable=True)
    lock_wait: float = flag(0.0, "seconds to wait")
    dry_run: bool = dry_run_flag()


def _probe_task(seen: list[ProbeFlags]) -> Task[Any]:
    @bind(ProbeFlags)
    def probe(c: object, opts: ProbeFlags) -> None:
        """Record the options."""
        seen.append(opts)

    task: Task[Any] = probe
    return task


def test_a_bound_task_parses_its_flags_into_its_options() -> None:
    seen: list[ProbeFlags] = []
    task = _probe_task(seen)
    arguments = {a.names[0]: a for a in _arguments(task)}
    assert list(arguments) == ["from", "set", "build-arg", "lock-wait", "dry-run", "debug", "json"]
    assert arguments["build-arg"].kind is list
    assert arguments["lock-wait"].kind is float
    assert arguments["from"].help == "where the image comes from"
    argv = ["probe", "--from", "dev", "--set", "1.2.3", "-b", "A=1", "--build-arg", "B=2", "-d"]
    parsed = Parser(contexts=[ParserContext("probe", args=_arguments(task))]).parse_argv(argv)
    body = inspect.unwrap(task.body)  # without the error contract
    body(None, **parsed[0].as_kwargs)
    assert seen == [ProbeFlags("dev", "1.2.3", ["A=1", "B=2"], 0.0, True)]
    assert dataclasses.is_dataclass(ProbeFlags)
    with pytest.raises(dataclasses.FrozenInstanceError):
        seen[0].source = "prod"  # type: ignore[misc]


def test_an_options_field_without_its_help_is_refused() -> None:
    with pytest.raises(TypeError, match="version"):

        @task_options
        class Unexplained:
            env: str = flag("local", "where")
            version: str | None = None


def test_scan_timeout_is_read_as_seconds_and_bad_text_refused() -> None:
    """--timeout is a text flag (its default is None): the options read it as seconds."""
    from shipyard.errors import UsageError
    from shipyard.tasks.ecr import ScanFlags

    scan_flags = as_dataclass(ScanFlags)
    assert scan_flags(timeout="30").scan_options().timeout_seconds == 30.0
    assert scan_flags(timeout=None).scan_options().timeout_seconds is None
    with pytest.raises(UsageError, match="--timeout 'soon'"):
        scan_flags(timeout="soon").scan_options()
