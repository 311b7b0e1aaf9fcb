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

if TYPE_CHECKING:
    from shipyard.context import Context

__all__ = ["Freed", "Lock", "LockInfo", "default_owner", "get_lock", "held", "run_identity"]


def get_lock(ctx: Context) -> Lock:
    """The environment's lock; each kind is imported only where it is built, so that a local
    command never loads the DynamoDB lock and its table adapter."""
    if ctx.config.target.kind == "local":
        from shipyard.locking.local import FileLock

        return FileLock(
            ctx.state_dir / "deploy.lock",
            environment=ctx.environment,
            run=run_identity(ctx.environ),
        )

    from shipyard.locking.dynamodb import DynamoDbLock

    return DynamoDbLock(
        ctx.aws,
        table=ctx.config.lock.table,
        environment=ctx.environment,
        ttl_seconds=ctx.config.lock.ttl_seconds,
        run=run_identity(ctx.environ),
    )
