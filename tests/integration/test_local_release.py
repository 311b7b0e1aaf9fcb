"""`inv release --env local` end to end: the real CLI, Docker engine, registry and nginx.

Every test gets its own project (unique image repository, hence unique container, network and
volume names) and its own free proxy port; a finalizer stops its nginx and removes everything
it created, even when the test failed half way.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import VENV_BIN, Project, free_port

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.nginx]


@dataclass
class Local:
    project: Project
    port: int
    answers: list[tuple[float, str]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def state(self) -> Path:
        return self.project.path / ".shipyard" / "local"

    @property
    def stack_prefix(self) -> str:
        """The stack name is <repository>-local-<checkout hash>."""
        return f"{self.project.repository}-local-"

    def history(self) -> dict[str, object]:
        path = self.state / "history.json"
        return json.loads(path.read_text()) if path.exists() else {"releases": []}

    def records(self) -> list[dict[str, object]]:
        return list(self.history()["releases"])  # type: ignore[arg-type]

    def version(self) -> str | None:
        try:
            with urllib.request.urlopen(self.url + "/version", timeout=3) as resp:
                return str(resp.read().decode().strip())
        except (urllib.error.URLError, OSError):
            return None

    def release(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.project.inv("release", "--env", "local", *args, check=check, timeout=180)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(VENV_BIN / "inv"), *args],
            cwd=self.project.path,
            env=self.project.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def containers(self, *, all_: bool = True) -> list[str]:
        argv = [
            "docker",
            "ps",
            "--filter",
            f"name={self.stack_prefix}",
            "--format",
            "{{.Names}}",
        ]
        if all_:
            argv.insert(2, "-a")
        out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        return out.split()

    def wait_for(self, predicate: object, timeout: float = 60, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():  # type: ignore[operator]
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")


def _teardown(local: Local) -> None:
    pid_file = local.state / "nginx" / "nginx.pid"
    if pid_file.exists():
        try:
            pid = int(pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if str(local.state / "nginx" / "nginx.conf").encode() in cmdline:
                os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError):
            pass
    names = local.containers()
    if names:
        subprocess.run(["docker", "rm", "-f", *names], capture_output=True, check=False)
    for kind in ("network", "volume"):
        listed = subprocess.run(
            ["docker", kind, "ls", "-q", "--filter", f"name={local.stack_prefix}"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        if listed:
            subprocess.run(["docker", kind, "rm", *listed], capture_output=True, check=False)


@pytest.fixture
def local(project: Project, registry_password: str) -> Iterator[Local]:
    from tests.conftest import need

    need(
        subprocess.run(["which", "nginx"], capture_output=True, check=False).returncode == 0
        or Path("/usr/sbin/nginx").exists(),
        "nginx",
    )
    port = free_port()
    env_file = project.path / "deploy" / "environments" / "local.toml"
    text = env_file.read_text()
    assert "proxy_port = 8080" in text
    text = text.replace("proxy_port = 8080", f"proxy_port = {port}")
    text = text.replace("bake_seconds = 5 ", "bake_seconds = 0.5 ")
    env_file.write_text(text)
    project.commit("local proxy on a free port")
    item = Local(project, port)
    try:
        yield item
    finally:
        _teardown(item)


class Stream:
    """A steady stream of requests through the proxy, one new connection each."""

    def __init__(self, url: str, rate: float = 40.0) -> None:
        self.url = url
        self.interval = 1.0 / rate
        self.answers: list[str] = []
        self.times: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.seconds = 0.0

    def _run(self) -> None:
        started = time.monotonic()
        next_at = started
        while not self._stop.is_set():
            try:
                with urllib.request.urlopen(self.url + "/version", timeout=5) as resp:
                    body = resp.read().decode().strip()
                    if resp.status != 200:
                        self.failures.append(f"HTTP {resp.status}")
                    else:
                        self.answers.append(body)
                        self.times.append(time.monotonic())
            except (urllib.error.URLError, OSError) as exc:
                self.failures.append(str(exc))
            next_at += self.interval
            time.sleep(max(0.0, next_at - time.monotonic()))
        self.seconds = time.monotonic() - started

    def __enter__(self) -> Stream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    @property
    def rate(self) -> float:
        return (len(self.answers) + len(self.failures)) / self.seconds if self.seconds else 0.0


def test_release_under_steady_traffic_switches_with_zero_failures(local: Local) -> None:
    first = local.release()
    assert "release 0.1.0 to local: succeeded" in first.stdout
    assert local.version() == "0.1.0"
    with Stream(local.url) as stream:
        time.sleep(1.0)
        local.release("--bump", "patch")
        time.sleep(1.0)
    assert stream.failures == []
    assert stream.rate >= 20, f"only {stream.rate:.1f} requests/s"
    assert stream.answers[0] == "0.1.0"
    assert stream.answers[-1] == "0.1.1"
    # nginx's reload lets old workers finish what they hold: for a moment both may answer,
    # after that only the new version does
    first_new = stream.times[stream.answers.index("0.1.1")]
    last_old = stream.times[len(stream.answers) - 1 - stream.answers[::-1].index("0.1.0")]
    assert last_old - first_new < 0.5, "old and new answered side by side for too long"

    status = json.loads(local.project.inv("status", "--env", "local", "--json", check=True).stdout)
    assert status["url"] == local.url
    assert status["version"] == "0.1.1"
    assert status["digest"].startswith("sha256:")
    assert [r["version"] for r in status["history"]] == ["0.1.1", "0.1.0"]
    assert [r["outcome"] for r in status["history"]] == ["succeeded", "succeeded"]
    assert status["history"][1]["rollback_target"] is True

    verified = local.project.inv("verify", "--env", "local", check=True)
    assert verified.stdout.count(" OK ") == 2, verified.stdout
    assert "NG" not in verified.stdout

    # labels and the health check come from the task definition
    live = status["observed"]["containers"][0]["name"]
    inspect = json.loads(
        subprocess.run(
            ["docker", "inspect", live], capture_output=True, text=True, check=True
        ).stdout
    )[0]
    labels = inspect["Config"]["Labels"]
    assert labels["dev.shipyard.environment"] == "local"
    assert labels["dev.shipyard.version"] == "0.1.1"
    assert labels["dev.shipyard.release"] == status["release_id"]
    health = inspect["Config"]["Healthcheck"]
    assert health["Interval"] == 1_000_000_000
    assert health["Retries"] == 2
    assert "wget" in " ".join(health["Test"])
    # the secret reached the container but never a command line or the output
    assert any(e.startswith("DB_PASSWORD=") for e in inspect["Config"]["Env"])
    secret = (local.state / "secrets" / "db-password").read_text().strip()
    assert secret not in first.stdout + first.stderr


def test_rollback_to_previous_and_to_version(local: Local) -> None:
    local.release()
    local.release("--bump", "minor")
    assert local.version() == "0.2.0"
    back = local.project.inv("rollback", "--env", "local", check=True)
    assert "0.1.0" in back.stdout
    assert local.version() == "0.1.0"
    refused = local.project.inv("rollback", "--env", "local", "--to", "9.9.9")
    assert refused.returncode == 2
    assert "never succeeded" in refused.stderr
    assert "0.2.0" in refused.stderr
    local.project.inv("rollback", "--env", "local", "--to", "0.2.0", check=True)
    assert local.version() == "0.2.0"
    kinds = [(r["kind"], r["version"], r["outcome"]) for r in local.records()]
    assert kinds[-2:] == [("rollback", "0.1.0", "succeeded"), ("rollback", "0.2.0", "succeeded")]
    # only the live release runs
    running = local.containers(all_=False)
    assert len(running) == 1
    assert local.history()["live"] in running[0]


def test_unhealthy_release_fails_and_the_old_version_keeps_serving(local: Local) -> None:
    local.release()
    bad = local.release("--bump", "patch", "--build-arg", "HEALTHY=false", "--json", check=False)
    assert bad.returncode == 1, bad.stderr
    result = json.loads(bad.stdout)
    assert result["outcome"] == "failed"
    assert result["version"] == "0.1.1"
    steps = {s["name"]: s["outcome"] for s in result["steps"]}
    assert steps["deploy"] == "failed"
    assert steps["verify"] == "skipped"
    assert "unhealthy" in bad.stderr
    assert "last 20 log lines of" in bad.stdout + bad.stderr
    assert local.version() == "0.1.0"
    newest = local.records()[-1]
    assert newest["outcome"] == "failed"
    assert newest["version"] == "0.1.1"
    assert result["release_id"] == newest["release_id"]
    assert len(local.containers()) == 1  # the new containers were removed


def test_release_dry_run_changes_nothing(local: Local) -> None:
    version_before = (local.project.path / "version.txt").read_text()
    out = local.release("--dry-run", "--bump", "minor")
    assert "dry run: nothing was changed" in out.stdout
    for step in ("version", "build", "push", "shift", "bake", "verify"):
        assert step in out.stdout
    assert "0.1.0 -> 0.2.0" in out.stdout
    assert (local.project.path / "version.txt").read_text() == version_before
    assert not (local.project.path / ".shipyard").exists()
    assert local.containers() == []
    images = subprocess.run(
        ["docker", "image", "ls", "-q", local.project.repository],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert images.strip() == ""


def test_two_releases_at_once_only_one_runs(local: Local) -> None:
    procs = [local.popen("release", "--env", "local") for _ in range(2)]
    outs = [p.communicate(timeout=180) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 1], outs
    loser = next(o for p, o in zip(procs, outs, strict=True) if p.returncode == 1)
    assert "is locked: held by" in loser[1]
    assert "since" in loser[1]
    assert "release to local" in loser[1]  # the holder's message
    assert [r["outcome"] for r in local.records()] == ["succeeded"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupt_during_deploy_keeps_the_old_release(local: Local, sig: signal.Signals) -> None:
    local.release()
    proc = local.popen("release", "--env", "local", "--bump", "patch")
    local.wait_for(lambda: local.records()[-1]["outcome"] == "in_progress", what="the deploy step")
    local.wait_for(lambda: len(local.containers()) == 2, what="the new container")
    sent = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=15)
    assert time.monotonic() - sent <= 10
    assert proc.returncode == 130, err
    assert local.version() == "0.1.0"
    assert local.records()[-1]["outcome"] == "interrupted"
    assert len(local.containers()) == 1
    lock = json.loads(local.project.inv("lock", "--env", "local", "--json", check=True).stdout)
    assert lock["held"] is False


def test_kill_9_mid_deploy_then_a_new_release_succeeds(local: Local) -> None:
    local.release()
    proc = local.popen("release", "--env", "local", "--bump", "patch")
    local.wait_for(lambda: len(local.containers()) == 2, what="the new container")
    proc.kill()
    proc.wait(timeout=10)
    assert local.version() == "0.1.0"
    json.loads((local.state / "history.json").read_text())  # readable
    again = local.release("--bump", "patch")
    assert "succeeded" in again.stdout
    assert "took over the deploy lock" in again.stderr
    assert local.version() == "0.1.2"
    outcomes = [r["outcome"] for r in local.records()]
    assert outcomes == ["succeeded", "interrupted", "succeeded"]
    assert len(local.containers(all_=False)) == 1


def test_cleanup_never_removes_live_or_rollback_target(local: Local) -> None:
    env_file = local.project.path / "deploy" / "environments" / "local.toml"
    env_file.write_text(env_file.read_text().replace("keep_releases = 3 ", "keep_releases = 1 "))
    local.project.commit("keep one release")
    for i, args in enumerate([(), ("--bump", "patch"), ("--bump", "patch")]):
        local.release(*args)
        assert local.version() == f"0.1.{i}"
    before = set(local.containers())
    dry = local.project.inv("cleanup", "--env", "local", "--dry-run", check=True)
    assert "would remove" in dry.stdout
    assert "dry run: nothing was changed" in dry.stdout
    assert set(local.containers()) == before
    status = json.loads(local.project.inv("status", "--env", "local", "--json", check=True).stdout)
    target = next(r for r in status["history"] if r["rollback_target"])
    assert target["version"] == "0.1.1"
    local.project.inv("cleanup", "--env", "local", check=True)
    left = local.containers()
    assert any(status["release_id"] in n for n in left)
    assert any(target["release_id"] in n for n in left)
    assert len(left) == 2
    repo = f"127.0.0.1:5000/{local.project.repository}"

    def present(ref: str) -> bool:
        return (
            subprocess.run(
                ["docker", "image", "inspect", ref], capture_output=True, check=False
            ).returncode
            == 0
        )

    assert present(f"{repo}:0.1.2")
    assert present(f"{repo}:0.1.1")
    assert not present(f"{repo}:0.1.0")
    # the rollback target still rolls back
    local.project.inv("rollback", "--env", "local", check=True)
    assert local.version() == "0.1.1"
