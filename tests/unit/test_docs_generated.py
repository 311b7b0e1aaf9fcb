"""docs/configuration.md and docs/tasks.md are generated from the code (tools/gendocs.py, run
by `nox -s docs`); this fails when the committed pages no longer say what the code does."""

from __future__ import annotations

import dataclasses
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO


def _gendocs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gendocs", REPO / "tools" / "gendocs.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gendocs"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


GENDOCS = _gendocs()


@pytest.mark.parametrize("page", ["docs/configuration.md", "docs/tasks.md"])
def test_the_generated_page_is_current(page: str) -> None:
    generated = {str(path): text for path, text in GENDOCS.outputs().items()}
    committed = (REPO / page).read_text(encoding="utf-8")
    assert committed == generated[page], f"{page} is stale: run nox -s docs"


def test_generating_twice_gives_the_same_text() -> None:
    assert GENDOCS.outputs() == GENDOCS.outputs()


def test_every_config_key_and_every_task_is_on_its_page() -> None:
    from shipyard.config.model import ShipyardConfig
    from shipyard.tasks import namespace

    configuration = GENDOCS.render_configuration()
    for name in (f.name for f in dataclasses.fields(ShipyardConfig)):
        assert f"| `{name}` |" in configuration
    assert "| `target.codedeploy.hooks` |" in configuration
    assert "| `target.services.name` |" in configuration
    tasks = GENDOCS.render_tasks()
    for name in namespace.task_names:
        assert f"## `inv {name}`" in tasks


def _check(root: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(REPO / "tools" / "gendocs.py"), "--check", "--root", str(root)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_check_mode_passes_on_this_checkout() -> None:
    run = _check(REPO)
    assert (run.returncode, run.stderr) == (0, ""), run.stderr


def test_check_mode_names_each_stale_file(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "tasks.md").write_text((REPO / "docs" / "tasks.md").read_text())
    (tmp_path / "docs" / "configuration.md").write_text("# an old page\n")
    run = _check(tmp_path)
    assert run.returncode == 1
    assert run.stderr == "docs/configuration.md is stale: run nox -s docs\n"
