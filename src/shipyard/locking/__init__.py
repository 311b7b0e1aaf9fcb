"""Deploy locks: one deploy or rollback per environment at a time.

`local` environments use a lock file in the state directory (locking/local.py); AWS
environments a DynamoDB conditional write (locking/dynamodb.py). Both follow `Lock`.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from shipyard.context import Context


@dataclass(frozen=True)
class LockInfo:
    owner: str  # who: user or CI actor, host and pid
    since: float  # epoch seconds
    message: str
    expires: float | None = None  # epoch seconds; None: held until released or its process dies
    host: str = ""
    pid: int | None = None
    token: str = ""  # identifies this acquisition; release only succeeds with it
    took_over: str = ""  # the owner of a lock whose process died, when this one replaced it

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

    def force_release(self) -> LockInfo | None:
        """Free the lock whoever holds it (inv lock --release --force); returns what was freed."""

    def leftover(self) -> LockInfo | None:
        """What a holder that is gone left behind while the lock is free (None: nothing)."""


def default_owner(actor: str | None = None) -> str:
    who = actor or os.environ.get("GITHUB_ACTOR") or os.environ.get("USER") or "unknown"
    return f"{who}@{socket.gethostname()}:{os.getpid()}"


def get_lock(ctx: Context) -> Lock:
    if ctx.config.target.kind == "local":
        from shipyard.locking.local import FileLock

        return FileLock(ctx.state_dir / "deploy.lock", environment=ctx.environment)
    from shipyard.locking.dynamodb import DynamoDbLock

    return DynamoDbLock(
        ctx.aws,
        table=ctx.config.lock.table,
        environment=ctx.environment,
        ttl_seconds=ctx.config.lock.ttl_seconds,
    )


@contextmanager
def held(lock: Lock, message: str, *, wait: float = 0.0) -> Iterator[LockInfo]:
    info = lock.acquire(message, wait=wait)
    try:
        yield info
    finally:
        lock.release()
