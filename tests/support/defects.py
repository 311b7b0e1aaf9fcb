"""Small helpers for tests/faults/test_local_defects.py: polling with a deadline, editing a
project's local.toml, a second checkout of the same project, what the Docker engine reported
(`docker events`), and inotify on a file (to see that another process is trying a lock).

    wait_for(lambda: env.version() == "0.1.0", 30, "0.1.0 to serve")
    set_local(env, "bake_seconds = 1 ", "bake_seconds = 10 ")
    with opened(env.state / "deploy.lock") as watch:
        ...start a process...
        watch.wait(2, 30, "the rollback to try the lock")
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import select
import shutil
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.conftest import Project
from tests.support.localenv import ENVIRONMENT, LABEL_STACK, LocalEnv

T = TypeVar("T")
POLL_SECONDS = 0.05


def wait_for(check: Callable[[], T], timeout: float, what: str) -> T:
    """Poll `check` until it returns something truthy (returned); AssertionError naming
    `what` and the last value seen when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    seen = check()
    while not seen:
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what} (last seen: {seen!r})")
        time.sleep(POLL_SECONDS)
        seen = check()
    return seen


def local_toml(env: LocalEnv) -> Path:
    return env.project.path / "deploy" / "environments" / f"{ENVIRONMENT}.toml"


def set_local(env: LocalEnv, old: str, new: str) -> None:
    """Replace `old` by `new` in the project's local.toml (it must be there) and commit, as
    localenv's _configure does."""
    path = local_toml(env)
    text = path.read_text()
    assert old in text, f"{old!r} is not in {path}"
    path.write_text(text.replace(old, new))
    env.project.commit(f"local.toml: {new.strip()}")


def error_lines(stderr: str) -> list[str]:
    """The `error: ...` lines a shipyard task printed."""
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def one_error(proc: subprocess.CompletedProcess[str]) -> str:
    """The one error line of a failed command, with no traceback around it."""
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = error_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    return lines[0]


def doc(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The --json document a command printed on stdout."""
    assert proc.stdout.strip(), proc.stderr
    return dict(json.loads(proc.stdout))


def records(env: LocalEnv) -> list[dict[str, Any]]:
    return list(env.history().get("releases") or [])


def record(env: LocalEnv, release_id: str) -> dict[str, Any]:
    return next(r for r in records(env) if r["release_id"] == release_id)


def live_record(env: LocalEnv) -> dict[str, Any]:
    history = env.history()
    return next(r for r in history["releases"] if r["release_id"] == history["live"])


def docker(*args: str) -> str:
    """The docker CLI against the real engine; its stdout (it must succeed)."""
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def inspect(name: str) -> dict[str, Any]:
    return dict(json.loads(docker("container", "inspect", name))[0])


def app_container(env: LocalEnv, release_id: str) -> str:
    """The name of the app container of `release_id` (running or not)."""
    names = [n for n in env.containers() if release_id in n and n.endswith("-gamepulse")]
    assert len(names) == 1, (release_id, env.containers())
    return names[0]


@dataclass(frozen=True)
class Event:
    t: int  # nanoseconds since the epoch, as the engine stamped it
    status: str  # start, kill, die, stop, "health_status: healthy", ...
    name: str


def events(stack: str, since: float, until: float) -> list[Event]:
    """What the engine reported for the containers of `stack` between two time.time()s."""
    out = docker(
        "events",
        "--since",
        f"{since:.3f}",
        "--until",
        f"{until:.3f}",
        "--filter",
        "type=container",
        "--filter",
        f"label={LABEL_STACK}={stack}",
        "--format",
        "{{json .}}",
    )
    found = []
    for line in out.splitlines():
        raw = json.loads(line)
        name = str((raw.get("Actor") or {}).get("Attributes", {}).get("name", ""))
        found.append(Event(int(raw["timeNano"]), str(raw.get("status", "")), name))
    return found


def clone_checkout(env: LocalEnv, base: Path, port: int) -> LocalEnv:
    """A second checkout of env's project (same repository, same git history, no state) in
    `base`/project, whose local.toml names `port`."""
    base.mkdir(parents=True)
    path = base / "project"
    shutil.copytree(env.project.path, path, ignore=shutil.ignore_patterns(".shipyard"))
    clone = LocalEnv(Project(path, env.project.repository, dict(env.project.env)), port)
    if port != env.port:
        # a port of this machine is a local edit, not a commit: both checkouts stay on one
        # commit, so they build the same image for a version (which a registry holds once)
        toml = local_toml(clone)
        toml.write_text(
            toml.read_text().replace(f"proxy_port = {env.port}", f"proxy_port = {port}")
        )
    return clone


@pytest.fixture
def checkouts(tmp_path: Path) -> Iterator[Callable[[LocalEnv, int], LocalEnv]]:
    """A factory: checkouts(env, port) -> another checkout of env's project on `port`;
    each one's nginx and containers are removed after the test."""
    made: list[LocalEnv] = []

    def factory(env: LocalEnv, port: int) -> LocalEnv:
        clone = clone_checkout(env, tmp_path / f"checkout{len(made)}", port)
        made.append(clone)
        return clone

    try:
        yield factory
    finally:
        for clone in made:
            clone.teardown()


# -- inotify: who opens a file -------------------------------------------------------------------
IN_OPEN = 0x20
_EVENT = struct.Struct("iIII")


class Opened:
    """Counts the times any process opens one file (inotify IN_OPEN)."""

    def __init__(self, path: Path) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        self._fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if libc.inotify_add_watch(self._fd, str(path).encode(), IN_OPEN) < 0:
            os.close(self._fd)
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {path}")
        self.count = 0

    def _drain(self, timeout: float) -> None:
        ready, _, _ = select.select([self._fd], [], [], max(0.0, timeout))
        if not ready:
            return
        with contextlib.suppress(BlockingIOError):
            data = os.read(self._fd, 65536)
            offset = 0
            while offset < len(data):
                _wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                offset += _EVENT.size + length
                self.count += bool(mask & IN_OPEN)

    def wait(self, opens: int, timeout: float, what: str) -> None:
        """Until the file was opened `opens` times since the watch began."""
        deadline = time.monotonic() + timeout
        while self.count < opens:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"not within {timeout:.0f} s: {what} ({self.count} opens)")
            self._drain(min(left, 0.5))

    def close(self) -> None:
        os.close(self._fd)


@contextlib.contextmanager
def opened(path: Path) -> Iterator[Opened]:
    watch = Opened(path)
    try:
        yield watch
    finally:
        watch.close()
