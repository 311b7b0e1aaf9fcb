"""What every deploy lock is and records: the `Lock` protocol, `LockInfo` and the run
identity a lock is taken under (shipyard/locking/__init__.py picks the implementation)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any, Protocol

from shipyard.records import record


@record
class LockInfo:
    owner: str  # who: user or CI actor, host and pid
    since: float  # epoch seconds
    message: str
    expires: float | None = None  # epoch seconds; None: held until released or its process dies
    host: str = ""
    pid: int | None = None
    token: str = ""  # identifies this acquisition; release only succeeds with it
    took_over: str = ""  # the owner of a lock whose process died, when this one replaced it
    run: str = ""  # run_identity() of the run that took it; "" (older locks): nobody's

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("token")
        data.pop("took_over")
        return data


class Lock(Protocol):
    def acquire(self, message: str, *, wait: float = 0.0) -> LockInfo:
        """Take the lock or raise LockHeld naming the holder, since when and its message.
        With wait > 0, poll until it frees or the wait runs out."""

    def release(self) -> None:
        """Release the lock this object acquired (never someone else's)."""

    def status(self) -> LockInfo | None: ...

    def free(self, *, force: bool = False) -> Freed:
        """inv lock --release: free the lock if this run holds it (or whoever does, with
        force); another run's lock is left alone and reported in `kept`."""

    def free_exactly(self, holder: LockInfo) -> bool:
        """Free the lock only if it is still the acquisition `holder` describes (its token):
        a lock taken after `holder` was read is never freed. False when it was not."""

    def leftover(self) -> LockInfo | None:
        """What a holder that is gone left behind while the lock is free (None: nothing)."""


@record
class Freed:
    """What `free` did: the lock it freed, or the lock of another run it left alone (both None:
    the lock was not held)."""

    freed: LockInfo | None = None
    kept: LockInfo | None = None


def default_owner(actor: str | None = None) -> str:
    who = actor or os.environ.get("GITHUB_ACTOR") or os.environ.get("USER") or "unknown"
    return f"{who}@{socket.gethostname()}:{os.getpid()}"


def run_identity(environ: Mapping[str, str] | None = None) -> str:
    """Who "this run" is when `inv lock --release` decides whether a lock is its own.

    In GitHub Actions, the job attempt: its steps are separate processes (the release step
    took the lock, the always() step frees it), so the pid cannot tell; GITHUB_RUN_ID,
    GITHUB_RUN_ATTEMPT and GITHUB_JOB are the same in every step of one job attempt and
    differ for any other run, a re-run, or another job. Elsewhere, the same user on the same
    host: an operator may free what their own earlier, interrupted command left."""
    env = os.environ if environ is None else environ
    run_id = env.get("GITHUB_RUN_ID")
    if run_id:
        attempt = env.get("GITHUB_RUN_ATTEMPT") or "1"
        return f"github run {run_id} attempt {attempt} job {env.get('GITHUB_JOB', '')}"
    who = env.get("GITHUB_ACTOR") or env.get("USER") or "unknown"
    return f"{who}@{socket.gethostname()}"


@contextmanager
def held(lock: Lock, message: str, *, wait: float = 0.0) -> Iterator[LockInfo]:
    info = lock.acquire(message, wait=wait)
    try:
        yield info
    finally:
        lock.release()
