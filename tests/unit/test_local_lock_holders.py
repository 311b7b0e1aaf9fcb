"""FileLock when someone outside the protocol touches the lock file at the worst instant.

shipyard's own acquirers and `inv lock --release` exclude each other through the guard file,
but an operator (an `rm`, an older shipyard) does not: the lock file can vanish between two
steps, and the disk can refuse a write. Those instants cannot be hit by timing, so these tests
make the operating system's call at that instant do it (the OS call is wrapped, never
shipyard's code): the lock must stay correct and must not fail with a stray error.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from shipyard.locking import Freed, LockInfo
from shipyard.locking.local import FileLock
from tests.support.lock_holders import held_by_another

OWNER = "ci@build-7:4242"


def test_a_lock_file_moved_away_between_open_and_flock_is_not_the_one_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the file an acquirer opened is moved away before its flock lands, that flock holds
    nothing anyone else will look at: the acquirer must take the lock on the file now at the
    path, so a second acquirer is refused."""
    path = tmp_path / "deploy.lock"
    real_flock: Callable[[int, int], None] = fcntl.flock
    moved: list[Path] = []

    def flock_then_move_away(fd: int, operation: int) -> None:
        real_flock(fd, operation)
        if operation == fcntl.LOCK_EX | fcntl.LOCK_NB and not moved:
            moved.append(path.rename(path.with_name("deploy.lock.moved")))

    monkeypatch.setattr(fcntl, "flock", flock_then_move_away)
    lock = FileLock(path, environment="local")
    info = lock.acquire("deploy 1.2.3")
    monkeypatch.undo()
    try:
        assert moved
        assert FileLock(path, environment="local").status() == info
        assert json.loads(path.read_text())["token"] == info.token
    finally:
        lock.release()


def _unlink_after_someone_else(monkeypatch: pytest.MonkeyPatch, path: Path) -> list[Path]:
    """Make the removal of `path` find it already gone, as if an operator removed it just
    before; returns the paths that happened to."""
    real_unlink = Path.unlink
    raced: list[Path] = []

    def unlink_raced(self: Path, missing_ok: bool = False) -> None:
        if self == path:
            raced.append(self)
            os.unlink(self)
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink_raced)
    return raced


def test_force_freeing_a_live_lock_whose_file_was_removed_meanwhile_reports_it_freed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`inv lock --release --force` decided on a holder and the file is already gone when it
    moves it away: the lock is free either way, and the holder it decided on is reported."""
    path = tmp_path / "deploy.lock"
    with held_by_another(path, {"owner": OWNER, "since": 1.0, "message": "deploy"}):
        raced = _unlink_after_someone_else(monkeypatch, path)
        freed = FileLock(path, environment="local").free(force=True)
    assert raced == [path]
    assert freed == Freed(freed=LockInfo(owner=OWNER, since=1.0, message="deploy"))
    assert not path.exists()


def test_clearing_a_leftover_whose_file_was_removed_meanwhile_frees_nothing_quietly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`inv lock --release` found this run's dead holder's description and the file is gone
    when it clears it: nothing was held, and that is what it reports."""
    path = tmp_path / "deploy.lock"
    path.write_text(json.dumps({"owner": OWNER, "since": 1.0, "message": "", "run": "this-run"}))
    raced = _unlink_after_someone_else(monkeypatch, path)
    assert FileLock(path, environment="local", run="this-run").free() == Freed()
    assert raced == [path]
    assert not path.exists()


def test_release_drops_the_lock_even_when_the_description_cannot_be_cleared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk error while clearing the description on release must neither fail the release
    (it runs in a finally block, after the deploy) nor keep the lock held."""
    path = tmp_path / "deploy.lock"
    lock = FileLock(path, environment="local")
    info = lock.acquire("deploy 1.2.3")

    def ftruncate_fails(fd: int, length: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "ftruncate", ftruncate_fails)
    lock.release()
    monkeypatch.undo()
    other = FileLock(path, environment="local")
    assert other.status() is None
    assert other.leftover() == info
    other.acquire("deploy 1.2.4")
    other.release()
