"""FileLock: one holder at a time, refusals name the holder, a killed holder's lock is free."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shipyard.errors import LockHeld
from shipyard.locking.local import FileLock

HOLD = """
import sys, time
from pathlib import Path
from shipyard.locking.local import FileLock
lock = FileLock(Path(sys.argv[1]), environment="local")
lock.acquire("held by a child")
print("held", flush=True)
time.sleep(60)
"""


def _child_holding(path: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_acquire_is_refused_with_holder_since_and_message(tmp_path: Path) -> None:
    path = tmp_path / "deploy.lock"
    first = FileLock(path, environment="local")
    info = first.acquire("deploy 1.2.3")
    second = FileLock(path, environment="local")
    with pytest.raises(LockHeld) as err:
        second.acquire("deploy 1.2.4")
    text = err.value.one_line()
    assert info.owner in text
    assert "since" in text
    assert "deploy 1.2.3" in text
    assert "--lock-wait" in text
    assert "inv lock --env local --release" in text
    assert second.status() == first.status()
    first.release()
    assert second.status() is None
    second.acquire("deploy 1.2.4")
    second.release()


def test_lock_wait_polls_until_the_holder_releases(tmp_path: Path) -> None:
    path = tmp_path / "deploy.lock"
    proc = _child_holding(path)
    waiter = FileLock(path, environment="local")
    with pytest.raises(LockHeld):
        waiter.acquire("x", wait=0.3)
    started = time.monotonic()
    subprocess.Popen(["sh", "-c", f"sleep 0.5; kill {proc.pid}"])
    waiter.acquire("after the child", wait=10)
    assert 0.3 < time.monotonic() - started < 5
    assert waiter.status() is not None
    assert waiter.status().message == "after the child"
    waiter.release()
    proc.wait()


def test_a_killed_holder_leaves_a_stale_lock_that_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "deploy.lock"
    proc = _child_holding(path)
    held = FileLock(path, environment="local").status()
    assert held is not None
    assert held.pid == proc.pid
    assert held.message == "held by a child"
    proc.kill()
    proc.wait()
    lock = FileLock(path, environment="local")
    assert lock.status() is None
    left = lock.leftover()
    assert left is not None
    assert left.pid == proc.pid
    info = lock.acquire("next")
    assert info.took_over.endswith(f":{proc.pid}")
    lock.release()
    assert lock.leftover() is None  # released cleanly: nothing left behind


def test_force_release_frees_a_lock_held_by_a_live_process(tmp_path: Path) -> None:
    path = tmp_path / "deploy.lock"
    proc = _child_holding(path)
    try:
        freed = FileLock(path, environment="local").force_release()
        assert freed is not None
        assert freed.message == "held by a child"
        other = FileLock(path, environment="local")
        other.acquire("after force release")
        assert json.loads(path.read_text())["message"] == "after force release"
        other.release()
    finally:
        proc.kill()
        proc.wait()
    assert FileLock(path, environment="local").force_release() is None
