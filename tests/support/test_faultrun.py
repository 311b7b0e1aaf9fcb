"""FaultRun and act() against a tiny script that stops at shipyard's real fault point."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Project
from tests.support.faultrun import FaultRun, act
from tests.support.proxies import TcpProxy, UnixSocketProxy

SCRIPT = """\
import os
from shipyard.rollout import faults
print("start", os.environ.get("EXTRA", "-"), flush=True)
faults.point("before:x")
print("done", flush=True)
"""

Start = Callable[..., FaultRun]


@pytest.fixture
def script_project(tmp_path: Path) -> Project:
    """A directory with the script, and an environment without any SHIPYARD_* variable."""
    (tmp_path / "script.py").write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPYARD_", "PYTEST_"))}
    return Project(tmp_path, "faultrun", env)


@pytest.fixture
def start(script_project: Project) -> Iterator[Start]:
    """start(point, env_extra=None) -> a FaultRun of the script, closed after the test."""
    runs: list[FaultRun] = []

    def make(point: str = "before:x", env_extra: dict[str, str] | None = None) -> FaultRun:
        run = FaultRun(
            script_project,
            ["script.py"],
            point,
            env_extra,
            command=[sys.executable],
        )
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.close()


def test_pause_then_resume_runs_to_the_end(start: Start) -> None:
    run = start(env_extra={"EXTRA": "extra-value"})
    assert run.wait_paused(timeout=30) == "before:x"
    assert run.paused
    assert run.output()[0] == "start extra-value\n"
    run.resume()
    result = run.finish(timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "start extra-value\ndone\n"
    assert not run.paused


@pytest.mark.parametrize(
    ("fault", "returncode"),
    [("sigint", -signal.SIGINT), ("sigterm", -signal.SIGTERM), ("kill", -signal.SIGKILL)],
)
def test_signals_at_the_point(start: Start, fault: str, returncode: int) -> None:
    run = start()
    run.wait_paused(timeout=30)
    act(run, fault)
    result = run.finish(timeout=30)
    # an uncaught KeyboardInterrupt ends Python by SIGINT itself (since 3.8), hence -2
    assert result.returncode == returncode, result.stderr
    assert "done" not in result.stdout
    if fault == "sigint":
        assert "KeyboardInterrupt" in result.stderr
        assert "faults.py" in result.stderr  # interrupted inside the pause


def test_docker_down_cuts_the_proxy_then_resumes(start: Start) -> None:
    run = start()
    run.wait_paused(timeout=30)
    with UnixSocketProxy() as docker_proxy, TcpProxy() as registry_proxy:
        act(run, "docker-down", docker_proxy, registry_proxy)
        assert not docker_proxy.listening
        assert registry_proxy.listening
        result = run.finish(timeout=30)
    assert result.returncode == 0
    assert result.stdout.endswith("done\n")


def test_registry_down_cuts_the_proxy_then_resumes(start: Start) -> None:
    run = start()
    run.wait_paused(timeout=30)
    with TcpProxy() as registry_proxy:
        act(run, "registry-down", None, registry_proxy)
        assert not registry_proxy.listening
        assert run.finish(timeout=30).returncode == 0


def test_act_refuses_unknown_faults_and_missing_proxies(start: Start) -> None:
    run = start()
    run.wait_paused(timeout=30)
    with pytest.raises(ValueError, match="unknown fault"):
        act(run, "disk-full")
    with pytest.raises(ValueError, match="needs its proxy"):
        act(run, "docker-down", None, None)
    assert run.paused  # neither resumed it


def test_a_point_never_reached_fails_with_the_output(start: Start) -> None:
    run = start("after:y")
    with pytest.raises(AssertionError, match="never paused at after:y") as info:
        run.wait_paused(timeout=30)
    assert "done" in str(info.value)
    assert "exited 0" in str(info.value)


def test_finish_while_still_paused_kills_and_says_so(start: Start) -> None:
    run = start()
    run.wait_paused(timeout=30)
    with pytest.raises(AssertionError, match="still paused"):
        run.finish(timeout=0.5)
    assert run.proc.returncode == -signal.SIGKILL


def test_wait_paused_times_out(script_project: Project) -> None:
    (script_project.path / "slow.py").write_text("import time\ntime.sleep(30)\n")
    with FaultRun(script_project, ["slow.py"], "before:x", command=[sys.executable]) as run:
        with pytest.raises(AssertionError, match="not paused at before:x after 0 s"):
            run.wait_paused(timeout=0.3)
        assert "still running" in run._describe("x")
    assert run.proc.returncode == -signal.SIGKILL
