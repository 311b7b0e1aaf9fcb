"""FileLock's rules, pinned exactly: what a refusal tells a user about the holder, what a holding
records, how older or damaged descriptions are read, and how long an acquire waits.

A "live holder" here is an flock taken by this test on its own open file: flock conflicts
between open files even within one process, so FileLock sees a holder it cannot take over.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest

from shipyard.errors import LockHeld
from shipyard.locking import LockInfo
from shipyard.locking.local import FileLock
from tests.support.lock_holders import held_by_another

OWNER = "ci@build-7:4242"


def _refusal(path: Path, *, wait: float | None = None) -> LockHeld:
    """The refusal an acquirer gets; without `wait`, acquire is called with its default."""
    lock = FileLock(path, environment="local")
    kwargs: dict[str, float] = {} if wait is None else {"wait": wait}
    with pytest.raises(LockHeld) as err:
        lock.acquire("deploy 9.9.9", **kwargs)
    return err.value


@pytest.mark.parametrize(
    ("age", "message", "tail"),
    [
        (3600, "deploy 1.2.3", ": deploy 1.2.3"),
        (3600, "", ""),
        (125, "rollback", ": rollback"),
    ],
)
def test_a_refusal_names_the_holder_the_local_time_it_took_the_lock_and_for_how_long(
    tmp_path: Path, age: int, message: str, tail: str
) -> None:
    """The refusal is the whole of what a user learns about a holder: who, since when (in
    local time, to the second), how many seconds ago, and its message only when it has one."""
    path = tmp_path / "deploy.lock"
    since = float(int(time.time()) - age)
    shown_since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since))
    with held_by_another(path, {"owner": OWNER, "since": since, "message": message}):
        before = time.time()
        refusal = _refusal(path)
        after = time.time()
    prefix = f"environment 'local' is locked: held by {OWNER} since {shown_since} ("
    suffix = f"s){tail}"
    assert refusal.message.startswith(prefix)
    assert refusal.message.endswith(suffix)
    seconds = int(refusal.message[len(prefix) : -len(suffix)])
    assert round(before - since) <= seconds <= round(after - since)


def test_a_holder_whose_clock_is_ahead_is_shown_as_held_for_zero_seconds(tmp_path: Path) -> None:
    """A holder on a host whose clock runs ahead took the lock "in the future": it has been
    held for 0 seconds, never for a negative or made-up time."""
    path = tmp_path / "deploy.lock"
    since = time.time() + 600
    shown_since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since))
    with held_by_another(path, {"owner": OWNER, "since": since, "message": ""}):
        refusal = _refusal(path)
    assert refusal.message == (
        f"environment 'local' is locked: held by {OWNER} since {shown_since} (0s)"
    )


def test_a_refusal_by_a_holder_with_an_unreadable_description_says_another_process(
    tmp_path: Path,
) -> None:
    """A live holder whose file says nothing readable is still a holder: the refusal says so
    in plain words instead of failing on the missing description."""
    path = tmp_path / "deploy.lock"
    with held_by_another(path, "not a description"):
        refusal = _refusal(path)
    assert refusal.message == "environment 'local' is locked: held by another process"
    assert refusal.hint is not None
    assert "inv lock --env local --release --force" in refusal.hint


def test_a_description_written_without_the_newer_fields_reads_them_as_empty(
    tmp_path: Path,
) -> None:
    """A lock written by an older shipyard has only owner and since: its message, host, token
    and run read as empty (never as "None"), so `inv lock` shows nothing made up, the lock
    belongs to no run, and free_exactly, which needs a token, never frees it."""
    path = tmp_path / "deploy.lock"
    older = LockInfo(owner=OWNER, since=100.0, message="")
    with held_by_another(path, {"owner": OWNER, "since": 100.0}):
        lock = FileLock(path, environment="local", run="this-run")
        held = lock.status()
        assert held == older
        assert lock.free_exactly(held) is False
        assert lock.status() == older
        assert path.exists()
    assert lock.leftover() == older


def test_an_acquisition_records_who_where_which_process_and_run_in_the_lock_file(
    tmp_path: Path,
) -> None:
    """The holding names the actor it was taken for, this host and pid and the run, and the
    file says exactly that (with the token), readable by others and not executable."""
    path = tmp_path / "state" / "deploy.lock"
    umask = os.umask(0o022)
    try:
        lock = FileLock(path, environment="local", actor="alice", run="run-1")
        info = lock.acquire("deploy 1.2.3")
    finally:
        os.umask(umask)
    try:
        host = socket.gethostname()
        assert info.owner == f"alice@{host}:{os.getpid()}"
        assert (info.host, info.pid, info.run) == (host, os.getpid(), "run-1")
        assert (info.message, info.took_over, info.expires) == ("deploy 1.2.3", "", None)
        assert json.loads(path.read_text()) == {**info.as_dict(), "token": info.token}
        assert FileLock(path, environment="local").status() == info
        assert path.stat().st_mode & 0o777 == 0o644
    finally:
        lock.release()


def test_a_clean_release_leaves_an_empty_lock_file(tmp_path: Path) -> None:
    """Releasing clears the description: nothing is left for `inv lock` to show or for the
    next acquirer to report as taken over."""
    path = tmp_path / "deploy.lock"
    lock = FileLock(path, environment="local")
    lock.acquire("deploy 1.2.3")
    lock.release()
    assert path.read_bytes() == b""
    nxt = FileLock(path, environment="local")
    assert nxt.acquire("deploy 1.2.4").took_over == ""
    nxt.release()


def test_acquiring_again_what_this_lock_holds_returns_the_same_holding(tmp_path: Path) -> None:
    """A second acquire on the lock object that holds it is no conflict with itself: it
    returns the holding it has, and one release frees the lock."""
    path = tmp_path / "deploy.lock"
    lock = FileLock(path, environment="local")
    first = lock.acquire("deploy 1.2.3")
    assert lock.acquire("deploy 1.2.4") == first
    assert FileLock(path, environment="local").status() == first
    lock.release()
    assert FileLock(path, environment="local").status() is None


def test_releasing_a_lock_never_acquired_or_already_released_does_nothing(
    tmp_path: Path,
) -> None:
    """release() is safe to call from a finally block whatever happened before it."""
    path = tmp_path / "deploy.lock"
    lock = FileLock(path, environment="local")
    lock.release()
    assert lock.status() is None
    lock.acquire("deploy 1.2.3")
    lock.release()
    lock.release()
    assert FileLock(path, environment="local").status() is None


@pytest.mark.parametrize("wait", [None, 0.0, -5.0])
def test_without_a_positive_wait_a_held_lock_is_refused_at_once(
    tmp_path: Path, wait: float | None
) -> None:
    """No --lock-wait (or a zero or negative one) means one attempt: the refusal comes at
    once, not after a poll (a poll lasts at least 0.2 s; a wait of one second or more is far
    beyond the bound below)."""
    path = tmp_path / "deploy.lock"
    with held_by_another(path, {"owner": OWNER, "since": 1.0, "message": ""}):
        started = time.monotonic()
        _refusal(path, wait=wait)
        assert time.monotonic() - started < 0.6


def test_a_leftover_with_bytes_that_are_not_utf8_is_still_taken_over_and_named(
    tmp_path: Path,
) -> None:
    """A killed holder's description with a damaged byte does not stop the next release: the
    lock is taken and the old owner named as well as it can be read."""
    path = tmp_path / "deploy.lock"
    path.write_bytes(b'{"owner": "ci\xff@host:1", "since": 1.0, "message": "killed"}')
    lock = FileLock(path, environment="local")
    info = lock.acquire("next")
    assert info.took_over == "ci\ufffd@host:1"
    lock.release()


def _leftover_of_size(path: Path, size: int) -> None:
    """A killed holder's description, valid JSON of exactly `size` bytes (a long message)."""
    empty = json.dumps({"owner": "ci@host:1", "since": 1.0, "message": ""})
    record = {"owner": "ci@host:1", "since": 1.0, "message": "m" * (size - len(empty))}
    path.write_text(json.dumps(record))
    assert path.stat().st_size == size


