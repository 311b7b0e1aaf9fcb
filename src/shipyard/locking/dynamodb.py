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

from shipyard.adapters.aws import translate_errors
from shipyard.errors import AwsError, LockHeld
from shipyard.locking.base import Freed, LockInfo, default_owner, run_identity

if TYPE_CHECKING:
    from shipyard.adapters.aws import AwsClients

KEY = "lock_id"


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
        self._token: str | None = None

    @property
    def _client(self) -> Any:
        return self.aws.client("dynamodb")

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
        import botocore.exceptions as bx

        if self._token is None:
            return
        token, self._token = self._token, None
        try:
            self._client.delete_item(
                TableName=self.table,
                Key={KEY: {"S": self.environment}},
                ConditionExpression="#token = :token",
                ExpressionAttributeNames={"#token": "token"},
                ExpressionAttributeValues={":token": {"S": token}},
            )
        except bx.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return  # expired and taken over by someone else: theirs now, leave it alone
            with translate_errors(f"dynamodb:DeleteItem {self.table}"):
                raise

    def status(self) -> LockInfo | None:
        """The lock as it stands; an expired lock counts as free (None)."""
        import botocore.exceptions as bx

        try:
            answer = self._client.get_item(
                TableName=self.table, Key={KEY: {"S": self.environment}}, ConsistentRead=True
            )
        except bx.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return None
            with translate_errors(f"dynamodb:GetItem {self.table}"):
                raise
        item = answer.get("Item")
        if not item:
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
        import botocore.exceptions as bx

        if not holder.token:
            return False
        try:
            self._client.delete_item(
                TableName=self.table,
                Key={KEY: {"S": self.environment}},
                ConditionExpression="#token = :token",
                ExpressionAttributeNames={"#token": "token"},
                ExpressionAttributeValues={":token": {"S": holder.token}},
            )
        except bx.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("ConditionalCheckFailedException", "ResourceNotFoundException"):
                return False
            with translate_errors(f"dynamodb:DeleteItem {self.table}"):
                raise
        return True

    def force_release(self) -> LockInfo | None:
        """Free the lock whoever holds it; what was freed (None: it was not held)."""
        return self.free(force=True).freed

    # -- internals -----------------------------------------------------------------------
    def _try_put(self, message: str) -> LockInfo | None:
        import botocore.exceptions as bx

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
        item = {
            KEY: {"S": self.environment},
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
        for attempt in range(2):
            try:
                self._client.put_item(
                    TableName=self.table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(#key) OR #expires <= :now",
                    ExpressionAttributeNames={"#key": KEY, "#expires": "expires"},
                    ExpressionAttributeValues={":now": {"N": repr(now)}},
                )
                return info
            except bx.ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code == "ConditionalCheckFailedException":
                    return None
                if code == "ResourceNotFoundException" and attempt == 0 and self.create_table:
                    self._create_table()
                    continue
                if code == "ResourceNotFoundException":
                    raise AwsError(
                        f"the lock table {self.table!r} does not exist",
                        hint="create it (partition key lock_id, string) or set lock.table",
                    ) from None
                with translate_errors(f"dynamodb:PutItem {self.table}"):
                    raise
        return None

    def _create_table(self) -> None:
        """First use in an account: create the table (on-demand billing) and wait for it."""
        import botocore.exceptions as bx

        try:
            self._client.create_table(
                TableName=self.table,
                AttributeDefinitions=[{"AttributeName": KEY, "AttributeType": "S"}],
                KeySchema=[{"AttributeName": KEY, "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
            )
        except bx.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceInUseException":
                with translate_errors(f"dynamodb:CreateTable {self.table}"):
                    raise
        with translate_errors(f"dynamodb:DescribeTable {self.table}"):
            self._client.get_waiter("table_exists").wait(
                TableName=self.table, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
            )


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
