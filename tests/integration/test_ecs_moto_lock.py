"""The deploy lock against moto in server mode: DynamoDbLock's conditional write, owner,
release and expiry; a deploy through the rollout engine (shipyard.rollout.api) waits for or
refuses a held lock, and refuses while an ECS deployment is already in progress."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.errors import LockHeld
from shipyard.locking.dynamodb import DynamoDbLock
from tests.conftest import MotoServer
from tests.support.moto_ecs import (
    REGION,
    App,
    active,
    app,
    deploy,
    make_ctx,
    push,
    rollouts,
    serving,
    setup_env,
)

__all__ = ["app", "rollouts"]  # the fixtures these tests use


# -- the lock --------------------------------------------------------------------------------------
def test_dynamodb_lock_conditional_write_owner_release_and_expiry(aws: MotoServer) -> None:
    from shipyard.adapters.aws import AwsClients
    from shipyard.config.aws import AwsConfig

    now = [1000.0]
    clients = AwsClients(AwsConfig(region=REGION))
    first = DynamoDbLock(
        clients,
        table="locks",
        environment="staging",
        ttl_seconds=60,
        owner="alice",
        clock=lambda: now[0],
        sleep=lambda _s: None,
    )
    second = DynamoDbLock(
        clients,
        table="locks",
        environment="staging",
        ttl_seconds=60,
        owner="bob",
        clock=lambda: now[0],
        sleep=lambda _s: None,
    )
    info = first.acquire("deploy 1.1.0")  # creates the table on first use
    assert info.owner == "alice"
    with pytest.raises(LockHeld, match="held by alice") as err:
        second.acquire("deploy 1.2.0")
    assert "deploy 1.1.0" in err.value.message
    second.release()  # bob holds nothing: alice's lock stays
    held = second.status()
    assert held is not None
    assert held.owner == "alice"
    assert held.message == "deploy 1.1.0"
    assert held.expires == pytest.approx(1060.0)
    # other environments are independent
    DynamoDbLock(
        clients, table="locks", environment="production", ttl_seconds=60, owner="carol"
    ).acquire("x")

    now[0] = 1061.0  # alice's lock expired: bob takes over
    assert second.status() is None
    assert second.acquire("deploy 1.2.0").owner == "bob"
    first.release()  # alice's late release must not free bob's lock
    still = first.status()
    assert still is not None
    assert still.owner == "bob"
    freed = first.force_release()
    assert freed is not None
    assert freed.owner == "bob"
    assert first.status() is None


def test_deploy_waits_for_or_refuses_a_held_lock(
    tmp_path: Path, aws: MotoServer, rollouts: None, app: tuple[str, type[App]]
) -> None:
    setup_env(aws)
    ctx, _ = make_ctx(tmp_path, app[0])
    other = DynamoDbLock(
        ctx.aws, table="shipyard-locks", environment="staging", ttl_seconds=60, owner="ci"
    )
    other.acquire("deploy from CI")
    with pytest.raises(LockHeld, match="held by ci"):
        deploy(ctx, push(aws, "1.1.0"))
    assert serving(aws) == "gamepulse-staging:1"
    other.release()
    assert deploy(ctx, push(aws, "1.1.0")).outcome == "succeeded"


def test_refuses_while_a_deployment_is_in_progress(
    tmp_path: Path, aws: MotoServer, app: tuple[str, type[App]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "0")  # moto's own deployment stays IN_PROGRESS
    setup_env(aws)
    ctx, _ = make_ctx(tmp_path, app[0])
    with pytest.raises(LockHeld, match="already in progress"):
        deploy(ctx, push(aws, "1.1.0"), lock_wait=0)
    with pytest.raises(LockHeld, match="already in progress"):
        deploy(ctx, push(aws, "1.1.0"), lock_wait=0.05)
    assert serving(aws) == "gamepulse-staging:1"
    assert active(aws) == ["gamepulse-staging:1"]
