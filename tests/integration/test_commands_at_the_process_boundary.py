"""What a dry run shows is what runs: a `docker` on PATH that logs its argv and then runs the
real docker sees, for a build of the sample app, exactly the argv the build's plan holds; the
same for `docker tag` and for the local target's network, volumes and `docker run` (whose
release id, digest, host port and env file the plan can only name)."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from shipyard.config import load_config
from shipyard.console import Console
from shipyard.context import Context
from shipyard.operations import build, deploy, tag
from shipyard.operations.build import BuildOptions
from shipyard.operations.tag import TagOptions
from shipyard.targets.base import DeployOptions
from tests.conftest import Project
from tests.support.localenv import LocalEnv, local_env

__all__ = ["local_env"]  # the fixture the local test uses

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
    # the tags run side by side: the same commands, in any order
    assert sorted(_ran(log, "docker", "tag")) == sorted(s.command for s in tag_plan.steps)


def _matches(shown: tuple[str, ...], ran: tuple[str, ...]) -> bool:
    """`ran` is `shown` with each <placeholder> (known only at run time) filled in."""

    def arg(shown_arg: str) -> str:
        parts = re.split(r"<[a-z ]+>", shown_arg)
        return "[^\x00]+".join(re.escape(p) for p in parts)

    pattern = "\x00".join(arg(a) for a in shown)
    return re.fullmatch(pattern, "\x00".join(ran)) is not None


def test_the_local_docker_run_shown_is_the_docker_run_run(
    local_env: Callable[..., LocalEnv], tmp_path: Path
) -> None:
    env = local_env()
    log = tmp_path / "argv.log"
    log.touch()
    env.project.inv("release", "--env", "local", check=True, extra_env=_shim(tmp_path / "bin", log))
    ran = _ran(log, "docker", "run")
    assert ran  # the app, and any sidecar whose image is here

    ctx = _local(env.project)
    planned = deploy.run(ctx, None, DeployOptions(dry_run=True)).plan
    assert planned is not None
    shown = [s.command for s in planned.steps if s.action == "start"]
    assert all("--publish" in c for c in shown[:1])
    for argv in ran:
        matching = [c for c in shown if _matches(c, argv)]
        assert len(matching) == 1, f"ran: {argv}\nshown: {shown}"
    # the stack's network and volumes, created on the first release, as the plan shows them
    for action, head in (("network", "network"), ("volume", "volume")):
        created = _ran(log, "docker", head, "create")
        assert created
        assert set(created) <= {s.command for s in planned.steps if s.action == action}
