"""LocalEnv end to end: a real release through both proxies, then a teardown that leaves
nothing behind."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable

import pytest

from tests.support.load import Load
from tests.support.localenv import LocalEnv, local_env
from tests.support.proxies import TcpProxy, UnixSocketProxy, docker_proxy, registry_proxy

__all__ = ["docker_proxy", "local_env", "registry_proxy"]  # the fixtures these tests use

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.nginx]


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _leftovers(env: LocalEnv) -> dict[str, list[str]]:
    """Everything of the project's still on the machine."""
    images = subprocess.run(
        ["docker", "image", "ls", "--format", "{{.Repository}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {
        "containers": env.containers(),
        "networks": env._mine("network"),
        "volumes": env._mine("volume"),
        "nginx": [str(p) for p in env.nginx_pids()],
        "images": [i for i in images if i.endswith("/" + env.project.repository)],
    }


def test_a_fresh_environment(local_env: Callable[..., LocalEnv]) -> None:
    env = local_env(registry_address="127.0.0.1:5999")
    toml = (env.project.path / "deploy" / "environments" / "local.toml").read_text()
    assert f"proxy_port = {env.port}" in toml
    assert 'url = "127.0.0.1:5999"' in toml
    assert "DOCKER_HOST" not in env.project.env
    assert env.project.git("status", "--porcelain") == ""
    assert env.history() == {}
    assert env.version() is None
    assert env.containers() == []
    env.state.mkdir(parents=True)
    (env.state / "history.json").write_text('{"releases": [')  # torn write
    assert env.history() == {}


@pytest.mark.slow
def test_release_through_both_proxies_then_teardown(
    local_env: Callable[..., LocalEnv],
    docker_proxy: UnixSocketProxy,
    registry_proxy: TcpProxy,
) -> None:
    env = local_env(docker_host=docker_proxy.docker_host, registry_address=registry_proxy.address)
    assert env.project.env["DOCKER_HOST"] == docker_proxy.docker_host
    first = env.project.inv("release", "--env", "local", check=True, timeout=180)
    assert "succeeded" in first.stdout
    assert env.version() == "0.1.0"
    with Load(env.url, rate=20) as load:
        env.project.inv("release", "--env", "local", "--bump", "patch", check=True, timeout=180)
        time.sleep(0.3)
    assert load.last_version() == "0.1.1"
    assert load.versions()[-1] == "0.1.1"
    assert all(a.release for a in load.succeeded())  # nginx's X-Shipyard-Release header
    status = env.status_json()
    assert status["version"] == "0.1.1"
    assert status["url"] == env.url
    assert [r["version"] for r in env.history()["releases"]] == ["0.1.0", "0.1.1"]
    assert len(env.containers(running_only=True)) == 1
    left = _leftovers(env)
    assert left["nginx"], "the release started no nginx naming the project"
    assert any(i.startswith(registry_proxy.address) for i in left["images"]), left["images"]

    env.teardown()
    assert _leftovers(env) == {k: [] for k in left}
    assert env.version() is None
    assert _port_is_free(env.port)
    env.teardown()  # a second teardown (the fixture's) finds nothing and does not fail