@pytest.mark.parametrize(("size", "took_over"), [(65536, "ci@host:1"), (65537, "")])
def test_a_leftover_is_read_up_to_64_kib_when_it_is_taken_over(
    tmp_path: Path, size: int, took_over: str
) -> None:
    """An acquirer reads at most 64 KiB of what a killed holder left: a description that
    fits is named as taken over, a larger one is not trusted (only its start was read)."""
    path = tmp_path / "deploy.lock"
    _leftover_of_size(path, size)
    lock = FileLock(path, environment="local")
    assert lock.acquire("next").took_over == took_over
    lock.release()


def test_a_leftover_with_bytes_that_are_not_utf8_is_reported_not_a_crash(tmp_path: Path) -> None:
    """`inv lock` shows a killed holder's leftover: a damaged byte in it is read as well as it
    can be (as the acquirer reads it), never a UnicodeDecodeError traceback."""
    path = tmp_path / "deploy.lock"
    path.write_bytes(b'{"owner": "ci\xff@host:1", "since": 1.0, "message": "killed"}')
    lock = FileLock(path, environment="local")
    assert lock.status() is None
    left = lock.leftover()
    assert left is not None
    assert (left.owner, left.message) == ("ci\ufffd@host:1", "killed")


@pytest.mark.parametrize(("size", "readable"), [(65536, True), (65537, False)])
def test_status_reads_a_leftover_exactly_as_far_as_an_acquirer_does(
    tmp_path: Path, size: int, readable: bool
) -> None:
    """What `inv lock` reports as left over and what the next acquirer names as taken over
    agree: both read at most 64 KiB of the file."""
    path = tmp_path / "deploy.lock"
    _leftover_of_size(path, size)
    lock = FileLock(path, environment="local")
    left = lock.leftover()
    assert (left is not None) == readable
    assert lock.acquire("next").took_over == (left.owner if left else "")
    lock.release()
