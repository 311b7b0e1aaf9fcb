"""FileLock: one holder at a time, refusals name the holder, a killed holder's lock is free."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from shipyard.errors import LockHeld
from shipyard.locking import Freed, LockInfo
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


def _leftover_of(path: Path, run: str) -> None:
    """What a holder killed mid-deploy leaves: its description, with no flock on the file."""
    path.write_text(
        json.dumps({"owner": "ci@host:1", "since": 1.0, "message": "killed", "run": run})
    )


@pytest.mark.parametrize(
    ("left_by", "force", "cleared"),
    [
        ("this-run", False, True),
        ("other-run", False, False),
        ("other-run", True, True),
    ],
)
def test_free_clears_a_dead_holders_leftover_only_when_it_was_this_runs_or_forced(
    tmp_path: Path, left_by: str, force: bool, cleared: bool
) -> None:
    path = tmp_path / "deploy.lock"
    _leftover_of(path, left_by)
    lock = FileLock(path, environment="local", run="this-run")
    assert lock.free(force=force) == Freed()
    assert path.exists() is not cleared
    assert (lock.leftover() is None) is cleared


def test_free_with_no_lock_file_frees_nothing(tmp_path: Path) -> None:
    lock = FileLock(tmp_path / "deploy.lock", environment="local", run="this-run")
    assert lock.free(force=True) == Freed()
    assert lock.free() == Freed()


def test_free_frees_this_runs_live_lock_and_keeps_another_runs(tmp_path: Path) -> None:
    path = tmp_path / "deploy.lock"
    holder = FileLock(path, environment="local", run="this-run")
    held = holder.acquire("deploy 1.2.3")
    other = FileLock(path, environment="local", run="other-run")
    assert other.free() == Freed(kept=held)
    assert other.status() == held
    assert FileLock(path, environment="local", run="this-run").free() == Freed(freed=held)
    assert not path.exists()
    holder.release()


def test_force_release_frees_another_runs_live_lock(tmp_path: Path) -> None:
    path = tmp_path / "deploy.lock"
    holder = FileLock(path, environment="local", run="other-run")
    held = holder.acquire("deploy 1.2.3")
    assert FileLock(path, environment="local", run="this-run").force_release() == held
    assert FileLock(path, environment="local").status() is None
    holder.release()


def test_free_exactly_frees_only_the_acquisition_it_was_given(tmp_path: Path) -> None:
    path = tmp_path / "deploy.lock"
    lock = FileLock(path, environment="local")
    assert lock.free_exactly(LockInfo(owner="x", since=1.0, message="", token="abc")) is False
    holder = FileLock(path, environment="local")
    held = holder.acquire("deploy 1.2.3")
    freer = FileLock(path, environment="local")
    assert freer.free_exactly(replace(held, token="another-acquisition")) is False
    assert freer.free_exactly(replace(held, token="")) is False
    assert freer.status() == held
    assert freer.free_exactly(held) is True
    assert freer.status() is None
    assert not path.exists()
    holder.release()


def test_a_live_holder_whose_description_is_unreadable_is_reported_as_unknown(
    tmp_path: Path,
) -> None:
    path = tmp_path / "deploy.lock"
    path.write_text("not a description")
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        before = time.time()
        held = FileLock(path, environment="local").status()
        assert held is not None
        assert (held.owner, held.message) == ("unknown", "")
        assert before <= held.since <= time.time()
    finally:
        os.close(fd)
    assert FileLock(path, environment="local").status() is None
