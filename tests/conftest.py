"""Shared fixtures: isolated throwaway projects, the real engine and registry, moto server.

Tests never share mutable names: each `project` gets its own image repository, environment
state and ports, so the suite can run in parallel (pytest -n 2) against one Docker engine.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
REGISTRY_PASSWORD_FILE = Path("/var/lib/shipyard/registry/password")
SUITE_CACHE = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    """The suite keeps its validated configurations (shipyard.config.cache) in a directory of
    its own, for itself and every `inv` it starts: entries written by thousands of throwaway
    projects (or a mutation run's edited config modules) would otherwise push the user's own
    entries out of ~/.cache/shipyard."""
    users = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    os.environ.setdefault("PIP_CACHE_DIR", str(Path(users) / "pip"))  # pip's stays shared
    cache = tempfile.mkdtemp(prefix="shipyard-suite-cache-")
    config.stash[SUITE_CACHE] = cache
    os.environ["XDG_CACHE_HOME"] = cache


def pytest_unconfigure(config: pytest.Config) -> None:
    cache = config.stash.get(SUITE_CACHE, None)
    if cache:
        shutil.rmtree(cache, ignore_errors=True)


def need(condition: bool, what: str) -> None:
    """The suite runs against the real components and never skips them: scripts/bootstrap.sh
    (the README's test command runs through it) provides every one."""
    if not condition:
        pytest.fail(f"{what} is not available: run the suite as `scripts/bootstrap.sh nox`")


def free_port() -> int:
    """A free port below the kernel's ephemeral range, so Docker's published ports (taken
    from that range while a test runs) can never land on it."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    rng = random.Random()  # noqa: S311 - picks a port, not a secret
    for _ in range(200):
        port = rng.randrange(20000, min(low, 32768))
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


@pytest.fixture(scope="session")
def docker_engine() -> None:
    ok = subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0
    need(ok, "the Docker engine")


@pytest.fixture(scope="session")
def registry_password(docker_engine: None) -> str:
    need(REGISTRY_PASSWORD_FILE.is_file(), "the local registry")
    return REGISTRY_PASSWORD_FILE.read_text().strip()


@dataclass
class Project:
    """A throwaway copy of this repository's app and deploy config, in its own git repo."""

    path: Path
    repository: str
    env: dict[str, str] = field(default_factory=dict)

    def inv(
        self,
        *args: str,
        check: bool = False,
        timeout: float = 300,
        input: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run `inv ARGS` as a user would type it, in the project directory."""
        proc = subprocess.run(
            [str(VENV_BIN / "inv"), *args],
            cwd=self.path,
            env={**self.env, **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"inv {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=self.path, capture_output=True, text=True, check=True
        ).stdout.strip()

    def commit(self, message: str = "change") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    def append_config(self, environment: str, toml: str) -> None:
        """Add TOML to deploy/environments/<environment>.toml (new tables only)."""
        path = self.path / "deploy" / "environments" / f"{environment}.toml"
        path.write_text(path.read_text() + "\n" + toml + "\n")

    def set_version(self, version: str) -> None:
        (self.path / "version.txt").write_text(version + "\n")


def make_project(base: Path, *, name: str | None = None) -> Project:
    repository = name or f"t{uuid.uuid4().hex[:10]}"
    path = base / "project"
    path.mkdir()
    shutil.copytree(REPO / "app", path / "app")
    shutil.copytree(REPO / "deploy", path / "deploy")
    shutil.copy(REPO / "version.txt", path / "version.txt")
    shutil.copy(REPO / "tasks.py", path / "tasks.py")
    base_toml = path / "deploy" / "shipyard.toml"
    text = base_toml.read_text().replace('repository = "gamepulse"', f'repository = "{repository}"')
    base_toml.write_text(text)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "AWS_", "ECR_", "SHIPYARD_", "PYTEST_"))
    }
    env.update(
        {
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "GIT_AUTHOR_NAME": "Test User",
            "GIT_AUTHOR_EMAIL": "test@example.com",
            "GIT_COMMITTER_NAME": "Test User",
            "GIT_COMMITTER_EMAIL": "test@example.com",
            "HOME": os.environ.get("HOME", "/root"),
        }
    )
    project = Project(path, repository, env)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=path, check=True, env=env)
    project.commit("initial")
    return project


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    """A fresh project with a unique image repository; its images are removed afterwards."""
    proj = make_project(tmp_path)
    yield proj
    _remove_images(proj.repository)


def _remove_images(repository: str) -> None:
    if shutil.which("docker") is None:
        return
    listed = subprocess.run(
        ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    # rsplit: a registry-qualified name (127.0.0.1:5000/repo:tag) has a colon before the tag
    refs = [r for r in listed if r.rsplit(":", 1)[0].rsplit("/", 1)[-1] == repository]
    if refs:
        subprocess.run(["docker", "image", "rm", "-f", *refs], capture_output=True, check=False)


# -- AWS through moto in server mode ------------------------------------------------------------


@dataclass(frozen=True)
class MotoServer:
    endpoint: str

    def reset(self) -> None:
        import urllib.request

        req = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(req, timeout=10).read()

    def env(self, region: str = "ap-northeast-2") -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing-secret-key-value",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
        }


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield MotoServer(f"http://{host}:{port}")
    server.stop()


@pytest.fixture
def aws(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """A clean moto server with this process' AWS environment pointing at it."""
    moto_server.reset()
    for key, value in moto_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_server
