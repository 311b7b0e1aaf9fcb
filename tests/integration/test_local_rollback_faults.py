"""`inv rollback --env local` failing or killed after the proxy switch (issue 13 item 14): the
real CLI, Docker engine, registry and nginx, the fault delivered at the engine's named point
(SHIPYARD_FAULT, rollout/faults.py).

- a rollback that fails once nginx routes to it is switched back to the release it replaced
  (the engine's undo, the local target's proxy switch back), exit 1, outcome rolled_back;
- a rollback killed between the switch and its next record (kill -9 at after:shift: nginx
  routes to it, the record still says shifting) is settled by the next command that takes the
  lock (`inv wait`): routed back to the release it replaced, recorded interrupted.

Each asserts what serves (GET /version through the proxy) == the records' live release ==
`inv status`, with no mismatch, and that the attempt's containers are gone.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.defects import doc, live_record, records
from tests.support.localenv import LocalEnv, local_env

__all__ = ["local_env"]  # the fixture these tests use

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.nginx, pytest.mark.slow]

OLD, NEW = "0.1.0", "0.1.1"


def two_releases(env: LocalEnv) -> dict[str, Any]:
    """0.1.0, then 0.1.1: 0.1.1 serves, 0.1.0 is the rollback target. Returns 0.1.1's doc."""
    first = env.project.inv("release", "--env", "local", "--json", timeout=240)
    assert first.returncode == 0, first.stderr
    env.project.set_version(NEW)
    env.project.commit("0.1.1")
    second = env.project.inv("release", "--env", "local", "--json", timeout=240)
    assert second.returncode == 0, second.stderr
    assert env.version() == NEW
    return doc(second)


def rollback(env: LocalEnv, fault: str) -> subprocess.CompletedProcess[str]:
    return env.project.inv(
        "rollback", "--env", "local", "--json", timeout=240, extra_env={"SHIPYARD_FAULT": fault}
    )


def agree(env: LocalEnv, want: str) -> dict[str, Any]:
    proc = env.project.inv("status", "--env", "local", "--json", timeout=60)
    assert proc.returncode == 0, proc.stderr
    st = doc(proc)
    assert env.version() == want
    assert st["version"] == want, st
    assert st["observed"]["known"] is True, st["observed"]
    assert st["mismatch"] == "", st["mismatch"]
    assert live_record(env)["version"] == want
    return st


def attempt_of(env: LocalEnv) -> dict[str, Any]:
    (attempt,) = [r for r in records(env) if r["kind"] == "rollback"]
    return attempt


def test_a_rollback_failing_after_the_proxy_switch_is_switched_back(
    local_env: Callable[..., LocalEnv],
) -> None:
    env = local_env()
    live = two_releases(env)["release_id"]

    proc = rollback(env, "after:shift:fail")

    assert proc.returncode == 1, proc.stderr
    result = doc(proc)
    assert result["outcome"] == "rolled_back"
    assert result["serving"]["release_id"] == live
    assert result["serving"]["version"] == NEW
    assert f"rollback of {OLD} failed: fault injected at after:shift" in result["message"]
    assert "serves again" in result["message"]
    agree(env, NEW)
    attempt = attempt_of(env)
    assert attempt["outcome"] == "rolled_back"
    assert attempt["version"] == OLD
    assert attempt["replaces"] == live
    assert env.history()["live"] == live
    assert not [c for c in env.containers() if attempt["release_id"] in c]  # discarded


def test_a_rollback_killed_between_the_switch_and_its_record_is_routed_back(
    local_env: Callable[..., LocalEnv],
) -> None:
    env = local_env()
    live = two_releases(env)["release_id"]

    killed = rollback(env, "after:shift:kill")

    assert killed.returncode == -9, killed.stderr
    attempt = attempt_of(env)
    assert attempt["outcome"] == "shifting"  # the record a kill -9 leaves
    assert env.version() == OLD  # nginx routes to the killed rollback
    proc = env.project.inv("status", "--env", "local", "--json", timeout=60)
    assert "the run was killed" in doc(proc)["mismatch"]

    settled = env.project.inv("wait", "--env", "local", timeout=120)

    assert settled.returncode == 0, settled.stderr
    assert f"routed back to {live}" in settled.stderr + settled.stdout
    agree(env, NEW)
    attempt = attempt_of(env)
    assert attempt["outcome"] == "interrupted"
    assert env.history()["live"] == live
    assert not [c for c in env.containers() if attempt["release_id"] in c]
