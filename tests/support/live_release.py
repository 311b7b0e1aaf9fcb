"""One live local release per test module, for the tests that only read it or run beside it
(inv logs, inv exec, inv run): released once with the real CLI, engine, registry and nginx,
torn down after the module's last test.

    from tests.support.live_release import live  # noqa: F401  (the fixture)

    def test_x(live: LocalEnv) -> None:
        live.project.inv("logs", "--env", "local", check=True)
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import need
from tests.support.localenv import LocalEnv, _which, make_local_env


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, registry_password: str) -> Iterator[LocalEnv]:
    need(_which("nginx") or _which("/usr/sbin/nginx"), "nginx")
    env = make_local_env(tmp_path_factory.mktemp("live"))
    try:
        env.project.inv("release", "--env", "local", check=True, timeout=300)
        yield env
    finally:
        env.teardown()


def app_container(env: LocalEnv) -> str:
    """The live release's app container (its Docker name)."""
    running = [n for n in env.containers(running_only=True) if n.endswith("-gamepulse")]
    assert len(running) == 1, running
    return running[0]


def log_line(env: LocalEnv, text: str) -> None:
    """Make the app container log `text`, as its own process would: on PID 1's stdout."""
    subprocess.run(
        ["docker", "exec", app_container(env), "sh", "-c", f"echo {text} > /proc/1/fd/1"],
        check=True,
        capture_output=True,
    )
