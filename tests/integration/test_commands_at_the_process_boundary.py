"""What a dry run shows is what runs: a `docker` on PATH that logs its argv and then runs the
real docker sees, for a build of the sample app, exactly the argv the build's plan holds; the
same for `docker tag`."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from shipyard.config import load_config
from shipyard.console import Console
from shipyard.context import Context
from shipyard.operations import build, tag
from shipyard.operations.build import BuildOptions
from shipyard.operations.tag import TagOptions
from tests.conftest import Project

pytestmark = pytest.mark.usefixtures("docker_engine")


def _shim(directory: Path, log: Path) -> dict[str, str]:
    """A PATH whose first `docker` appends its argv (one JSON list a line) to `log`."""
    real = shutil.which("docker")
    assert real, "docker is not on PATH"
    directory.mkdir()
    shim = directory / "docker"
    shim.write_text(
        "#!/usr/bin/env python3\n"
        "import json, os, sys\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        "    f.write(json.dumps(['docker', *sys.argv[1:]]) + '\\n')\n"
        f"os.execv({real!r}, [{real!r}, *sys.argv[1:]])\n"
    )
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    return {"PATH": f"{directory}{os.pathsep}{os.environ['PATH']}"}


def _local(project: Project) -> Context:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    config = load_config("local", root=project.path, environ=environ)
    return Context(config=config, root=project.path, console=Console(io.StringIO(), io.StringIO()))


def _ran(log: Path, *head: str) -> list[tuple[str, ...]]:
    calls = [tuple(json.loads(line)) for line in log.read_text().splitlines()]
    return [c for c in calls if c[: len(head)] == head]


def test_the_build_and_tag_argv_shown_is_the_argv_run(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "argv.log"
    log.touch()
    for key, value in _shim(tmp_path / "bin", log).items():
        monkeypatch.setenv(key, value)
    ctx = _local(project)

    planned = build.run(ctx, BuildOptions(dry_run=True)).plan
    assert planned is not None
    [shown] = [s.command for s in planned.steps if s.action == "build"]
    assert _ran(log, "docker", "buildx", "build") == []  # the dry run ran no build

    build.run(ctx, BuildOptions())
    assert _ran(log, "docker", "buildx", "build") == [shown]

    tag_plan = tag.run(ctx, TagOptions(dry_run=True)).plan
    assert tag_plan is not None
    tag.run(ctx, TagOptions())
    assert _ran(log, "docker", "tag") == [s.command for s in tag_plan.steps]
