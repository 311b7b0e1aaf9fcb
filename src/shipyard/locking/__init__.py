"""Deploy locks: one deploy or rollback per environment at a time.

`local` environments use a lock file in the state directory (locking/local.py); AWS
environments a DynamoDB conditional write (locking/dynamodb.py). Both follow `Lock`.

Each lock records the run that took it (`run_identity`), so the cleanup step of a CI job
(`inv lock --release`, run `if: always()`) frees only the lock its own job took and never an
operator's rollback that holds the environment meanwhile; `--force` frees anyone's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.locking.base import Freed, Lock, LockInfo, default_owner, held, run_identity
from shipyard.locking.dynamodb import DynamoDbLock
from shipyard.locking.local import FileLock

if TYPE_CHECKING:
    from shipyard.context import Context

__all__ = ["Freed", "Lock", "LockInfo", "default_owner", "get_lock", "held", "run_identity"]


def get_lock(ctx: Context) -> Lock:
    if ctx.config.target.kind == "local":
        return FileLock(
            ctx.state_dir / "deploy.lock",
            environment=ctx.environment,
            run=run_identity(ctx.environ),
        )

    return DynamoDbLock(
        ctx.aws,
        table=ctx.config.lock.table,
        environment=ctx.environment,
        ttl_seconds=ctx.config.lock.ttl_seconds,
        run=run_identity(ctx.environ),
    )
