"""The reliability spec of the local target, as a matrix: a release stopped at every phase
boundary (and inside the start and the traffic shift) by SIGINT, SIGTERM, kill -9, the Docker
engine going away or the registry going away, under steady load through the proxy.

Each row asserts the three things that must agree afterwards:
- what serves (GET /version through nginx),
- what shipyard said (exit code, the --json document's `serving`, `inv status`),
- what the records say (history.json's live release and the attempt's outcome),
and that no request failed while the previous release was healthy.

The real CLI, Docker engine, registry and nginx; the engine and registry are reached through
proxies the test can cut (tests/support/proxies.py).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.support.faultrun import FaultRun, act
from tests.support.load import Load
from tests.support.localenv import LocalEnv, local_env  # noqa: F401 - fixture
from tests.support.proxies import TcpProxy, UnixSocketProxy, docker_proxy, registry_proxy  # noqa: F401

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.nginx, pytest.mark.slow]

OLD, NEW = "0.1.0", "0.1.1"
POINTS = (
    "before:prepare",
    "before:start",
    "inside:start",
    "before:wait_healthy",
    "before:verify_new",
    "before:shift",
    "inside:shift",
    "after:shift",
    "before:verify",
    "before:bake",
    "before:finalize",
    "after:finalize",
)
SIGTERM_POINTS = (
    "before:start",
    "before:wait_healthy",
    "inside:shift",
    "after:shift",
    "before:bake",
    "after:finalize",
)


@dataclass(frozen=True)
class Row:
    point: str
    fault: str

    @property
    def id(self) -> str:
        return f"{self.fault}@{self.point}"


ROWS = (
    [Row(p, "sigint") for p in POINTS]
    + [Row(p, "sigterm") for p in SIGTERM_POINTS]
    + [Row(p, "kill") for p in POINTS]
    + [
        Row(p, "docker-down")
        for p in ("before:wait_healthy", "before:shift", "before:bake", "before:finalize")
    ]
    + [Row(p, "registry-down") for p in ("before:start", "before:shift")]
)


def expected_version(row: Row) -> str:
    """What serves once the dust settles. Only a kill after finalize (the release passed its
    bake, the old one is stopped) leaves the new release; the registry is not needed once the
    image was pushed, so a registry outage mid-deploy changes nothing."""
    if row.fault == "registry-down":
        return NEW
    if row.fault == "kill" and row.point == "after:finalize":
        return NEW
    return OLD


def expected_exit(row: Row) -> int:
    return {"sigint": 130, "sigterm": 130, "kill": -9, "docker-down": 1, "registry-down": 0}[
        row.fault
    ]


def _release_json(stdout: str) -> dict[str, object]:
    return json.loads(stdout) if stdout.strip() else {}


def _agree(env: LocalEnv, want: str) -> dict[str, object]:
    """Served == reported by status == the records' live release; returns status."""
    status = env.status_json()
    served = env.version()
    history = env.history()
    live = next(r for r in history["releases"] if r["release_id"] == history["live"])
    assert served == want, f"serves {served}, expected {want}"
    assert status["version"] == want, status
    assert status["observed"]["known"] is True
    assert live["version"] == want
    assert status["mismatch"] == "", status["mismatch"]
    return status


def _settle(env: LocalEnv, row: Row, run_out: subprocess.CompletedProcess[str]) -> None:
    """After a kill nothing was said, and with the engine away nothing could be removed:
    `inv wait` settles the records, removes leftovers and says what serves."""
    if row.fault not in ("kill", "docker-down"):
        return
    settled = env.project.inv("wait", "--env", "local", "--json", timeout=120)
    assert settled.returncode == 0, settled.stderr
    doc = json.loads(settled.stdout)
    assert doc["serving"]["version"] == expected_version(row), (doc, run_out.stderr)


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_fault_matrix(
    row: Row,
    local_env: Callable[..., LocalEnv],  # noqa: F811
    docker_proxy: UnixSocketProxy,  # noqa: F811
    registry_proxy: TcpProxy,  # noqa: F811
) -> None:
    env = local_env(docker_host=docker_proxy.docker_host, registry_address=registry_proxy.address)
    env.project.inv("release", "--env", "local", check=True, timeout=180)
    assert env.version() == OLD
    with Load(env.url, rate=30.0) as load:
        args = ["release", "--env", "local", "--bump", "patch", "--json"]
        with FaultRun(env.project, args, row.point) as run:
            run.wait_paused()
            act(run, row.fault, docker_proxy, registry_proxy)
            out = run.finish()
        assert out.returncode == expected_exit(row), (out.stdout, out.stderr)
        docker_proxy.restore()
        registry_proxy.restore()
        _settle(env, row, out)
        want = expected_version(row)
        if row.fault != "kill":
            doc = _release_json(out.stdout)
            serving = doc.get("serving") or {}
            assert serving.get("version") == want, (doc, out.stderr)
            assert "Traceback" not in out.stderr
        _agree(env, want)
    assert load.failed() == [], load.failed()[:5]
    assert len(load.records()) > 30
    attempt = env.history()["releases"][-1]
    if want == OLD and row.point != "before:prepare":  # prepare records the attempt at its end
        assert attempt["version"] == NEW
        assert attempt["outcome"] in ("interrupted", "failed", "rolled_back"), attempt
        running = env.containers(running_only=True)
        assert all(attempt["release_id"] not in name for name in running), running
