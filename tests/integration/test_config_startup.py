"""Start-up (issue 16): a configuration read back from the cache is plain dataclasses, so `inv
version`, run as a user types it, imports pydantic only when the configuration must be
validated (a cache miss), and a miss still validates and words a problem exactly as before."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, VENV_BIN


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The sample project's configuration and version file, and the tasks entry point."""
    path = tmp_path / "project"
    shutil.copytree(REPO / "deploy", path / "deploy")
    for name in ("version.txt", "tasks.py"):
        shutil.copy(REPO / name, path / name)
    return path


def inv(project: Path, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`inv ARGS` in `project`, with -X importtime: stderr names every module it imported."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SHIPYARD_", "AWS_", "ECR_", "GITHUB_", "PYTEST_", "PYTHON"))
    }
    env["XDG_CACHE_HOME"] = str(cache)
    return subprocess.run(
        [sys.executable, "-X", "importtime", str(VENV_BIN / "inv"), *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def imported(proc: subprocess.CompletedProcess[str]) -> set[str]:
    return {
        line.rsplit("|", 1)[-1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def messages(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in proc.stderr.splitlines() if not line.startswith("import time:")]


def pydantic_modules(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return sorted(m for m in imported(proc) if m.split(".")[0] in {"pydantic", "pydantic_core"})


def test_a_cached_configuration_is_read_without_importing_pydantic(
    project: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    miss = inv(project, cache, "version")
    assert miss.returncode == 0, miss.stderr
    assert "shipyard.config.validate" in imported(miss)
    assert pydantic_modules(miss) != []  # so this test sees pydantic when it is imported
    assert len(list((cache / "shipyard" / "config").glob("*.pickle"))) == 1

    hit = inv(project, cache, "version")
    assert hit.returncode == 0, hit.stderr
    assert hit.stdout == miss.stdout == (REPO / "version.txt").read_text()
    assert "shipyard.config.model" in imported(hit)  # the configuration was loaded...
    assert "shipyard.config.validate" not in imported(hit)  # ...from the cache, unvalidated
    assert pydantic_modules(hit) == []
    assert "tomllib" in imported(miss)
    assert "tomllib" not in imported(hit)  # keyed on the files' bytes: no TOML parsed


def test_an_edited_file_is_a_miss_even_when_its_meaning_is_the_same(
    project: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    assert inv(project, cache, "version").returncode == 0
    env_file = project / "deploy" / "environments" / "local.toml"
    env_file.write_text(env_file.read_text() + "\n# a comment\n")
    again = inv(project, cache, "version")
    assert again.returncode == 0, again.stderr
    assert "shipyard.config.validate" in imported(again)
    assert len(list((cache / "shipyard" / "config").glob("*.pickle"))) == 2


def test_a_cache_miss_validates_and_words_the_problem_as_before(
    project: Path, tmp_path: Path
) -> None:
    env_file = project / "deploy" / "environments" / "local.toml"
    env_file.write_text(env_file.read_text().replace("[target]\n", "[target]\nproxy_prot = 1\n"))
    cache = tmp_path / "cache"
    for _ in range(2):  # an invalid configuration is never stored: validated every time
        proc = inv(project, cache, "version")
        assert proc.returncode == 2
        assert messages(proc) == [
            "error: deploy/environments/local.toml: target.proxy_prot: unknown key; allowed "
            "here: bake_seconds, healthy_timeout_seconds, keep_releases, kind, network, nginx, "
            "proxy_bind, proxy_port, pull_missing_images, stack, stop_timeout_seconds"
        ]
        assert pydantic_modules(proc) != []
    assert list(cache.rglob("*.pickle")) == []
