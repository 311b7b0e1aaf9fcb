"""The import structure of `src/shipyard`: layers that only import downwards, no cycles,
no hidden dependencies, and every AWS call inside `adapters/`.

Layers, lowest first (DESIGN.md "Layers inside src/shipyard"):

- basics: records, aside, errors, secrets, console, fsutil, versioning, interrupts, plan, images,
  history, commands: plain values and helpers that know nothing of config.
- config: `config/*`, the validated sections (frozen dataclasses), their loader and validator.
- core: the pure rules built on config: tags, tag mutability, task-definition rendering, its
  rules and its mapping onto local containers (taskdef_local).
- adapters: `adapters/*`, the only modules that speak to boto3, python-on-whales, slack_sdk,
  HTTP and processes.
- services: context (the adapter factory), locking, notify: wiring of adapters from config.
- phases: the contract between the engine and the targets: the target protocol
  (targets/base), the data a rollout passes (rollout/model) and the named fault points.
- targets: `targets/*`, the rollout phases per deploy target.
- rollout: `rollout/*`, the engine that drives the phases, with the verify gate it runs
  (HTTP checks and the k6 load check).
- operations: `operations/*` and preflight, one module per verb.
- pipelines: `pipelines/*`, operations in order.
- tasks: `tasks/*`, the Invoke entry points.

A module may import its own layer or any lower one. Imports inside `if TYPE_CHECKING:` are
annotations only: they never run, so they may point anywhere but still count for nothing else.

Function-local imports are allowed in `tasks/` (each `inv` command imports only what it runs),
in the target factory `targets/__init__` (importing any `shipyard.targets.*` module runs it, so
it imports only the configured target: `inv status --env local` never loads the ECS ones),
in the adapter factory `shipyard.context` (each property imports the adapter it builds:
`inv version` never loads the Docker or registry adapters) and, anywhere, for the heavy
third-party libraries whose import costs start-up time:
boto3/botocore (about 0.3 s), python_on_whales and pydantic-heavy helpers it pulls, slack_sdk,
and `k6`, and two of the standard library's: tomllib (a config cache hit parses no TOML) and
urllib (`inv status` with no proxy running asks nothing over HTTP). Every other
function-local import only hides a dependency from the reader and from this test, so it fails
here.

pydantic only validates the configuration; what the cache hands back is plain dataclasses. So
`shipyard.config.validate` is the one module that imports pydantic, the loader imports it only on
a cache miss (inside load_config), and the one other use is `Check`'s schema hook in
`shipyard.config.base`, which imports pydantic_core when pydantic calls it while validating.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO

SRC = REPO / "src"
PACKAGE = "shipyard"

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "basics",
        (
            "shipyard",
            "shipyard.records",
            "shipyard.aside",
            "shipyard.errors",
            "shipyard.secrets",
            "shipyard.console",
            "shipyard.fsutil",
            "shipyard.versioning",
            "shipyard.interrupts",
            "shipyard.plan",
            "shipyard.images",
            "shipyard.history",
            "shipyard.commands",
        ),
    ),
    ("config", ("shipyard.config",)),
    (
        "core",
        (
            "shipyard.tags",
            "shipyard.tag_mutability",
            "shipyard.taskdef",
            "shipyard.taskdef_rules",
            "shipyard.taskdef_local",
            "shipyard.container_run",
        ),
    ),
    ("adapters", ("shipyard.adapters",)),
    ("services", ("shipyard.context", "shipyard.locking", "shipyard.notify")),
    ("phases", ("shipyard.targets.base", "shipyard.rollout.model", "shipyard.rollout.faults")),
    ("targets", ("shipyard.targets",)),
    ("rollout", ("shipyard.rollout",)),
    ("operations", ("shipyard.operations", "shipyard.preflight")),
    ("pipelines", ("shipyard.pipelines",)),
    ("tasks", ("shipyard.tasks",)),
)
LAZY_ALLOWED = (
    *("boto3", "botocore", "python_on_whales", "slack_sdk", "k6", "tabulate"),
    # the standard library's two that a read-only command seldom needs and pays for: TOML is
    # parsed only on a config cache miss, and HTTP only asked of a proxy that runs
    *("tomllib", "urllib"),
)
LAZY_MODULES = (
    "shipyard.tasks",
    "shipyard.targets",
    "shipyard.context",
    "shipyard.locking",  # exactly the package's get_lock: one lock kind per environment
)  # packages, or exactly this module
VALIDATOR = "shipyard.config.validate"
PYDANTIC = ("pydantic", "pydantic_core")
# (importer, imported package): the only function-local imports of the validation machinery
LAZY_VALIDATION = (
    ("shipyard.config.loader", VALIDATOR),  # on a cache miss only
    ("shipyard.config.base", "pydantic_core"),  # Check's hook: runs only inside pydantic
)


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    local: bool
    type_checking: bool


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted((SRC / PACKAGE).rglob("*.py"))}


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        package = module.split(".")
        if MODULES[module].name != "__init__.py":
            package.pop()
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, *([node.module] if node.module else [])])
    else:
        base = node.module or ""
    found = []
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        found.append(submodule if submodule in MODULES else base)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return "TYPE_CHECKING" in ast.unparse(test)


def _walk(module: str, node: ast.AST, local: bool, checking: bool) -> Iterator[Import]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            for target in _targets(module, child):
                yield Import(module, target, child.lineno, local, checking)
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from _walk(module, child, True, checking)
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            yield from _walk(module, child, local, True)
        else:
            yield from _walk(module, child, local, checking)


def _imports() -> list[Import]:
    found: list[Import] = []
    for module, path in MODULES.items():
        found.extend(_walk(module, ast.parse(path.read_text()), False, False))
    return found


IMPORTS = _imports()


def layer_of(module: str) -> int:
    best, best_len = -1, -1
    for index, (_name, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and len(prefix) > best_len and (prefix != PACKAGE or module == PACKAGE):
                best, best_len = index, len(prefix)
    return best


def _internal(imp: Import) -> bool:
    return imp.imported == PACKAGE or imp.imported.startswith(PACKAGE + ".")


def test_every_module_has_a_layer() -> None:
    assert [m for m in MODULES if layer_of(m) < 0] == []


def test_no_import_runs_up_a_layer() -> None:
    upward = [
        f"{i.importer}:{i.line} ({LAYERS[layer_of(i.importer)][0]}) imports {i.imported} "
        f"({LAYERS[layer_of(i.imported)][0]})"
        for i in IMPORTS
        if _internal(i) and not i.type_checking and layer_of(i.imported) > layer_of(i.importer)
    ]
    assert upward == []


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {}
    for i in IMPORTS:
        if _internal(i) and not i.type_checking and i.imported != i.importer:
            graph.setdefault(i.importer, set()).add(i.imported)
    assert _cycle(graph) == []


def test_function_local_imports_only_for_start_up_time() -> None:
    hidden = [
        f"{i.importer}:{i.line} imports {i.imported} inside a function"
        for i in IMPORTS
        if i.local
        and not i.importer.startswith("shipyard.tasks.")
        and i.importer not in LAZY_MODULES
        and i.imported.split(".")[0] not in LAZY_ALLOWED
        and (i.importer, i.imported) not in LAZY_VALIDATION
    ]
    assert hidden == []


def _validation_import(imp: Import) -> str | None:
    """The validator or the pydantic package `imp` imports, if any."""
    if imp.imported == VALIDATOR:
        return VALIDATOR
    package = imp.imported.split(".")[0]
    return package if package in PYDANTIC else None


def test_only_the_validator_imports_pydantic_and_only_a_cache_miss_imports_it() -> None:
    # a module-level import of either would put pydantic back on every `inv` command's path
    stray = [
        f"{i.importer}:{i.line} imports {i.imported}" + (" inside a function" if i.local else "")
        for i in IMPORTS
        if _validation_import(i)
        and not i.type_checking
        and i.importer != VALIDATOR
        and not (i.local and (i.importer, _validation_import(i)) in LAZY_VALIDATION)
    ]
    assert stray == []
    assert {i.imported for i in IMPORTS if i.importer == VALIDATOR} >= {"pydantic"}


def test_the_layer_rules_catch_what_they_claim() -> None:
    assert layer_of("shipyard.operations.verify") > layer_of("shipyard.targets.local")
    assert layer_of("shipyard.adapters.containers") > layer_of("shipyard.taskdef_local")
    assert layer_of("shipyard.targets.base") < layer_of("shipyard.targets.local")
    assert _cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []


def _aws_calls(path: Path) -> list[str]:
    """Where a module reaches AWS itself: it imports boto3/botocore, asks for a client
    (`….client("ecs")`), or calls a paginator or waiter. Adapters hand out plain data, so
    nothing else needs any of these."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            found += [f"{node.lineno}: import {n}" for n in names if _is_aws_library(n)]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            attr = node.func.attr
            literal = node.args and isinstance(node.args[0], ast.Constant)
            if attr in {"get_paginator", "get_waiter"} or (attr == "client" and literal):
                found.append(f"{node.lineno}: {ast.unparse(node.func)}(…)")
    return found


def _is_aws_library(name: str | None) -> bool:
    return bool(name) and str(name).split(".")[0] in {"boto3", "botocore"}


@pytest.mark.parametrize(
    "module", [m for m in MODULES if layer_of(m) != layer_of("shipyard.adapters")]
)
def test_aws_calls_live_in_adapters(module: str) -> None:
    assert _aws_calls(MODULES[module]) == []


def test_the_aws_rule_sees_clients_paginators_and_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import botocore.exceptions as bx\n"
        "def f(ctx):\n"
        "    ctx.aws.client('ecs').describe_services()\n"
        "    ecs.get_paginator('list_tasks')\n"
        "    ctx.registry.client\n"
    )
    assert sorted(int(line.split(":")[0]) for line in _aws_calls(sample)) == [1, 3, 4]
