"""The deploy lock of a local environment: a file in its state directory, held with flock.

The kernel drops an flock when its process dies, kill -9 included, so a lock left behind by a
killed process is free by construction; the holder's description stays in the file and is
reported as stale when the next process takes over. `free` (inv lock --release) moves the file
away: whoever held it keeps an flock on an inode nobody else will open again.

A second file, `<lock>.guard`, is flocked for the instant an acquirer takes the lock and writes
who it is, and while `free` reads the holder and moves the file: so `free` never moves away a
lock taken after it read the holder it decided on.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from shipyard.errors import LockHeld
from shipyard.locking.base import Freed, LockInfo, default_owner, run_identity

POLL_SECONDS = 0.2
# a holder's description is a few hundred bytes; a larger file is not one shipyard wrote whole
RECORD_LIMIT = 65536


def _describe(info: LockInfo) -> str:
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.since))
    held_for = max(0.0, time.time() - info.since)
    text = f"held by {info.owner} since {since} ({held_for:.0f}s)"
    return text + (f": {info.message}" if info.message else "")


def _parse(blob: bytes) -> LockInfo | None:
    """The holder `blob` describes; None when it is not a description (read RECORD_LIMIT + 1
    bytes: more than the limit is not trusted)."""
    if len(blob) > RECORD_LIMIT:
        return None
    try:
        data = json.loads(blob.decode("utf-8", "replace"))
        return LockInfo(
            owner=str(data["owner"]),
            since=float(data["since"]),
            message=str(data.get("message", "")),
            host=str(data.get("host", "")),
            pid=data.get("pid"),
            token=str(data.get("token", "")),
            run=str(data.get("run", "")),
        )
    except (ValueError, KeyError, TypeError):
        return None


class FileLock:
    def __init__(
        self,
        path: Path,
        *,
        environment: str,
        actor: str | None = None,
        run: str | None = None,
    ) -> None:
        self.path = path
        self.environment = environment
        self.actor = actor
        self.run = run if run is not None else run_identity()
        self._fd: int | None = None
        self._info: LockInfo | None = None

    # -- internals -------------------------------------------------------------------------
    def _open_locked(self) -> int | None:
        """An fd holding the exclusive flock on the current lock file, or None if taken."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return None
            # the file may have been moved away (force_release) between open and flock
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return fd
            os.close(fd)

    def _read_info(self) -> LockInfo | None:
        try:
            with self.path.open("rb") as fh:
                return _parse(fh.read(RECORD_LIMIT + 1))
        except FileNotFoundError:
            return None

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Held for an instant only, never while the deploy lock is held; the kernel drops it
        with its process, so a killed holder cannot leave it taken."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.with_name(self.path.name + ".guard"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    # -- Lock protocol ---------------------------------------------------------------------
    def acquire(self, message: str, *, wait: float = 0.0) -> LockInfo:
        if self._fd is not None and self._info is not None:
            return self._info
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            with self._guard():
                info = self._take(message)
                holder = None if info else self._read_info()
            if info is not None:
                return info
            if time.monotonic() >= deadline:
                what = _describe(holder) if holder else "held by another process"
                raise LockHeld(
                    f"environment {self.environment!r} is locked: {what}",
                    hint="wait for it, pass --lock-wait SECONDS, or free it with "
                    f"`inv lock --env {self.environment} --release --force` if its owner is gone",
                )
            time.sleep(POLL_SECONDS)

    def _take(self, message: str) -> LockInfo | None:
        """Under the guard: the flock and who holds it, written at once."""
        fd = self._open_locked()
        if fd is None:
            return None
        left = _parse(os.pread(fd, RECORD_LIMIT + 1, 0))
        info = LockInfo(
            owner=default_owner(self.actor),
            since=time.time(),
            message=message,
            host=socket.gethostname(),
            pid=os.getpid(),
            token=secrets.token_hex(8),
            took_over=left.owner if left else "",
            run=self.run,
        )
        blob = json.dumps({**info.as_dict(), "token": info.token}).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, blob, 0)
        os.fsync(fd)
        self._fd, self._info = fd, info
        return info

    def release(self) -> None:
        fd, self._fd, self._info = self._fd, None, None
        if fd is None:
            return
        try:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing drops the flock

    def status(self) -> LockInfo | None:
        """The holder, or None when free (a killed holder's leftovers count as free)."""
        if self._info is not None:
            return self._info
        return self._live_holder()

    def leftover(self) -> LockInfo | None:
        """What a killed holder wrote, when the lock is free but its file is not empty."""
        if self.status() is not None:
            return None
        return self._read_info()

    def free(self, *, force: bool = False) -> Freed:
        with self._guard():
            holder = self._live_holder()
            if holder is None:
                self._clear_leftover(force)
                return Freed()
            if not force and holder.run != self.run:
                return Freed(kept=holder)
            self._move_away()
            return Freed(freed=holder)

    def free_exactly(self, holder: LockInfo) -> bool:
        with self._guard():
            now = self._live_holder()
            if now is None or not holder.token or now.token != holder.token:
                return False
            self._move_away()
            return True

    def force_release(self) -> LockInfo | None:
        """Free the lock whoever holds it; what was freed (None: it was not held)."""
        return self.free(force=True).freed

    def _live_holder(self) -> LockInfo | None:
        """Who holds the flock now (None: nobody alive does)."""
        if not self.path.exists():
            return None
        fd = os.open(self.path, os.O_RDONLY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return self._read_info() or LockInfo(owner="unknown", since=time.time(), message="")
            return None
        finally:
            os.close(fd)

    def _clear_leftover(self, force: bool) -> None:
        """A dead holder's description goes only when it was this run's (or forced): another
        run's stays to be reported as taken over."""
        left = self._read_info()
        if left is not None and (force or left.run == self.run):
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def _move_away(self) -> None:
        # the holder keeps its flock on the unlinked inode; the next acquirer makes a new file
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
