"""The deploy lock of an AWS environment: one DynamoDB item per environment.

Taking it is one conditional write that succeeds only when no item exists or the one there has
expired (a crashed run cannot block an environment forever); releasing it is a conditional
delete that succeeds only with this acquisition's token, so nobody frees someone else's lock
by accident. `free` (inv lock --release) reads the holder, decides (this run's, or --force),
then deletes on the condition that the token it read is still there: a lock taken in between
is never deleted.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shipyard.adapters.lock_table import KEY, LockTable, MissingTable
from shipyard.errors import AwsError, LockHeld
from shipyard.locking.base import Freed, LockInfo, default_owner, run_identity

if TYPE_CHECKING:
    from shipyard.adapters.aws import AwsClients

__all__ = ["KEY", "DynamoDbLock"]


def _describe_holder(info: LockInfo, now: float) -> str:
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.since))
    left = f", expires in {int(info.expires - now)}s" if info.expires else ""
    message = f": {info.message!r}" if info.message else ""
    return f"held by {info.owner} since {since}{left}{message}"


class DynamoDbLock:
    def __init__(
        self,
        aws: AwsClients,
        *,
        table: str,
        environment: str,
        ttl_seconds: float,
        owner: str | None = None,
        run: str | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        poll_seconds: float = 2.0,
        create_table: bool = True,
    ) -> None:
        self.aws = aws
        self.table = table
        self.environment = environment
        self.ttl_seconds = ttl_seconds
        self.owner = owner or default_owner()
        self.run = run if run is not None else run_identity()
        self.clock = clock
        self.sleep = sleep
        self.poll_seconds = poll_seconds
        self.create_table = create_table
        self._table = LockTable(aws, table)
        self._token: str | None = None

    # -- protocol ------------------------------------------------------------------------
    def acquire(self, message: str, *, wait: float = 0.0) -> LockInfo:
        deadline = self.clock() + max(wait, 0.0)
        while True:
            info = self._try_put(message)
            if info is not None:
                self._token = info.token
                return info
            holder = self.status()
            if self.clock() >= deadline:
                described = (
                    _describe_holder(holder, self.clock())
                    if holder
                    else "held (just freed; try again)"
                )
                raise LockHeld(
                    f"the {self.environment} deploy lock is {described}",
                    hint="wait for that run to finish, pass --lock-wait SECONDS, or free it with "
                    f"`inv lock --env {self.environment} --release --force` if it is stale",
                )
            self.sleep(min(self.poll_seconds, max(deadline - self.clock(), 0.01)))

    def release(self) -> None:
        if self._token is None:
            return
        token, self._token = self._token, None
        # a lock that expired and was taken over is someone else's now: not deleted, no error
        self._table.delete_if_token(self.environment, token, missing_table_is_false=False)

    def status(self) -> LockInfo | None:
        """The lock as it stands; an expired lock counts as free (None)."""
        item = self._table.get(self.environment)
        if item is None:
            return None
        info = _from_item(item)
        if info.expires is not None and info.expires <= self.clock():
            return None
        return info

    def leftover(self) -> LockInfo | None:
        """An expired lock's item is simply taken over by the next writer: nothing lingers."""
        return None

    def free(self, *, force: bool = False) -> Freed:
        # a few rounds: each lost race means the lock changed hands; look again and decide
        for _round in range(5):
            holder = self.status()
            if holder is None:
                return Freed()
            if not force and holder.run != self.run:
                return Freed(kept=holder)
            if self.free_exactly(holder):
                return Freed(freed=holder)
        raise LockHeld(f"the {self.environment} deploy lock kept changing hands; try again")

    def free_exactly(self, holder: LockInfo) -> bool:
        if not holder.token:
            return False
        return self._table.delete_if_token(
            self.environment, holder.token, missing_table_is_false=True
        )

    def force_release(self) -> LockInfo | None:
        """Free the lock whoever holds it; what was freed (None: it was not held)."""
        return self.free(force=True).freed

    # -- internals -----------------------------------------------------------------------
    def _try_put(self, message: str) -> LockInfo | None:
        now = self.clock()
        info = LockInfo(
            owner=self.owner,
            since=now,
            message=message,
            expires=now + self.ttl_seconds,
            host=socket.gethostname(),
            pid=os.getpid(),
            token=uuid.uuid4().hex,
            run=self.run,
        )
        item = _to_item(self.environment, info, now)
        for attempt in range(2):
            try:
                return info if self._table.put_if_free(item, now) else None
            except MissingTable:
                if attempt > 0 or not self.create_table:
                    raise AwsError(
                        f"the lock table {self.table!r} does not exist",
                        hint="create it (partition key lock_id, string) or set lock.table",
                    ) from None
                self._table.create()  # first use in an account
        return None


def _to_item(environment: str, info: LockInfo, now: float) -> dict[str, Any]:
    return {
        KEY: {"S": environment},
        "owner": {"S": info.owner},
        "message": {"S": info.message},
        "since": {"N": repr(info.since)},
        "expires": {"N": repr(info.expires)},
        # whole seconds for DynamoDB's TTL sweeper, if the table enables it
        "expires_at": {"N": str(int(info.expires or now) + 1)},
        "host": {"S": info.host},
        "pid": {"N": str(info.pid)},
        "token": {"S": info.token},
        "run": {"S": info.run},
    }


def _from_item(item: dict[str, Any]) -> LockInfo:
    def s(key: str) -> str:
        return str(item.get(key, {}).get("S", ""))

    def n(key: str) -> float | None:
        raw = item.get(key, {}).get("N")
        return float(raw) if raw is not None else None

    pid = n("pid")
    return LockInfo(
        owner=s("owner"),
        since=n("since") or 0.0,
        message=s("message"),
        expires=n("expires"),
        host=s("host"),
        pid=int(pid) if pid is not None else None,
        token=s("token"),
        run=s("run"),
    )
