"""A throwaway project with a local environment on its own free proxy port, optionally
reaching the Docker engine and the registry through proxies, and a teardown that leaves
nothing behind (its nginx, containers, networks, volumes, images, registry login).

The helper's own docker calls (containers(), teardown) go to the real engine, not through the
project's DOCKER_HOST: they must work while a test has cut the engine away.

    def test_x(local_env, docker_proxy, registry_proxy):
        env = local_env(docker_host=docker_proxy.docker_host,
                        registry_address=registry_proxy.address)
        env.project.inv("release", "--env", "local", check=True)
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Project, _remove_images, free_port, make_project, need

LABEL_STACK = "dev.shipyard.stack"
LABEL_ENV = "dev.shipyard.environment"
ENVIRONMENT = "local"
DEFAULT_REGISTRY_ADDRESS = "127.0.0.1:5000"
DEFAULT_REGISTRY = f'url = "{DEFAULT_REGISTRY_ADDRESS}"'
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _docker(*args: str) -> subprocess.CompletedProcess[str]:
    """The docker CLI against the real engine (DOCKER_HOST of this process, not the project's)."""
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False)


@dataclass
class LocalEnv:
    """One project's local environment: where it answers and what it left on this machine."""

    project: Project
    port: int
    docker_host: str | None = None
    registry_address: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def state(self) -> Path:
        """.shipyard/local: history, lock, nginx config and pid of this environment."""
        return self.project.path / ".shipyard" / ENVIRONMENT

    def version(self) -> str | None:
        """GET /version through the proxy: the body, stripped; None without a 200 answer."""
        try:
            with _OPENER.open(self.url + "/version", timeout=3) as resp:
                return str(resp.read().decode().strip())
        except (urllib.error.URLError, OSError):
            return None

    def history(self) -> dict[str, Any]:
        """history.json parsed; {} when it is missing or not valid JSON."""
        try:
            data = json.loads((self.state / "history.json").read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def status_json(self) -> dict[str, Any]:
        """`inv status --env local --json`, parsed (the command must succeed)."""
        proc = self.project.inv("status", "--env", ENVIRONMENT, "--json", check=True, timeout=60)
        return dict(json.loads(proc.stdout))

    def _mine(self, kind: str, *filters: str) -> list[str]:
        """Names of this project's containers/networks/volumes: those with a stack label
        starting with the repository (the stack name may get a per-checkout suffix)."""
        ls = ["ps", "-a"] if kind == "container" else [kind, "ls"]
        name = "{{.Names}}" if kind == "container" else "{{.Name}}"
        fmt = name + '\t{{.Label "' + LABEL_STACK + '"}}'
        out = _docker(*ls, "--filter", f"label={LABEL_STACK}", *filters, "--format", fmt).stdout
        rows = [line.split("\t", 1) for line in out.splitlines() if "\t" in line]
        return [n for n, stack in rows if stack.startswith(self.project.repository)]

    def containers(self, *, running_only: bool = False) -> list[str]:
        """This project's local containers (label environment=local, stack starts with the
        repository), stopped ones too unless running_only."""
        names = self._mine("container", "--filter", f"label={LABEL_ENV}={ENVIRONMENT}")
        if not running_only:
            return names
        running = set(_docker("ps", "--format", "{{.Names}}").stdout.split())
        return [n for n in names if n in running]

    def nginx_pids(self) -> list[int]:
        """nginx processes whose command line names this project's state directory."""
        marker = str(self.project.path / ".shipyard").encode()
        pids = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            with contextlib.suppress(OSError):
                text = cmdline.read_bytes()
                if b"nginx" in text and marker in text:
                    pids.append(int(cmdline.parent.name))
        return pids

    def teardown(self) -> None:
        """Stop this project's nginx, remove its containers, networks, volumes and images
        and the registry login a proxy address left in the docker config. Never raises."""
        _stop_nginx(self)
        names = self.containers()
        if names:
            _docker("rm", "-f", "-v", *names)
        for kind in ("network", "volume"):
            found = self._mine(kind)
            if found:
                _docker(kind, "rm", *found)
        _remove_images(self.project.repository)
        _remove_isolation_rules(self.project.repository)
        if self.registry_address and self.registry_address != DEFAULT_REGISTRY_ADDRESS:
            _docker("logout", self.registry_address)


def _remove_isolation_rules(repository: str) -> None:
    """The DOCKER-USER rules shipyard added for this project's stacks (adapters/isolation.py,
    tagged "shipyard <stack>"; stacks start with the repository). No iptables, no rules."""
    with contextlib.suppress(OSError):
        listed = subprocess.run(
            ["iptables", "-w", "10", "-S", "DOCKER-USER"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        for line in listed.splitlines():
            words = shlex.split(line)
            if f"shipyard {repository}" in " ".join(words) and words[:1] == ["-A"]:
                subprocess.run(
                    ["iptables", "-w", "10", "-D", *words[1:]], capture_output=True, check=False
                )


def _stop_nginx(env: LocalEnv) -> None:
    """SIGTERM the nginx of the pid file (if it is this project's) and any other nginx
    naming the project's state dir, then wait up to 5 s for them to be gone."""
    pids = set(env.nginx_pids())
    pid_file = env.state / "nginx" / "nginx.pid"
    with contextlib.suppress(OSError, ValueError):
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        if str(env.state / "nginx" / "nginx.conf").encode() in cmdline:
            pids.add(pid)
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while pids and time.monotonic() < deadline:
        pids = {p for p in pids if Path(f"/proc/{p}").exists()}
        time.sleep(0.05)


def _configure(project: Project, port: int, registry_address: str | None) -> None:
    """local.toml: the free proxy port, a short bake and, optionally, the registry proxy."""
    env_file = project.path / "deploy" / "environments" / f"{ENVIRONMENT}.toml"
    text = env_file.read_text()
    assert "proxy_port = 8080" in text
    assert "bake_seconds = 5 " in text
    text = text.replace("proxy_port = 8080", f"proxy_port = {port}")
    text = text.replace("bake_seconds = 5 ", "bake_seconds = 1 ")
    if registry_address:
        assert DEFAULT_REGISTRY in text
        text = text.replace(DEFAULT_REGISTRY, f'url = "{registry_address}"')
    env_file.write_text(text)
    project.commit("local environment for a test")


def make_local_env(
    base: Path, docker_host: str | None = None, registry_address: str | None = None
) -> LocalEnv:
    """A new project under `base` (which must not hold one yet) with its local environment
    configured; DOCKER_HOST goes into project.env when docker_host is given."""
    project = make_project(base)
    port = free_port()
    _configure(project, port, registry_address)
    if docker_host:
        project.env["DOCKER_HOST"] = docker_host
    return LocalEnv(project, port, docker_host, registry_address)


@pytest.fixture
def local_env(tmp_path: Path, registry_password: str) -> Iterator[Callable[..., LocalEnv]]:
    """A factory: local_env(docker_host=None, registry_address=None) -> LocalEnv. Every
    environment it made is torn down after the test, whatever the test did."""
    need(Path("/usr/sbin/nginx").exists() or _which("nginx"), "nginx")
    made: list[LocalEnv] = []

    def factory(docker_host: str | None = None, registry_address: str | None = None) -> LocalEnv:
        base = tmp_path / f"env{len(made)}"
        base.mkdir()
        env = make_local_env(base, docker_host, registry_address)
        made.append(env)
        return env

    try:
        yield factory
    finally:
        for env in made:
            env.teardown()


def _which(binary: str) -> bool:
    """Whether binary is on PATH."""
    return subprocess.run(["which", binary], capture_output=True, check=False).returncode == 0
