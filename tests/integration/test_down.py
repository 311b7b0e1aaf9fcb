"""inv down --env local against the real engine and nginx: everything of the environment goes,
the history says so, a second run changes nothing, a release afterwards starts fresh; AWS
environments are refused without a call."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.conftest import Project
from tests.support.localenv import LocalEnv, _docker, local_env

__all__ = ["local_env"]  # the fixture these tests use

pytestmark = [pytest.mark.docker, pytest.mark.nginx, pytest.mark.slow]


def _volume(env: LocalEnv) -> None:
    """A named volume in the task definition, so --volumes has something to remove."""
    overlay = env.project.path / "deploy" / "taskdef" / "local.json"
    doc = json.loads(overlay.read_text()) if overlay.exists() else {}
    doc["volumes"] = [{"name": "data"}]
    overlay.write_text(json.dumps(doc))
    env.project.commit("a volume")


def test_down_takes_everything_away_records_it_and_a_release_starts_fresh(
    local_env: Callable[..., LocalEnv],
) -> None:
    env = local_env()
    env.project.inv("release", "--env", "local", "--json", check=True, timeout=600)
    assert env.version() is not None
    live = env.history()["live"]
    assert env.containers()

    plan = env.project.inv("down", "--env", "local", "--dry-run", check=True)
    assert "stop nginx" in plan.stdout
    assert env.version() is not None  # a dry run changes nothing

    proc = env.project.inv("down", "--env", "local", "--json", check=True, timeout=120)
    result = json.loads(proc.stdout)
    assert result["changed"] is True
    assert result["proxy_stopped"] is True
    assert result["was_live"] == live
    assert env.containers() == []
    assert env.nginx_pids() == []
    assert env.version() is None
    assert env._mine("network") == []
    history = env.history()
    assert history["live"] is None
    record = history["releases"][-1]
    assert (record["kind"], record["outcome"], record["replaces"]) == ("down", "succeeded", live)
    status = env.status_json()
    assert status["live"] is None

    again = env.project.inv("down", "--env", "local", check=True)
    assert "already down" in again.stdout
    assert len(env.history()["releases"]) == len(history["releases"])  # nothing recorded

    env.project.inv("release", "--env", "local", check=True, timeout=600)
    assert env.version() is not None
    assert env.history()["live"] not in (None, live)


def test_volumes_stay_unless_asked(local_env: Callable[..., LocalEnv]) -> None:
    env = local_env()
    _volume(env)
    env.project.inv("release", "--env", "local", check=True, timeout=600)
    assert env._mine("volume")
    env.project.inv("down", "--env", "local", check=True, timeout=120)
    assert env._mine("volume")  # data survives a plain down
    proc = env.project.inv("down", "--env", "local", "--volumes", "--json", check=True)
    assert json.loads(proc.stdout)["volumes"]
    assert env._mine("volume") == []
    assert _docker("volume", "ls", "-q").returncode == 0


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_aws_environments_are_refused(project: Project, environment: str) -> None:
    proc = project.inv("down", "--env", environment)
    assert proc.returncode == 2
    assert "shipyard does not delete cloud services" in proc.stderr
    assert "Traceback" not in proc.stderr
