"""The shape the code keeps so it can be read at once: functions of at most 60 lines, modules
of at most 500, the two largest targets at most 400, and the rollout policy in one place (no
`lock_held` flags, no probing of targets or locks with getattr)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import REPO

SRC = REPO / "src" / "shipyard"
MODULES = sorted(SRC.rglob("*.py"))
SMALLER = {"targets/local.py": 400, "targets/ecs.py": 400, "targets/ecs_bluegreen.py": 400}


def _functions(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            end = node.end_lineno or node.lineno
            found.append((node.name, end - node.lineno + 1))
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_functions_fit_on_a_screen(path: Path) -> None:
    long = [(name, n) for name, n in _functions(path) if n > 60]
    assert long == [], f"{path.relative_to(SRC)}: functions over 60 lines: {long}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_modules_do_one_thing(path: Path) -> None:
    limit = SMALLER.get(str(path.relative_to(SRC)), 500)
    lines = len(path.read_text().splitlines())
    assert lines <= limit, f"{path.relative_to(SRC)} has {lines} lines (at most {limit})"


def test_rollout_policy_lives_in_the_engine() -> None:
    probing = re.compile(r"lock_held|getattr\((self\.)?_?(target|lock|phases)\b")
    offenders = [str(p.relative_to(SRC)) for p in MODULES if probing.search(p.read_text())]
    assert offenders == []


def test_no_customer_name_in_the_package() -> None:
    """The project's own names (its image repository, its task definition's container) live
    in deploy/ config; the package says `shop` or `myapp` where it needs an example."""
    config = (REPO / "deploy" / "shipyard.toml").read_text()
    [name] = re.findall(r'^repository = "([^"]+)"', config, flags=re.MULTILINE)
    found = [
        f"{path.relative_to(SRC)}:{n}"
        for path in MODULES
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if name.lower() in line.lower()
    ]
    assert found == [], f"{name!r} is named in src/: {found}"
